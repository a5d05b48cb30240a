"""Benchmark: contests the kit has never seen, run as a new user runs them, beside a default LightGBM.

Each case is a real public table that ships inside a pip package (tests/packaged.py), cut into
train/test/sample_submission files. The template is baked with `cookiecutter --no-input` answers only,
the files are dropped into data/raw/, and `compkit run` runs all seven stages with no edit of config or
code. Printed per case: the bake answers, the stage timings, the ensemble comparison table with the
chosen strategy, a default LightGBM (on the same typed features, categories native) on the same folds,
and the score of the submission on the held-out rows' true targets. Run:

    python benchmarks/unseen_contests.py --out /tmp/unseen        # all cases
    python benchmarks/unseen_contests.py --cases cars_mpg_rmsle --skip 06
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.config import Component  # noqa: E402
from common.contest import Contest  # noqa: E402
from common.runs.train import CVContext, fit_oof  # noqa: E402
from tests import packaged  # noqa: E402
from tests.template.test_unseen_contests import CASES  # noqa: E402


def run_case(name: str, out: Path, skip: list[str]) -> None:
    data, target, answers = CASES[name]
    answers = {"competition_name": name, "id_column": "id", "target_column": target, "platform": "kaggle", **answers}
    shutil.rmtree(out / name, ignore_errors=True)
    cookiecutter = str(Path(sys.executable).with_name("cookiecutter"))
    subprocess.run([cookiecutter, "templates", "--no-input", "-o", str(out), *(f"{k}={v}" for k, v in answers.items())],
                   cwd=REPO, check=True, capture_output=True, env={"HOME": str(out), "PATH": "/usr/bin:/bin"})
    root = out / name
    truth = packaged.write_contest_files(data(), target, root / "data" / "raw")
    print(f"\n## {name}\nbake: cookiecutter templates --no-input " + " ".join(f"{k}={v}" for k, v in answers.items()))
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "common.cli", "run", str(root), *(["--skip", *skip] if skip else [])],
                            cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:])
        raise SystemExit(f"{name}: compkit run failed")
    timings = re.search(r"stage timings: (.*)", result.stdout).group(1)
    print(f"stages: {timings} (wall {wall:.0f} s)")
    for line in result.stdout.splitlines():
        if line.startswith(("re-measured", "left out", "labels:", "chosen:")):
            print(line)
    table = pd.read_csv(root / "reports" / "ensemble_comparison.csv")
    print(table.drop(columns=["weights"]).to_string(index=False, float_format=lambda v: f"{v:.5f}"))

    contest = Contest.load(root)
    fs, folds = contest.features(log=lambda _: None), contest.folds()
    ref = fit_oof(Component(name="lightgbm"), fs.X, fs.y, fs.X_test,
                  CVContext(folds, contest.metric, contest.task, n_classes=contest.n_classes(fs.y)), progress=False)
    print(f"default LightGBM on the same folds: CV {contest.metric.name} {ref.score:.5f} ± {ref.score_std:.5f}")
    submission = pd.read_csv(root / "submissions" / "submission.csv").set_index("id").iloc[:, 0]
    y_true = truth.loc[submission.index]
    metric = contest.metric
    if contest.task == "regression" or metric.needs == "label":
        held = metric(y_true.to_numpy(), submission.to_numpy()) if contest.task == "regression" else \
            float(np.mean(submission.to_numpy() == y_true.to_numpy()))
        what = metric.name if contest.task == "regression" else "accuracy"
    else:
        held = metric((y_true == sorted(truth.unique())[1]).astype(int).to_numpy(), submission.to_numpy())
        what = metric.name
    print(f"submission on the {len(submission)} held-out rows: {what} {held:.5f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    parser.add_argument("--out", type=Path, default=Path("/tmp/unseen_contests"))
    parser.add_argument("--skip", nargs="*", default=[], help="stage numbers to skip, e.g. 06")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.cases:
        run_case(name, args.out, args.skip)


if __name__ == "__main__":
    main()
