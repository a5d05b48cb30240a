"""Contest-level steps the stage scripts call: train and store runs, search, blend and submit, run stages."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from common.config import Component
from common.contest import Contest
from common.errors import FoldMismatchError, KitError
from common.faults import checkpoint
from common.features import FeatureSet
from common.data.folds import Folds
from common.data.io import save_figure, write_csv
from common.reports.report import pyplot
from common.runs.store import Run, run_id_for
from common.runs.train import CVResult, fit_oof

STAGES = ("01_understanding", "02_eda", "03_features", "04_train", "05_validate", "06_optimize", "07_ensemble")


def train_model(contest: Contest, spec: Component, fs: FeatureSet, folds: Folds, force: bool = False,
                result: CVResult | None = None, deadline: float | None = None) -> tuple[Run, bool]:
    """Cross-validate `spec` and store the run; a finished identical run is reused. Returns (run, reused).

    `result`: the CV of exactly this spec on these features and folds, already computed (the search's best
    trial, same seed and filter): stored as it is instead of fitting again. `deadline`: a
    common.runs.budget.now() time; a fit that would overrun it raises BudgetSpent and stores nothing.
    """
    from common.runs.budget import now

    cfg = contest.config
    flt = cfg.train.filter
    key = contest.run_key(fs, folds)
    transform = cfg.data.target_transform
    run_id = run_id_for(spec.run_label, spec.name, spec.params, key, cfg.seed, flt.model_dump() if flt else None)
    if contest.store.exists(run_id) and not force:
        return contest.store.load(run_id), True
    cv = contest.cv(fs, folds)
    if result is None:
        result = fit_oof(spec, fs.X, fs.y, fs.X_test, cv, workdir=contest.store.workdir(run_id), annotations=fs.annotations,
                         deadline=deadline, clock=now)
    meta = {"model": spec.model_dump(), "train_filter": flt.model_dump() if flt else None, "task": contest.task,
            "metric": contest.metric.name, "direction": contest.metric.direction, "seed": cfg.seed,
            "fold_hash": folds.hash, "n_repeats": folds.n_repeats, "feature_key": fs.key, "run_key": key, "target": cfg.data.target,
            "target_transform": transform, "classes": list(fs.classes) if fs.classes else None,
            "n_features": int(fs.X.shape[1]), "features": list(map(str, fs.X.columns)), "n_classes": cv.n_classes}
    run = contest.store.save(run_id, result, meta)
    checkpoint(f"saved:{run_id}")
    return run, False


def current_runs(contest: Contest, fs: FeatureSet, folds: Folds, patterns: list[str] | None = None,
                 out=print) -> list[Run]:
    """The runs stages 05-07 use: those matching the config's patterns, all of the current run key
    (features, target definition and transform, folds).

    With the default pattern, runs of another key are left out with a message saying how many and how
    to remove them; runs picked by explicit patterns must all be of the current key, or the blend is refused.
    """
    patterns = patterns or list(contest.config.ensemble.runs)
    key = contest.run_key(fs, folds)
    runs = contest.store.runs(patterns)
    stale = [r for r in runs if r.key != key or r.fold_hash != folds.hash]
    if stale and patterns == ["*"]:
        out(f"left out {len(stale)} run(s) made for other features, target or folds "
            f"({', '.join(r.run_id for r in stale[:6])}{' ...' if len(stale) > 6 else ''}); "
            f"`compkit runs {contest.root} --prune` deletes them")
        runs = [r for r in runs if r not in stale]
    elif stale:
        listing = "\n".join(f"  {r.run_id}: {r.fold_hash}{'  (other features or target)' if r.key != key else ''}"
                             f"{'' if r in stale else '  (current)'}" for r in runs)
        raise FoldMismatchError(
            f"ensemble.runs picks runs made on different folds, features or target (run: fold hash; the current "
            f"folds are {folds.hash}):\n{listing}\nRetrain the others with stage 04, narrow ensemble.runs, or "
            f"delete them: compkit runs {contest.root} --prune")
    if not runs:
        raise KitError(f"no runs for the current features, target and folds in {contest.store.root}: run stage 04 first.")
    return runs


def prune_runs(contest: Contest, fs: FeatureSet, folds: Folds, delete: bool = False, out=print) -> list[Run]:
    """List every run with whether it is of the current key; with `delete`, remove the others."""
    key = contest.run_key(fs, folds)
    runs = contest.store.runs()
    stale = [r for r in runs if r.key != key or r.fold_hash != folds.hash]
    for r in runs:
        out(f"{r.run_id:<32} {r.meta.get('metric', '')} {r.score:.5f}  {'other key' if r in stale else 'current'}")
    for r in stale if delete else ():
        contest.store.remove(r)
    out(f"{len(runs) - len(stale)} current, {len(stale)} of another key" + (" (deleted)" if delete and stale else ""))
    return stale


def plot_comparison(table: pd.DataFrame, metric_name: str, greater_is_better: bool):
    """Horizontal bar chart of every single run and strategy, best at the top."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(8, 0.35 * len(table) + 1.2))
    colors = ["#e76f51" if k == "ensemble" else "#457b9d" for k in table["kind"]]
    ax.barh(table["strategy"][::-1], table["cv_score"][::-1], xerr=table["cv_std"][::-1], color=colors[::-1], alpha=0.9)
    lo, hi = table["cv_score"].min(), table["cv_score"].max()
    pad = (hi - lo) * 0.3 + 1e-9
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel(f"CV {metric_name} ({'higher' if greater_is_better else 'lower'} is better); bars: fold std")
    ax.set_title("Single runs (blue) and ensembles (orange) on the same folds")
    return fig


def save_comparison(contest: Contest, table: pd.DataFrame) -> tuple[Path, Path]:
    csv = write_csv(contest.reports_dir / "ensemble_comparison.csv", table)
    png = save_figure(contest.reports_dir / "ensemble_comparison.png",
                      plot_comparison(table, contest.metric.name, contest.metric.greater_is_better))
    return csv, png


def run_stages(contest_dir: Path, stages: list[str] | None = None, extra: list[str] | None = None) -> None:
    """Run stage scripts in order as separate processes, stopping at the first that fails."""
    stages = stages or list(STAGES)
    timings = []
    for name in stages:
        script = Path(contest_dir) / "stages" / f"{name}.py"
        print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *(extra or [])], cwd=contest_dir)
        timings.append((name, time.perf_counter() - start))
        if code != 0:
            raise SystemExit(f"stage {name} failed (exit {code}); earlier outputs are intact. Fix it and rerun "
                             f"from this stage: compkit run {contest_dir} --from {name[:2]}")
    print("\nstage timings: " + ", ".join(f"{n} {s:.1f}s" for n, s in timings) + f"; total {sum(s for _, s in timings):.1f}s")
