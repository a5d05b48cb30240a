"""An honest figure for a tuned run: its parameters re-measured on a second fold split.

Stage 06 picks the best of many trials on the contest's folds, so the winner's CV is optimistic: part
of its lead is luck on those folds. Refitting the tuned and the untuned parameters on folds the search
never saw (same scheme, another seed) tells whether the tuning holds; stage 07 leaves out a tuned run
whose tuning does not, and shows both figures.
"""
from __future__ import annotations

from common.config import Component
from common.data.folds import Folds
from common.data.io import write_json
from common.runs.store import Run
from common.runs.train import fit_oof


def second_split(contest, folds: Folds) -> Folds:
    """The contest's fold scheme made again with another seed: one more split for time-ordered folds, and
    K-fold over all labelled rows for a holdout (its one split cannot be drawn again)."""
    f = contest.config.folds
    if f.scheme == "holdout":
        scheme = "kfold" if contest.task in ("regression", "sequence") else "stratified"
        return contest.make_folds(scheme=scheme, n_splits=5, seed=f.seed + 1)
    return contest.make_folds(n_splits=f.n_splits + 1 if f.scheme == "time" else None, seed=f.seed + 1)


def recheck_tuned(contest, run: Run, untuned: Component, fs, folds: Folds) -> dict:
    """Score `run`'s parameters and the `untuned` ones on a second split; saved in the run's meta.json."""
    if "recheck" in run.meta:
        return run.meta["recheck"]
    cfg, metric = contest.config, contest.metric
    other = second_split(contest, folds)
    cv = contest.cv(fs, other)
    score = lambda spec: fit_oof(spec, fs.X, fs.y, fs.X_test, cv, progress=False).score  # noqa: E731
    tuned, base = score(Component(**run.meta["model"])), score(untuned)
    check = {"seed": cfg.folds.seed + 1, "fold_hash": other.hash, "tuned": tuned, "untuned": base,
             "holds": not metric.is_better(base, tuned)}
    write_json(run.path / "meta.json", {**run.meta, "recheck": check})
    run.meta["recheck"] = check
    return check


def honest_runs(runs: list[Run], out=print) -> list[Run]:
    """The runs without a tuned run whose tuning did not hold on the second split."""
    kept = []
    for run in runs:
        check = run.meta.get("recheck")
        if check and not check["holds"]:
            out(f"left out {run.run_id}: CV {run.score:.5f} on the search's folds, but on a second split "
                f"{check['tuned']:.5f} tuned against {check['untuned']:.5f} untuned")
            continue
        kept.append(run)
    return kept


def second_split_scores(runs: list[Run]) -> dict[str, float]:
    """run_id -> its tuned score on the second split, for the comparison table."""
    return {r.run_id: r.meta["recheck"]["tuned"] for r in runs if "recheck" in r.meta}
