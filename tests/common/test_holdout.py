"""Contests with an official validation set: the holdout fold scheme, and annotations that never become features."""
import numpy as np
import pandas as pd
import pytest

from common.contest import Contest
from common.errors import DataError
from common.runs.pipeline import train_model
from tests.conftest import classification_frames, write_contest


def _contest(tmp_path, **data):
    train, test = classification_frames(300, 60)
    valid = train.iloc[200:].copy()
    train = train.iloc[:200]
    config = {"competition": {"name": "h", "task": "binary", "metric": "auc"},
              "data": {"train": "data/raw/train.csv", "test": "data/raw/test.csv", "id_column": "id", "target": "label",
                       "valid": "data/raw/valid.csv", **data},
              "folds": {"scheme": "holdout"}, "models": [{"name": "logistic"}]}
    root = write_contest(tmp_path / "h", config, train, test)
    valid.to_csv(root / "data/raw/valid.csv", index=False)
    return root


def test_holdout_validates_on_the_official_rows_only(tmp_path):
    contest = Contest.load(_contest(tmp_path))
    fs, folds = contest.features(log=lambda _: None), contest.folds()
    assert len(fs.X) == 300 and "is_valid" not in fs.X.columns  # the mark is where a row is validated, not a feature
    np.testing.assert_array_equal(folds.assignment, np.r_[np.full(200, -1), np.zeros(100)])
    assert folds.n_splits == 1 and folds.validated.sum() == 100
    run, _ = train_model(contest, contest.config.models[0], fs, folds)
    assert np.isnan(run.oof[:200]).all() and np.isfinite(run.oof[200:]).all()
    assert run.score > 0.75 and run.test.shape == (60,)
    assert len(folds.hash) == 12 and Contest.load(contest.root).folds().hash == folds.hash  # saved, with its hash


def test_a_label_derived_column_is_an_annotation_never_a_feature(tmp_path):
    root = _contest(tmp_path)
    for name in ("train.csv", "valid.csv"):  # planted: the label itself, present for labelled rows only
        path = root / "data/raw" / name
        pd.read_csv(path).assign(leak=lambda f: f["label"] * 2 + 1).to_csv(path, index=False)
    with pytest.raises(DataError, match="missing \\['leak'\\]|annotation"):
        Contest.load(root).features(log=lambda _: None)
    import yaml

    config = yaml.safe_load((root / "config.yaml").read_text())
    config["data"]["roles"] = {"leak": "annotation"}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    contest = Contest.load(root)
    fs = contest.features(log=lambda _: None)
    assert "leak" not in fs.X.columns and list(fs.annotations.columns) == ["leak"]
    assert "| leak | annotation |" in "\n".join(
        f"| {c} | {r.role} |" for c, r in contest.roles().items())


def test_street_chars_holdout_from_the_validation_json(tmp_path):
    from common.data.datasets.streetchar import write_street_chars

    raw = tmp_path / "sc" / "data" / "raw"
    write_street_chars(raw, n_train=30, n_val=12, n_test=10)
    import yaml

    config = {"competition": {"name": "sc", "task": "multiclass", "metric": "string_accuracy"},
              "data": {"modality": "image", "train": "data/raw/mchar_train.json", "test": "data/raw/mchar_sample_submit_A.csv",
                       "valid": "data/raw/mchar_val.json", "image_dir": "data/raw/mchar_train",
                       "valid_image_dir": "data/raw/mchar_val", "test_image_dir": "data/raw/mchar_test_a",
                       "id_column": "file_name", "target": "file_code"},
              "folds": {"scheme": "holdout"}, "models": [{"name": "lightgbm"}]}
    (tmp_path / "sc" / "config.yaml").write_text(yaml.safe_dump(config))
    contest = Contest.load(tmp_path / "sc")
    fs, folds = contest.features(log=lambda _: None), contest.folds()
    assert folds.validated.sum() == 12 and len(fs.X) == 42
    assert set(fs.annotations.columns) == {"n_digits", "digits", "left", "top", "width", "height"}
    assert not set(fs.annotations.columns) & set(fs.X.columns)  # boxes guide training, never predict
    assert "image_path" in fs.X.columns and fs.X.attrs["roles"]["image_path"] == "image"


def test_the_second_split_of_a_holdout_is_k_fold_over_every_labelled_row(tmp_path):
    from common.runs.recheck import second_split

    contest = Contest.load(_contest(tmp_path))
    folds = contest.folds()
    other = second_split(contest, folds)
    assert other.scheme == "stratified" and other.n_splits == 5 and other.validated.all() and len(other.assignment) == 300
