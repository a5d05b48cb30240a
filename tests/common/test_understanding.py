"""Stage 01's task card: what it reports, and that it stops on missing files and columns."""
import pandas as pd
import pytest

from common.contest import Contest
from common.errors import DataError
from common.reports.understanding import write_task_card
from tests.conftest import classification_frames, write_contest


def test_regression_card_names_task_files_target_and_submission(regression_contest):
    card, path = write_task_card(Contest.load(regression_contest))
    text = path.read_text()
    assert path == regression_contest / "reports" / "task_card.md"
    assert card.task == "regression" and card.metric == "mse" and card.direction == "minimize it"
    assert [f["rows"] for f in card.files[:2]] == [300, 200]
    assert "| median |" in text and "no header, one prediction per line" in text
    assert len(card.submission_example.splitlines()) == 3
    assert "plain K-fold" in card.validation


def test_binary_card_shows_class_balance_and_example_with_ids(binary_contest):
    card, _ = write_task_card(Contest.load(binary_contest))
    balance = card.target_summary.set_index("class")["rows"]
    train = pd.read_csv(binary_contest / "data/raw/train.csv")
    assert balance.to_dict() == train["label"].value_counts().rename(index=str).to_dict()
    first = card.submission_example.splitlines()
    assert first[0] == "id,label" and first[1].startswith("1300,")  # first test id, in test order
    assert "stratified" in card.validation


def test_imbalanced_plain_kfold_gets_advice(tmp_path):
    train, test = classification_frames(positive_share=0.08)
    config = {"competition": {"name": "rare", "task": "binary", "metric": "auc"},
              "data": {"train": "data/raw/train.csv", "test": "data/raw/test.csv", "id_column": "id", "target": "label"},
              "folds": {"scheme": "kfold"}, "models": [{"name": "logistic"}]}
    card, _ = write_task_card(Contest.load(write_contest(tmp_path / "rare", config, train, test)))
    assert "stratified scheme keeps it in every fold" in card.validation


def test_repeated_key_in_composite_id_suggests_grouping(tmp_path):
    train, test = classification_frames()
    for frame in (train, test):
        frame["user_id"] = frame["id"] // 3  # a user owns several rows
    config = {"competition": {"name": "pairs", "task": "binary", "metric": "auc"},
              "data": {"train": "data/raw/train.csv", "test": "data/raw/test.csv", "id_column": ["user_id", "id"],
                       "target": "label"},
              "folds": {"scheme": "stratified"}, "models": [{"name": "logistic"}]}
    card, _ = write_task_card(Contest.load(write_contest(tmp_path / "pairs", config, train, test)))
    assert "`user_id` repeats" in card.validation and "group_column" in card.validation
    assert card.submission_example.splitlines()[0] == "user_id,id,label"


def test_missing_file_and_missing_column_stop_before_writing(regression_contest):
    contest = Contest.load(regression_contest)
    (regression_contest / "data/raw/test.txt").rename(regression_contest / "data/raw/elsewhere.txt")
    with pytest.raises(DataError, match=r"test file not found: .*test.txt"):
        write_task_card(contest)
    assert not (regression_contest / "reports" / "task_card.md").exists()
    (regression_contest / "data/raw/elsewhere.txt").rename(regression_contest / "data/raw/test.txt")
    train = pd.read_csv(regression_contest / "data/raw/train.txt", sep="\t").drop(columns="target")
    train.to_csv(regression_contest / "data/raw/train.txt", sep="\t", index=False)
    with pytest.raises(DataError, match=r"lacks column\(s\) \['target'\]"):
        write_task_card(Contest.load(regression_contest))


def test_the_card_counts_an_extra_file_and_leaves_its_digest_for_the_features_stage(tmp_path):
    from unittest import mock

    from common.data import io

    train, test = classification_frames()
    config = {"competition": {"name": "logs", "task": "binary", "metric": "auc"},
              "data": {"train": "data/raw/train.csv", "test": "data/raw/test.csv", "id_column": "id", "target": "label",
                       "extra": {"event log": "data/raw/log.csv"}},
              "models": [{"name": "logistic"}]}
    root = write_contest(tmp_path / "logs", config, train, test)
    (root / "data/raw/log.csv").write_text("id,event\n" + "1,0\n" * 2500)
    contest = Contest.load(root)
    card, _ = write_task_card(contest)
    assert {"file": "event log", "rows": 2500} == {k: card.files[2][k] for k in ("file", "rows")}
    io._DIGESTS.clear()  # as in stage 03's own process: only what stage 01 left on disk
    with mock.patch.object(io, "file_digest", wraps=io.file_digest) as hashed:
        io.cached_digest(root / "data/raw/log.csv", contest.digest_memo_dir)
        assert hashed.call_count == 0
