"""Run artifacts: runs/<run_id>/ with oof.npy, test.npy and meta.json.

A run id is the model label plus a hash of everything that determines the result (model, params,
features, folds, seed, filter), so rerunning a stage finds finished runs and skips them. A run
folder is written under a temporary name and renamed into place, so it is either complete or absent.
"""
from __future__ import annotations

import fnmatch
import os
import platform
import shutil
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from common.distributed import is_main_process
from common.errors import FoldMismatchError
from common.faults import checkpoint, pid_alive
from common.data.io import read_json, read_npy, stable_hash, write_json, write_npy
from common.runs.train import CVResult

_LIBRARIES = ("numpy", "pandas", "polars", "scikit-learn", "lightgbm", "xgboost-cpu", "catboost", "torch", "accelerate", "timm", "optuna")


@dataclass(frozen=True)
class Run:
    """A finished run as stored on disk."""

    run_id: str
    path: Path
    meta: dict[str, Any]

    @property
    def oof(self) -> np.ndarray:
        return read_npy(self.path / "oof.npy")

    @property
    def test(self) -> np.ndarray:
        return read_npy(self.path / "test.npy")

    @property
    def fold_hash(self) -> str:
        return self.meta["fold_hash"]

    @property
    def score(self) -> float:
        return float(self.meta["cv_score"])

    @property
    def key(self) -> str | None:
        """The run key (features, target definition, folds) it was made under; None for older runs."""
        return self.meta.get("run_key")


def run_id_for(label: str, *identity: Any) -> str:
    return f"{label}-{stable_hash(*identity, length=8)}"


class RunStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, run_id: str) -> Path:
        return self.root / run_id

    def exists(self, run_id: str) -> bool:
        return (self.path(run_id) / "meta.json").is_file()

    def workdir(self, run_id: str) -> Path:
        """Scratch space for a run in progress (checkpoints); kept across interruptions."""
        path = self.root / ".work" / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def save(self, run_id: str, result: CVResult, meta: dict[str, Any]) -> Run:
        """Write the run under a temporary name, then rename it into place (replacing an older one).

        The folds' trained networks (torch models: `networks/fold<k>.pt2`, what `compkit export` reads) and
        TensorBoard logs (`tb/fold<k>`) move from the workdir into the run. Under DDP only the main process
        writes; the others return the same Run.
        """
        full_meta: dict[str, Any] = {
            **meta,
            "run_id": run_id,
            "cv_score": result.score,
            "cv_std": result.score_std,
            "fold_scores": result.fold_scores,
            "fit_seconds": [round(s, 3) for s in result.fit_seconds],
            "fold_info": result.fold_info,
            **({"repeat_scores": result.repeat_scores} if result.repeat_scores else {}),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "created_ns": time.time_ns(),  # orders runs saved within the same second
            "python": platform.python_version(),
            "libraries": _versions(),
        }
        if not is_main_process():
            return Run(run_id, self.path(run_id), full_meta)
        self._remove_orphans()
        tmp = self.root / f".tmp-{run_id}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            _keep_fold_outputs(self.root / ".work" / run_id, tmp)
            write_npy(tmp / "oof.npy", result.oof)
            write_npy(tmp / "test.npy", result.test)
            write_json(tmp / "meta.json", full_meta)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        checkpoint(f"save:{run_id}")
        final = self.path(run_id)
        if final.exists():  # --force: the old run is moved away whole, never left half-deleted under its name
            trash = self.root / f".trash-{run_id}-{os.getpid()}"
            os.replace(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(tmp, final)
        shutil.rmtree(self.root / ".work" / run_id, ignore_errors=True)
        return Run(run_id, final, full_meta)

    def _remove_orphans(self) -> None:
        """Delete staged or half-deleted runs whose process was killed (their pid no longer runs here)."""
        for leftover in self.root.glob(".t*-*"):
            kind, _, pid = leftover.name.rpartition("-")
            if kind.startswith((".tmp-", ".trash-")) and pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(leftover, ignore_errors=True)

    def load(self, run_id: str) -> Run:
        path = self.path(run_id)
        return Run(run_id, path, read_json(path / "meta.json"))

    def runs(self, patterns: list[str] | tuple[str, ...] = ("*",), fold_hash: str | None = None,
             key: str | None = None) -> list[Run]:
        """Finished runs whose id matches any pattern, oldest first; only those on `fold_hash` / of run `key`."""
        if not self.root.is_dir():
            return []
        found = []
        for meta_path in sorted(self.root.glob("*/meta.json")):
            run_id = meta_path.parent.name
            if run_id.startswith("."):  # a run being staged or deleted (pathlib's "*" matches hidden names)
                continue
            if any(fnmatch.fnmatchcase(run_id, p) for p in patterns):
                run = Run(run_id, meta_path.parent, read_json(meta_path))
                if (fold_hash is None or run.fold_hash == fold_hash) and (key is None or run.key == key):
                    found.append(run)
        return sorted(found, key=lambda r: (r.meta.get("created", ""), r.meta.get("created_ns", 0)))

    def remove(self, run: Run) -> None:
        """Delete a finished run (renamed away first, so a half-deleted run never looks finished)."""
        trash = self.root / f".trash-{run.run_id}-{os.getpid()}"
        os.replace(run.path, trash)
        shutil.rmtree(trash, ignore_errors=True)


def _keep_fold_outputs(work: Path, run: Path) -> None:
    for network in sorted(work.glob("fold*/network.pt2")):
        (run / "networks").mkdir(exist_ok=True)
        shutil.copy2(network, run / "networks" / f"{network.parent.name}.pt2")
    for logs in sorted(work.glob("fold*/tb")):
        shutil.copytree(logs, run / "tb" / logs.parent.name)


def check_same_folds(runs: list[Run]) -> str:
    """The runs' common fold hash; FoldMismatchError naming each run and its hash otherwise."""
    hashes = {r.fold_hash for r in runs}
    if len(hashes) > 1:
        listing = "\n".join(f"  {r.run_id}: {r.fold_hash}" for r in runs)
        raise FoldMismatchError(
            "cannot compare or blend runs made on different folds:\n" + listing +
            "\nRetrain the older runs on the current folds (stage 04) or select runs of one fold hash."
        )
    return hashes.pop() if hashes else ""


def _versions() -> dict[str, str]:
    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out
