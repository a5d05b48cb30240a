"""Street-view house numbers (the Tianchi street character recognition contest): PNGs plus mchar JSON labels.

Writes what the real archives hold: ``mchar_train/`` + ``mchar_train.json``, ``mchar_val/`` +
``mchar_val.json``, ``mchar_test_a/`` and ``mchar_sample_submit_A.csv`` (``file_name,file_code``).
Each image shows a 1-6 digit string drawn with PIL on a textured background; its JSON entry gives
every digit's label and box ({"height", "label", "left", "top", "width"}, lists per image).

The statistics are those of the real mchar_train.json (30,000 images): digits per image
(1: 15 %, 2: 54 %, 3: 26 %, 4: 4 %, 5-6: rare), digit frequencies (1: 19 %, 2: 14 %, down to
7 % for 0 and 6 % for 9), box heights log-normal (median 30 px, 1-99 % range 12-102 px, the same
for every digit of an image), box width / height near 0.5 (0.37 for "1"), gaps between
neighbouring boxes within +-0.15 of the height, left margins near 1.15 heights and top margins
near 0.2 heights. The real JSON does not record image sizes; here the right and bottom margins
mirror the left and top ones.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from common.data.datasets.registry import GENERATORS
from common.data.io import write_csv, write_text

N_DIGITS_P = np.array([4636, 16262, 7813, 1280, 8, 1], float) / 30_000  # 1..6 digits
DIGIT_P = np.array([4444, 12446, 9532, 7608, 6720, 6146, 5141, 5032, 4510, 4186], float)
DIGIT_P /= DIGIT_P.sum()
LOG_HEIGHT = (3.416, 0.477)  # mean and sd of log(box height)
HEIGHT_RANGE = (9, 360)
ASPECT = np.array([0.503, 0.366, 0.504, 0.495, 0.501, 0.503, 0.507, 0.486, 0.5, 0.502])  # median width / height
FONTS = ("DejaVuSans-Bold.ttf", "DejaVuSans.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono-Bold.ttf")
SPLITS = {"train": "mchar_train", "val": "mchar_val", "test": "mchar_test_a"}


def make_labels(n: int, seed: int | list[int] = 0) -> tuple[dict[str, dict[str, list[int]]], list[tuple[int, int]]]:
    """mchar-format labels for `n` images ("000000.png", ...) and each image's (width, height)."""
    rng = np.random.default_rng(seed)
    labels, sizes = {}, []
    for i in range(n):
        k = int(rng.choice(6, p=N_DIGITS_P / N_DIGITS_P.sum())) + 1
        digits = rng.choice(10, size=k, p=DIGIT_P)
        h = int(np.clip(round(np.exp(rng.normal(*LOG_HEIGHT))), *HEIGHT_RANGE))
        widths = np.maximum(1, np.round(h * ASPECT[digits] * np.exp(rng.normal(0, 0.25, k)))).astype(int)
        gaps = np.round(h * rng.normal(0, 0.09, k)).astype(int)
        gaps[0] = 0
        left0 = int(round(h * np.exp(rng.normal(np.log(1.15), 0.375))))
        top0 = int(round(h * np.exp(rng.normal(np.log(0.2), 0.9))))
        lefts = left0 + np.r_[0, np.cumsum(widths[:-1] + gaps[1:])]
        jitter = np.where(rng.random(k) < 0.5, 0, np.abs(rng.normal(0, 0.1, k)) * h).round().astype(int)
        tops = top0 + jitter
        right = int(round(h * np.exp(rng.normal(np.log(1.15), 0.375))))
        bottom = int(round(h * np.exp(rng.normal(np.log(0.2), 0.9))))
        width = int(max(lefts + widths) + right)
        height = int(max(tops) + h + bottom)
        labels[f"{i:06d}.png"] = {"height": [h] * k, "label": digits.tolist(), "left": lefts.tolist(),
                                  "top": tops.tolist(), "width": widths.tolist()}
        sizes.append((width, height))
    return labels, sizes


@lru_cache(maxsize=64)
def _glyph(digit: int, font_name: str):
    """The digit's ink as a tightly cropped greyscale mask."""
    from PIL import Image, ImageDraw, ImageFont

    import matplotlib

    font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / font_name), 96)
    canvas = Image.new("L", (128, 128), 0)
    ImageDraw.Draw(canvas).text((16, 0), str(digit), fill=255, font=font)
    return canvas.crop(canvas.getbbox())


def render(entry: dict[str, list[int]], size: tuple[int, int], rng: np.random.Generator):
    """Draw one image: a gradient background with texture, each digit's glyph stretched to its box."""
    from PIL import Image, ImageDraw, ImageFilter

    width, height = size
    base = rng.uniform(20, 235, 3)
    tilt = rng.uniform(-50, 50, 3)
    ramp = np.linspace(0, 1, height if rng.random() < 0.5 else width)
    ramp = ramp[:, None] if ramp.size == height else ramp[None, :]
    pixels = base + tilt * ramp[..., None] + rng.normal(0, 6, (height, width, 3))
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(0, 3))):  # frames, stripes, plates: clutter around the number
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        shade = tuple(int(c) for c in np.clip(base + rng.normal(0, 40, 3), 0, 255))
        draw.rectangle([x0, y0, x0 + int(rng.integers(2, width)), y0 + int(rng.integers(1, 4))], fill=shade)
    ink = (rng.uniform(0, 60, 3) if base.mean() > 128 else rng.uniform(190, 255, 3)).astype(int)
    font = FONTS[int(rng.integers(len(FONTS)))]
    for digit, left, top, w, h in zip(entry["label"], entry["left"], entry["top"], entry["width"], entry["height"]):
        mask = _glyph(int(digit), font).resize((max(1, w), max(1, h)), Image.BILINEAR)
        img.paste(tuple(int(c) for c in ink), (int(left), int(top)), mask)
    blur = rng.uniform(0, 0.04) * min(entry["height"])
    return img.filter(ImageFilter.GaussianBlur(blur)) if blur > 0.3 else img


def write_split(out_dir: str | Path, split: str, n: int, seed: int | list[int] = 0) -> tuple[Path, Path]:
    """Images into <out_dir>/<folder>/ and the labels into <out_dir>/<folder>.json; returns both paths."""
    folder = Path(out_dir) / SPLITS[split]
    folder.mkdir(parents=True, exist_ok=True)
    labels, sizes = make_labels(n, seed)
    rng = np.random.default_rng([*np.atleast_1d(seed).tolist(), 7])
    for (name, entry), size in zip(labels.items(), sizes):
        render(entry, size, rng).save(folder / name)
    return folder, write_text(folder.with_suffix(".json"), json.dumps(labels))


@GENERATORS.register("street_chars")
def write_street_chars(out_dir: str | Path, seed: int = 0, n_train: int = 300, n_val: int = 100,
                       n_test: int = 100) -> list[Path]:
    """The contest's folders and files in `out_dir` (small by default: 300 / 100 / 100 images).

    The test images get labels too (their JSON sits beside them, as mchar_test_a.json) so that
    tests can score predictions; the real contest publishes none.
    """
    out_dir = Path(out_dir)
    paths = []
    for i, (split, n) in enumerate((("train", n_train), ("val", n_val), ("test", n_test))):
        paths += write_split(out_dir, split, n, seed=[seed, i])
    names = [f"{i:06d}.png" for i in range(n_test)]
    paths.append(write_csv(out_dir / "mchar_sample_submit_A.csv", pd.DataFrame({"file_name": names, "file_code": 0})))
    return paths
