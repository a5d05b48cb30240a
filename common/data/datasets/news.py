"""News-like documents (the Tianchi news text classification contest): anonymised character ids, 14 classes.

The real files: ``train_set.csv`` is tab-separated ``label<TAB>text``, ``test_a.csv`` holds ``text``;
a document is character ids separated by single spaces. The full training file (200,000 documents)
has lengths with median 676 and quartiles 374 / 1,131 tokens (2 to 57,921), class counts from
38,918 (class 0) down to 908 (class 13), and about 7,000 distinct ids below 7,550, of which a few
(3750, 648, 900: punctuation) are very frequent. The heads in ../shared/data/news agree.

The class signal has two parts, so that models which read word order can beat a bag of words, as neural
models beat TF-IDF + linear ones on the real data:

- bag of words: each document draws most tokens from the shared Zipfian vocabulary, reweighted a little
  per class (`class_lean`), and some from its class's topic tokens (`signature_tokens`: disjoint per class,
  mid-frequency ids), `topic_share` of them on average. Documents differ in how plainly they name their
  topic (an exponential share per document), so some carry few topic tokens and a bag-of-words model stays
  short of perfect on them even with much data; the EDA's distinctive-token table finds the planted tokens;
- word order: `phrase_share` of the tokens are 3-token phrases (`phrases`) of common ids, placed in slots of
  3 tokens so that they never overlap. Every class uses each phrase token, and each phrase bigram, equally
  often; only which first token goes with which last one across the middle token says the class, so a unigram
  or bigram model sees nothing of it and a model of 3-grams (a convolution of width 3 or more, a recurrent
  network) does.

With the defaults, 5-fold macro-F1 on 2,700 training documents (seed 3) from
`python benchmarks/news_models.py --docs 2700 --test 300 --pretrain-epochs --models tfidf_linear fasttext textcnn`:
tfidf_linear (1, 2)-grams 0.941 (0.859 with the logistic loss it had before), tfidf_nbsvm 0.880, fasttext 0.887,
textcnn 0.982 (`--models` names which to run). Lengths are log-normal, with a small
class-specific scale. Documents are made in chunks of `CHUNK_DOCS`, so working memory follows the chunk, not the
corpus: tracemalloc's peak for `make_news(2700, 300)` (one chunk each) was 141 MB, ~54 bytes a training token.
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
# phrases: hubs (middle tokens, each any of HUB_SYNONYMS ids, so that no hub id outgrows the punctuation), each
# with GROUPS first and GROUPS last tokens; GROUPS prime (the class codes below are lines over the field of GROUPS
# elements, HUBS <= GROUPS points); their ids come from ranks PHRASE_RANKS: common, below the punctuation
PHRASE_HUBS, PHRASE_GROUPS, HUB_SYNONYMS, PHRASE_RANKS = 5, 5, 3, (50, 300)
CHUNK_DOCS = 10_000  # documents made at once (~10 M tokens): working arrays of ~55 bytes a token, ~0.5 GB


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


def phrase_codes(seed: int = 0) -> np.ndarray:
    """(class, hub) -> the class's group on that hub: the values a + b*h (mod PHRASE_GROUPS) of a line, a
    different line per class, so two classes share the group of at most one hub (they differ on the others)."""
    rng = np.random.default_rng([seed, 13])
    lines = rng.choice(PHRASE_GROUPS ** 2, size=N_CLASSES, replace=False)
    a, b = np.divmod(lines, PHRASE_GROUPS)
    return (a[:, None] + b[:, None] * np.arange(PHRASE_HUBS)) % PHRASE_GROUPS


def phrases(seed: int = 0) -> dict[int, list[tuple[int, int, int]]]:
    """Each class's phrases, (first, hub, last) token ids: on hub h the i-th first token is followed, across the
    hub (any of its synonyms), by last token i + code (mod groups), the code being the class's group on that hub
    (`phrase_codes`). Every class thus has each first token, hub and last token equally often, and each bigram
    (first, hub), (hub, last) once: identical unigram and bigram counts; only the trigram says the class."""
    table, synonyms = _phrase_ranks(seed)
    vocab, hub = vocabulary(seed), np.arange(table.shape[1]) // PHRASE_GROUPS
    return {k: [(int(vocab[f]), int(vocab[m]), int(vocab[last])) for (f, _, last), h in zip(rows, hub)
                for m in synonyms[h]] for k, rows in enumerate(table)}


def _phrase_ranks(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(class, phrase, 3) vocabulary ranks of the phrases, hub by hub (phrase // groups), with each hub's first
    synonym in the middle, and the (hub, synonym) ranks of the hubs (`phrases` gives them as ids)."""
    rng = np.random.default_rng([seed, 14])
    groups = PHRASE_GROUPS
    pool = rng.choice(np.arange(*PHRASE_RANKS), size=PHRASE_HUBS * (2 * groups + HUB_SYNONYMS), replace=False)
    synonyms = pool[:PHRASE_HUBS * HUB_SYNONYMS].reshape(PHRASE_HUBS, HUB_SYNONYMS)
    first, last = pool[PHRASE_HUBS * HUB_SYNONYMS:].reshape(2, PHRASE_HUBS, groups)
    codes = phrase_codes(seed)
    table = [[(first[h, j], synonyms[h, 0], last[h, (j + codes[k, h]) % groups])
              for h in range(PHRASE_HUBS) for j in range(groups)] for k in range(N_CLASSES)]
    return np.array(table), synonyms


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


def make_news(n_train: int = 2_000, n_test: int = 500, seed: int = 0, topic_share: float = 0.12,
              phrase_share: float = 0.2, class_lean: float = 0.1, zipf_s: float = 1.0,
              test_length_scale: float = 1.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train (`label`, `text`) and test (`text`) frames.

    `topic_share`: the mean share of a document's tokens drawn from its class's topic tokens; `class_lean`: the
    standard deviation of each class's log-reweighting of the vocabulary (both: bag-of-words signal);
    `phrase_share`: the share of tokens in class phrases (word-order signal; 0: none). What the defaults give
    the models: module docstring. `test_length_scale` != 1 plants a length shift."""
    if not 0 <= phrase_share < 0.5 or not 0 <= topic_share < 1:
        raise ValueError(f"phrase_share must be in [0, 0.5) and topic_share in [0, 1); got {phrase_share}, "
                         f"{topic_share}")
    rng = np.random.default_rng(seed)
    vocab = vocabulary(seed)
    ranks = np.arange(1, VOCAB_SIZE + 1)
    p_global = 1.0 / (ranks + 2.7) ** zipf_s  # Zipf-Mandelbrot: top id near 4 % of tokens, as in the heads
    p_global /= p_global.sum()
    sig_rank = {tok: i for i, tok in enumerate(vocab)}
    signatures = np.array([[sig_rank[t] for t in toks] for toks in signature_tokens(seed).values()])
    p_topic = 1.0 / np.arange(1, N_SIGNATURE + 1) ** 0.7
    p_topic /= p_topic.sum()
    # each class also leans a little on its own words across the whole vocabulary
    p_class = p_global * np.exp(rng.normal(0, 1, (N_CLASSES, VOCAB_SIZE)) * class_lean)
    p_class /= p_class.sum(1, keepdims=True)
    class_scale = np.exp(rng.normal(0, 0.25, N_CLASSES))  # some classes write longer stories
    # topic tokens and phrases never overwrite punctuation (ranks 0-2): it keeps its real share whatever the signal
    punct = p_class[:, :len(PUNCTUATION)].sum(1)
    phrase_table, hub_synonyms = _phrase_ranks(seed)
    # a slot holding punctuation is skipped: ask for more slots so that phrases still cover phrase_share
    slot_rate = phrase_share / (1 - p_global[:len(PUNCTUATION)].sum()) ** 3
    # the text of each rank as bytes ("123 "), padded to one width: a chunk's text is one fancy-indexing
    spelled = [f"{t} ".encode() for t in vocab]
    width = max(map(len, spelled))
    spelling = np.zeros((VOCAB_SIZE, width), dtype=np.uint8)
    for r, b in enumerate(spelled):
        spelling[r, :len(b)] = np.frombuffer(b, dtype=np.uint8)
    spelled_len = np.array([len(b) for b in spelled])
    spelled_mask = np.arange(width) < spelled_len[:, None]

    def chunk(labels: np.ndarray, lengths: np.ndarray) -> list[str]:
        owner = np.repeat(labels, lengths)
        tokens = np.empty(owner.size, dtype=np.int32)
        for k in np.unique(labels):
            mine = owner == k
            tokens[mine] = rng.choice(VOCAB_SIZE, size=int(mine.sum()), p=p_class[k])
        # documents differ in how plainly they name their topic: an exponential share per document, mean topic_share
        plainness = np.repeat(rng.exponential(1.0, len(labels)), lengths)
        topic = rng.random(tokens.size) < topic_share * plainness / (1 - punct[owner])
        topic = np.flatnonzero(topic & (tokens >= len(PUNCTUATION)))
        tokens[topic] = signatures[owner[topic], rng.choice(N_SIGNATURE, size=topic.size, p=p_topic)]
        ends = np.cumsum(lengths)
        if phrase_share > 0:  # phrases last: they overwrite whole, never cut by a topic token
            # each document is cut into slots of 3 tokens, so phrases never overlap nor cross documents
            starts = np.concatenate([np.arange(a, b - 2, 3) for a, b in zip(ends - lengths, ends)])
            starts = starts[rng.random(starts.size) < slot_rate]
            starts = starts[(tokens[starts[:, None] + np.arange(3)] >= len(PUNCTUATION)).all(1)]
            which = rng.integers(phrase_table.shape[1], size=starts.size)
            tokens[starts[:, None] + np.arange(3)] = phrase_table[owner[starts], which]
            tokens[starts + 1] = hub_synonyms[which // PHRASE_GROUPS, rng.integers(HUB_SYNONYMS, size=starts.size)]
        text = spelling[tokens][spelled_mask[tokens]].tobytes()
        byte_ends = np.cumsum(np.add.reduceat(spelled_len[tokens], ends - lengths))
        return [text[a:b - 1].decode("ascii") for a, b in zip(np.r_[0, byte_ends[:-1]], byte_ends)]

    def documents(labels: np.ndarray, scale: float) -> list[str]:
        median = LENGTH_MEDIAN * class_scale[labels] * scale
        lengths = np.clip(np.round(median * np.exp(rng.normal(0, LENGTH_SIGMA, len(labels)))), *LENGTH_RANGE)
        lengths = lengths.astype(int)
        out: list[str] = []
        for a in range(0, len(labels), CHUNK_DOCS):
            out += chunk(labels[a:a + CHUNK_DOCS], lengths[a:a + CHUNK_DOCS])
        return out

    train_labels = rng.permutation(np.repeat(np.arange(N_CLASSES), class_sizes(n_train)))
    test_labels = rng.permutation(np.repeat(np.arange(N_CLASSES), class_sizes(n_test)))
    train = pd.DataFrame({"label": train_labels, "text": documents(train_labels, 1.0)})
    test = pd.DataFrame({"text": documents(test_labels, test_length_scale)})
    return train, test


@GENERATORS.register("news_text")
def write_news(out_dir: str | Path, seed: int = 0, n_train: int = 2_000, n_test: int = 500,
               test_length_scale: float = 1.0, **signal: float) -> list[Path]:
    """Write train_set.csv, test_a.csv (tab-separated, as the real files) and test_a_sample_submit.csv.
    `signal`: make_news's topic_share, phrase_share, class_lean, zipf_s."""
    out_dir = Path(out_dir)
    train, test = make_news(n_train, n_test, seed, test_length_scale=test_length_scale, **signal)
    return [write_csv(out_dir / "train_set.csv", train, sep="\t"),
            write_csv(out_dir / "test_a.csv", test, sep="\t"),
            write_csv(out_dir / "test_a_sample_submit.csv", pd.DataFrame({"label": np.zeros(len(test), int)}))]
