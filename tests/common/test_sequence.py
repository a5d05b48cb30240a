"""The sequence kind end to end: string targets encoded per position, OOF and test stores, blends of
per-position probabilities, whole-string accuracy, and submissions of decoded strings."""
import argparse

import numpy as np
import pandas as pd
import pytest

from common.stages import ensemble as ensemble_stage
from common.contest import Contest
from common.errors import SubmissionError
from common.metrics import get_metric
from common.runs.pipeline import train_model
from common.data.sequence import alphabet, decode_sequences, encode_sequences
from common.submissions.files import check_frame, spec_for
from tests.conftest import write_contest


def test_encode_decode_round_trip_and_whole_string_accuracy():
    texts = ["19", "5", "210", "05"]
    chars = alphabet(texts)
    codes = encode_sequences(texts, chars)
    assert codes.shape == (4, 3) and chars == ("0", "1", "2", "5", "9")
    assert decode_sequences(codes, chars).tolist() == texts
    proba = np.eye(len(chars) + 1)[codes]  # one-hot (n, positions, classes)
    acc = get_metric("string_accuracy")
    assert acc(codes, proba) == 1.0
    proba[1, 1] = np.eye(len(chars) + 1)[0]  # "5" read as "50": a longer string is wrong
    assert acc(codes, proba) == 0.75 and decode_sequences(proba, chars)[1] == "50"


def _digits_contest(tmp_path, n=240, n_test=60):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n + n_test, 3))
    first = np.digitize(X[:, 0], [-0.5, 0.5]) + 1  # 1, 2 or 3
    second = np.where(X[:, 1] > 0, (X[:, 2] > 0).astype(int) * 5 + 4, -1)  # 4, 9 or none
    texts = [f"{a}{'' if b < 0 else b}" for a, b in zip(first, second)]
    frame = pd.DataFrame(X.round(4), columns=["a", "b", "c"])
    frame.insert(0, "id", np.arange(len(frame)))
    train, test = frame.iloc[:n].assign(code=texts[:n]), frame.iloc[n:].reset_index(drop=True)
    config = {"competition": {"name": "digits", "task": "sequence", "metric": "string_accuracy"},
              "data": {"train": "data/raw/train.csv", "test": "data/raw/test.csv", "id_column": "id", "target": "code"},
              "folds": {"scheme": "kfold", "n_splits": 3},
              "models": [{"name": "per_position", "label": "pp_logistic"},
                         {"name": "per_position", "label": "pp_lightgbm",
                          "params": {"model": {"name": "lightgbm", "params": {"n_estimators": 60}}}}],
              "ensemble": {"strategies": [{"name": n} for n in ("mean", "weighted", "hill_climb", "rank", "stacking")]}}
    return write_contest(tmp_path / "digits", config, train, test), np.asarray(texts[n:])


def test_a_sequence_contest_goes_from_oof_to_a_blended_string_submission(tmp_path):
    root, truth = _digits_contest(tmp_path)
    contest = Contest.load(root)
    fs, folds = contest.features(log=lambda _: None), contest.folds()
    assert fs.y.shape == (240, 2) and fs.classes == ("1", "2", "3", "4", "9")
    runs = [train_model(contest, spec, fs, folds)[0] for spec in contest.config.models]
    for run in runs:
        assert run.oof.shape == (240, 2, 6) and run.test.shape == (60, 2, 6) and run.score > 0.8

    ensemble_stage.main(contest, argparse.Namespace())
    table = pd.read_csv(root / "reports" / "ensemble_comparison.csv")
    assert {"mean", "weighted", "hill_climb"} <= set(table["strategy"])
    assert not {"rank", "stacking"} & set(table["strategy"])  # one score per row / a flat meta-model do not apply
    submission = pd.read_csv(root / "submissions" / "submission.csv", dtype={"code": str})
    assert list(submission.columns) == ["id", "code"]
    assert (submission["code"].to_numpy() == truth).mean() > 0.8  # decoded strings, scored on held-out rows

    train, test = contest.load_raw()
    spec = spec_for(contest, test, train)
    assert spec.kind == "string"
    with pytest.raises(SubmissionError, match="row 0 holds '1x'"):
        check_frame(submission.assign(code=["1x"] * 60), spec)
