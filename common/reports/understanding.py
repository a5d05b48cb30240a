"""Stage 01: the task card - what the contest asks, what the files hold, how we will validate.

Loading the raw data through `Contest.load_raw` is the check: a missing file or column stops the
stage with the contest's own error message before anything is written.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.data.io import count_lines, write_text
from common.data.roles import apply_roles, override_hint, roles_table
from common.submissions.files import build_submission, predictions_to_values, spec_for

_EXPLAIN = {
    "kfold": "plain K-fold: rows are independent and the target is continuous",
    "stratified": "stratified K-fold: every fold keeps the class balance",
    "group": "grouped K-fold: all rows of one group stay in the same fold, so no group leaks across folds",
    "stratified_group": "stratified grouped K-fold: groups stay whole and folds keep the class balance",
    "time": "time-ordered split: each fold trains only on earlier rows, as the test set lies in the future",
    "holdout": "the official validation rows: the contest's own split, scored as the leaderboard's data is",
}


@dataclass
class TaskCard:
    name: str
    task: str
    metric: str
    direction: str
    platform: str
    files: list[dict]
    id_columns: list[str]
    target: str
    n_features: int
    target_summary: pd.DataFrame
    submission_format: str
    submission_example: str
    validation: str
    roles: pd.DataFrame | None = None
    roles_hint: str = ""
    target_transform: str | None = None

    def to_markdown(self) -> str:
        files = pd.DataFrame(self.files)
        lines = [
            f"# Task card: {self.name}", "",
            f"- **Problem**: {self.task}", f"- **Metric**: {self.metric} ({self.direction})",
            f"- **Platform**: {self.platform}",
            f"- **Id column(s)**: {', '.join(self.id_columns) or '(none: rows are matched by order)'}",
            f"- **Target**: `{self.target}`" + (f", modelled as {self.target_transform} (fitted per fold, inverted "
                                               "before scoring)" if self.target_transform else ""),
            f"- **Features in the raw train file**: {self.n_features}", "",
            "## Files", "", _markdown_table(files), "",
            *(["## Column roles", "", _markdown_table(self.roles), "", self.roles_hint, ""] if self.roles is not None else []),
            "## Target", "", _markdown_table(self.target_summary), "",
            "## Submission", "", self.submission_format, "", "```", self.submission_example, "```", "",
            "## Validation", "", self.validation, "",
        ]
        return "\n".join(lines)


def make_task_card(contest) -> TaskCard:
    """Read the contest's files (stopping on a missing file or column) and describe the task."""
    cfg, d = contest.config, contest.config.data
    roles = None
    if d.modality == "image":
        train, test = contest.load_raw()
        roles = contest.roles(train, test)  # the image path, the sizes, the digit boxes (annotations)
    else:
        train, test = contest.load_raw(typed=False)
        roles = contest.roles(train, test)
        apply_roles(train, test, roles, (contest.path(d.train), contest.path(d.test)))  # every bad column at once
    files = [_file_row("train", contest.path(d.train), len(train), train.attrs.get("encoding")),
             _file_row("test", contest.path(d.test), len(test), test.attrs.get("encoding"))]
    for name, rel in d.extra.items():
        path = contest.path(rel)
        # the digest is taken in the same read: the stage keying caches by the file (03) need not read it again
        lines = count_lines(path, contest.digest_memo_dir) if path.is_file() else None
        files.append(_file_row(name, path, lines - 1 if lines is not None else None))
    if d.sample_submission:
        files.append(_file_row("sample submission", contest.path(d.sample_submission), None))
    y = train[d.target]
    n_features = train.shape[1] - 1 - len(d.id_columns)
    spec = spec_for(contest, test, train)
    example = _example_rows(contest, spec, test, y)
    fmt = (f"{spec.format.upper()} file `{cfg.submission.file_name}` of {spec.kind}s, {spec.n_rows} rows, "
           + ("no header, one prediction per line in test order" if spec.format == "lines"
              else f"columns {', '.join(spec.columns)}, ids in test order (format from {spec.source})"))
    table = roles_table(roles) if roles else None
    return TaskCard(cfg.competition.name, contest.task, contest.metric.name, contest.metric.direction + " it",
                    cfg.competition.platform, files, d.id_columns, d.target, n_features,
                    target_summary(y, contest.task), fmt, example, explain_validation(contest, train),
                    table, override_hint(roles) if roles else "", d.target_transform)


def write_task_card(contest) -> tuple[TaskCard, Path]:
    card = make_task_card(contest)
    return card, write_text(contest.reports_dir / "task_card.md", card.to_markdown())


def target_summary(y: pd.Series, task: str) -> pd.DataFrame:
    """Quantiles for a continuous target; counts and shares per class otherwise."""
    if task == "regression":
        q = y.quantile([0, 0.05, 0.25, 0.5, 0.75, 0.95, 1]).to_numpy()
        stats = {"count": len(y), "mean": y.mean(), "std": y.std(), "skew": y.skew(), "min": q[0], "5%": q[1],
                 "25%": q[2], "median": q[3], "75%": q[4], "95%": q[5], "max": q[6]}
        table = pd.DataFrame({"statistic": list(stats), "value": [f"{v:.4g}" for v in stats.values()]})
        if stats["skew"] > 1 and stats["min"] >= 0:  # prices, counts: errors grow with the value
            table.loc[len(table)] = ["advice", "right-skewed and non-negative: consider data.target_transform: log1p"]
        return table
    if task == "sequence":  # one row per string length, and the characters seen: every distinct string is too many
        lengths = y.astype(str).str.len().value_counts().sort_index()
        chars = "".join(sorted(set("".join(y.astype(str)))))
        return pd.DataFrame({"length": [*lengths.index.astype(str), "characters"],
                             "rows": [*lengths.to_numpy(), len(chars)],
                             "share": [*(f"{v:.2%}" for v in lengths.to_numpy() / len(y)), chars]})
    counts = y.value_counts().sort_index()
    return pd.DataFrame({"class": counts.index.astype(str), "rows": counts.to_numpy(),
                         "share": [f"{v:.2%}" for v in counts.to_numpy() / len(y)]})


def explain_validation(contest, train: pd.DataFrame) -> str:
    """The configured fold scheme, why it fits, and a warning when the data suggests another."""
    f, d, task = contest.config.folds, contest.config.data, contest.task
    text = ("one holdout fold, " if f.scheme == "holdout" else f"{f.n_splits} folds, ") + f"{_EXPLAIN[f.scheme]}."
    if f.group_column:
        groups = train[f.group_column]
        text += (f" Groups: `{f.group_column}` ({groups.nunique()} groups over {len(train)} rows, "
                 f"up to {groups.value_counts().iloc[0]} rows per group).")
    advice = []
    if task != "regression" and f.scheme in ("kfold", "group"):
        share = train[d.target].value_counts(normalize=True).min()
        if share < 0.2:
            advice.append(f"the rarest class is {share:.1%} of rows: a stratified scheme keeps it in every fold")
    if f.scheme in ("kfold", "stratified"):
        for column in _repeated_keys(train, d.id_columns):
            advice.append(f"`{column}` repeats across rows ({train[column].nunique()} values): if rows of one "
                          f"{column} are alike, group folds by it (folds.group_column) so CV does not leak")
    if advice:
        text += " Consider: " + "; ".join(advice) + "."
    return text


def _repeated_keys(train: pd.DataFrame, id_columns: list[str]) -> list[str]:
    """Id-like columns of a composite key that repeat (e.g. user_id in user x merchant pairs)."""
    if len(id_columns) < 2:
        return []
    return [c for c in id_columns if train[c].duplicated().any()]


def _file_row(role: str, path: Path, rows: int | None, encoding: str | None = None) -> dict:
    size = path.stat().st_size if path.is_file() else None
    return {"file": role, "path": str(path.name), "rows": "" if rows is None else rows,
            "size": "missing" if size is None else _human(size), "encoding": encoding or ""}


def _example_rows(contest, spec, test: pd.DataFrame, y: pd.Series) -> str:
    """The first rows of a valid submission, filled with a constant prediction."""
    from common.features import encode_target

    task, n = contest.task, min(3, len(test))
    codes, classes = encode_target(y, task)
    if task in ("regression", "binary"):  # the mean target: a value, or the share of positives as a probability
        pred = np.full(len(test), float(codes.mean()))
    elif task == "sequence":  # the commonest character (or blank) at each position
        pred = np.zeros((len(test), codes.shape[1], len(classes) + 1))
        for j in range(codes.shape[1]):
            pred[:, j, np.bincount(codes[:, j]).argmax()] = 1
    else:
        pred = np.zeros((len(test), len(classes)))
        pred[:, np.bincount(codes).argmax()] = 1
    frame = build_submission(predictions_to_values(pred, task, spec.kind, classes), spec, test).head(n)
    return frame.to_csv(index=False, header=spec.format == "csv", float_format=spec.float_format or "%.6g").strip()


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * frame.shape[1]
    rows = ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
