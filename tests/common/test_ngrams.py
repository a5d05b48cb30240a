"""The corpus-scale TF-IDF (common.models.ngrams) gives scikit-learn's TfidfVectorizer matrix, whatever the chunking."""
import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from common.data.datasets.news import make_news
from common.models.ngrams import NgramTfidf


@pytest.fixture(scope="module")
def corpus():
    train, test = make_news(n_train=150, n_test=40, seed=4)
    # words, tabs, repeated spaces, an empty document and a token the fit never sees
    extra = ["alpha beta\tgamma  alpha", "", "   ", "beta alpha 3750"]
    return train["text"].tolist() + extra, test["text"].tolist() + ["never-seen 3750 648", ""]


def _sklearn(ngram_range, min_df, max_features=None):
    return TfidfVectorizer(token_pattern=r"\S+", lowercase=False, ngram_range=ngram_range, min_df=min_df,
                           max_features=max_features, sublinear_tf=True)


@pytest.mark.parametrize("ngram_range,min_df", [((1, 1), 1), ((1, 2), 2), ((2, 3), 2), ((1, 3), 3)])
def test_same_matrix_as_sklearn(corpus, ngram_range, min_df):
    train, test = corpus
    ours, theirs = NgramTfidf(ngram_range, min_df, chunk_size=97), _sklearn(ngram_range, min_df)
    X, Y = ours.fit_transform(train), theirs.fit_transform(train)
    column = {name: j for j, name in enumerate(theirs.get_feature_names_out())}
    order = np.array([column[name] for name in ours.get_feature_names_out()])  # KeyError: a term sklearn lacks
    assert X.shape == Y.shape and X.dtype == np.float32
    assert abs(X - Y[:, order]).max() < 1e-6
    assert abs(ours.transform(test) - theirs.transform(test)[:, order]).max() < 1e-6
    assert X[len(train) - 3].nnz == 0 and X[len(train) - 2].nnz == 0  # empty and blank documents: empty rows


def test_chunking_does_not_change_the_matrix(corpus):
    """Chunks number tokens in the order they meet them, so only the order of the columns may differ."""
    train, test = corpus
    one, many = NgramTfidf((1, 2), 2, chunk_size=10_000), NgramTfidf((1, 2), 2, chunk_size=7)
    X, Y = one.fit_transform(train), many.fit_transform(train)
    column = {name: j for j, name in enumerate(many.get_feature_names_out())}
    order = np.array([column[name] for name in one.get_feature_names_out()])
    assert X.shape == Y.shape and abs(X - Y[:, order]).max() == 0
    assert abs(one.transform(test) - many.transform(test)[:, order]).max() == 0


def test_rows_vectorizes_those_documents_in_that_order(corpus):
    """`rows` (gathered a chunk at a time) is the same fit as the documents taken out beforehand."""
    import polars as pl

    train, _ = corpus
    rows = np.random.default_rng(0).permutation(len(train))[: len(train) - 20]
    X = NgramTfidf((1, 2), 2, chunk_size=13).fit_transform(pl.Series(train), rows=rows)
    Y = NgramTfidf((1, 2), 2, chunk_size=13).fit_transform([train[i] for i in rows])
    assert X.shape == Y.shape and abs(X - Y).max() == 0
    assert abs(NgramTfidf((1, 2), 2, chunk_size=13).fit_transform(train, rows=rows) - Y).max() == 0


def test_lowercase_as_sklearn():
    docs = ["Alpha beta ALPHA", "beta Gamma alpha", "GAMMA gamma"]
    ours, theirs = NgramTfidf((1, 2), lowercase=True), TfidfVectorizer(token_pattern=r"\S+", ngram_range=(1, 2), sublinear_tf=True)
    X, Y = ours.fit_transform(docs), theirs.fit_transform(docs)
    column = {name: j for j, name in enumerate(theirs.get_feature_names_out())}
    assert abs(X - Y[:, [column[n] for n in ours.get_feature_names_out()]]).max() < 1e-6


def test_max_features_keeps_the_most_frequent_terms(corpus):
    train, _ = corpus
    full = NgramTfidf((1, 2), 1)
    full.fit_transform(train)
    capped = NgramTfidf((1, 2), 1, max_features=500)
    X = capped.fit_transform(train)
    assert X.shape[1] == 500 and set(capped.get_feature_names_out()) <= set(full.get_feature_names_out())
    counts = _sklearn((1, 2), 1).fit(train)  # corpus frequency of every term, by name
    tf = dict(zip(counts.get_feature_names_out(), np.asarray(
        TfidfVectorizer(token_pattern=r"\S+", lowercase=False, ngram_range=(1, 2), use_idf=False, norm=None)
        .fit_transform(train).sum(axis=0)).ravel()))
    kept = [tf[n] for n in capped.get_feature_names_out()]
    dropped = [tf[n] for n in set(full.get_feature_names_out()) - set(capped.get_feature_names_out())]
    assert min(kept) >= max(dropped)


def test_too_many_tokens_for_trigram_keys_is_refused():
    docs = [" ".join(f"w{i}_{j}" for j in range(3)) for i in range(40_000)]  # 120,000 distinct tokens
    with pytest.raises(ValueError, match="too many for 3-grams"):
        NgramTfidf((1, 3), chunk_size=100_000).fit_transform(docs)
