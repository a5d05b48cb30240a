"""Stage 02: one self-contained EDA report (reports/eda.html, PNGs beside it) for a tabular contest.

Sections: overview, target, train-versus-test shift (KS, most shifted first), target versus the
top features, correlations, missing values, adversarial validation. Large tables are sampled for
plots and the adversarial classifier (`max_rows`), never for the KS statistics. Text and image
contests (data.modality) get their own sections, from common.reports.eda_text and common.reports.eda_images.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.reports.report import Report, pyplot
from common.features.shift import adversarial_validation, ks_table



def eda_report(contest, train: pd.DataFrame | None = None, test: pd.DataFrame | None = None, top_n: int = 12,
               max_rows: int = 50_000) -> Path:
    """Write reports/eda.html for the contest's raw train/test frames (or the frames given)."""
    if train is None or test is None:
        train, test = contest.load_raw()
    if contest.config.data.modality == "text":
        from common.reports.eda_text import text_report

        return text_report(contest, train, test)
    if contest.config.data.modality == "image":
        from common.reports.eda_images import image_report

        return image_report(contest, train, test)
    d, seed = contest.config.data, contest.config.seed
    target = d.target
    features = [c for c in train.columns if c != target and c not in d.id_columns and c in test.columns]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(train[c])]
    report = Report(f"EDA: {contest.config.competition.name}", contest.reports_dir)
    train_s, test_s = _sample(train, max_rows, seed), _sample(test, max_rows, seed)  # for plots and the classifier

    report.section("Overview")
    report.text(f"{contest.task} task scored by {contest.metric.name} ({contest.metric.direction}). "
                f"Train: {len(train):,} rows x {train.shape[1]} columns; test: {len(test):,} rows; "
                f"{len(numeric)} numeric features of {len(features)}.")
    report.table(_describe(train, test, features), max_rows=60)

    report.section("Target")
    report.figure(plot_target(train[target], contest.task), "eda_target", f"distribution of {target}")

    shift = ks_table(train, test, numeric)
    report.section("Train vs test shift")
    report.text("Two-sample Kolmogorov-Smirnov statistic per feature, most shifted first. A large KS means "
                "the test distribution moved: a model leaning on that feature may score worse on the "
                "leaderboard than in CV.", note=True)
    report.table(shift, max_rows=top_n * 2)
    if len(shift):
        top = shift["feature"].head(top_n).tolist()
        report.figure(plot_distributions(train_s, test_s, top, shift),
                      "eda_shift", "train and test distributions of the most shifted features")

    relation = target_relation(train, numeric, target, contest.task)
    report.section("Target vs features")
    report.table(relation, max_rows=top_n)
    if len(relation):
        report.figure(plot_target_relation(train_s, relation["feature"].head(min(top_n, 9)).tolist(),
                                           target, contest.task), "eda_target_vs_features",
                      "target against the most related features")

    report.section("Correlations")
    if len(numeric) > 1:
        report.figure(plot_correlation(train_s[numeric[:60]]), "eda_correlation",
                      "feature correlation heatmap")
        report.table(top_correlated_pairs(train[numeric]), max_rows=15)
    else:
        report.text("Fewer than two numeric features: nothing to correlate.")

    report.section("Missing values")
    missing = missing_table(train, test, features)
    if missing.empty:
        report.text("No missing values in train or test.")
    else:
        report.table(missing)
        report.figure(plot_missing(missing.head(30)), "eda_missing", "share of missing values per feature")

    report.section("Adversarial validation")
    if numeric:
        auc, importance = adversarial_validation(train_s, test_s,
                                                 numeric, seed=seed)
        verdict = ("test looks like train" if auc < 0.6 else "some drift" if auc < 0.75 else "strong drift")
        report.text(f"A LightGBM classifier told train rows from test rows with AUC {auc:.3f} ({verdict}). "
                    "The features it leaned on most are the drifting ones.")
        report.table(importance, max_rows=top_n)
        report.figure(plot_importance(importance.head(top_n)), "eda_adversarial", "adversarial validation importances")
    else:
        report.text("No numeric features to compare.")
    for name, rel in contest.config.data.extra.items():
        extra_file_section(report, name, contest.path(rel))
    return report.write("eda.html")


def extra_file_section(report: Report, name: str, path: Path, max_levels: int = 20) -> None:
    """Profile a side file (e.g. a user log) with streaming polars scans: rows, nulls and distinct values
    in one, the value counts of its low-cardinality columns in a second."""
    import polars as pl

    report.section(f"File: {name}")
    if not path.is_file():
        report.text(f"{path} is missing: nothing to profile.")
        return
    lazy = pl.scan_csv(path, infer_schema_length=10_000)
    columns = lazy.collect_schema().names()
    stats = lazy.select(pl.len().alias("__rows"), *[pl.col(c).null_count().alias(f"{c}__null") for c in columns],
                        *[pl.col(c).approx_n_unique().alias(f"{c}__unique") for c in columns]).collect(engine="streaming")
    rows = int(stats["__rows"][0])
    table = pd.DataFrame({"column": columns, "missing": [stats[f"{c}__null"][0] / max(rows, 1) for c in columns],
                          "distinct (approx.)": [int(stats[f"{c}__unique"][0]) for c in columns]})
    report.text(f"{path.name}: {rows:,} rows, {len(columns)} columns ({path.stat().st_size / 2**20:,.0f} MB).")
    report.table(table)
    small = [c for c, n in zip(columns, table["distinct (approx.)"]) if n <= max_levels]
    if not small:
        return
    # one more scan for all of them: collect_all shares it between the queries
    tables = pl.collect_all([lazy.group_by(c).agg(pl.len().alias("rows")).sort(c) for c in small], engine="streaming")
    counts = {c: t.to_pandas() for c, t in zip(small, tables)}
    fig, axes = _grid(len(small))
    for ax, (c, frame) in zip(axes, counts.items()):
        ax.bar(["missing" if pd.isna(v) else str(v) for v in frame[c]], frame["rows"], color="#457b9d")
        ax.set_title(c, fontsize=9)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    report.figure(fig, f"eda_{name}_levels", f"value counts of the low-cardinality columns of {name}")


# ---------------------------------------------------------------- tables
def _describe(train: pd.DataFrame, test: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    rows = []
    for c in features:
        numeric = pd.api.types.is_numeric_dtype(train[c])
        rows.append({"feature": c, "dtype": str(train[c].dtype), "unique": int(train[c].nunique()),
                     "train_mean": float(train[c].mean()) if numeric else np.nan,
                     "test_mean": float(test[c].mean()) if numeric else np.nan,
                     "train_missing": float(train[c].isna().mean()), "test_missing": float(test[c].isna().mean())})
    return pd.DataFrame(rows)


def target_relation(train: pd.DataFrame, numeric: list[str], target: str, task: str) -> pd.DataFrame:
    """|Spearman correlation| with the target (regression, binary) or the ANOVA F (multiclass)."""
    if not numeric:
        return pd.DataFrame(columns=["feature", "score"])
    from common.features import encode_target

    y = pd.Series(encode_target(train[target], task)[0], index=train.index)  # class labels may be strings
    if task == "multiclass":
        from sklearn.feature_selection import f_classif

        score, _ = f_classif(train[numeric].fillna(train[numeric].median()), y)
        name = "anova_f"
    else:
        score = train[numeric].corrwith(y, method="spearman").abs().to_numpy()
        name = "abs_spearman"
    table = pd.DataFrame({"feature": numeric, name: score})
    return table.sort_values(name, ascending=False, ignore_index=True, na_position="last")


def top_correlated_pairs(frame: pd.DataFrame, n: int = 15) -> pd.DataFrame:
    corr = frame.corr().abs()
    upper = corr.where(np.triu(np.ones(corr.shape, dtype=bool), k=1)).stack()
    top = upper.sort_values(ascending=False).head(n)
    return pd.DataFrame({"feature_a": [a for a, _ in top.index], "feature_b": [b for _, b in top.index],
                         "abs_pearson": top.to_numpy()})


def missing_table(train: pd.DataFrame, test: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    table = pd.DataFrame({"feature": features, "train_missing": [train[c].isna().mean() for c in features],
                          "test_missing": [test[c].isna().mean() for c in features]})
    table = table[(table.train_missing > 0) | (table.test_missing > 0)]
    return table.sort_values("train_missing", ascending=False, ignore_index=True)


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= n else frame.sample(n, random_state=seed)


# ---------------------------------------------------------------- plots
def _grid(n: int, width: float = 3.2, height: float = 2.4):
    plt = pyplot()
    cols = min(4, max(n, 1))
    rows = int(np.ceil(n / cols)) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def plot_target(y: pd.Series, task: str):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    if task == "regression":
        ax.hist(y.dropna(), bins=60, color="#457b9d")
        ax.set_xlabel(y.name)
    else:
        counts = y.value_counts().sort_index()
        ax.bar(counts.index.astype(str), counts.to_numpy(), color="#457b9d")
        ax.set_xlabel(f"{y.name} (class)")
    ax.set_ylabel("rows")
    return fig


def plot_distributions(train: pd.DataFrame, test: pd.DataFrame, columns: list[str], shift: pd.DataFrame):
    ks = dict(zip(shift["feature"], shift["ks"]))
    fig, axes = _grid(len(columns))
    for ax, c in zip(axes, columns):
        a, b = train[c].dropna(), test[c].dropna()
        bins = np.histogram_bin_edges(np.r_[a, b], bins=40)
        ax.hist(a, bins=bins, density=True, alpha=0.55, label="train", color="#457b9d")
        ax.hist(b, bins=bins, density=True, alpha=0.55, label="test", color="#e76f51")
        ax.set_title(f"{c}  KS={ks.get(c, np.nan):.2f}", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_target_relation(train: pd.DataFrame, columns: list[str], target: str, task: str):
    fig, axes = _grid(len(columns))
    for ax, c in zip(axes, columns):
        if task == "regression":
            ax.scatter(train[c], train[target], s=3, alpha=0.3, color="#1d3557")
            ax.set_ylabel(target, fontsize=7)
        else:
            for k, part in train.groupby(target)[c]:
                ax.hist(part.dropna(), bins=30, density=True, alpha=0.45, label=str(k))
            ax.legend(fontsize=6)
        ax.set_title(c, fontsize=9)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def plot_correlation(frame: pd.DataFrame):
    plt = pyplot()
    corr = frame.corr()
    size = min(14, 3 + 0.3 * len(corr))
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    im = ax.imshow(corr.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(corr)), corr.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(len(corr)), corr.columns, fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def plot_missing(missing: pd.DataFrame):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(missing) + 1))
    y = np.arange(len(missing))
    ax.barh(y - 0.2, missing["train_missing"], height=0.4, label="train", color="#457b9d")
    ax.barh(y + 0.2, missing["test_missing"], height=0.4, label="test", color="#e76f51")
    ax.set_yticks(y, missing["feature"], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("share missing")
    ax.legend()
    return fig


def plot_importance(importance: pd.DataFrame):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(importance) + 1))
    ax.barh(importance["feature"][::-1], importance["importance"][::-1], color="#e76f51")
    ax.set_xlabel("gain (train-vs-test classifier)")
    return fig
