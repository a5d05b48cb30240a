"""Submissions in the contest's own kind: labels (the train file's values), probabilities or values,
checked against the sample submission and against the training target's scale."""
import numpy as np
import pandas as pd
import pytest

from common.contest import Contest
from common.errors import SubmissionError
from common.metrics import get_metric
from common.submissions.files import (build_submission, check_frame, choose_threshold, predictions_to_values, spec_for,
                               write_submission)
from tests.conftest import write_contest


def _contest(tmp_path, task, metric, target_values, **submission):
    rng = np.random.default_rng(0)
    n = 40
    train = pd.DataFrame({"id": np.arange(n), "x": rng.normal(size=n), "y": rng.choice(target_values, n)})
    test = pd.DataFrame({"id": np.arange(100, 120), "x": rng.normal(size=20)})
    config = {"competition": {"name": "c", "task": task, "metric": metric},
              "data": {"train": "data/raw/train.csv", "test": "data/raw/test.csv", "id_column": "id", "target": "y",
                       "sample_submission": "data/raw/sample_submission.csv"},
              "models": [{"name": "lightgbm"}], "submission": submission}
    root = write_contest(tmp_path / "c", config, train, test)
    contest = Contest.load(root)
    return contest, *contest.load_raw()


def test_binary_string_labels_use_the_threshold_and_the_train_values(tmp_path):
    contest, train, test = _contest(tmp_path, "binary", "accuracy", ["no", "yes"])
    spec = spec_for(contest, test, train)
    assert spec.kind == "label" and spec.labels == ("no", "yes")
    values = predictions_to_values(np.linspace(0, 1, 20), "binary", spec.kind, spec.labels, threshold=0.7)
    frame = build_submission(values, spec, test)
    check_frame(frame, spec)
    assert frame["y"].tolist() == ["no"] * 14 + ["yes"] * 6
    with pytest.raises(SubmissionError, match=r"row 0 holds 'maybe', not one of the train file's labels \['no', 'yes'\]"):
        check_frame(frame.assign(y=["maybe"] * 20), spec)


def test_auc_gives_probabilities_and_kind_can_be_forced(tmp_path):
    contest, train, test = _contest(tmp_path, "binary", "auc", [0, 1])
    assert spec_for(contest, test, train).kind == "probability"
    forced, train, test = _contest(tmp_path / "b", "binary", "auc", [0, 1], kind="label")
    spec = spec_for(forced, test, train)
    assert spec.kind == "label" and spec.integer


def test_multiclass_probabilities_get_one_column_per_class(tmp_path):
    contest, train, test = _contest(tmp_path, "multiclass", "logloss", ["cat", "dog", "emu"])
    spec = spec_for(contest, test, train)
    assert spec.columns == ("id", "cat", "dog", "emu")
    frame = build_submission(np.full((20, 3), 1 / 3), spec, test)
    check_frame(frame, spec)


def test_a_regression_file_in_log_scale_is_refused_naming_the_cause(tmp_path):
    contest, train, test = _contest(tmp_path, "regression", "rmsle", [120_000.0, 250_000.0, 400_000.0])
    spec = spec_for(contest, test, train)
    good = build_submission(np.full(20, 200_000.0), spec, test)
    check_frame(good, spec)
    with pytest.raises(SubmissionError, match="look like log1p of the target: a target transform was not inverted"):
        check_frame(good.assign(y=np.log1p(good["y"])), spec)


def test_sample_submission_sets_columns_order_and_integer_values(tmp_path):
    contest, train, test = _contest(tmp_path, "regression", "rmse", [1.0, 2.0, 5.0])
    sample = pd.DataFrame({"id": test["id"][::-1], "count": 0})
    sample.to_csv(contest.path("data/raw/sample_submission.csv"), index=False)
    spec = spec_for(contest, test, train)
    assert spec.columns == ("id", "count") and spec.integer and spec.source.endswith("sample_submission.csv")
    frame = build_submission(np.full(20, 2.0), spec, test.iloc[::-1])
    check_frame(frame, spec)
    with pytest.raises(SubmissionError, match="values .*sample submission.* has integers"):
        check_frame(frame.assign(count=2.5), spec)
    with pytest.raises(SubmissionError, match="in another order"):
        check_frame(build_submission(np.full(20, 2.0), spec, test), spec)


def test_the_threshold_is_chosen_for_the_metric():
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.2).astype(int)
    p = np.clip(0.1 + 0.3 * y + rng.normal(scale=0.15, size=2000), 0, 1)  # well ranked, badly calibrated
    f1 = get_metric("f1")
    t, score = choose_threshold(y, p, f1)
    assert 0.15 < t < 0.45 and score > f1(y, p) + 0.1


def _written(tmp_path):
    """A binary contest's spec, a good frame, and a good file already written with it."""
    contest, train, test = _contest(tmp_path, "binary", "auc", [0, 1])
    spec = spec_for(contest, test, train)
    good = build_submission(np.linspace(0.05, 0.95, 20), spec, test)
    path = write_submission(good, spec, contest.submissions_dir / "submission.csv")
    return spec, good, path


def test_write_submission_checks_the_frame_before_writing_anything(tmp_path):
    spec, good, path = _written(tmp_path)
    before = path.read_bytes()
    with pytest.raises(SubmissionError) as refused:
        write_submission(good.assign(y=good["y"].where(good.index != 3)), spec, path)
    # named as the file the user asked for (a check of the written file would name its temporary twin)
    assert str(refused.value).startswith(f"{path}: row 3 holds nan")
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == ["submission.csv"]


def test_write_submission_checks_the_file_it_wrote(tmp_path, monkeypatch):
    """A writer that loses the last row (a bug, a full disk) passes the frame check: the written file is
    read back and checked, refused, and the previous submission stays."""
    spec, good, path = _written(tmp_path)
    before = path.read_bytes()
    to_csv = pd.DataFrame.to_csv
    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda self, target, **kw: to_csv(self.iloc[:-1], target, **kw))
    with pytest.raises(SubmissionError, match="has 19 rows; the test set has 20"):
        write_submission(good.assign(y=good["y"][::-1].to_numpy()), spec, path)
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == ["submission.csv"]
