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
        hint = " (SVHN's original files write the digit 0 as 10: map 10 to 0)" if 10 in bad else ""
        raise DataError(f"{where}: labels must be digits 0-9; got {bad}{hint}. Fix that entry or {_FIX[0].lower()}{_FIX[1:]}")
    flat = [(w, h) for w, h in zip(values["width"], values["height"]) if w <= 0 or h <= 0]
    if flat:
        raise DataError(f"{where}: box width and height must be positive; got (width, height) {flat}. "
                        f"Fix that entry or {_FIX[0].lower()}{_FIX[1:]}")
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


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def attach_image_sizes(frame: pd.DataFrame, image_dir: str | Path, what: str = "train",
                       listed_in: str | Path | None = None) -> pd.DataFrame:
    """Add image_path, image_width and image_height (pixels; each file's header read and its chunks checked).

    A DataError names the folder, or the files at fault, how many and the fix: images listed but missing,
    images in the folder but not listed (`listed_in`: the label JSON or sample submission naming them),
    files that are not readable images, and digit boxes lying wholly outside their image.
    """
    from PIL import Image

    image_dir = Path(image_dir)
    source = listed_in or "the label file"
    if not image_dir.is_dir():
        raise DataError(f"{what} image folder not found: {image_dir}. Unpack the contest's images there or fix "
                        f"data.{'image_dir' if what == 'train' else what.replace('validation', 'valid') + '_image_dir'}"
                        " in config.yaml.")
    paths = [image_dir / name for name in frame["file_name"]]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{what} images missing from {image_dir}: {_some(missing)} ({len(missing)} of {len(paths)} "
                        f"listed in {source}). Unpack the complete image archive there, or remove those entries "
                        f"from {source}.")
    listed = set(frame["file_name"].astype(str))
    unlisted = sorted(p.name for p in image_dir.iterdir()
                      if p.suffix.lower() in IMAGE_SUFFIXES and p.name not in listed)
    if unlisted:
        raise DataError(f"{what} images in {image_dir} without an entry in {source}: {_some(unlisted)} "
                        f"({len(unlisted)} files). Add their entries to {source} (the label file may be from "
                        "another release), or move those files out of the folder.")
    sizes, broken = [], []
    for p in paths:
        try:
            with Image.open(p) as img:
                size = img.size
                img.verify()  # reads the chunks, not the pixels: a truncated or damaged PNG fails here
            sizes.append(size)
        except Exception as exc:  # noqa: BLE001 (PIL raises many types for a damaged file)
            broken.append(f"{p.name} ({type(exc).__name__}: {exc})"[:160])
            sizes.append((0, 0))
    if broken:
        raise DataError(f"{what} files in {image_dir} cannot be read as images: {_some(broken)} ({len(broken)} of "
                        f"{len(paths)}). Unpack them again from the contest's archive, or remove their entries "
                        f"from {source}.")
    frame = frame.copy()
    frame["image_path"] = [str(p) for p in paths]  # what an image model reads
    frame["image_width"] = np.array([w for w, _ in sizes], dtype=int)
    frame["image_height"] = np.array([h for _, h in sizes], dtype=int)
    _check_boxes(frame, what, source)
    return frame


def _some(names: list, k: int = 5) -> str:
    return f"{names[:k]}{f' and {len(names) - k} more' if len(names) > k else ''}"


def _check_boxes(frame: pd.DataFrame, what: str, source) -> None:
    """Boxes that share no pixel with their image: a label file that belongs to other images. (The real
    files have boxes a pixel or two past the edge, left -1: those are kept, a model clips them.)"""
    if "left" not in frame.columns:
        return
    bad = []
    for row in frame.itertuples(index=False):
        for k, (left, top, w, h) in enumerate(zip(row.left, row.top, row.width, row.height)):
            if left >= row.image_width or top >= row.image_height or left + w <= 0 or top + h <= 0:
                bad.append(f"{row.file_name} digit {k} (left {left}, top {top}, width {w}, height {h}; "
                           f"image {row.image_width}x{row.image_height})")
                break
    if bad:
        raise DataError(f"{what}: digit boxes in {source} lie wholly outside their image: {_some(bad, 3)} "
                        f"({len(bad)} images). The label file does not match these images: use the one shipped "
                        "with them, or fix those entries.")


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
        train = attach_image_sizes(train, contest.path(d.image_dir), "train", contest.path(d.train))
    if d.test_image_dir:
        test = attach_image_sizes(test, contest.path(d.test_image_dir), "test", contest.path(d.test))
    if valid is not None:
        if d.valid_image_dir:
            valid = attach_image_sizes(valid, contest.path(d.valid_image_dir), "validation", contest.path(d.valid))
        train = pd.concat([train.assign(**{VALID_COLUMN: False}), valid.assign(**{VALID_COLUMN: True})],
                          ignore_index=True)
    return train, test
