"""The stage functions (common.stages): bad input as a user meets it (one clear message naming the file,
column or row and the fix, no traceback, exit code 2, earlier outputs intact), stage 04's reuse and --force,
stage 07's ensemble.choose."""
import argparse
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from common.stages import ensemble as ensemble_stage, train as train_stage
from common.contest import Contest
from common.errors import ConfigError
from common.submissions.upload import read_provenance
from tests.conftest import REPO, classification_frames, run_script, write_contest

STAGES = REPO / "templates" / "{{cookiecutter.competition_slug}}"


@pytest.fixture
def contest(tmp_path):
    train, test = classification_frames(120, 40)
    train["colour"] = np.where(train["f0"] > 0, "red", "blue")
    test["colour"] = np.where(test["f0"] > 0, "red", "green")  # 'green': a level train never saw
    config = {"competition": {"name": "c", "task": "binary", "metric": "accuracy"},
              "data": {"train": "data/raw/train.csv", "test": "data/raw/test.csv", "id_column": "id", "target": "label"},
              "folds": {"scheme": "stratified", "n_splits": 3}, "models": [{"name": "logistic"}]}
    root = write_contest(tmp_path / "c", config, train, test, stages_from=STAGES)
    assert run_script(root / "stages" / "01_understanding.py").returncode == 0
    return root


def _break(root, edit):
    path = root / "data" / "raw" / "train.csv"
    edit(path)


def _refused(root, *messages, stage="01_understanding"):
    card = (root / "reports" / "task_card.md").read_bytes()
    result = run_script(root / "stages" / f"{stage}.py")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for message in messages:
        assert message in result.stderr, result.stderr
    assert (root / "reports" / "task_card.md").read_bytes() == card  # the earlier output is intact


def test_unseen_test_level_is_fine(contest):
    assert "colour | categorical" in (contest / "reports" / "task_card.md").read_text()
    result = run_script(contest / "stages" / "04_train.py")
    assert result.returncode == 0, result.stderr


def test_a_column_that_cannot_take_its_role(contest):
    def edit(path):
        frame = pd.read_csv(path)
        frame["f2"] = frame["f2"].astype(str)
        frame.loc[7, "f2"] = "oops"
        frame.to_csv(path, index=False)
    _break(contest, edit)
    _refused(contest, "'f2' (", "numeric, but row 7 (line 9) holds 'oops'", "data.roles: {f2: categorical}")


def test_a_target_with_nan(contest):
    _break(contest, lambda p: pd.read_csv(p).assign(label=lambda f: f["label"].where(f.index != 4)).to_csv(p, index=False))
    _refused(contest, "target 'label' is empty at 1 row(s), the first at row 4 (line 6)", "Remove the unlabeled rows")


def test_a_gbk_file_is_read_and_an_undecodable_one_named(contest):
    path = contest / "data" / "raw" / "train.csv"
    frame = pd.read_csv(path)
    frame["colour"] = np.where(frame["f0"] > 0, "红色", "蓝色")
    frame.to_csv(path, index=False, encoding="gbk")
    result = run_script(contest / "stages" / "01_understanding.py")
    assert result.returncode == 0, result.stderr
    assert "gb18030" in (contest / "reports" / "task_card.md").read_text()
    config = yaml.safe_load((contest / "config.yaml").read_text())
    config["data"]["encoding"] = "utf-8"
    (contest / "config.yaml").write_text(yaml.safe_dump(config))
    _refused(contest, "train.csv", "line 2", "data.encoding")


def test_inf_is_named_or_read_as_missing(contest):
    _break(contest, lambda p: pd.read_csv(p).assign(f1=lambda f: f["f1"].where(f.index != 9, np.inf)).to_csv(p, index=False))
    _refused(contest, "'f1'", "row 9", "data.inf: missing")
    config = yaml.safe_load((contest / "config.yaml").read_text())
    config["data"]["inf"] = "missing"
    (contest / "config.yaml").write_text(yaml.safe_dump(config))
    assert run_script(contest / "stages" / "01_understanding.py").returncode == 0


def test_a_duplicated_column_is_named_with_its_positions(contest):
    path = contest / "data" / "raw" / "train.csv"
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace("f2", "f1")
    path.write_text("\n".join(lines) + "\n")
    _refused(contest, "'f1' at columns 3, 4")


def test_wrong_labels_and_wrong_scale_are_refused_by_submit(contest, tmp_path):
    test = pd.read_csv(contest / "data" / "raw" / "test.csv")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"id": test["id"], "label": 2}).to_csv(bad, index=False)
    result = run_script(REPO / "common" / "cli.py", "submit", str(contest), "--file", str(bad), "--dry-run")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "row 0 holds 2, not one of the train file's labels ['0', '1']" in result.stderr


def test_a_regression_submission_in_log_space_is_refused_by_submit(tmp_path):
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"id": np.arange(80), "x": rng.normal(size=80), "price": rng.lognormal(11, 1.0, 80).round()})
    test = pd.DataFrame({"id": np.arange(100, 120), "x": rng.normal(size=20)})
    config = {"competition": {"name": "p", "task": "regression", "metric": "rmsle"},
              "data": {"train": "data/raw/train.csv", "test": "data/raw/test.csv", "id_column": "id", "target": "price"},
              "models": [{"name": "ridge"}]}
    root = write_contest(tmp_path / "p", config, train, test, stages_from=STAGES)
    result = run_script(root / "stages" / "01_understanding.py")
    assert "consider data.target_transform: log1p" in result.stdout
    bad = tmp_path / "log.csv"
    pd.DataFrame({"id": test["id"], "price": np.log1p(train["price"].iloc[:20].to_numpy())}).to_csv(bad, index=False)
    result = run_script(REPO / "common" / "cli.py", "submit", str(root), "--file", str(bad), "--dry-run")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "look like log1p of the target: a target transform was not inverted" in result.stderr


# ---------------------------------------------------------------- stage 04: reuse and --force
def _set(root, section, **values):
    config = yaml.safe_load((root / "config.yaml").read_text())
    config.setdefault(section, {}).update(values)
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _train(root, capsys, force=False):
    train_stage.main(Contest.load(root), argparse.Namespace(only=None, force=force))
    return [line for line in capsys.readouterr().out.splitlines() if " CV mse " in line]


def test_train_reuses_finished_runs_and_force_retrains_them(regression_contest, capsys):
    shutil.copytree(STAGES / "stages", regression_contest / "stages")
    first = _train(regression_contest, capsys)
    assert len(first) == 2 and not any("(reused)" in line for line in first)
    runs = {p.name.split("-")[0]: p for p in (regression_contest / "runs").iterdir() if not p.name.startswith(".")}
    stamp = {name: ((p / "meta.json").stat().st_ino, (p / "meta.json").read_bytes()) for name, p in runs.items()}
    again = _train(regression_contest, capsys)
    assert all(line.endswith("(reused)") for line in again) and len(again) == 2
    assert {name: ((p / "meta.json").stat().st_ino, (p / "meta.json").read_bytes()) for name, p in runs.items()} \
        == stamp  # nothing rewritten

    result = run_script(regression_contest / "stages" / "04_train.py", "--force", "--only", "ridge")
    assert result.returncode == 0, result.stderr[-2000:]
    trained = [line for line in result.stdout.splitlines() if " CV mse " in line]
    assert len(trained) == 1 and trained[0].startswith(runs["ridge"].name) and "(reused)" not in trained[0]
    assert (runs["ridge"] / "meta.json").stat().st_ino != stamp["ridge"][0]  # the run was written anew ...
    assert (runs["lightgbm"] / "meta.json").read_bytes() == stamp["lightgbm"][1]  # ... and only that one


# ---------------------------------------------------------------- stage 07: ensemble.choose
@pytest.fixture
def blended(regression_contest, capsys):
    """A regression contest with two runs and a first stage-07 pass (choose: best); its comparison table."""
    _train(regression_contest, capsys)
    ensemble_stage.main(Contest.load(regression_contest), argparse.Namespace())
    capsys.readouterr()
    return regression_contest, pd.read_csv(regression_contest / "reports" / "ensemble_comparison.csv")


@pytest.mark.parametrize("kind", ["ensemble", "single"])
def test_ensemble_choose_writes_the_named_strategy_or_run(blended, kind):
    root, table = blended
    best = table["strategy"].iloc[0]
    choice = table.loc[table["kind"] == kind, "strategy"].iloc[-1]  # the worst of its kind: never the best
    assert choice != best
    _set(root, "ensemble", choose=choice)
    contest = Contest.load(root)
    ensemble_stage.main(contest, argparse.Namespace())
    submission = root / "submissions" / "sub.txt"
    info = read_provenance(submission)
    assert info["strategy"] == choice
    assert info["cv_score"] == pytest.approx(table.set_index("strategy").loc[choice, "cv_score"], rel=1e-12)
    # the file holds the chosen strategy's (or run's) test predictions, compared again here from the runs
    from common.ensemble import compare
    from common.runs.pipeline import current_runs

    fs, folds = contest.features(log=lambda _: None), contest.folds()
    runs = current_runs(contest, fs, folds)
    _, results = compare(runs, fs.y, folds, contest.metric, contest.task, contest.config.ensemble.strategies)
    written = np.loadtxt(submission)
    np.testing.assert_array_equal(written, results[choice].test)
    assert not np.array_equal(written, results[best].test)
    assert info["runs"] == ([choice] if kind == "single" else [r.run_id for r in runs])


def test_ensemble_choose_of_an_unknown_name_names_the_choices(blended):
    root, table = blended
    submission = root / "submissions" / "sub.txt"
    before = submission.read_bytes()
    _set(root, "ensemble", choose="means")
    with pytest.raises(ConfigError) as refused:
        ensemble_stage.main(Contest.load(root), argparse.Namespace())
    message = str(refused.value)
    assert message.startswith("ensemble.choose 'means' is not among the strategies and runs compared")
    assert all(repr(name) in message for name in table["strategy"]) and "Did you mean 'mean'?" in message
    assert submission.read_bytes() == before  # nothing written
