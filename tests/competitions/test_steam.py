"""The steam contest: end to end on generated data, on the real data when present, and on bad input."""
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from common.data.datasets.steam import write_steam
from tests.conftest import REPO, SHARED_DATA, copy_contest, run_script

STEAM = REPO / "competitions" / "steam"
CLI = REPO / "common" / "cli.py"


def _write_synthetic(root: Path, n_train=500, n_test=300) -> None:
    """Generated steam files in the contest's data/raw."""
    write_steam(root / "data" / "raw", seed=3, n_train=n_train, n_test=n_test)


# Quick stand-ins for the zoo: one of each family (linear, boosted trees, torch); test_models covers the rest.
QUICK_MODELS = [{"name": "ridge"}, {"name": "lightgbm", "params": {"n_estimators": 150, "learning_rate": 0.1}},
                {"name": "mlp", "params": {"epochs": 5}}]


def test_all_seven_stages_on_generated_data(tmp_path):
    config = yaml.safe_load((STEAM / "config.yaml").read_text())
    config["models"] = QUICK_MODELS
    root = copy_contest(STEAM, tmp_path / "steam", models=QUICK_MODELS, optimize={**config["optimize"], "n_trials": 3})
    _write_synthetic(root)
    result = run_script(CLI, "run", str(root))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    submission = root / "submissions" / "steam_submission.txt"
    lines = submission.read_text().splitlines()
    assert len(lines) == 300 and np.isfinite([float(v) for v in lines]).all()  # no header, one per test row
    table = pd.read_csv(root / "reports/ensemble_comparison.csv")
    labels = {m.get("label") or m["name"] for m in config["models"]}
    assert labels | {"lightgbm-optuna"} <= {s.rsplit("-", 1)[0] for s in table["strategy"] if s.count("-")}
    # a rerun resumes: every run is reused, nothing retrained
    again = run_script(root / "stages" / "04_train.py")
    assert again.returncode == 0 and again.stdout.count("(reused)") == len(config["models"])


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every output file of the contest folder (not its config or raw data), by path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] in {"cache", "folds", "runs", "reports", "submissions"}}


def test_a_failing_stage_stops_with_a_clear_message_and_keeps_earlier_outputs(tmp_path):
    root = copy_contest(STEAM, tmp_path / "steam", models=[{"name": "ridge"}])
    _write_synthetic(root, 200, 100)
    for stage in ("03_features", "04_train", "07_ensemble"):
        assert run_script(root / "stages" / f"{stage}.py").returncode == 0, stage
    before = _snapshot(root)
    assert any(p.startswith("runs/") for p in before) and "submissions/steam_submission.txt" in before

    # a stage that fails half-way: a new first feature step is built and cached, then the next one fails
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["features"] = [{"name": "scale", "params": {"method": "standard"}}, {"name": "select_features"}]
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_script(root / "stages" / "03_features.py")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "select_features: no selected feature list" in result.stderr and "Run stage 06 first" in result.stderr
    after = _snapshot(root)
    assert {p: after.get(p) for p in before} == before  # every earlier output, byte for byte
    new = sorted(set(after) - set(before))  # what it added: the finished step's cache, complete, and nothing else
    assert {Path(p).parent.name.split("-")[1] for p in new} == {"scale"}
    assert sorted(Path(p).name for p in new) == ["done.json", "test.arrow", "train.arrow"]

    # a stage that fails before writing: a raw file lost a column
    config["features"] = yaml.safe_load((STEAM / "config.yaml").read_text())["features"]
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    test_file = root / "data/raw/zhengqi_test.txt"
    frame = pd.read_csv(test_file, sep="\t")
    frame.drop(columns="V3").to_csv(test_file, sep="\t", index=False)
    result = run_script(root / "stages" / "03_features.py")
    assert result.returncode == 2
    assert "zhengqi_test.txt does not have the train file's columns: missing ['V3']" in result.stderr
    assert "Traceback" not in result.stderr
    assert _snapshot(root) == after
    assert len(list((root / "folds").glob("*/folds.npy"))) == 1


def test_ensemble_refuses_runs_on_different_folds(tmp_path):
    root = copy_contest(STEAM, tmp_path / "steam", models=[{"name": "ridge"}], ensemble={"runs": ["ridge-*", "old-*"]})
    _write_synthetic(root, 200, 100)
    assert run_script(root / "stages" / "04_train.py").returncode == 0
    ridge = next((root / "runs").glob("ridge-*"))
    old = root / "runs" / "old-1"
    shutil.copytree(ridge, old)
    meta = (old / "meta.json").read_text().replace(ridge.name, "old-1")
    import json

    data = json.loads(meta)
    data["fold_hash"] = "0123456789ab"
    (old / "meta.json").write_text(json.dumps(data))
    result = run_script(root / "stages" / "07_ensemble.py")
    assert result.returncode == 2
    assert "different folds" in result.stderr and "old-1: 0123456789ab" in result.stderr and ridge.name in result.stderr


@pytest.mark.slow  # two minutes: the default run stays near its 15-minute budget; `make test-all` runs it
@pytest.mark.skipif(not (SHARED_DATA / "steam").is_dir(), reason="real steam data not found at ../shared/data/steam")
def test_real_data_reaches_the_target_cv(tmp_path):
    """Default config, no hyperparameter search: the best blend's 5-fold CV MSE is at most 0.095."""
    root = copy_contest(STEAM, tmp_path / "steam")
    for name in ("zhengqi_train.txt", "zhengqi_test.txt"):
        shutil.copy(SHARED_DATA / "steam" / name, root / "data" / "raw" / name)
    result = run_script(CLI, "run", str(root), "--skip", "02", "05", "06", timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = pd.read_csv(root / "reports/ensemble_comparison.csv")
    print(table.to_string())
    singles = table[table["kind"] == "single"]
    assert len(singles) == len(yaml.safe_load((STEAM / "config.yaml").read_text())["models"])
    best = table[table["kind"] == "ensemble"].iloc[0]
    assert best["nested"] == "yes" and best["cv_score"] <= 0.095
    assert best["cv_score"] < singles["cv_score"].min()
    assert len((root / "submissions/steam_submission.txt").read_text().splitlines()) == 1925
