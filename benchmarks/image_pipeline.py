"""Benchmark: images/s of an image model's training data path (the loader alone, two epochs) and of a
2-epoch fit, on generated street-chars images, without the decoded-image cache, with it, and with it plus
loader workers. Run:

    python benchmarks/image_pipeline.py --images 300 --out /tmp/image_pipeline [--model crnn_ctc]
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from common.config import Component  # noqa: E402
from common.data.datasets.streetchar import write_split  # noqa: E402
from common.data.images import read_mchar_labels  # noqa: E402
from common.data.sequence import encode_sequences  # noqa: E402
from common.models import create_model  # noqa: E402

SETTINGS = [("no cache, 0 workers", {"cache_mb": 0, "num_workers": 0}),
            ("cache, 0 workers", {"cache_mb": 1024, "num_workers": 0}),
            ("cache, 2 workers", {"cache_mb": 1024, "num_workers": 2})]


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("/tmp/image_pipeline"), help="where the images are written")
    parser.add_argument("--model", default="image_cnn", choices=["image_cnn", "crnn_ctc"])
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if not (args.out / "mchar_train.json").exists():
        write_split(args.out, "train", args.images, seed=11)
    frame = read_mchar_labels(args.out / "mchar_train.json")
    X = pd.DataFrame({"image_path": [str(args.out / "mchar_train" / n) for n in frame["file_name"]]})
    y = encode_sequences(frame["label"], tuple("0123456789"), positions=6)
    base = {"export": False, "epochs": 2, **({"image_size": [48, 96], "batch_size": 32} if args.model == "image_cnn" else {})}
    for label, extra in SETTINGS:
        model = create_model(Component(name=args.model, params={**base, **extra}), "sequence", seed=0, n_classes=11)
        model.device_ = torch.device("cpu")
        loader = model._loader(X, y, training=True)
        rates = []
        for _ in range(2):
            start = time.perf_counter()
            rates.append(sum(len(batch[1]) for batch in loader) / (time.perf_counter() - start))
        fitted = create_model(Component(name=args.model, params={**base, **extra}), "sequence", seed=0, n_classes=11)
        start = time.perf_counter()
        fitted.fit(X, y)
        seconds = time.perf_counter() - start
        print(f"{args.model} {label}: loader {rates[0]:.0f} then {rates[1]:.0f} images/s; "
              f"fit {2 * len(X) / seconds:.0f} images/s ({seconds:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
