"""Benchmark: the text models on one generated news corpus, each cross-validated on the same 5 stratified
folds through the fold loop (`fit_oof`, as stage 04 fits a run; not a stage run, no feature cache), with
macro-F1, total and per-fold seconds. bert pre-trains once (masked-LM on train + test text) in a fresh cache
folder, so its first fold pays for it and the others read it. Run:

    python benchmarks/news_models.py --docs 1000 --test 200 --max-len 128
    python benchmarks/news_models.py --docs 2000 --test 300 --pretrain-epochs   # no bert variant
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.config import Component  # noqa: E402
from common.data.datasets.news import make_news  # noqa: E402
from common.data.folds import make_folds  # noqa: E402
from common.metrics import get_metric  # noqa: E402
from common.runs.train import CVContext, fit_oof  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000, help="training documents")
    parser.add_argument("--test", type=int, default=200, help="test documents (bert pre-trains on them too)")
    parser.add_argument("--max-len", type=int, default=128, help="bert's max_len")
    parser.add_argument("--pretrain-epochs", type=int, nargs="*", default=[3, 0],
                        help="bert variants to run, one per pre-training epoch count (none: no bert)")
    parser.add_argument("--models", nargs="*", default=None, help="only these models (default: all)")
    args = parser.parse_args()
    train, test = make_news(n_train=args.docs, n_test=args.test, seed=3)
    X, y = train[["text"]], train["label"].to_numpy()
    folds = make_folds(len(y), scheme="stratified", n_splits=5, seed=42, y=y)
    cv = CVContext(folds, get_metric("macro_f1"), "multiclass", n_classes=14, cache_dir=Path(tempfile.mkdtemp()))
    specs = [("tfidf_linear", {"ngram_range": [1, 2]}), ("tfidf_svm", {}), ("tfidf_nbsvm", {}), ("tfidf_lightgbm", {}),
             ("fasttext", {}), ("textcnn", {}), ("bigru", {})]
    specs += [("bert", {"max_len": args.max_len, "pretrain_epochs": e}) for e in args.pretrain_epochs]
    specs = [(name, params) for name, params in specs if args.models is None or name in args.models]
    for name, params in specs:
        start = time.perf_counter()
        result = fit_oof(Component(name=name, params=params), X, y, test[["text"]], cv, progress=False)
        print(f"{name} {params}: macro-F1 {result.score:.3f}, {time.perf_counter() - start:.1f} s "
              f"(folds {', '.join(f'{s:.1f}' for s in result.fit_seconds)} s)", flush=True)


if __name__ == "__main__":
    main()
