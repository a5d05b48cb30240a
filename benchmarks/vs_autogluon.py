"""Benchmark: the kit's default pipeline against AutoGluon `best_quality`, on the kit's own saved folds.

Per data set, a contest is baked from the template with `cookiecutter --no-input` (so the kit runs its
default config: the zero-shot portfolio and every stage-07 strategy), the raw files dropped in, and
`compkit run` runs the stages (06, the search, skipped unless `--skip` says otherwise). Then AutoGluon, in
its own virtualenv, is trained fold by fold on the same saved folds: one TabularPredictor per fold on the
raw columns of the training rows (AutoGluon does its own preprocessing), `presets="best_quality"`,
`time_limit` seconds per fold, predicting the held-out fold. The kit gets `budget_s` = 5 x that time
limit (AutoGluon's fit time over the five folds) unless `--kit-budget` says otherwise. Its out-of-fold predictions are scored here
with the kit's metric, beside the CV of the strategy stage 07 chose. Wall time and peak memory (the largest
summed RSS of the child's process tree, sampled every 0.25 s, which counts AutoGluon's ray workers) are
measured the same way for both.

Data sets: steam (the real training rows in ../shared/data/steam, 5-fold MSE), and the packaged public
tables of tests/template/test_unseen_contests.py (penguins sex, binary AUC; cars mpg, RMSLE; penguins
species, accuracy, on request).

AutoGluon 1.x needs pandas < 2.4, so it lives in its own virtualenv, with the CPU torch the project pins
(pip takes torch 2.13.0 from this machine's disk; nothing pulls a CUDA build or nvidia-* packages):

    python benchmarks/vs_autogluon.py --setup-ag /work/ag-venv      # once: creates the venv
    python benchmarks/vs_autogluon.py --out /tmp/vs_ag --ag-time 60  # the table
    python benchmarks/vs_autogluon.py --cases cars_mpg_rmsle --ag-time 30 --skip 02 06
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common.contest import Contest  # noqa: E402
from tests import packaged  # noqa: E402
from tests.template.test_unseen_contests import CASES  # noqa: E402

STEAM = REPO.parent / "shared" / "data" / "steam"
AG_PACKAGES = ["torch==2.13.0", "autogluon.tabular[all]==1.6.3"]
AG_METRIC = {"mse": "mean_squared_error", "rmse": "root_mean_squared_error", "rmsle": "root_mean_squared_error",
             "mae": "mean_absolute_error", "r2": "r2", "auc": "roc_auc", "logloss": "log_loss",
             "accuracy": "accuracy", "f1": "f1", "macro_f1": "f1_macro", "mcc": "mcc"}

# Runs in the AutoGluon venv: reads the rows, labels and fold assignment this script wrote, fits one
# predictor per fold, writes the out-of-fold predictions and the seconds each fold took.
AG_CHILD = r'''
import importlib.util, json, shutil, sys, time
from pathlib import Path
import numpy as np, pandas as pd
work, repo = Path(sys.argv[1]), Path(sys.argv[2])
spec = importlib.util.spec_from_file_location("torch_compat", repo / "common" / "torch_compat.py")
compat = importlib.util.module_from_spec(spec); spec.loader.exec_module(compat)
compat.ensure_torchvision()  # the CUDA torchvision wheel beside the CPU torch: the kit's CPU nms fallback
from autogluon.tabular import TabularPredictor
job = json.loads((work / "job.json").read_text())
X = pd.read_parquet(work / "X.parquet")
y = np.load(work / "y.npy", allow_pickle=False)
assignment = np.load(work / "folds.npy")
log_target = job["log_target"]
label = "__label__"
oof, seconds = None, []
for k in range(int(assignment.max()) + 1):
    train, valid = assignment != k, assignment == k
    frame = X[train].copy()
    frame[label] = np.log1p(y[train]) if log_target else y[train]
    path = work / f"fold{k}"
    start = time.perf_counter()
    def fit(**extra):
        shutil.rmtree(path, ignore_errors=True)
        predictor = TabularPredictor(label=label, problem_type=job["problem_type"], eval_metric=job["eval_metric"],
                                     path=str(path), verbosity=job["verbosity"])
        return predictor.fit(frame, presets="best_quality", time_limit=job["time_limit"], **extra)
    try:
        predictor = fit()
    except AssertionError as exc:  # its DyStack check ate the whole limit (seen on a loaded 2-core machine)
        print(f"fold {k}: refit with dynamic_stacking=False after: {str(exc)[:80]}", flush=True)
        predictor = fit(dynamic_stacking=False)
    if job["problem_type"] == "regression":
        pred = predictor.predict(X[valid]).to_numpy(dtype=float)
        pred = np.expm1(pred) if log_target else pred
    else:
        proba = predictor.predict_proba(X[valid])
        proba = proba.reindex(columns=range(job["n_classes"]), fill_value=0.0).to_numpy(dtype=float)
        pred = proba[:, 1] if job["problem_type"] == "binary" else proba
    seconds.append(time.perf_counter() - start)
    if oof is None:
        oof = np.zeros((len(X),) + pred.shape[1:])
    oof[valid] = pred
    print(f"fold {k}: {seconds[-1]:.0f} s, best {predictor.model_best}", flush=True)
    shutil.rmtree(path, ignore_errors=True)
np.save(work / "oof.npy", oof)
(work / "seconds.json").write_text(json.dumps(seconds))
'''


def measured(command: list[str], **kwargs) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run a command; return its result, wall seconds and peak GB of its whole process tree's RSS."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    peak, done = [0], threading.Event()

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                total = 0
                for p in tree:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                peak[0] = max(peak[0], total)
            except psutil.Error:
                pass
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    done.set()
    sampler.join()
    return subprocess.CompletedProcess(command, proc.returncode, out, ""), time.perf_counter() - start, peak[0] / 1e9


def bake(name: str, out: Path) -> Path:
    """A contest folder baked from the template, with the raw files of the data set in data/raw/."""
    if name == "steam":
        answers = {"competition_name": name, "task": "regression", "metric": "mse", "id_column": "",
                   "target_column": "target", "platform": "tianchi", "train_file": "zhengqi_train.txt",
                   "test_file": "zhengqi_test.txt", "separator": "\\t"}
    else:
        _, target, extra = CASES[name]
        answers = {"competition_name": name, "id_column": "id", "target_column": target, "platform": "kaggle", **extra}
    shutil.rmtree(out / name, ignore_errors=True)
    cookiecutter = str(Path(sys.executable).with_name("cookiecutter"))
    subprocess.run([cookiecutter, "templates", "--no-input", "-o", str(out), *(f"{k}={v}" for k, v in answers.items())],
                   cwd=REPO, check=True, capture_output=True, env={"HOME": str(out), "PATH": "/usr/bin:/bin"})
    raw = out / name / "data" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    if name == "steam":
        for file in ("zhengqi_train.txt", "zhengqi_test.txt"):
            shutil.copy(STEAM / file, raw / file)  # into the temporary contest only, never the repo
    else:
        data, target, _ = CASES[name]
        packaged.write_contest_files(data(), target, raw)
    return out / name


def run_kit(root: Path, skip: list[str], budget_s: float | None) -> dict:
    if budget_s:  # the kit's own time budget for stages 04-07 (common.runs.budget), as a user would set it
        config = root / "config.yaml"
        config.write_text(config.read_text() + f"budget_s: {budget_s:.0f}\n")
    result, wall, peak = measured([sys.executable, "-m", "common.cli", "run", str(root),
                                   *(["--skip", *skip] if skip else [])], cwd=REPO)
    if result.returncode != 0:
        print(result.stdout[-4000:])
        raise SystemExit(f"{root.name}: compkit run failed")
    table = pd.read_csv(root / "reports" / "ensemble_comparison.csv")
    chosen, single = table.iloc[0], table[table["kind"] == "single"].iloc[0]
    return {"cv": float(chosen["cv_score"]), "strategy": str(chosen["strategy"]), "wall": wall, "peak": peak,
            "best_single": f"{single['strategy']} {single['cv_score']:.5f}", "table": table}


def run_autogluon(root: Path, ag_python: str, time_limit: float, verbosity: int) -> dict:
    contest = Contest.load(root)
    cfg = contest.config
    raw = pd.read_csv(contest.path(cfg.data.train), sep=cfg.data.sep)
    fs, folds = contest.features(log=lambda _: None), contest.folds()
    if len(raw) != len(fs.y) or folds.n_repeats != 1:
        raise SystemExit(f"{root.name}: {len(raw)} raw rows against {len(fs.y)} feature rows; the benchmark needs "
                         "one row per training row and no fold repeats")
    ids = [cfg.data.id_column] if isinstance(cfg.data.id_column, str) else list(cfg.data.id_column or [])
    X = raw.drop(columns=[cfg.data.target, *ids])
    work = root / "autogluon"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    X.to_parquet(work / "X.parquet")  # parquet, not a pickle: the venv's pandas 2 reads pandas 3's strings
    np.save(work / "y.npy", np.asarray(fs.y) if contest.task == "regression" else np.asarray(fs.y).astype(int))
    np.save(work / "folds.npy", folds.assignment)
    (work / "job.json").write_text(json.dumps({
        "problem_type": {"regression": "regression", "binary": "binary", "multiclass": "multiclass"}[contest.task],
        "eval_metric": AG_METRIC[contest.metric.name], "log_target": contest.metric.name == "rmsle",
        "n_classes": int(contest.n_classes(fs.y) or 2), "time_limit": time_limit, "verbosity": verbosity}))
    (work / "child.py").write_text(AG_CHILD)
    result, wall, peak = measured([ag_python, str(work / "child.py"), str(work), str(REPO)], cwd=work)
    if result.returncode != 0:
        print(result.stdout[-4000:])
        raise SystemExit(f"{root.name}: AutoGluon failed")
    print("\n".join(line for line in result.stdout.splitlines() if line.startswith("fold ")))
    oof = np.load(work / "oof.npy")
    valid = folds.validated
    return {"cv": float(contest.metric(np.asarray(fs.y)[valid], oof[valid])), "wall": wall, "peak": peak,
            "metric": contest.metric.name}


def setup_ag(venv: Path) -> None:
    """The AutoGluon virtualenv: the project's CPU torch first, so AutoGluon's torch range is already met."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    for package in AG_PACKAGES:
        subprocess.run([*pip, package], check=True)
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list"], capture_output=True, text=True).stdout
    cuda = [line.split()[0] for line in listed.splitlines() if line.startswith("nvidia-")]
    if cuda:
        raise SystemExit(f"the AutoGluon venv pulled CUDA packages {cuda}; remove them and pin torch to a CPU build")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=["penguins_sex_binary", "cars_mpg_rmsle", "steam"],
                        help=f"steam and/or {sorted(CASES)}")
    parser.add_argument("--out", type=Path, default=Path("/tmp/vs_autogluon"))
    parser.add_argument("--ag-python", default="/work/ag-venv/bin/python")
    parser.add_argument("--ag-time", type=float, default=60.0, help="AutoGluon time_limit per fold, seconds")
    parser.add_argument("--ag-verbosity", type=int, default=1)
    parser.add_argument("--skip", nargs="*", default=["06"], help="kit stages to skip (default: 06, the search)")
    parser.add_argument("--kit-budget", type=float, default=None,
                        help="budget_s for the kit's stages 04-07 (default: 5 x --ag-time, AutoGluon's fit time; 0: none)")
    parser.add_argument("--setup-ag", type=Path, metavar="VENV", help="create the AutoGluon virtualenv and exit")
    args = parser.parse_args()
    if args.setup_ag:
        setup_ag(args.setup_ag)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.cases:
        root = bake(name, args.out)
        budget = 5 * args.ag_time if args.kit_budget is None else args.kit_budget
        kit = run_kit(root, args.skip, budget)
        print(f"\n## {name}: kit {kit['strategy']} CV {kit['cv']:.5f} ({kit['wall']:.0f} s, {kit['peak']:.2f} GB), "
              f"best single {kit['best_single']}")
        print(kit["table"].drop(columns=["weights"]).head(8).to_string(index=False, float_format=lambda v: f"{v:.5f}"))
        ag = run_autogluon(root, args.ag_python, args.ag_time, args.ag_verbosity)
        print(f"## {name}: AutoGluon best_quality CV {ag['cv']:.5f} ({ag['wall']:.0f} s, {ag['peak']:.2f} GB)")
        rows.append({"data set": name, "metric": ag["metric"], "kit CV": f"{kit['cv']:.5f}", "kit strategy": kit["strategy"],
                     "AutoGluon CV": f"{ag['cv']:.5f}", "kit wall s": f"{kit['wall']:.0f}",
                     "AutoGluon wall s": f"{ag['wall']:.0f}", "kit peak GB": f"{kit['peak']:.2f}",
                     "AutoGluon peak GB": f"{ag['peak']:.2f}"})
        pd.DataFrame(rows).to_csv(args.out / "vs_autogluon.csv", index=False)
    table = pd.DataFrame(rows)
    print(f"\nkit stages skipped: {args.skip or 'none'}, kit budget_s {budget or 'none'}; "
          f"AutoGluon time_limit {args.ag_time:.0f} s per fold\n")
    print("| " + " | ".join(table.columns) + " |\n|" + " --- |" * len(table.columns))
    for row in table.itertuples(index=False):
        print("| " + " | ".join(map(str, row)) + " |")


if __name__ == "__main__":
    main()
