"""Benchmark: the linear models on one fold of a news corpus' TF-IDF, fit + predict time and macro-F1.

The corpus is vectorized once (common.models.ngrams, with the TF-IDF models' default settings: (1, 2)-grams,
`min_df: auto`), on the training and test documents as `fit_on: corpus` does; then each estimator is fitted on
4/5 of the training documents and scored on the rest. It is how tfidf_linear's default loss was chosen. Run (a contest's raw files,
e.g. from `compkit generate news_text <dir> --set n_train=40000 n_test=10000`):

    python benchmarks/news_linear.py --data <dir> --docs 40000
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.models.ngrams import NgramTfidf  # noqa: E402
from common.models.tfidf import TfidfNBSVM  # noqa: E402


def estimators(seed: int) -> dict:
    from sklearn.linear_model import RidgeClassifier, SGDClassifier
    from sklearn.svm import LinearSVC

    def sgd(loss, alpha):
        return lambda: SGDClassifier(loss=loss, alpha=alpha, max_iter=30, tol=1e-4, random_state=seed, n_jobs=-1)

    return {"sgd modified_huber 2e-5": sgd("modified_huber", 2e-5), "sgd modified_huber 5e-6": sgd("modified_huber", 5e-6),
            "sgd log_loss 2e-5": sgd("log_loss", 2e-5), "sgd log_loss 5e-7": sgd("log_loss", 5e-7),
            "LinearSVC C=0.5": lambda: LinearSVC(C=0.5), "ridge sparse_cg": lambda: RidgeClassifier(solver="sparse_cg"),
            "nbsvm (tfidf_nbsvm)": lambda: NBSVM(seed=seed)}


class NBSVM:
    """tfidf_nbsvm's estimator on a ready matrix."""

    def __init__(self, seed: int):
        self.model = TfidfNBSVM(seed=seed)

    def fit(self, X, y):
        self.model.classes_ = np.unique(y)
        self.model.fit_features(X, y)
        return self

    def predict(self, X):
        return self.model.classes_[self.model.class_proba(X).argmax(axis=1)]


def main() -> None:
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with train_set.csv and test_a.csv")
    parser.add_argument("--docs", type=int, default=40_000, help="training documents read (test: a quarter)")
    parser.add_argument("--models", nargs="*", help="a subset of the estimators' names")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train = pd.read_csv(args.data / "train_set.csv", sep="\t", nrows=args.docs)
    test = pd.read_csv(args.data / "test_a.csv", sep="\t", nrows=args.docs // 4)
    docs, y = train["text"].tolist(), train["label"].to_numpy()
    start = time.perf_counter()
    corpus = docs + test["text"].tolist()
    X = NgramTfidf(**TfidfNBSVM()._vectorizer_params(len(corpus))).fit_transform(corpus)  # the models' own settings
    X = X[:len(docs)]
    print(f"vectorized {len(corpus):,} documents in {time.perf_counter() - start:.1f} s: {X.shape[1]:,} n-grams, "
          f"{X.nnz / 1e6:.1f} M values", flush=True)
    fit, held = next(StratifiedKFold(5, shuffle=True, random_state=args.seed).split(X, y))
    for name, make in estimators(args.seed).items():
        if args.models and name not in args.models:
            continue
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = make().fit(X[fit], y[fit]).predict(X[held])
        print(f"{name:26s} {time.perf_counter() - start:7.1f} s  macro-F1 {f1_score(y[held], pred, average='macro'):.4f}",
              flush=True)


if __name__ == "__main__":
    main()
