"""The `compkit` command line: demo, generate and list (run, runs, submit and friends are tested with the
pipeline and common.submissions.upload)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from common import cli as cli_module
from common.cli import main as cli
from common.data.datasets import GENERATORS
from common.data.datasets.tmall import FILES as TMALL_FILES
from tests.conftest import REPO, copy_contest, run_script

STEAM = REPO / "competitions" / "steam"
V = [f"V{i}" for i in range(38)]

# generator: (small settings for --set, {file: expected columns}); tab-separated files end in .txt or are news
GENERATED = {
    "steam": (["n_train=40", "n_test=30"], {"zhengqi_train.txt": [*V, "target"], "zhengqi_test.txt": V}),
    "tmall_repeat_buyer": (["n_users=60", "n_rows=2000"], {
        TMALL_FILES[0]: ["user_id", "merchant_id", "label"], TMALL_FILES[1]: ["user_id", "merchant_id", "prob"],
        TMALL_FILES[2]: ["user_id", "item_id", "cat_id", "seller_id", "brand_id", "time_stamp", "action_type"],
        TMALL_FILES[3]: ["user_id", "age_range", "gender"]}),
    "news_text": (["n_train=30", "n_test=10"], {"train_set.csv": ["label", "text"], "test_a.csv": ["text"],
                                                 "test_a_sample_submit.csv": ["label"]}),
    "street_chars": (["n_train=4", "n_val=2", "n_test=3"], {"mchar_sample_submit_A.csv": ["file_name", "file_code"]}),
}
TAB_SEPARATED = {"zhengqi_train.txt", "zhengqi_test.txt", "train_set.csv", "test_a.csv"}


def test_every_generator_has_an_expected_layout():
    assert sorted(GENERATED) == GENERATORS.list()  # a new generator needs its entry above


@pytest.mark.parametrize("name", GENERATORS.list())
def test_generate_writes_each_contests_files_with_their_columns(name, tmp_path, capsys):
    settings, expected = GENERATED[name]
    out = tmp_path / name
    cli(["generate", name, str(out), "--seed", "3", "--set", *settings])
    printed = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert printed and all(p.exists() for p in printed)  # it prints what it wrote
    for file, columns in expected.items():
        assert out / file in printed
        frame = pd.read_csv(out / file, sep="\t" if file in TAB_SEPARATED else ",")
        assert list(frame.columns) == columns, file
        assert len(frame) > 0
    if name == "steam":
        assert [len(pd.read_csv(out / f, sep="\t")) for f in expected] == [40, 30]  # --set reached the generator
    if name == "street_chars":  # label JSONs in the mchar format, one entry per image written
        for split, n in (("mchar_train", 4), ("mchar_val", 2), ("mchar_test_a", 3)):
            labels = json.loads((out / f"{split}.json").read_text())
            assert sorted(labels) == sorted(p.name for p in (out / split).glob("*.png")) and len(labels) == n
            assert all(set(v) == {"height", "label", "left", "top", "width"} for v in labels.values())


def test_generate_with_the_same_seed_writes_the_same_bytes_and_another_seed_others(tmp_path):
    for folder, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        cli(["generate", "steam", str(tmp_path / folder), "--seed", seed, "--set", "n_train=30", "n_test=20"])
    read = lambda folder: (tmp_path / folder / "zhengqi_train.txt").read_bytes()  # noqa: E731
    assert read("a") == read("b") != read("c")


def test_generate_refuses_a_setting_without_a_value_and_an_unknown_contest(tmp_path, capsys):
    with pytest.raises(SystemExit, match="KEY=VALUE pairs; got 'n_train'"):
        cli(["generate", "steam", str(tmp_path), "--set", "n_train"])
    with pytest.raises(SystemExit) as exit_info:
        cli(["generate", "stem", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: unknown data generator 'stem'")
    assert "Did you mean 'steam'?" in err and all(f"'{name}'" in err for name in GENERATORS.list())
    assert not any(tmp_path.iterdir())


def test_list_shows_every_registry(capsys):
    cli(["list"])
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert set(lines) == {"models", "metrics", "features", "ensemblers", "train filters", "target transforms"}
    listed = {kind: set(names.split(", ")) for kind, names in lines.items()}
    assert {"ridge", "lightgbm", "xgboost", "catboost", "mlp"} <= listed["models"]
    assert {"mse", "auc", "rmsle", "accuracy", "qwk"} <= listed["metrics"]
    assert {"drop_shifted", "one_hot", "target_encoding", "select_features"} <= listed["features"]
    assert {"mean", "weighted", "rank", "hill_climb", "stacking", "stacking2"} <= listed["ensemblers"]
    assert listed["train filters"] == {"residual_outliers"}
    assert {"log1p", "box-cox", "yeo-johnson", "standardize"} <= listed["target transforms"]


def test_list_filters_with_a_wildcard(capsys):
    cli(["list", "*boost"])
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert set(lines["models"].split(", ")) == {"xgboost", "catboost"} and lines["metrics"] == ""


def test_demo_generates_data_only_when_the_files_are_missing(tmp_path, monkeypatch, capsys):
    root = copy_contest(STEAM, tmp_path / "steam")
    ran = []
    monkeypatch.setattr("common.runs.pipeline.run_stages", lambda contest_dir: ran.append(contest_dir))
    cli_module.main(["demo", "--contest", str(root)])
    train = root / "data" / "raw" / "zhengqi_train.txt"
    assert "generated synthetic steam data" in capsys.readouterr().out and ran == [root.resolve()]
    assert pd.read_csv(train, sep="\t").shape == (2888, 39)  # the real file's size
    stamp = train.stat().st_mtime_ns
    cli_module.main(["demo", "--contest", str(root)])  # files there (e.g. the real ones): never overwritten
    assert "generated" not in capsys.readouterr().out and train.stat().st_mtime_ns == stamp and len(ran) == 2


def test_demo_runs_the_steam_contest_end_to_end(tmp_path):
    """`compkit demo` on a copy of competitions/steam (one quick model, a 2-trial search): generated data,
    all seven stages, a valid submission."""
    config = yaml.safe_load((STEAM / "config.yaml").read_text())
    root = copy_contest(STEAM, tmp_path / "steam", models=[{"name": "ridge", "params": {"alpha": 1.0}}],
                        optimize={"model": {"name": "ridge"}, "n_trials": 2},
                        ensemble={**config["ensemble"], "strategies": [{"name": "mean"}, {"name": "hill_climb"}]})
    result = run_script(REPO / "common" / "cli.py", "demo", "--contest", str(root), timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "generated synthetic steam data" in result.stdout
    for stage in ("01_understanding", "02_eda", "03_features", "04_train", "05_validate", "06_optimize", "07_ensemble"):
        assert f"=== {stage} ===" in result.stdout
    assert "stage timings:" in result.stdout
    for report in ("task_card.md", "eda.html", "validation.html", "ensemble_comparison.csv"):
        assert (root / "reports" / report).is_file(), report
    assert len((root / "submissions" / "steam_submission.txt").read_text().splitlines()) == 1925
    from common.contest import Contest
    from common.submissions.upload import validate_file

    validate_file(Contest.load(root), root / "submissions" / "steam_submission.txt")
