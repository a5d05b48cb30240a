"""Text models on TF-IDF features of word (or id) n-grams, for documents of space-separated tokens.

`TfidfModel` owns what they share: the documents (the text columns of X, several joined with a space), the
vectorizer (common.models.ngrams: sublinear tf, float32) and the predictions (class probability rows
that sum to one, 0 for a class the training fold never saw). The vocabulary's size follows the data: `min_df:
auto` keeps tokens seen in at least max(2, n_docs / 20,000) documents, so a small corpus keeps its rare signal
and a 200 k-document one drops noise, without a setting tuned to one corpus.

`fit_on: corpus` (the default) fits the vocabulary and idf once on every document the contest has (the training
and validation folds and the test rows: text only, never a label), as bert's pre-training reads them, and the
folds look their rows up; `fit_on: fold` fits on the training fold alone, five times over for five folds (at
the news contest's full size that is minutes per fold instead of once). A subclass makes the estimator
(`fit_features`):

- `tfidf_linear`: a linear model fitted by SGD (modified Huber loss, or logistic), ridge for values;
- `tfidf_svm`: a linear SVM with Platt-scaled probabilities, LinearSVR for values;
- `tfidf_nbsvm`: NB-SVM (Wang & Manning, 2012), logistic models on naive-Bayes-scaled features;
- `tfidf_lightgbm` (common.models.tfidf_lightgbm): gradient boosting on the most frequent n-grams.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from common.models.base import MODELS, Model
from common.models.ngrams import NgramTfidf


def documents(X) -> list[str]:
    """One string per row: the text columns joined (a Series or list of strings passes through)."""
    return text_series(X).to_list()


def text_series(X) -> pl.Series:
    """`documents` as one polars String series, a missing text as "": it reads the frame's Arrow text in place,
    where Python strings would copy it (1.2 GB for the news contest's 250,000 documents, in every fold)."""
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        if X.shape[1] == 0:
            raise ValueError("a text model got no text column: set data.text_column (or a column's role to text)")
        frame = pl.from_pandas(X.reset_index(drop=True)).select(pl.all().cast(pl.String))
        return frame.select(pl.concat_str(pl.all().fill_null(""), separator=" ").alias("doc")).to_series()
    if isinstance(X, pl.Series):
        return X.cast(pl.String).fill_null("").alias("doc")
    if isinstance(X, pd.Series):
        return pl.from_pandas(X.reset_index(drop=True)).cast(pl.String).fill_null("").alias("doc")
    return pl.Series("doc", ["" if x is None else str(x) for x in X], dtype=pl.String)


def auto_max_features(n_docs: int) -> int:
    """`max_features: auto`: the n-grams a model that cannot take every one keeps (the most frequent): 20,000,
    one per document above that, at most 50,000."""
    return int(min(50_000, max(20_000, n_docs)))


def _keys(docs: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each document's identity: its 64-bit hash and its length in bytes (two texts share both practically
    never, and `CorpusFeatures.rows` then finds no row rather than a wrong one)."""
    return docs.hash(seed=0).to_numpy(), docs.str.len_bytes().to_numpy().astype(np.int64)


@dataclass
class CorpusFeatures:
    """One corpus vectorized: the fitted vectorizer, its matrix (one row per distinct document, ordered by
    their keys) and those keys, sorted."""

    key: str
    vectorizer: NgramTfidf
    matrix: object  # scipy CSR
    hashes: np.ndarray  # uint64, sorted; the row of the document with hashes[i] is i
    lengths: np.ndarray

    def rows(self, docs: pl.Series) -> np.ndarray | None:
        """The matrix rows of `docs`, or None when one of them is not in the corpus."""
        hashes, lengths = _keys(docs)
        rows = np.minimum(np.searchsorted(self.hashes, hashes), max(len(self.hashes) - 1, 0))
        if not len(self.hashes) or not ((self.hashes[rows] == hashes) & (self.lengths[rows] == lengths)).all():
            return None
        return rows.astype(np.int64)


_CORPUS: dict[str, CorpusFeatures] = {}  # the last corpus vectorized in this process (a stage's folds share it)


def corpus_features(corpus: pl.Series, params: dict) -> CorpusFeatures:
    """The TF-IDF of every distinct document of `corpus`, fitted on them (labels never enter), built once per
    process for a multiset of documents and vectorizer settings: each fold of a contest hands the same
    corpus (its training and validation folds and the test rows) in another order, so the first fold pays
    and the others, and the other TF-IDF models with the same settings, look rows up. Documents are vectorized
    in the order of their keys, so the columns do not depend on which fold came first."""
    hashes, lengths = _keys(corpus)
    order = np.lexsort((lengths, hashes))
    hashes, lengths = hashes[order], lengths[order]
    key = hashlib.blake2b(hashes.tobytes() + lengths.tobytes() + repr(sorted(params.items())).encode(),
                          digest_size=16).hexdigest()
    if key not in _CORPUS:
        _CORPUS.clear()  # one corpus at a time: the full news contest's matrix is 2-3 GB
        first = np.ones(len(order), dtype=bool)  # the first of each run of equal keys: one row per distinct text
        first[1:] = (hashes[1:] != hashes[:-1]) | (lengths[1:] != lengths[:-1])
        vectorizer = NgramTfidf(**params)
        matrix = vectorizer.fit_transform(corpus, rows=order[first])
        _CORPUS[key] = CorpusFeatures(key, vectorizer, matrix, hashes[first], lengths[first])
    return _CORPUS[key]


class TfidfModel(Model):
    """The vectorizer and the predictions every TF-IDF model shares; a subclass fits its estimator on the
    features (`fit_features`) and may say how it gives class probabilities (`class_proba`)."""

    takes = frozenset({"text"})
    uses_valid = False  # the validation fold is vectorized only for a model that stops early on it

    def __init__(self, task="multiclass", seed=0, n_classes=None, ngram_range=(1, 2), min_df="auto",
                 max_features=None, fit_on="corpus", lowercase=True):
        super().__init__(task, seed, n_classes)
        self.ngram_range, self.min_df, self.max_features = tuple(ngram_range), min_df, max_features
        self.fit_on, self.lowercase = fit_on, lowercase

    def fit(self, X, y, X_valid=None, y_valid=None, workdir=None) -> TfidfModel:
        docs = text_series(X)
        if self.fit_on == "corpus":  # every document of the contest, once: the folds and models share it
            more = [text_series(m) for m in (X_valid, getattr(self, "unlabelled", None)) if m is not None]
            corpus = pl.concat([docs, *more], rechunk=False)  # views of the frames' own text buffers
            self.corpus_ = corpus_features(corpus, self._vectorizer_params(len(corpus)))
            self.vectorizer_ = self.corpus_.vectorizer
            features = self._features(docs)
        elif self.fit_on == "fold":
            self.corpus_ = None
            self.vectorizer_ = NgramTfidf(**self._vectorizer_params(len(docs)))
            features = self.vectorizer_.fit_transform(docs)
        else:
            raise ValueError(f"{type(self).__name__}: fit_on must be 'corpus' or 'fold'; got {self.fit_on!r}")
        y = np.asarray(y)
        if self.task != "regression":
            self.classes_ = np.unique(y)  # the classes this fold saw; a subclass may widen them
        valid = None
        if self.uses_valid and X_valid is not None:
            valid = self._features(X_valid)
            y_valid = np.asarray(y_valid)
        self.info = {"vocabulary": self.vectorizer_.vocabulary_size, "min_df": self.vectorizer_.min_df,
                     "fit_on": self.fit_on}
        self.fit_features(features, y, valid, y_valid if valid is not None else None)
        return self

    def _vectorizer_params(self, n_docs: int) -> dict:
        min_df = max(2, n_docs // 20_000) if self.min_df == "auto" else int(self.min_df)
        min_df = min(min_df, max(1, n_docs // 10))  # a tiny corpus keeps its tokens
        max_features = auto_max_features(n_docs) if self.max_features == "auto" else self.max_features
        return {"ngram_range": self.ngram_range, "min_df": min_df, "max_features": max_features,
                "lowercase": self.lowercase}

    def _features(self, docs):
        """TF-IDF rows of `docs` (anything `text_series` reads): looked up in the corpus matrix when fitted on
        it, else transformed."""
        docs = text_series(docs)
        rows = self.corpus_.rows(docs) if self.corpus_ is not None else None
        return self.corpus_.matrix[rows] if rows is not None else self.vectorizer_.transform(docs)

    def fit_features(self, features, y: np.ndarray, valid=None, y_valid: np.ndarray | None = None) -> None:
        """Fit `self.model_` on the training fold's TF-IDF rows (`valid`: the validation fold's, or None)."""
        raise NotImplementedError

    def class_proba(self, features) -> np.ndarray:
        """Probabilities of `self.classes_`, one column each in that order (default: the estimator's)."""
        return self.model_.predict_proba(features)

    def predict(self, X) -> np.ndarray:
        features = self._features(X)
        if self.task == "regression":
            return np.asarray(self.model_.predict(features), dtype=np.float64)
        proba = np.asarray(self.class_proba(features), dtype=np.float64)
        proba /= proba.sum(axis=1, keepdims=True)  # float32 features: make rows sum to one in float64
        width = 2 if self.task == "binary" else self.classes(np.asarray(self.classes_))
        out = np.zeros((len(proba), width))  # classes a fold never saw get 0
        out[:, self.classes_] = proba
        return out[:, 1] if self.task == "binary" else out


@MODELS.register("tfidf_linear")
class TfidfLinear(TfidfModel):
    """TF-IDF (sublinear tf, n-grams) then a linear model fitted by SGD (classes) or ridge (values).

    `loss: modified_huber` (the default) is a smoothed hinge: a linear SVM's margins, with probabilities from
    them (scikit-learn clips each class's margin to [-1, 1]), at SGD's cost. On one fold of a generated
    40,000-document news corpus (32 k training documents, 3.5 M n-grams; benchmarks/news_linear.py) it scored
    0.952 macro-F1 in 22 s, where `log_loss` (a logistic model) scored 0.856 in 46 s at the same alpha (0.940 at
    alpha 5e-7), LinearSVC 0.950 in 55 s and NB-SVM 0.947 in 120 s; on 1,500 documents 0.944 against 0.80.
    `loss: log_loss` gives the SGD logistic model, `solver: lbfgs` scikit-learn's LogisticRegression.
    """

    def __init__(self, task="multiclass", seed=0, n_classes=None, solver="sgd", loss="modified_huber", alpha=2e-5,
                 C=4.0, max_iter=30, **params):
        super().__init__(task, seed, n_classes, **params)
        self.solver, self.loss, self.alpha, self.C, self.max_iter = solver, loss, alpha, C, max_iter

    def fit_features(self, features, y, valid=None, y_valid=None) -> None:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier

        if self.task == "regression":
            self.model_ = Ridge(alpha=1.0).fit(features, y)
        elif self.solver == "sgd":
            if self.loss not in ("modified_huber", "log_loss"):
                raise ValueError(f"tfidf_linear: loss must be 'modified_huber' or 'log_loss' (they give "
                                 f"probabilities); got {self.loss!r}")
            sgd = SGDClassifier(loss=self.loss, alpha=self.alpha, max_iter=self.max_iter, tol=1e-4,
                                random_state=self.seed, n_jobs=-1)  # classes in threads, one matrix
            with warnings.catch_warnings():  # a small corpus may still move after max_iter epochs: fine here
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.model_ = sgd.fit(features, y)
        else:
            self.model_ = LogisticRegression(C=self.C, max_iter=1000, random_state=self.seed).fit(features, y)

    def class_proba(self, features) -> np.ndarray:
        if self.solver != "sgd" or self.loss != "modified_huber":
            return self.model_.predict_proba(features)
        return huber_proba(self.model_.decision_function(features))


def huber_proba(margins: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """Class probabilities from modified-Huber margins: scikit-learn's (clip(m, -1, 1) + 1) / 2 per class, plus
    `floor`, rows normalised. scikit-learn gives a row whose margins are all <= -1 the uniform row, but one
    margin a hair above -1 makes it one-hot: the floor keeps the probabilities continuous in the margins."""
    margins = np.asarray(margins, dtype=np.float64)
    if margins.ndim == 1:  # binary: the positive class' margin
        margins = np.column_stack([-margins, margins])
    proba = (np.clip(margins, -1, 1) + 1) / 2 + floor
    return proba / proba.sum(axis=1, keepdims=True)


@MODELS.register("tfidf_svm")
class TfidfSVM(TfidfModel):
    """TF-IDF then a linear SVM (LinearSVC, one class against the rest); values: LinearSVR on the target
    standardised on the training fold (its intercept is regularised, so an off-centre target would bias it).

    An SVM gives margins, not probabilities: Platt scaling (a sigmoid per class, then rows normalised) maps
    them, fitted on `calibration_folds` internal folds of the training fold, each fold's SVM calibrated on the
    rows it did not see (its margins on its own rows are overconfident) and the folds' models averaged. The
    cost is `calibration_folds` SVM fits, each a few seconds on 100 k documents; isotonic calibration would
    overfit the small classes."""

    def __init__(self, task="multiclass", seed=0, n_classes=None, C=0.5, calibration_folds=3, **params):
        super().__init__(task, seed, n_classes, **params)
        self.C, self.calibration_folds = C, calibration_folds

    def fit_features(self, features, y, valid=None, y_valid=None) -> None:
        import warnings

        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.compose import TransformedTargetRegressor
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC, LinearSVR

        if self.task == "regression":
            svr = LinearSVR(C=self.C, random_state=self.seed, max_iter=5000)
            self.model_ = TransformedTargetRegressor(svr, transformer=StandardScaler()).fit(features, y)
            return
        from sklearn.model_selection import StratifiedKFold

        with warnings.catch_warnings():
            # A class with fewer rows than folds is missing from some folds' calibration rows, and scikit-learn
            # refuses an integer cv then (the real contest's smallest class has 908 documents, a fold of a small
            # corpus may have 2): the same stratified splits, handed over as a list, let it fit. Such a class
            # gets a low probability, which is what so few rows allow.
            warnings.filterwarnings("ignore", message="The least populated class")
            splits = list(StratifiedKFold(int(self.calibration_folds)).split(np.zeros(len(y)), y))
        svm = LinearSVC(C=self.C, random_state=self.seed)
        self.model_ = CalibratedClassifierCV(svm, method="sigmoid", cv=splits, ensemble=True).fit(features, y)


@MODELS.register("tfidf_nbsvm")
class TfidfNBSVM(TfidfModel):
    """NB-SVM (Wang & Manning, 2012) in its logistic form, one class against the rest: the log-count ratio
    r = log((p / |p|_1) / (q / |q|_1)) of each n-gram, p and q `alpha` plus its summed TF-IDF in the class's
    documents and in the others', scales the features, and a logistic model learns the class on X * r. The
    ratio is a naive-Bayes prior on each n-gram's weight: it helps most where a linear model has little evidence
    (short documents, small classes). The classes' probabilities are normalised to sum to one; a binary task
    fits one model (the positive class). Values are not supported.

    Each one-against-the-rest model sees a small class among many: `class_weight: balanced` weighs its rows up,
    else a small class's probability never wins. On generated news (400 / 1,600 training documents) macro-F1
    0.77 / 0.98 with it, 0.39 / 0.78 without; the ratio from TF-IDF sums beats the paper's binarised counts
    there (0.60 / 0.76).

    `jobs`: classes fitted at once, each in a worker process. "auto": one per core, as many as 70% of the memory
    available holds (`_classes_at_once`). On the full news contest (160,000 training documents a fold) a class
    needs about 4.5 GB. On the 24 GB VM "auto" fits two: a fold takes ~256 s and stage 04 peaks at 19.3 GB (all
    processes); `jobs: 1` takes 486 s a fold and peaks at 12.4 GB."""

    tasks = ("binary", "multiclass")

    def __init__(self, task="multiclass", seed=0, n_classes=None, alpha=1.0, C=4.0, class_weight="balanced",
                 jobs="auto", **params):
        super().__init__(task, seed, n_classes, **params)
        if jobs != "auto" and not (isinstance(jobs, int) and jobs >= 1):
            raise ValueError(f"tfidf_nbsvm: jobs must be 'auto' or a whole number >= 1; got {jobs!r}")
        self.alpha, self.C, self.class_weight, self.jobs = alpha, C, class_weight, jobs

    def fit_features(self, features, y, valid=None, y_valid=None) -> None:
        import tempfile

        import joblib

        everywhere = np.asarray(features.sum(axis=0)).ravel()
        # two classes: the second against the first, one model (its complement is the other's probability)
        self.targets_ = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        args = (everywhere, self.alpha, self.C, self.class_weight, self.seed)
        n_jobs = _classes_at_once(features) if self.jobs == "auto" else self.jobs
        if n_jobs == 1:
            fitted = [_nbsvm_class(features, y == target, *args) for target in self.targets_]
        else:
            # One class per core in worker processes, as many at once as memory holds their copies. Not threads:
            # liblinear draws its coordinate order from one generator per process, so classes fitted side by side
            # in threads take each other's draws and the same seed no longer gives the same model. The workers
            # map the features from one file (a copy each would double the memory; joblib's own mapping would
            # hash the whole matrix again for every class).
            with tempfile.TemporaryDirectory(prefix="compkit-nbsvm-") as tmp:
                joblib.dump(features, Path(tmp) / "features.joblib")
                shared = joblib.load(Path(tmp) / "features.joblib", mmap_mode="r")
                fitted = joblib.Parallel(n_jobs=n_jobs, backend="loky")(
                    joblib.delayed(_nbsvm_class)(shared, y == target, *args) for target in self.targets_)
        self.model_, self.ratios_ = [m for m, _ in fitted], [r for _, r in fitted]

    def class_proba(self, features) -> np.ndarray:
        proba = np.column_stack([model.predict_proba(_scaled(features, ratio))[:, 1]
                                 for model, ratio in zip(self.model_, self.ratios_)])
        if len(self.classes_) == 2:
            return np.column_stack([1.0 - proba[:, 0], proba[:, 0]])
        return np.maximum(proba, 1e-12)  # every class unlikely: still a row that normalises


def _nbsvm_class(features, mine: np.ndarray, everywhere: np.ndarray, alpha: float, C: float, class_weight,
                 seed: int):
    """One NB-SVM class against the rest: its log-count ratio, and the logistic model on the scaled rows."""
    from sklearn.linear_model import LogisticRegression

    inside = np.asarray(features[mine].sum(axis=0)).ravel()
    p, q = alpha + inside, alpha + everywhere - inside
    ratio = (np.log(p / p.sum()) - np.log(q / q.sum())).astype(np.float32)
    # liblinear's dual solver: fast when n-grams outnumber documents, as they do here
    model = LogisticRegression(C=C, solver="liblinear", dual=True, max_iter=1000, class_weight=class_weight,
                               random_state=seed)
    return model.fit(_scaled(features, ratio), mine.astype(int)), ratio


def _classes_at_once(features, cap: int = 4) -> int:
    """One-against-the-rest fits to run at once: one per core (at most `cap`), fewer when their copies would not
    fit in 70% of the memory available now. Each fit holds its scaled values (8 bytes a non-zero, float64 so
    that scikit-learn does not convert them again) and liblinear's own copy of the rows (16 bytes a non-zero):
    on the full news contest (160,000 training documents a fold) about 4.5 GB a class, as measured."""
    import psutil

    per_fit = 28 * features.nnz + 1  # with the gathered ratios while scaling
    fits = int(psutil.virtual_memory().available * 0.7 // per_fit)
    return max(1, min(cap, os.cpu_count() or 1, fits))


def _scaled(features, ratio: np.ndarray):
    """Sparse rows with each column multiplied by its ratio: new float64 values on the same sparsity pattern
    (the index arrays are shared with `features`, not copied)."""
    from scipy import sparse

    features = features.tocsr()
    values = np.multiply(features.data, ratio[features.indices], dtype=np.float64)
    return sparse.csr_matrix((values, features.indices, features.indptr), shape=features.shape, copy=False)
