"""Shared fixtures: tiny contests on generated data, an isolated HOME, the real-data location."""
from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    """cookiecutter writes a replay file under $HOME: keep it out of the real one."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def classification_frames(n_train=300, n_test=200, n_classes=2, seed=0, positive_share=None):
    """Train/test frames with an id column, 4 numeric features and a learnable class target."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    X = rng.normal(size=(n, 4))
    logits = np.column_stack([X[:, 0] * (k + 1) - X[:, 1] * k for k in range(n_classes)]) + rng.normal(scale=0.5, size=(n, n_classes))
    y = logits.argmax(1) if n_classes > 2 else (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.7, size=n) > (
        np.quantile(X[:, 0], 1 - positive_share) if positive_share else 0)).astype(int)
    frame = pd.DataFrame(X, columns=["f0", "f1", "f2", "f3"]).round(4)
    frame.insert(0, "id", np.arange(1000, 1000 + n))
    train, test = frame.iloc[:n_train].copy(), frame.iloc[n_train:].reset_index(drop=True)
    train["label"] = y[:n_train]
    return train, test


def copy_contest(src: Path, dest: Path, raw: Path | None = None, **overrides) -> Path:
    """A contest folder's code and config copied to `dest`, top-level config sections overridden;
    data/raw holds a copy of `raw` when given, else nothing."""
    dest.mkdir(parents=True)
    for name in ("config.yaml", "features.py"):
        shutil.copy(src / name, dest / name)
    shutil.copytree(src / "stages", dest / "stages")
    if raw is None:
        (dest / "data" / "raw").mkdir(parents=True)
    else:
        shutil.copytree(raw, dest / "data" / "raw")
    config = yaml.safe_load((dest / "config.yaml").read_text())
    config.update(overrides)
    (dest / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def write_contest(root: Path, config: dict, train: pd.DataFrame, test: pd.DataFrame, sep: str = ",",
                  stages_from: Path | None = None) -> Path:
    """A contest folder: config.yaml, data/raw files, and (optionally) stage scripts copied from a contest."""
    (root / "data" / "raw").mkdir(parents=True, exist_ok=True)
    train.to_csv(root / config["data"]["train"], sep=sep, index=False)
    test.to_csv(root / config["data"]["test"], sep=sep, index=False)
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    if stages_from is not None:
        shutil.copytree(stages_from / "stages", root / "stages")
        if (stages_from / "features.py").is_file():
            shutil.copy(stages_from / "features.py", root / "features.py")
    return root


FAST_MODELS = [{"name": "ridge"}, {"name": "lightgbm", "params": {"n_estimators": 200, "learning_rate": 0.1}}]


def section_rows(page: str, heading: str) -> list[list[str]]:
    """The cells of every body row of the tables in one section of a common.reports.report HTML page."""
    part = page[page.index(f"<h2>{heading}</h2>"):]
    part = part[:part.index("</section>")]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", part, flags=re.DOTALL)
    cells = [[html.unescape(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.DOTALL)]
             for r in rows]
    return [c for c in cells if c]


@pytest.fixture
def regression_contest(tmp_path):
    """A steam-like contest with 300 training rows and two fast models."""
    from common.data.datasets.steam import make_steam

    train, test = make_steam(300, 200, seed=1)
    config = {
        "competition": {"name": "steam", "task": "regression", "metric": "mse", "platform": "tianchi"},
        "data": {"train": "data/raw/train.txt", "test": "data/raw/test.txt", "sep": "\t", "target": "target"},
        "folds": {"scheme": "kfold", "n_splits": 3, "seed": 0},
        "models": FAST_MODELS,
        "submission": {"format": "lines", "file_name": "sub.txt"},
    }
    return write_contest(tmp_path / "steam", config, train, test, sep="\t")


@pytest.fixture
def binary_contest(tmp_path):
    train, test = classification_frames()
    config = {
        "competition": {"name": "bin", "task": "binary", "metric": "auc", "platform": "kaggle", "kaggle_slug": "bin"},
        "data": {"train": "data/raw/train.csv", "test": "data/raw/test.csv", "id_column": "id", "target": "label"},
        "folds": {"scheme": "stratified", "n_splits": 3, "seed": 0},
        "models": [{"name": "logistic"}, {"name": "lightgbm", "params": {"n_estimators": 100}}],
    }
    return write_contest(tmp_path / "bin", config, train, test)


def run_script(script: Path, *args: str, cwd: Path | None = None, timeout: int = 600,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a stage script or CLI with this interpreter, capturing output; `env` adds environment variables."""
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "MPLBACKEND": "Agg", **(env or {})}
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def dead_pid() -> int:
    """The id of a process that has ended (what a killed writer's temporary files carry)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def browser_check(tmp_path):
    """`check_page(html_path, **options) -> PageCheck` (tests/browser.py), screenshots kept in tmp_path.

    Skips when there is no Chromium, unless COMPKIT_REQUIRE_BROWSER=1 (set by .ci/run), where it fails.
    """
    from tests.browser import check_page, find_chromium

    if find_chromium() is None:
        message = "no chromium on PATH: run scripts/system_deps.sh (make test does) to install it"
        if os.environ.get("COMPKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return lambda html_path, **options: check_page(html_path, tmp_path / "browser", **options)
