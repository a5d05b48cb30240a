"""Bake the cookiecutter template into a temporary folder, check it, and run what it generates."""
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from cookiecutter.main import cookiecutter

from common.config import load_config
from common.metrics import TASKS, metrics_for
from tests.conftest import REPO, classification_frames, run_script

EXPECTED_FILES = {
    ".gitignore", "README.md", "config.yaml", "features.py", "data/raw/.gitkeep",
    *(f"stages/{s}.py" for s in ("01_understanding", "02_eda", "03_features", "04_train", "05_validate",
                                 "06_optimize", "07_ensemble")),
}
COOKIECUTTER = str(Path(sys.executable).with_name("cookiecutter"))


def _bake(out: Path, **context) -> Path:
    return Path(cookiecutter(str(REPO / "templates"), no_input=True, output_dir=str(out), extra_context=context))


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("task,metric", [("regression", "rmse"), ("binary", "auc"), ("multiclass", "macro_f1")])
def test_bake_gives_the_exact_file_set_fully_rendered(tmp_path, isolated_home, task, metric):
    root = _bake(tmp_path, competition_name="Demo Cup", task=task, platform="kaggle")
    assert root.name == "demo_cup"
    assert _files(root) == EXPECTED_FILES
    for path in root.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not re.search(r"{{|{%|cookiecutter\.", text), f"unrendered template text in {path}"
    config = load_config(root / "config.yaml")
    assert (config.competition.task, config.competition.metric) == (task, metric)
    assert config.competition.kaggle_slug == "demo-cup"
    assert config.folds.scheme == ("kfold" if task == "regression" else "stratified")
    template_stages = REPO / "templates" / "{{cookiecutter.competition_slug}}" / "stages"
    for script in template_stages.iterdir():  # stage scripts are copied verbatim
        assert (root / "stages" / script.name).read_text() == script.read_text()


@pytest.mark.parametrize("source", ["templates", "."])
def test_cookiecutter_command_works_from_templates_and_repo_root(tmp_path, isolated_home, source):
    result = subprocess.run([COOKIECUTTER, source, "--no-input", "-o", str(tmp_path), "competition_name=Steam Test",
                             "task=regression", "metric=mse", "id_column=", "platform=tianchi", "separator=\\t"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    config = load_config(tmp_path / "steam_test" / "config.yaml")
    assert config.data.id_column is None and config.data.sep == "\t" and config.competition.platform == "tianchi"


def test_interactive_answers(tmp_path, isolated_home):
    answers = "Tmall Repeat\n\n2\n\nuser_id\nlabel\n2\n\n\n\n\n\n"  # name, slug, task=binary, metric, id, target, tianchi
    result = subprocess.run([COOKIECUTTER, "templates", "-o", str(tmp_path)], cwd=REPO, input=answers,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    config = load_config(tmp_path / "tmall_repeat" / "config.yaml")
    assert (config.competition.task, config.competition.metric, config.data.id_column) == ("binary", "auc", "user_id")
    assert config.competition.platform == "tianchi" and config.competition.kaggle_slug is None


@pytest.mark.parametrize("source", ["templates", "."])
@pytest.mark.parametrize("answers,message", [
    (["task=regression", "metric=auc"], "metric 'auc' does not suit task 'regression'; choose one of "
                                        "['mae', 'mse', 'qwk', 'r2', 'rmse', 'rmsle']"),
    (["task=binary", "metric=rmsle"], "metric 'rmsle' does not suit task 'binary'"),
    (["competition_slug=9lives"], "competition_slug '9lives' must be lower-case letters"),
])
def test_a_refused_bake_says_why_in_one_line_and_writes_nothing(tmp_path, isolated_home, source, answers, message):
    out = tmp_path / "out"
    result = subprocess.run([COOKIECUTTER, source, "--no-input", "-o", str(out), *answers],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode != 0
    output = result.stderr + result.stdout
    assert message in output and "Traceback" not in output
    assert len(output.strip().splitlines()) == 1, output
    assert not out.exists() or not any(out.iterdir())


def test_a_refused_bake_raises_for_python_callers(tmp_path, isolated_home):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="metric 'f1' does not suit task 'multiclass'"):
        _bake(out, task="multiclass", metric="f1")
    assert not out.exists() or not any(out.iterdir())


def _template_checks():
    """templates/compkit_checks.py, loaded by path as cookiecutter does (it is not part of compkit)."""
    spec = importlib.util.spec_from_file_location("compkit_checks_under_test", REPO / "templates" / "compkit_checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_template_offers_the_registry_metrics_per_task():
    assert _template_checks().TASK_METRICS == {task: set(metrics_for(task)) for task in TASKS}
    prompt = json.loads((REPO / "templates" / "cookiecutter.json").read_text())["__prompts__"]["metric"]
    listed = {task: set(names.split(", ")) for task, names in re.findall(r"(\w+): ([\w, ]+?)(?: \||\))", prompt)}
    assert listed == {task: set(metrics_for(task)) for task in TASKS}


@pytest.mark.parametrize("task,metric", [(task, metric) for task in TASKS for metric in metrics_for(task)])
def test_every_metric_that_suits_the_task_bakes(tmp_path, isolated_home, task, metric):
    root = _bake(tmp_path, competition_name="Any", task=task, metric=metric)
    config = load_config(root / "config.yaml")
    assert (config.competition.task, config.competition.metric) == (task, metric)


def test_the_repo_root_is_the_same_template():
    """`cookiecutter <repo>` reads the root; its entries link to templates/, so the prompts live in one place."""
    for name in ("cookiecutter.json", "compkit_checks.py", "{{cookiecutter.competition_slug}}"):
        root, template = REPO / name, REPO / "templates" / name
        assert root.resolve() == template.resolve(), f"{name} at the repo root must be a link to templates/{name}"


def _shrink(config_path: Path) -> None:
    """Fast settings for a test run: two quick models, three search trials."""
    config = yaml.safe_load(config_path.read_text())
    assert config["models"] == [{"preset": "portfolio"}]  # what a new contest gets: the zero-shot portfolio
    linear = "ridge" if config["competition"]["task"] == "regression" else "logistic"
    config["models"] = [{"name": linear}, {"name": "lightgbm", "params": {"n_estimators": 100}}]
    config["optimize"] = {"model": {"name": linear}, "n_trials": 3}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))


def test_generated_binary_contest_runs_end_to_end(tmp_path, isolated_home):
    root = _bake(tmp_path, competition_name="Bin", task="binary", id_column="id", target_column="label")
    train, test = classification_frames(300, 150)
    train.to_csv(root / "data/raw/train.csv", index=False)
    test.to_csv(root / "data/raw/test.csv", index=False)
    _shrink(root / "config.yaml")
    result = run_script(REPO / "common" / "cli.py", "run", str(root))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for artifact in ("reports/task_card.md", "reports/eda.html", "reports/validation.html",
                     "reports/ensemble_comparison.csv", "reports/ensemble_comparison.png", "optuna.db"):
        assert (root / artifact).is_file(), artifact
    runs = [p for p in (root / "runs").iterdir() if (p / "meta.json").is_file()]
    assert len(runs) == 3  # two models + the optimized one
    submission = pd.read_csv(root / "submissions/submission.csv")
    assert list(submission.columns) == ["id", "label"]
    assert submission["id"].tolist() == test["id"].tolist()
    assert submission["label"].between(0, 1).all()
    table = pd.read_csv(root / "reports/ensemble_comparison.csv")
    assert {"mean", "weighted", "rank", "hill_climb", "stacking"} <= set(table["strategy"])
    # stage 07 prints the submission's path last (the runner's timing line follows it)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines[-1].startswith("stage timings") and lines[-2] == str(root / "submissions" / "submission.csv")
