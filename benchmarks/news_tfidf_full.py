"""Benchmark: the news contest's TF-IDF + linear run at full size (200,000 + 50,000 generated documents), 5 folds.

Writes the corpus once (`compkit generate news_text`, kept in --data for reuse), then in a fresh process per
part, each with its wall time and peak memory (the child's max RSS):

  vectorizer  the n-gram TF-IDF alone on the first --baseline-docs training documents: scikit-learn's
              TfidfVectorizer (the plain baseline) against common.models.ngrams.NgramTfidf, same settings;
  run         `tfidf_linear` (or --model) through the fold loop as stage 04 fits a run (`fit_oof` on 5
              stratified folds, test predictions included): macro-F1 and the time of each fold.

Run:

    python benchmarks/news_tfidf_full.py --data /tmp/news_full
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CHILD = r'''
import json, resource, sys, time
sys.path.insert(0, {repo!r})
import numpy as np, pandas as pd
part, data, arg = {part!r}, {data!r}, {arg!r}
from common.data.io import one_chunk
train = one_chunk(pd.read_csv(f"{{data}}/train_set.csv", sep="\t"))  # as stage 03 hands frames to the folds
start = time.perf_counter()
if part in ("sklearn", "ngrams"):
    docs = train["text"].tolist()[: int(arg)]
    if part == "sklearn":
        from sklearn.feature_extraction.text import TfidfVectorizer
        matrix = TfidfVectorizer(token_pattern=r"\S+", lowercase=False, ngram_range=(1, 2), min_df=2,
                                 sublinear_tf=True, dtype=np.float32).fit_transform(docs)
    else:
        from common.models.ngrams import NgramTfidf
        matrix = NgramTfidf((1, 2), min_df=2).fit_transform(docs)
    out = {{"shape": list(matrix.shape), "nnz": int(matrix.nnz)}}
else:
    from common.config import Component
    from common.data.folds import make_folds
    from common.metrics import get_metric
    from common.runs.train import CVContext, fit_oof
    test = one_chunk(pd.read_csv(f"{{data}}/test_a.csv", sep="\t"))
    y = train["label"].to_numpy()
    folds = make_folds(len(y), scheme="stratified", n_splits=5, seed=42, y=y)
    cv = CVContext(folds, get_metric("macro_f1"), "multiclass", n_classes=14)
    result = fit_oof(Component(name=arg), train[["text"]], y, test[["text"]], cv, progress=False)
    out = {{"macro_f1": result.score, "folds": [round(s, 1) for s in result.fit_seconds]}}
r = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"seconds": time.perf_counter() - start, "peak_gb": r.ru_maxrss / 1e6, **out}}))
'''


def child(part: str, data: Path, arg: str) -> dict:
    code = _CHILD.format(repo=str(REPO), part=part, data=str(data), arg=arg)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{part} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/news_full"), help="corpus folder (written if missing)")
    parser.add_argument("--train", type=int, default=200_000)
    parser.add_argument("--test", type=int, default=50_000)
    parser.add_argument("--baseline-docs", type=int, default=10_000, help="documents for the vectorizer comparison")
    parser.add_argument("--model", default="tfidf_linear")
    args = parser.parse_args()
    if not (args.data / "train_set.csv").is_file():
        start = time.perf_counter()
        subprocess.run([sys.executable, str(REPO / "common" / "cli.py"), "generate", "news_text", str(args.data),
                        "--set", f"n_train={args.train}", f"n_test={args.test}"], check=True)
        print(f"generated {args.train:,} + {args.test:,} documents in {time.perf_counter() - start:.0f} s", flush=True)
    for part in ("sklearn", "ngrams"):
        r = child(part, args.data, str(args.baseline_docs))
        print(f"vectorizer {part:<8} {args.baseline_docs:,} docs: {r['seconds']:.1f} s, peak {r['peak_gb']:.2f} GB, "
              f"matrix {r['shape']} nnz {r['nnz']:,}", flush=True)
    r = child("run", args.data, args.model)
    print(f"run {args.model} 5 folds on the full corpus: {r['seconds']:.0f} s, peak {r['peak_gb']:.2f} GB, "
          f"macro-F1 {r['macro_f1']:.4f} (folds {r['folds']} s)", flush=True)


if __name__ == "__main__":
    main()
