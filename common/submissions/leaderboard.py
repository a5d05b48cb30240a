"""The submission log (submissions/log.csv) and CV against leaderboard score.

One row per upload (Kaggle) or packaged file (Tianchi): when, which file and its sha256, which
strategy and runs made it, its CV score, the message, and the public score once known. Kaggle
scores are fetched with the `kaggle` CLI and merged in; Tianchi scores are typed in by hand. The
CV-vs-LB table and plot show when a better CV stops meaning a better leaderboard score.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import KitError
from common.data.io import save_figure, write_csv
from common.reports.report import pyplot

COLUMNS = ("time", "platform", "file", "sha256", "strategy", "runs", "metric", "cv_score", "message",
           "status", "public_score", "private_score", "ref")
_NUMERIC = ("cv_score", "public_score", "private_score")
_KAGGLE_COLUMNS = ("ref", "fileName", "date", "description", "status", "publicScore", "privateScore")
MATCH_WINDOW = pd.Timedelta(days=1)


class SubmissionLog:
    """submissions/log.csv, rewritten atomically on every change."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def read(self) -> pd.DataFrame:
        """The log with every column (an empty frame before the first submission)."""
        if not self.path.is_file():
            return pd.DataFrame({c: pd.Series(dtype=float if c in _NUMERIC else object) for c in COLUMNS})
        frame = pd.read_csv(self.path, dtype={c: str for c in COLUMNS if c not in _NUMERIC}, keep_default_na=False,
                            na_values={c: [""] for c in _NUMERIC})
        for column in COLUMNS:
            if column not in frame:
                frame[column] = np.nan if column in _NUMERIC else ""
        for column in _NUMERIC:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
        return frame[list(COLUMNS)]

    def write(self, frame: pd.DataFrame) -> Path:
        return write_csv(self.path, frame[list(COLUMNS)])

    def append(self, row: dict) -> pd.DataFrame:
        """Add one submission; missing columns stay empty."""
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise KitError(f"submission log has no column(s) {sorted(unknown)}; columns are {list(COLUMNS)}")
        frame = self.read()
        new = pd.DataFrame([{c: row.get(c, np.nan if c in _NUMERIC else "") for c in COLUMNS}])
        frame = new if frame.empty else pd.concat([frame, new], ignore_index=True)
        self.write(frame)
        return frame

    def set_score(self, number: int, public: float) -> pd.DataFrame:
        """Record a public score by hand for row `number` (1-based, as `compkit submissions` numbers rows)."""
        frame = self.read()
        if not 1 <= number <= len(frame):
            raise KitError(f"submission #{number} is not in {self.path}: it has rows 1..{len(frame)}.")
        frame.loc[number - 1, "public_score"] = float(public)
        self.write(frame)
        return frame


def parse_kaggle_submissions(text: str) -> pd.DataFrame:
    """The CSV `kaggle competitions submissions <slug> --csv` prints (any lines before its header skipped)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("ref,fileName")), None)
    if start is None:
        if "No submissions found" in text:
            return pd.DataFrame(columns=list(_KAGGLE_COLUMNS))
        raise KitError("could not read the kaggle CLI's submissions list: expected a CSV header "
                       f"'{','.join(_KAGGLE_COLUMNS)}'; got: {text.strip()[:300]!r}")
    frame = pd.read_csv(io.StringIO("\n".join(lines[start:])), dtype=str, keep_default_na=False)
    frame["date"] = _utc(frame["date"])
    for column in ("publicScore", "privateScore"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def merge_scores(log: pd.DataFrame, kaggle: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Copy Kaggle's scores into the log's Kaggle rows; returns (log, rows updated).

    A log row matches the Kaggle submission with its ref, else the one with the same file name and
    description (the message we sent), else the same file name submitted within a day of it
    (nearest first). Each Kaggle submission fills at most one row.
    """
    log = log.copy()
    used: set[int] = set()
    times = _utc(log["time"])
    updated = 0
    for i in log.index[log["platform"] == "kaggle"]:
        name = Path(str(log.at[i, "file"])).name
        pool = kaggle[~kaggle.index.isin(used)]
        by_ref = pool[(pool["ref"] != "") & (pool["ref"] == log.at[i, "ref"])]
        if by_ref.empty:
            pool = pool[pool["fileName"] == name]
            if pool.empty:
                continue
            gap = (pool["date"] - times[i]).abs()
            same_message = pool["description"].str.strip() == str(log.at[i, "message"]).strip()
            key = pd.DataFrame({"other": ~same_message, "gap": gap}).sort_values(["other", "gap"])
            j = key.index[0]
            if not same_message[j] and not gap[j] <= MATCH_WINDOW:
                continue
        else:
            j = by_ref.index[0]
        used.add(j)
        before = (log.at[i, "public_score"], log.at[i, "status"])
        log.at[i, "ref"] = str(kaggle.at[j, "ref"])
        log.at[i, "status"] = str(kaggle.at[j, "status"])
        log.at[i, "public_score"] = kaggle.at[j, "publicScore"]
        log.at[i, "private_score"] = kaggle.at[j, "privateScore"]
        updated += before != (log.at[i, "public_score"], log.at[i, "status"])
    return log, updated


def cv_vs_lb(log: pd.DataFrame) -> pd.DataFrame:
    """One row per submission: number, date, file, strategy, CV, public LB and their difference."""
    return pd.DataFrame({
        "#": np.arange(1, len(log) + 1), "time": log["time"].str.slice(0, 16).str.replace("T", " "),
        "file": [Path(str(f)).name for f in log["file"]], "strategy": log["strategy"], "status": log["status"],
        "cv_score": log["cv_score"], "public_score": log["public_score"],
        "lb_minus_cv": log["public_score"] - log["cv_score"],
    })


def tracking_warnings(table: pd.DataFrame, greater_is_better: bool) -> list[str]:
    """Where CV stopped tracking the leaderboard: consecutive scored submissions whose CV improved
    while their public score got worse, plus the rank correlation over all scored submissions."""
    scored = table.dropna(subset=["cv_score", "public_score"])
    sign = 1.0 if greater_is_better else -1.0
    out = []
    for (_, a), (_, b) in zip(scored.iloc[:-1].iterrows(), scored.iloc[1:].iterrows()):
        if sign * (b.cv_score - a.cv_score) > 0 and sign * (b.public_score - a.public_score) < 0:
            out.append(f"#{b['#']} improved CV over #{a['#']} ({a.cv_score:.5g} -> {b.cv_score:.5g}) but its public "
                       f"score got worse ({a.public_score:.5g} -> {b.public_score:.5g}).")
    if len(scored) >= 3:
        rho = scored["cv_score"].rank().corr(scored["public_score"].rank())
        if not np.isnan(rho) and rho < 0.5:
            out.append(f"CV and public score rank {len(scored)} submissions alike only weakly (Spearman {rho:.2f}): "
                       "trust CV over the public board, or check the folds mirror the test split.")
    return out


def plot_cv_vs_lb(table: pd.DataFrame, metric: str, path: str | Path) -> Path | None:
    """Scatter of CV (x) against public score (y), points numbered as in the table; None with < 2 points."""
    scored = table.dropna(subset=["cv_score", "public_score"])
    if len(scored) < 2:
        return None
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6.5, 5))
    ax.plot(scored["cv_score"], scored["public_score"], color="#adb5bd", lw=1, zorder=1)
    ax.scatter(scored["cv_score"], scored["public_score"], color="#457b9d", zorder=2)
    for _, row in scored.iterrows():
        ax.annotate(f"#{row['#']}", (row.cv_score, row.public_score), textcoords="offset points", xytext=(5, 4))
    lo = float(np.nanmin(scored[["cv_score", "public_score"]].to_numpy()))
    hi = float(np.nanmax(scored[["cv_score", "public_score"]].to_numpy()))
    ax.plot([lo, hi], [lo, hi], ls="--", color="#e76f51", lw=1, label="public = CV")
    ax.set_xlabel(f"CV {metric}")
    ax.set_ylabel(f"public leaderboard {metric}")
    ax.set_title("CV against public leaderboard (line joins submissions in time order)")
    ax.legend(loc="best")
    return save_figure(path, fig)


def _utc(values: pd.Series) -> pd.Series:
    """Parse timestamps; naive ones (Kaggle's) are taken as UTC."""
    return pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
