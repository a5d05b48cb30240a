"""The TF-IDF models on generated news: class probability rows, a class the training fold lacks, learning the
classes; NB-SVM's log-count ratio; tfidf_linear still the vectorizer + SGD it was; LightGBM's early stopping.
(test_models.py runs them on every task they declare.)"""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from common.config import Component
from common.models import create_model
from common.models.tfidf import huber_proba

# small sizes keep each fit to seconds; the models' defaults are what the benchmark measures
TFIDF = {
    "tfidf_linear": {},
    "tfidf_svm": {},
    "tfidf_nbsvm": {},
    "tfidf_lightgbm": {"max_features": 1000, "n_estimators": 30, "learning_rate": 0.3},
}


def _model(name, task="multiclass", n_classes=14, **params):
    return create_model(Component(name=name, params={**TFIDF[name], **params}), task, seed=0, n_classes=n_classes)


@pytest.fixture(scope="module")
def news():
    from common.data.datasets.news import make_news

    train, _ = make_news(n_train=500, n_test=1, seed=2)
    text, label = train[["text"]], train["label"].to_numpy()
    return text.iloc[:400], label[:400], text.iloc[400:], label[400:]


@pytest.mark.parametrize("name", list(TFIDF))
def test_learns_generated_news_with_probability_rows(name, news):
    X, y, Xv, yv = news
    pred = _model(name).fit(X, y, Xv, yv).predict(Xv)
    assert pred.shape == (100, 14) and pred.min() >= 0
    np.testing.assert_allclose(pred.sum(axis=1), 1, atol=1e-9)
    assert f1_score(yv, pred.argmax(1), average="macro") > 0.5  # 14 classes: chance is ~0.07


@pytest.mark.parametrize("name", list(TFIDF))
def test_a_class_missing_from_the_training_fold(name, news):
    """Class 1 only in the validation fold (as a rare class can fall in a fold): the model still fits, gives
    every class a column, and the class it never saw is (about) never predicted."""
    X, y, Xv, yv = news
    seen = y != 1
    model = _model(name).fit(X[seen], y[seen], Xv, yv)
    pred = model.predict(Xv)
    assert pred.shape == (100, 14)
    np.testing.assert_allclose(pred.sum(axis=1), 1, atol=1e-9)
    assert pred[:, 1].max() < 0.05 and not (pred.argmax(1) == 1).any()
    if name != "tfidf_lightgbm":  # the linear models learn the seen classes only; LightGBM grows trees for all
        assert np.all(pred[:, 1] == 0)
    others = yv != 1
    assert f1_score(yv[others], pred[others].argmax(1), average="macro") > 0.5


def test_nbsvm_log_count_ratio():
    """r = log((p / |p|_1) / (q / |q|_1)), p and q 1 + the token's summed TF-IDF in the class's documents and in
    the rest's: 'b' only in class 1 documents, 'a' only in class 0 ones, 'x' and 'y' in both alike."""
    docs = pd.DataFrame({"text": ["a x", "a y", "b x", "b y"]})
    model = _model("tfidf_nbsvm", task="binary", n_classes=None, ngram_range=(1, 1), min_df=1)
    model.fit(docs, np.array([0, 0, 1, 1]))
    (ratio,) = model.ratios_  # a binary task: one model, for the positive class
    by_token = dict(zip(model.vectorizer_.get_feature_names_out(), ratio))
    # every token is in 2 of the 4 documents (one idf), so each weighs 1/sqrt(2) in its two-token document:
    # p = 1 + (a 0, b 2w, x w, y w), q = 1 + (a 2w, b 0, x w, y w), with equal sums
    w = 1 / np.sqrt(2)
    assert by_token["b"] == pytest.approx(np.log(1 + 2 * w), rel=1e-5)
    assert by_token["a"] == pytest.approx(-np.log(1 + 2 * w), rel=1e-5)
    assert by_token["x"] == pytest.approx(0.0, abs=1e-6) and by_token["y"] == pytest.approx(0.0, abs=1e-6)
    pred = model.predict(pd.DataFrame({"text": ["b", "a"]}))
    assert pred.shape == (2,) and pred[0] > 0.5 > pred[1]


def test_nbsvm_scales_on_the_shared_pattern_and_fits_as_many_classes_as_memory_holds(news, monkeypatch):
    """The scaled rows are float64 values on the features' own index arrays (no copy of them, and none made
    again by scikit-learn); the classes fitted at once follow the memory available (one when a fit's copies
    do not fit in 70% of it); and the same seed gives the same model whether the classes are fitted one at
    a time or side by side (threads sharing liblinear's generator did not)."""
    import psutil
    from scipy import sparse

    from common.models import tfidf

    features = sparse.random(50, 200, density=0.1, format="csr", dtype=np.float32, random_state=0)
    ratio = np.random.default_rng(0).normal(size=200).astype(np.float32)
    scaled = tfidf._scaled(features, ratio)
    assert scaled.dtype == np.float64
    assert np.shares_memory(scaled.indices, features.indices) and np.shares_memory(scaled.indptr, features.indptr)
    np.testing.assert_allclose(scaled.toarray(), features.toarray() * ratio, rtol=1e-6)

    memory = psutil.virtual_memory()
    monkeypatch.setattr(tfidf.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: memory._replace(available=28 * features.nnz * 10))
    assert tfidf._classes_at_once(features) == 4  # room for 7: the cap
    monkeypatch.setattr(psutil, "virtual_memory", lambda: memory._replace(available=28 * features.nnz * 2))
    assert tfidf._classes_at_once(features) == 1  # 70% of it holds one
    monkeypatch.setattr(psutil, "virtual_memory", lambda: memory._replace(available=0))
    assert tfidf._classes_at_once(features) == 1  # never none

    X, y, Xv, _ = news
    one = _model("tfidf_nbsvm").fit(X, y).predict(Xv)  # one class at a time (no memory to spare)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: memory._replace(available=1 << 40))
    monkeypatch.setattr(tfidf.os, "cpu_count", lambda: 2)
    assert tfidf._classes_at_once(tfidf._CORPUS[next(iter(tfidf._CORPUS))].matrix) == 2
    a, b = (_model("tfidf_nbsvm").fit(X, y).predict(Xv) for _ in range(2))  # two classes at once, twice
    np.testing.assert_array_equal(a, b)  # the same seed gives the same model: liblinear's draws are per process
    np.testing.assert_allclose(a, one, rtol=1e-6)
    np.testing.assert_array_equal(_model("tfidf_nbsvm", jobs=2).fit(X, y).predict(Xv), a)  # set by hand
    with pytest.raises(ValueError, match="jobs must be 'auto' or a whole number"):
        _model("tfidf_nbsvm", jobs=0)


def test_nbsvm_refuses_values():
    with pytest.raises(ValueError, match="pick another model"):
        _model("tfidf_nbsvm", task="regression")


def test_huber_probabilities_are_continuous_in_the_margins():
    """Every margin <= -1 gives the uniform row, and one a hair above it nearly so (scikit-learn: one-hot)."""
    flat = huber_proba(np.array([[-3.0, -1.0, -2.0], [-1.0 + 1e-9, -1.5, -4.0], [0.5, -0.5, 2.0]]))
    np.testing.assert_allclose(flat[0], 1 / 3)
    np.testing.assert_allclose(flat[1], 1 / 3, atol=1e-6)
    assert np.argmax(flat[2]) == 2 and np.all(np.diff(flat[2][[1, 0, 2]]) > 0)
    np.testing.assert_allclose(flat.sum(axis=1), 1)
    binary = huber_proba(np.array([-2.0, 0.0, 0.4]))  # one margin per row: the positive class'
    np.testing.assert_allclose(binary[:, 0] + binary[:, 1], 1)
    np.testing.assert_allclose(binary[1], 0.5)
    assert binary[2, 1] > 0.5 > binary[0, 1]


@pytest.mark.parametrize("loss", ["modified_huber", "log_loss"])
def test_tfidf_linear_is_still_tfidf_then_sgd(news, loss):
    """The refactor kept tfidf_linear's model: the same vectorizer and SGD model by hand agree, for each loss.

    The logistic loss is smooth, so TfidfVectorizer's other column order (float32 sums) changes the
    probabilities by rounding only. The modified Huber loss updates only inside the margin, so rounding can
    flip a step and two fits drift apart: for it the SGD by hand is fitted on the model's own matrix."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier

    X, y, Xv, _ = news
    model = _model("tfidf_linear", loss=loss).fit(X, y)
    pred = model.predict(Xv)
    sgd = SGDClassifier(loss=loss, alpha=2e-5, max_iter=30, tol=1e-4, random_state=0)
    assert sorted(set(y)) == list(range(13))  # class 13 falls outside these 400 documents: its column is 0
    assert np.all(pred[:, 13] == 0)
    if loss == "log_loss":
        vectorizer = TfidfVectorizer(token_pattern=r"\S+", ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                     dtype=np.float32)
        sgd.fit(vectorizer.fit_transform(X["text"]), y)
        np.testing.assert_allclose(pred[:, :13], sgd.predict_proba(vectorizer.transform(Xv["text"])),
                                   rtol=1e-5, atol=1e-7)
        return
    sgd.fit(model._features(X["text"].tolist()), y)
    expected = huber_proba(sgd.decision_function(model._features(Xv["text"].tolist())))
    np.testing.assert_allclose(pred[:, :13], expected, rtol=1e-6, atol=1e-9)


def test_lightgbm_stops_early_on_the_contest_metric_and_keeps_the_frequent_ngrams(news):
    from common.metrics import get_metric

    X, y, Xv, yv = news
    model = _model("tfidf_lightgbm", max_features=500, n_estimators=400, learning_rate=0.5, early_stopping_rounds=5)
    model.metric = get_metric("macro_f1")  # as the fold loop sets it
    model.fit(X, y, Xv, yv)
    assert model.info["vocabulary"] == 500
    assert 1 <= model.info["best_iteration"] < 400
    assert list(model.model_.best_score["valid_0"]) == ["macro_f1"]  # the round was picked on it, not the loss
    blind = _model("tfidf_lightgbm", max_features=500, fallback_estimators=7).fit(X, y)  # no fold to stop on
    assert blind.info["best_iteration"] == 7 and blind.model_.current_iteration() == 7


def test_svm_fits_a_class_rarer_than_its_calibration_folds(news):
    """Class 11 with one document (fewer than the 3 calibration folds) and class 12 with two: still a fit,
    probability rows summing to one, the other classes learned."""
    X, y, Xv, yv = news
    keep = np.ones(len(y), bool)
    keep[np.flatnonzero(y == 11)[1:]] = False
    keep[np.flatnonzero(y == 12)[2:]] = False
    pred = _model("tfidf_svm").fit(X[keep], y[keep]).predict(Xv)
    assert np.bincount(y[keep])[11:13].tolist() == [1, 2] and pred.shape == (100, 14)
    np.testing.assert_allclose(pred.sum(axis=1), 1, atol=1e-9)
    assert f1_score(yv, pred.argmax(1), average="macro") > 0.4


def test_text_series_joins_columns_and_reads_a_missing_text_as_empty():
    from common.models.tfidf import documents, text_series

    frame = pd.DataFrame({"title": ["1 2", None, "5"], "body": ["3", "4", None]}, index=[7, 8, 9])
    assert text_series(frame).to_list() == ["1 2 3", " 4", "5 "]
    assert documents(frame[["title"]]) == ["1 2", "", "5"]
    assert documents(pd.Series(["a", None])) == ["a", ""] and documents(["x", None, 3]) == ["x", "", "3"]
    with pytest.raises(ValueError, match="no text column"):
        text_series(frame[[]])


def test_the_folds_share_one_corpus_matrix_and_look_their_rows_up(news):
    """Two folds handing the same documents in another order get the same matrix (vectorized once); a fold's
    rows are the matrix rows of its texts (as the fitted vectorizer would transform them); a text outside the
    corpus is transformed, not given another text's row."""
    from common.models import tfidf

    X, y, Xv, yv = news
    first = _model("tfidf_linear").fit(X, y, Xv, yv)
    second = _model("tfidf_linear").fit(Xv, yv, X, y)
    assert second.corpus_ is first.corpus_
    corpus = first.corpus_
    assert corpus.matrix.shape[0] == len(set(X["text"]) | set(Xv["text"]))
    rows = corpus.rows(tfidf.text_series(Xv))
    np.testing.assert_allclose(corpus.matrix[rows].toarray(), corpus.vectorizer.transform(Xv["text"].tolist()).toarray(),
                               rtol=1e-5, atol=1e-7)
    unseen = pd.Series([Xv["text"].iloc[0] + " 1"])
    assert corpus.rows(tfidf.text_series(unseen)) is None
    np.testing.assert_allclose(first._features(unseen).toarray(), corpus.vectorizer.transform(unseen.tolist()).toarray())
