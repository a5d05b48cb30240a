"""The news generator's word-order signal: class phrases whose unigrams and bigrams every class shares, so
that only a model of 3-grams (word order) sees them, in the table and in the generated text; its knobs; chunks."""
import collections

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.model_selection import KFold, cross_val_score
from sklearn.naive_bayes import MultinomialNB

from common.data.datasets import news
from common.data.datasets.news import (
    HUB_SYNONYMS,
    N_CLASSES,
    PHRASE_GROUPS,
    PHRASE_HUBS,
    PUNCTUATION,
    make_news,
    phrase_codes,
    phrases,
)


def _grams(phrase_list, n):
    return collections.Counter(p[i:i + n] for p in phrase_list for i in range(4 - n))


def test_phrases_share_unigrams_and_bigrams_and_differ_in_order():
    table = phrases(seed=3)
    assert sorted(table) == list(range(N_CLASSES))
    assert all(len(ps) == PHRASE_HUBS * PHRASE_GROUPS * HUB_SYNONYMS for ps in table.values())
    for n in (1, 2):  # every class: the same tokens and the same adjacent pairs, as often
        assert all(_grams(table[k], n) == _grams(table[0], n) for k in range(N_CLASSES)), n
    trigrams = {k: set(ps) for k, ps in table.items()}
    for a in range(N_CLASSES):
        for b in range(a + 1, N_CLASSES):  # two classes share the phrases of one hub at most
            assert len(trigrams[a] & trigrams[b]) <= PHRASE_GROUPS * HUB_SYNONYMS
    codes = phrase_codes(seed=3)
    assert len({tuple(c) for c in codes}) == N_CLASSES
    assert max((codes[a] == codes[b]).sum() for a in range(N_CLASSES) for b in range(a)) <= 1
    ids = {t for ps in table.values() for p in ps for t in p}
    assert not ids & set(PUNCTUATION)


def _class_counts(docs, y, keys, n):
    """(class, key) counts of the n-grams `keys` in the documents."""
    column = {key: j for j, key in enumerate(keys)}
    counts = np.zeros((N_CLASSES, len(keys)))
    for doc, k in zip(docs, y):
        for gram in zip(*(doc[i:] for i in range(n))):
            if gram in column:
                counts[k, column[gram]] += 1
    return counts


def test_generated_phrase_tokens_and_pairs_are_balanced_across_classes_and_triples_are_not():
    # the generated corpus, not only the table: each class uses each phrase token and pair at the same rate
    # (background draws of those ids included), while each phrase triple turns up in its own classes only
    train, _ = make_news(600, 1, seed=1, topic_share=0.0, class_lean=0.0)
    docs, y = [tuple(map(int, t.split())) for t in train["text"]], train["label"].to_numpy()
    table = phrases(seed=1)
    triples = sorted(set().union(*table.values()))
    for n in (1, 2):  # independence of class and n-gram: a chi-square test that must not reject
        keys = sorted({p[i:i + n] for p in triples for i in range(4 - n)})
        counts = _class_counts(docs, y, keys, n)
        assert chi2_contingency(counts[:, counts.sum(0) > 0])[1] > 0.01, n
    counts = _class_counts(docs, y, triples, 3)
    assert chi2_contingency(counts[:, counts.sum(0) > 0])[1] < 1e-12
    found = [(k, p) for k in range(N_CLASSES) for p, c in zip(triples, counts[k]) if c]
    assert found and all(p in table[k] for k, p in found)


def test_chunks_keep_labels_lengths_and_format(monkeypatch):
    # the training lengths are drawn before any chunk is made (the test set's after: they may differ)
    whole, _ = make_news(60, 20, seed=2)
    monkeypatch.setattr(news, "CHUNK_DOCS", 7)  # many chunks, the last one short
    chunked, chunked_test = make_news(60, 20, seed=2)
    assert chunked["label"].tolist() == whole["label"].tolist()
    assert chunked["text"].str.split().str.len().tolist() == whole["text"].str.split().str.len().tolist()
    assert len(chunked_test) == 20
    assert pd.concat([chunked["text"], chunked_test["text"]]).str.fullmatch(r"\d+( \d+)*").all()


def _accuracy(texts, y, ngrams):
    # n-grams in 5+ documents: the phrases' recur, the background's (random tokens) mostly do not
    counts = CountVectorizer(token_pattern=r"\S+", ngram_range=ngrams, min_df=5).fit_transform(texts)
    folds = KFold(3, shuffle=True, random_state=0)
    return cross_val_score(MultinomialNB(alpha=0.1), counts, y, cv=folds, scoring="accuracy").mean()


def test_word_order_carries_signal_that_unigrams_bigrams_and_shuffled_tokens_do_not():
    # phrases only (no topic tokens, no class lean): the class is in the order of the tokens or nowhere
    train, _ = make_news(400, 1, seed=5, topic_share=0.0, class_lean=0.0)  # the default phrase_share
    texts, y = train["text"].tolist(), train["label"].to_numpy()
    majority = np.bincount(y).max() / len(y)
    rng = np.random.default_rng(0)
    shuffled = [" ".join(rng.permutation(t.split())) for t in texts]
    assert _accuracy(texts, y, (3, 3)) > 0.9
    assert _accuracy(texts, y, (1, 2)) < majority + 0.08
    assert _accuracy(shuffled, y, (3, 3)) < majority + 0.08


def test_phrase_share_is_the_share_of_phrase_tokens_and_punctuation_is_kept():
    train, _ = make_news(200, 1, seed=1, phrase_share=0.2)
    known = set().union(*phrases(seed=1).values())
    tokens = [tuple(map(int, t.split())) for t in train["text"]]
    hits = sum(doc[i:i + 3] in known for doc in tokens for i in range(len(doc) - 2))
    assert 3 * hits / sum(map(len, tokens)) == pytest.approx(0.2, abs=0.015)
    without, _ = make_news(200, 1, seed=1, phrase_share=0.0)
    assert without["text"].str.split().str.len().tolist() == train["text"].str.split().str.len().tolist()
    # phrases overwrite other tokens, never punctuation: every document keeps its punctuation where it was
    punctuation = {str(t) for t in PUNCTUATION}
    for a, b in zip(train["text"].head(50), without["text"].head(50)):
        assert [i for i, t in enumerate(a.split()) if t in punctuation] == \
            [i for i, t in enumerate(b.split()) if t in punctuation]


def test_bad_shares_are_refused():
    with pytest.raises(ValueError, match=r"phrase_share must be in \[0, 0.5\)"):
        make_news(20, 5, phrase_share=0.6)
