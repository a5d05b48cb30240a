"""Stage 02 for text contests (data.modality: text): reports/eda.html on documents and their classes.

Sections: overview, class balance, document lengths (tokens per document, per class), top tokens
per class (most frequent, and most distinctive by the log-odds ratio with an informative Dirichlet
prior, Monroe et al. 2008), vocabulary (Zipf curve, test tokens unseen in train) and the
train-versus-test length shift. Lengths use every document; token counts use at most `max_docs`
documents of each file (counting 200,000 news documents token by token would take minutes).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.reports.report import Report, pyplot

TRAIN, TEST = "#457b9d", "#e76f51"


def text_report(contest, train: pd.DataFrame, test: pd.DataFrame, top_n: int = 10, max_docs: int = 20_000) -> Path:
    """Write reports/eda.html for a text contest's raw train/test frames."""
    d, seed = contest.config.data, contest.config.seed
    column, target = d.text_column, d.target
    texts, labels = train[column].fillna("").astype(str), train[target]
    test_texts = test[column].fillna("").astype(str)
    length, test_length = document_lengths(texts), document_lengths(test_texts)
    sample = _sample_index(len(texts), max_docs, seed)
    classes, vocab, counts = class_token_counts(texts.iloc[sample], labels.iloc[sample])
    report = Report(f"EDA: {contest.config.competition.name}", contest.reports_dir)

    report.section("Overview")
    report.text(f"{contest.task} task on documents in column {column!r}, scored by {contest.metric.name} "
                f"({contest.metric.direction}). Train: {len(texts):,} documents, {int(length.sum()):,} tokens; "
                f"test: {len(test_texts):,} documents, {int(test_length.sum()):,} tokens; {len(classes)} classes; "
                f"{len(vocab):,} distinct tokens" + (f" in a sample of {len(sample):,} training documents."
                                                     if len(sample) < len(texts) else " in train."))
    report.table(length_summary({"train": length, "test": test_length}))

    balance = class_balance(labels)
    report.section("Class balance")
    ratio = balance["documents"].max() / max(balance["documents"].min(), 1)
    macro = contest.metric.name == "macro_f1"
    report.text(f"The largest class has {ratio:.1f} times the documents of the smallest."
                + (" Macro-F1 weighs every class equally, so the rare classes count as much as the common ones."
                   if macro else ""))
    report.table(balance, max_rows=60)
    report.figure(plot_balance(balance), "eda_text_classes", "documents per class")

    report.section("Document lengths")
    report.text("Tokens per document (whitespace-separated). A model truncating documents at a fixed length "
                "sees all of the documents shorter than it: see the quantiles.", note=True)
    per_class = length_summary({str(k): length[labels == k] for k in classes}).rename(columns={"split": "class"})
    report.table(per_class, max_rows=60)
    report.figure(plot_lengths(length, labels, classes), "eda_text_lengths", "document length overall and per class")

    frequent, distinctive = top_tokens(classes, vocab, counts, top_n), distinctive_tokens(classes, vocab, counts, top_n)
    report.section("Top tokens per class")
    report.text("Most frequent tokens of each class, with their share of the class's tokens. Tokens frequent in "
                "every class (punctuation, function words) say little about the class.", note=True)
    report.table(_wide(frequent, "share", "{:.1%}"), max_rows=60)
    report.section("Distinctive tokens per class")
    report.text("Tokens most over-represented in one class against all others: log-odds ratio with an "
                "informative Dirichlet prior, as a z-score (above about 3: unlikely to be chance).", note=True)
    report.table(_wide(distinctive, "z", "{:.0f}"), max_rows=60)
    report.figure(plot_distinctive(classes, vocab, counts, distinctive), "eda_text_distinctive",
                  "relative frequency of each class's most distinctive tokens across classes")

    report.section("Vocabulary")
    test_sample = test_texts.iloc[_sample_index(len(test_texts), max_docs, seed)]
    vocabulary, test_freq = vocabulary_table(vocab, counts, test_sample)
    report.table(vocabulary)
    report.figure(plot_zipf(counts.sum(0), test_freq), "eda_text_zipf", "rank-frequency curve of train and test tokens")

    report.section("Train vs test length shift")
    shift = length_shift(length, test_length)
    report.text(f"Two-sample Kolmogorov-Smirnov on tokens per document: KS = {shift['ks']:.3f} "
                f"(p = {shift['p_value']:.3g}); median {shift['train_median']:.0f} (train) vs "
                f"{shift['test_median']:.0f} (test). "
                + ("Test documents differ in length: check truncation and length features."
                   if shift["ks"] >= 0.1 and shift["p_value"] < 0.01 else "Lengths look alike"
                   + (" (too few documents to tell a difference)." if shift["ks"] >= 0.1 else ".")))
    report.figure(plot_length_shift(length, test_length), "eda_text_length_shift", "train and test document lengths")
    return report.write("eda.html")


# ---------------------------------------------------------------- tables
def document_lengths(texts: pd.Series) -> pd.Series:
    """Tokens per document."""
    return texts.fillna("").astype(str).str.count(r"\S+").astype(int)


def length_summary(groups: dict[str, pd.Series]) -> pd.DataFrame:
    rows = [{"split": name, "documents": len(s), "mean": s.mean(), "min": s.min(), "p5": s.quantile(0.05),
             "median": s.median(), "p95": s.quantile(0.95), "max": s.max()} for name, s in groups.items() if len(s)]
    return pd.DataFrame(rows)


def class_balance(labels: pd.Series) -> pd.DataFrame:
    """Documents and share per class, in class order."""
    counts = labels.value_counts().sort_index()
    return pd.DataFrame({"class": counts.index.astype(str), "documents": counts.to_numpy(),
                         "share": counts.to_numpy() / counts.sum()})


def class_token_counts(texts: pd.Series, labels: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(classes, vocabulary, counts): counts[i, j] = occurrences of token j in class i's documents."""
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(token_pattern=r"\S+", lowercase=False)
    X = vectorizer.fit_transform(texts.fillna("").astype(str))
    classes, codes = np.unique(labels.to_numpy(), return_inverse=True)
    onehot = sparse.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(len(classes), len(codes)))
    return classes, vectorizer.get_feature_names_out(), np.asarray((onehot @ X).todense())


def top_tokens(classes, vocab, counts: np.ndarray, n: int = 10) -> pd.DataFrame:
    """Long table: class, rank, token, count, share (of the class's tokens)."""
    rows = []
    for k, row in zip(classes, counts):
        for rank, j in enumerate(np.argsort(-row, kind="stable")[:n]):
            rows.append({"class": k, "rank": rank + 1, "token": vocab[j], "count": int(row[j]),
                         "share": row[j] / max(row.sum(), 1)})
    return pd.DataFrame(rows)


def distinctive_tokens(classes, vocab, counts: np.ndarray, n: int = 10, prior: float = 0.1) -> pd.DataFrame:
    """Long table: class, rank, token, z (log-odds of the class vs the rest, informative Dirichlet prior)."""
    counts = counts.astype(float)
    total = counts.sum(0)
    alpha = prior * total  # the prior follows the corpus frequencies: rare tokens are shrunk hardest
    a0 = alpha.sum()
    rows = []
    for k, y in zip(classes, counts):
        rest = total - y
        n_k, n_r = y.sum(), rest.sum()
        delta = np.log((y + alpha) / (n_k + a0 - y - alpha)) - np.log((rest + alpha) / (n_r + a0 - rest - alpha))
        z = delta / np.sqrt(1.0 / (y + alpha) + 1.0 / (rest + alpha))
        z[y == 0] = -np.inf
        for rank, j in enumerate(np.argsort(-z, kind="stable")[:n]):
            rows.append({"class": k, "rank": rank + 1, "token": vocab[j], "z": z[j], "count": int(y[j])})
    return pd.DataFrame(rows)


def vocabulary_table(vocab, counts: np.ndarray, test_texts: pd.Series) -> tuple[pd.DataFrame, np.ndarray]:
    """Vocabulary facts, and the test tokens' frequencies (for the Zipf plot)."""
    from sklearn.feature_extraction.text import CountVectorizer

    freq = counts.sum(0)
    order = np.sort(freq)[::-1]
    test_vec = CountVectorizer(token_pattern=r"\S+", lowercase=False)
    test_counts = np.asarray(test_vec.fit_transform(test_texts).sum(0)).ravel() if len(test_texts) else np.zeros(0)
    known = np.isin(test_vec.get_feature_names_out(), vocab) if len(test_texts) else np.zeros(0, bool)
    unseen = test_counts[~known].sum() / max(test_counts.sum(), 1)
    total = max(freq.sum(), 1)
    facts = {"distinct tokens (train)": f"{len(vocab):,}", "tokens (train)": f"{int(freq.sum()):,}",
             "share of tokens in the top 10": f"{order[:10].sum() / total:.1%}",
             "share of tokens in the top 100": f"{order[:100].sum() / total:.1%}",
             "tokens seen once (train)": f"{int((freq == 1).sum()):,}",
             "distinct tokens (test)": f"{len(test_counts):,}", "test tokens unseen in train": f"{unseen:.2%}"}
    return pd.DataFrame({"fact": list(facts), "value": list(facts.values())}), test_counts


def length_shift(train_length: pd.Series, test_length: pd.Series) -> dict[str, float]:
    from scipy.stats import ks_2samp

    result = ks_2samp(train_length, test_length)
    return {"ks": float(result.statistic), "p_value": float(result.pvalue),
            "train_median": float(train_length.median()), "test_median": float(test_length.median())}


def _wide(long: pd.DataFrame, value: str, fmt: str) -> pd.DataFrame:
    cells = long.assign(cell=[f"{t} ({fmt.format(v)})" for t, v in zip(long["token"], long[value])])
    return (cells.groupby("class", sort=False)["cell"].agg(" ".join).rename("tokens").reset_index()
            .astype({"class": str}))


def _sample_index(n: int, max_n: int, seed: int) -> np.ndarray:
    return np.arange(n) if n <= max_n else np.sort(np.random.default_rng(seed).choice(n, max_n, replace=False))


# ---------------------------------------------------------------- plots
def plot_balance(balance: pd.DataFrame):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.bar(balance["class"], balance["documents"], color=TRAIN)
    ax.set_xlabel("class")
    ax.set_ylabel("documents")
    return fig


def log_scale(ax, axis: str = "x") -> None:
    """Log axis with plain numbers (100, 1000) and no crowded minor labels."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    getattr(ax, f"set_{axis}scale")("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(ScalarFormatter())
    target.set_minor_formatter(NullFormatter())


def log_bins(*series: pd.Series | np.ndarray, n: int = 40) -> np.ndarray:
    """`n` log-spaced bin edges covering every value of `series` (from 1 at least)."""
    values = np.concatenate([np.asarray(s) for s in series])
    return np.geomspace(max(values.min(), 1), max(values.max(), 2), n)


def plot_lengths(length: pd.Series, labels: pd.Series, classes):
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1, 2]})
    left.hist(length.clip(lower=1), bins=log_bins(length), color=TRAIN)
    log_scale(left, "x")
    left.set_xlabel("tokens per document")
    left.set_ylabel("documents")
    right.boxplot([length[labels == k].clip(lower=1) for k in classes], showfliers=False)
    right.set_xticks(range(1, len(classes) + 1), [str(k) for k in classes])
    log_scale(right, "y")
    right.set_xlabel("class")
    right.set_ylabel("tokens per document")
    fig.tight_layout()
    return fig


def plot_distinctive(classes, vocab, counts: np.ndarray, distinctive: pd.DataFrame, per_class: int = 3):
    plt = pyplot()
    tokens = list(dict.fromkeys(distinctive[distinctive["rank"] <= per_class]["token"]))
    index = {t: j for j, t in enumerate(vocab)}
    rates = counts[:, [index[t] for t in tokens]] / np.maximum(counts.sum(1, keepdims=True), 1)
    rates = rates / np.maximum(rates.max(0, keepdims=True), 1e-12)
    fig, ax = plt.subplots(figsize=(min(18, 2 + 0.28 * len(tokens)), 0.3 * len(classes) + 1.5))
    im = ax.imshow(rates, aspect="auto", cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
    ax.set_yticks(range(len(classes)), [str(k) for k in classes], fontsize=8)
    ax.set_ylabel("class")
    fig.colorbar(im, ax=ax, shrink=0.8, label="rate / highest class rate")
    return fig


def plot_zipf(train_freq: np.ndarray, test_freq: np.ndarray):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for freq, name, color in ((train_freq, "train", TRAIN), (test_freq, "test", TEST)):
        if len(freq):
            f = np.sort(freq)[::-1]
            ax.loglog(np.arange(1, len(f) + 1), f / f.sum(), label=name, color=color)
    ax.set_xlabel("rank")
    ax.set_ylabel("share of tokens")
    ax.legend()
    return fig


def plot_length_shift(train_length: pd.Series, test_length: pd.Series):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.4))
    bins = log_bins(train_length, test_length)
    for s, name, color in ((train_length, "train", TRAIN), (test_length, "test", TEST)):
        ax.hist(s.clip(lower=1), bins=bins, weights=np.full(len(s), 1 / max(len(s), 1)), alpha=0.55, color=color,
                label=name)
    log_scale(ax, "x")
    ax.set_xlabel("tokens per document")
    ax.set_ylabel("share of documents")
    ax.legend()
    return fig
