"""Image contests: mchar-format label JSONs and image folders read into one row per image.

A label file maps an image's file name to its digits and their boxes, as in the street-view
character contest (mchar_train.json, mchar_val.json)::

    {"000000.png": {"height": [219, 219], "label": [1, 9], "left": [246, 323], "top": [77, 81],
                    "width": [81, 96]}, ...}

The frame keeps the file name, the label as a string ("19": what the whole-string metric compares),
the digit count, the per-digit lists and, when the image folder is given, each image's size.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import DataError

BOX_KEYS = ("height", "label", "left", "top", "width")
#: label-derived columns: a model may crop around the boxes in training, but they never become features
ANNOTATIONS = ("n_digits", "digits", "left", "top", "width", "height")
_FIX = "Use the contest's original file, or regenerate it (compkit generate)."


def read_mchar_labels(path: str | Path, what: str = "train", target: str = "label") -> pd.DataFrame:
    """One row per image: file_name, `target` (digit string), n_digits, digits, left, top, width, height.

    A DataError names the file, the entry and the key when the JSON is malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} label file not found: {path}. Put the file there or fix the path in config.yaml.")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{what} label file {path} is not valid JSON ({exc}). {_FIX}") from None
    if not isinstance(raw, dict) or not raw:
        raise DataError(f"{what} label file {path} must hold a non-empty mapping "
                        f"{{file name: {{{', '.join(BOX_KEYS)}}}}}; got {type(raw).__name__}. {_FIX}")
    rows = []
    for name, entry in raw.items():
        rows.append(_parse_entry(path, what, name, entry))
    frame = pd.DataFrame(rows, columns=["file_name", "digits", "left", "top", "width", "height"])
    frame.insert(1, target, ["".join(map(str, d)) for d in frame["digits"]])
    frame.insert(2, "n_digits", frame["digits"].map(len).astype(int))
    return frame


def _parse_entry(path: Path, what: str, name: str, entry: object) -> tuple:
    where = f"{what} label file {path}, entry {name!r}"
    if not isinstance(entry, dict):
        raise DataError(f"{where}: expected a mapping with keys {list(BOX_KEYS)}; got {type(entry).__name__}. {_FIX}")
    missing = [k for k in BOX_KEYS if k not in entry]
    if missing:
        raise DataError(f"{where} lacks key(s) {missing}; each entry needs {list(BOX_KEYS)} "
                        f"(lists of equal length, one item per digit). {_FIX}")
    values = {}
    for key in BOX_KEYS:
        v = entry[key]
        v = v if isinstance(v, list) else [v]  # some exports write a single digit as a bare number
        if not v or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            raise DataError(f"{where}: key {key!r} must be a non-empty list of numbers; got {entry[key]!r}. {_FIX}")
        values[key] = [int(round(x)) for x in v]  # the real files mix 85 and 85.0
    lengths = {k: len(v) for k, v in values.items()}
    if len(set(lengths.values())) != 1:
        raise DataError(f"{where}: the lists differ in length {lengths}; each needs one item per digit. {_FIX}")
    bad = [d for d in values["label"] if not 0 <= d <= 9]
    if bad:
        raise DataError(f"{where}: labels must be digits 0-9; got {bad}. {_FIX}")
    return (name, values["label"], values["left"], values["top"], values["width"], values["height"])


def read_file_list(path: str | Path, what: str = "test", target: str = "label") -> pd.DataFrame:
    """The images a submission must cover: a label JSON, or a CSV with a file_name column (the
    sample submission)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return read_mchar_labels(path, what, target)
    from common.data.io import read_table

    frame = read_table(path, ",", required=["file_name"], what=what)
    return frame[["file_name"]].astype({"file_name": str})


def attach_image_sizes(frame: pd.DataFrame, image_dir: str | Path, what: str = "train") -> pd.DataFrame:
    """Add image_width and image_height (pixels, read from each file's header).

    A DataError names the folder, or the first missing files and how many are missing.
    """
    from PIL import Image, UnidentifiedImageError

    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise DataError(f"{what} image folder not found: {image_dir}. Unpack the contest's images there or fix "
                        f"data.{'image_dir' if what == 'train' else 'test_image_dir'} in config.yaml.")
    paths = [image_dir / name for name in frame["file_name"]]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{what} images missing from {image_dir}: {missing[:5]}"
                        f"{f' and {len(missing) - 5} more' if len(missing) > 5 else ''} "
                        f"({len(missing)} of {len(paths)} listed in the label file). "
                        "Unpack the complete image archive there, or remove those entries.")
    sizes = []
    for p in paths:
        try:
            with Image.open(p) as img:
                sizes.append(img.size)
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"{what} image {p} cannot be read as an image ({exc}). Unpack it again.") from None
    frame = frame.copy()
    frame["image_path"] = [str(p) for p in paths]  # what an image model reads
    frame["image_width"] = np.array([w for w, _ in sizes], dtype=int)
    frame["image_height"] = np.array([h for _, h in sizes], dtype=int)
    return frame


def boxes_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per digit: file_name, position (0 = leftmost in the label), digit, left, top, width, height."""
    if "digits" not in frame.columns or frame.empty:
        return pd.DataFrame(columns=["file_name", "position", "digit", "left", "top", "width", "height"])
    n = frame["n_digits"].to_numpy()
    flat = {k: np.concatenate(frame[k].to_numpy()).astype(int) for k in ("digits", "left", "top", "width", "height")}
    return pd.DataFrame({"file_name": np.repeat(frame["file_name"].to_numpy(), n),
                         "position": np.concatenate([np.arange(k) for k in n]),
                         "digit": flat["digits"], "left": flat["left"], "top": flat["top"],
                         "width": flat["width"], "height": flat["height"]})


def load_image_tables(contest) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train (labelled) and test frames of an image contest; image sizes when the folders are set."""
    from common.contest import VALID_COLUMN

    d = contest.config.data
    train = read_mchar_labels(contest.path(d.train), "train", d.target)
    test = read_file_list(contest.path(d.test), "test", d.target)
    valid = read_mchar_labels(contest.path(d.valid), "validation", d.target) if d.valid else None
    for frame, name in ((train, d.train), (test, d.test), (valid, d.valid)):
        dup = frame["file_name"].duplicated() if frame is not None else None
        if dup is not None and dup.any():
            raise DataError(f"{contest.path(name)}: file name {frame['file_name'][dup].iloc[0]!r} is listed twice.")
    if d.image_dir:
        train = attach_image_sizes(train, contest.path(d.image_dir), "train")
    if d.test_image_dir:
        test = attach_image_sizes(test, contest.path(d.test_image_dir), "test")
    if valid is not None:
        if d.valid_image_dir:
            valid = attach_image_sizes(valid, contest.path(d.valid_image_dir), "validation")
        train = pd.concat([train.assign(**{VALID_COLUMN: False}), valid.assign(**{VALID_COLUMN: True})],
                          ignore_index=True)
    return train, test
