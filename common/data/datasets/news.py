"""News-like documents (the Tianchi news text classification contest): anonymised character ids, 14 classes.

The real files: ``train_set.csv`` is tab-separated ``label<TAB>text``, ``test_a.csv`` holds ``text``;
a document is character ids separated by single spaces. The full training file (200,000 documents)
has lengths with median 676 and quartiles 374 / 1,131 tokens (2 to 57,921), class counts from
38,918 (class 0) down to 908 (class 13), and about 7,000 distinct ids below 7,550, of which a few
(3750, 648, 900: punctuation) are very frequent. The heads in ../shared/data/news agree.

Each generated document draws most tokens from the shared Zipfian vocabulary (reweighted a little
per class) and a share from its class's topic tokens (`signature_tokens`: disjoint per class, mid-frequency ids), so a
bag-of-words model can learn the classes and the EDA's distinctive-token table finds the planted
tokens. Lengths are log-normal, with a small class-specific scale.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.data.datasets.registry import GENERATORS
from common.data.io import write_csv

CLASS_COUNTS = (38918, 36945, 31425, 22133, 15016, 12232, 9985, 8841, 7847, 5878, 4920, 3131, 1821, 908)
N_CLASSES = len(CLASS_COUNTS)
VOCAB_SIZE, MAX_ID = 7_000, 7_550
PUNCTUATION = (3750, 648, 900)  # the real files' most frequent ids, kept as the top ranks
LENGTH_MEDIAN, LENGTH_SIGMA, LENGTH_RANGE = 676, 0.82, (2, 57_921)
N_SIGNATURE = 20


def vocabulary(seed: int = 0) -> np.ndarray:
    """Token ids ordered by rank (most frequent first)."""
    rng = np.random.default_rng([seed, 11])
    rest = rng.permutation(np.setdiff1d(np.arange(MAX_ID), PUNCTUATION))[: VOCAB_SIZE - len(PUNCTUATION)]
    return np.r_[np.array(PUNCTUATION), rest]


def signature_tokens(seed: int = 0, n_per_class: int = N_SIGNATURE) -> dict[int, list[int]]:
    """The planted topic tokens of each class (disjoint; drawn from vocabulary ranks 200-3,000)."""
    vocab = vocabulary(seed)
    rng = np.random.default_rng([seed, 12])
    picked = rng.choice(np.arange(200, 3_000), size=N_CLASSES * n_per_class, replace=False)
    return {k: vocab[picked[k * n_per_class:(k + 1) * n_per_class]].tolist() for k in range(N_CLASSES)}


def class_sizes(n: int) -> np.ndarray:
    """Documents per class for `n` documents: the real shares, every class present when n >= 14."""
    share = np.array(CLASS_COUNTS) / sum(CLASS_COUNTS)
    floor = 1 if n >= N_CLASSES else 0
    sizes = np.maximum(np.floor(share * n).astype(int), floor)
    while sizes.sum() < n:  # largest remainder first
        sizes[np.argmax(share * n - sizes)] += 1
    while sizes.sum() > n:
        sizes[np.argmax(sizes)] -= 1
    return sizes


def make_news(n_train: int = 2_000, n_test: int = 500, seed: int = 0, topic_share: float = 0.06,
              zipf_s: float = 1.0, test_length_scale: float = 1.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train (`label`, `text`) and test (`text`) frames. `test_length_scale` != 1 plants a length shift."""
    rng = np.random.default_rng(seed)
    vocab = vocabulary(seed)
    words = vocab.astype(str)
    ranks = np.arange(1, VOCAB_SIZE + 1)
    p_global = 1.0 / (ranks + 2.7) ** zipf_s  # Zipf-Mandelbrot: top id near 4 % of tokens, as in the heads
    p_global /= p_global.sum()
    sig_rank = {tok: i for i, tok in enumerate(vocab)}
    signatures = np.array([[sig_rank[t] for t in toks] for toks in signature_tokens(seed).values()])
    p_topic = 1.0 / np.arange(1, N_SIGNATURE + 1) ** 0.7
    p_topic /= p_topic.sum()
    # each class also leans a little on its own words across the whole vocabulary
    p_class = p_global * np.exp(rng.normal(0, 0.3, (N_CLASSES, VOCAB_SIZE)))
    p_class /= p_class.sum(1, keepdims=True)
    class_scale = np.exp(rng.normal(0, 0.25, N_CLASSES))  # some classes write longer stories

    def documents(labels: np.ndarray, scale: float) -> list[str]:
        median = LENGTH_MEDIAN * class_scale[labels] * scale
        lengths = np.clip(np.round(median * np.exp(rng.normal(0, LENGTH_SIGMA, len(labels)))), *LENGTH_RANGE)
        lengths = lengths.astype(int)
        owner = np.repeat(labels, lengths)
        tokens = np.empty(owner.size, dtype=int)
        for k in np.unique(labels):
            mine = owner == k
            tokens[mine] = rng.choice(VOCAB_SIZE, size=int(mine.sum()), p=p_class[k])
        topic = rng.random(tokens.size) < topic_share
        tokens[topic] = signatures[owner[topic], rng.choice(N_SIGNATURE, size=int(topic.sum()), p=p_topic)]
        ends = np.cumsum(lengths)
        text = words[tokens]
        return [" ".join(text[a:b]) for a, b in zip(ends - lengths, ends)]

    train_labels = rng.permutation(np.repeat(np.arange(N_CLASSES), class_sizes(n_train)))
    test_labels = rng.permutation(np.repeat(np.arange(N_CLASSES), class_sizes(n_test)))
    train = pd.DataFrame({"label": train_labels, "text": documents(train_labels, 1.0)})
    test = pd.DataFrame({"text": documents(test_labels, test_length_scale)})
    return train, test


@GENERATORS.register("news_text")
def write_news(out_dir: str | Path, seed: int = 0, n_train: int = 2_000, n_test: int = 500,
               test_length_scale: float = 1.0) -> list[Path]:
    """Write train_set.csv, test_a.csv (tab-separated, as the real files) and test_a_sample_submit.csv."""
    out_dir = Path(out_dir)
    train, test = make_news(n_train, n_test, seed, test_length_scale=test_length_scale)
    return [write_csv(out_dir / "train_set.csv", train, sep="\t"),
            write_csv(out_dir / "test_a.csv", test, sep="\t"),
            write_csv(out_dir / "test_a_sample_submit.csv", pd.DataFrame({"label": np.zeros(len(test), int)}))]
