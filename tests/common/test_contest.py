import shutil
"""Bad input on the shared machinery: each stops with a message naming the file/column and the fix."""
import pandas as pd
import pytest

from common.contest import Contest
from common.errors import DataError, FoldMismatchError


def _edit(contest_dir, name, fn):
    path = contest_dir / "data" / "raw" / name
    sep = "\t" if name.endswith(".txt") else ","
    frame = pd.read_csv(path, sep=sep)
    fn(frame).to_csv(path, sep=sep, index=False)
    return path


def test_missing_file(regression_contest):
    (regression_contest / "data/raw/test.txt").unlink()
    with pytest.raises(DataError, match=r"test file not found: .*test.txt.*Put the file there"):
        Contest.load(regression_contest).load_raw()


def test_missing_target_column(regression_contest):
    _edit(regression_contest, "train.txt", lambda f: f.drop(columns="target"))
    with pytest.raises(DataError, match=r"train file .*train.txt lacks column\(s\) \['target'\]"):
        Contest.load(regression_contest).load_raw()


def test_test_columns_differ_from_train(regression_contest):
    _edit(regression_contest, "test.txt", lambda f: f.drop(columns="V3").assign(extra=1))
    with pytest.raises(DataError, match=r"missing \['V3'\]; unexpected \['extra'\]"):
        Contest.load(regression_contest).load_raw()


def test_wrong_separator(regression_contest):
    path = regression_contest / "data/raw/train.txt"
    pd.read_csv(path, sep="\t").to_csv(path, sep=",", index=False)
    with pytest.raises(DataError, match="looks comma-separated. Set data.sep: ','"):
        Contest.load(regression_contest).load_raw()


def test_non_numeric_value_names_column_and_row(regression_contest):
    def corrupt(frame):
        frame["V7"] = frame["V7"].astype(object)
        frame.loc[5, "V7"] = "n/a?"
        return frame

    _edit(regression_contest, "train.txt", corrupt)
    with pytest.raises(DataError, match=r"'V7' \(.*train.txt\): numeric, but row 5 \(line 7\) holds 'n/a\?'"):
        Contest.load(regression_contest).load_raw()


def test_empty_file(regression_contest):
    (regression_contest / "data/raw/train.txt").write_text("")
    with pytest.raises(DataError, match="is empty"):
        Contest.load(regression_contest).load_raw()


def test_duplicate_ids(binary_contest):
    _edit(binary_contest, "test.csv", lambda f: f.assign(id=[7] * 2 + list(range(100, 100 + len(f) - 2))))
    with pytest.raises(DataError, match=r"id column 'id' has duplicates, e.g. 7 at rows \[0, 1\]"):
        Contest.load(binary_contest).load_raw()


def test_folds_are_made_once_per_data_and_refused_when_copied_from_other_data(regression_contest):
    contest = Contest.load(regression_contest)
    folds = contest.folds()
    assert Contest.load(regression_contest).folds().hash == folds.hash
    old_dir = contest.folds_dir
    # new raw files (the real ones after the demo's) get folds of their own; the old ones stay where they were
    _edit(regression_contest, "train.txt", lambda f: f.assign(V0=f["V0"] + 1))
    changed = Contest.load(regression_contest)
    assert changed.folds_dir != old_dir and (old_dir / "folds.npy").is_file()
    assert changed.folds().data_digest == changed.data_digest != folds.data_digest
    # folds copied under another data's digest are refused
    shutil.rmtree(changed.folds_dir)
    shutil.copytree(old_dir, changed.folds_dir)
    with pytest.raises(FoldMismatchError, match="Delete .*folds.* to make new folds"):
        Contest.load(regression_contest).folds()


def test_changed_fold_settings_get_folds_of_their_own(regression_contest):
    import yaml

    folds = Contest.load(regression_contest).folds()
    config = yaml.safe_load((regression_contest / "config.yaml").read_text())
    config["folds"]["n_splits"] = 4
    (regression_contest / "config.yaml").write_text(yaml.safe_dump(config))
    changed = Contest.load(regression_contest).folds()
    assert changed.n_splits == 4 and folds.n_splits == 3 and changed.hash != folds.hash
