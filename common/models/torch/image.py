"""Image models on the shared PyTorch trainer: a timm backbone with one linear head per position.

Takes the image role (the `image_path` column common.data.images adds); each image is read with PIL, resized
to `image_size`, augmented in training (albumentations: affine, colour, blur; never a horizontal flip, which
would turn a house number into another one) and normalised. For a sequence target (street chars) the head
predicts every position's character or blank; for a multiclass one, one class per image.

CPU-sized by default (resnet18, 64x128, no pretrained weights: nothing is downloaded). `checkpoint` names a
local weights file for the backbone (timm's format, .pth or .safetensors; its classifier is dropped).
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np

from common.errors import ConfigError, DataError
from common.models.base import MODELS
from common.models.torch.trainer import TorchModel

#: training augmentation strengths; 0 turns one off (`augment: {rotate: 0}`). box_crop: with the digit boxes
#: (the fold loop's annotations), half the training images are cropped to the union of their boxes plus a random
#: margin of up to this share of its size on each side: zoom and framing vary, and no digit is ever cut
AUGMENT = {"scale": 0.1, "translate": 0.05, "rotate": 8.0, "shear": 6.0, "color": 0.3, "blur": 0.2, "box_crop": 0.3}
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's: what timm checkpoints expect


def image_paths(X) -> list[str]:
    """The image file of each row: the column marked `image` in X.attrs["roles"], else `image_path`."""
    import pandas as pd

    if not isinstance(X, pd.DataFrame):
        return [str(p) for p in X]
    marked = [c for c, r in X.attrs.get("roles", {}).items() if r == "image" and c in X.columns]
    column = marked[0] if marked else "image_path" if "image_path" in X.columns else None
    if column is None:
        raise ValueError(f"an image model got no image column (columns: {list(X.columns)[:10]}): set "
                         "data.modality: image with data.image_dir, or give a column the role image")
    return X[column].astype(str).tolist()


BAD_IMAGE = ("stop", "skip")


def read_image(path: str) -> np.ndarray:
    """An image as an RGB uint8 array; a missing or unreadable file is a DataError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"image {path} not found: unpack the contest's images there or fix data.image_dir") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:  # PIL's ways of meeting a damaged file
        raise DataError(f"image {path} cannot be read as an image ({type(exc).__name__}: {exc}); unpack it again, "
                        "or set on_bad_image: skip in the model's params to go on without it") from None


class ImageReader:
    """Reads images resized to `size` (height, width) as uint8 arrays, each file decoded once and kept while the
    decoded images fit in `cache_mb` (0: read every time; a bigger set than the budget is read every time too).
    `on_bad_image`: "stop" raises a DataError naming an unreadable (or vanished) file; "skip" reports it once by
    name and gives a blank (mid-grey) image in its place, so a long fit goes on. (Stage 03 has already checked
    every file; this is for a file damaged or removed since.) Loader workers get a copy of the filled cache."""

    def __init__(self, size: tuple[int, int], cache_mb: float = 1024, on_bad_image: str = "stop", threads: int = 1):
        self.size, self.cache_mb, self.on_bad_image, self.threads = tuple(size), cache_mb, on_bad_image, threads
        self.cache: dict[str, np.ndarray] = {}
        self.sizes: dict[str, tuple[int, int]] = {}  # (width, height) of each file as decoded, before the resize
        self.bad: list[str] = []

    def fits(self, n: int) -> bool:
        h, w = self.size
        return self.cache_mb > 0 and (len(self.cache) + n) * h * w * 3 <= self.cache_mb * 2**20

    def preload(self, paths: list[str]) -> None:
        """Decode the images not yet cached (in `threads` threads: PIL decodes outside the GIL), if they fit."""
        todo = list(dict.fromkeys(p for p in paths if p not in self.cache))
        if not todo or not self.fits(len(todo)):
            return
        if self.threads > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(self.threads) as pool:
                arrays = list(pool.map(self.decode, todo))
        else:
            arrays = [self.decode(p) for p in todo]
        self.cache.update(zip(todo, arrays))

    def __call__(self, path: str) -> np.ndarray:
        hit = self.cache.get(path)
        return hit if hit is not None else self.decode(path)

    def decode(self, path: str) -> np.ndarray:
        import cv2

        h, w = self.size
        try:
            pixels = read_image(path)
        except DataError:
            if self.on_bad_image != "skip":
                raise
            if path not in self.bad:
                import warnings

                self.bad.append(path)
                warnings.warn(f"skipping unreadable image {path} (on_bad_image: skip): a blank image stands in "
                              "for it; unpack it again to use it", stacklevel=2)
            return np.full((h, w, 3), 127, np.uint8)
        self.sizes[path] = (pixels.shape[1], pixels.shape[0])
        return cv2.resize(pixels, (w, h), interpolation=cv2.INTER_LINEAR)  # what A.Resize does

    def original_size(self, path: str) -> tuple[int, int]:
        """(width, height) of the file: known once decoded, else read from its header."""
        if path not in self.sizes:
            from PIL import Image

            with Image.open(path) as img:
                self.sizes[path] = img.size
        return self.sizes[path]


class _Images:
    """A torch-style dataset of (CHW float tensor, target) read through an ImageReader. With `augment`, each
    item's augmentations are drawn from torch's RNG (which the engine seeds, checkpoints and gives each
    loader worker its own of), so a seed, a resumed fit and several workers all draw reproducibly."""

    def __init__(self, paths, targets, transform, augment: bool, reader, boxes=None, box_crop: float = 0.0):
        self.paths, self.targets, self.transform, self.augment, self.reader = paths, targets, transform, augment, reader
        self.boxes, self.box_crop = boxes, box_crop  # boxes: (n, 4) union boxes as shares of each image (NaN: none)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        import torch

        pixels = self.reader(self.paths[i])
        if self.augment:
            reseed(self.transform, int(torch.randint(0, 2**31 - 1, ())))
            if self.boxes is not None and self.box_crop > 0 and bool(torch.rand(()) < 0.5):
                pixels = crop_around(pixels, self.boxes[i], torch.rand(4).numpy() * self.box_crop)
        pixels = self.transform(image=pixels)["image"]
        target = 0 if self.targets is None else self.targets[i]
        return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))), torch.as_tensor(target)


def _position_heads(backbone, n_features: int, positions: int | None, classes: int, dropout: float, columns: int):
    """Backbone features -> (batch, positions, classes), or (batch, classes) when `positions` is None. With
    `columns`, the feature map is averaged over its height into that many column bins, left to right, and the
    heads see them all: where a digit lies survives, which a global average pool throws away."""
    import torch.nn.functional as F
    from torch import nn

    class PositionHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone, self.positions = backbone, positions
            self.dropout = nn.Dropout(dropout)
            # one linear head per position, stored as one layer: the same weights, one matmul
            self.head = nn.Linear(n_features * max(columns, 1), (positions or 1) * classes)

        def forward(self, x):
            features = self.backbone(x)
            if columns:
                features = F.adaptive_avg_pool2d(features, (1, columns)).flatten(1)
            out = self.head(self.dropout(features))
            return out.view(len(x), self.positions, -1) if self.positions else out

    return PositionHeads()


@MODELS.register("image_cnn")
class ImageCNN(TorchModel):
    """A timm backbone (`backbone`, randomly initialised unless `checkpoint` names local weights) with one
    linear head per position (sequence) or one head (binary, multiclass), reading `columns` bins of the
    feature map from left to right (0: timm's global average pool, for backbones without a 2-D map, e.g. a
    ViT). `tta`: views averaged at predict (1 = none, 2 = + a slight zoom, 3 = + a small shift).
    `cache_mb`: decoded, resized images kept in memory up to this size (each file decoded once per fit);
    `num_workers`: loader processes for the augmentations (and threads for the first decode);
    `on_bad_image`: "stop" (a DataError naming the file) or "skip" (reported once, a blank image instead)."""

    tasks = ("binary", "multiclass", "sequence")
    takes = frozenset({"image"})
    channels_last = True  # on a GPU the engine keeps the network and the batches channels-last

    def __init__(self, task="sequence", seed=0, n_classes=None, backbone="resnet18", image_size=(64, 128),
                 checkpoint=None, columns=4, augment=None, tta=2, dropout=0.2, epochs=20, batch_size=64, lr=1e-3,
                 weight_decay=1e-4, patience=5, cache_mb=1024, on_bad_image="stop", **params):
        super().__init__(task, seed, n_classes, epochs=epochs, batch_size=batch_size, lr=lr,
                         weight_decay=weight_decay, patience=patience, **params)
        if on_bad_image not in BAD_IMAGE:
            raise ConfigError(f"{type(self).__name__}: on_bad_image must be one of {list(BAD_IMAGE)}; got {on_bad_image!r}")
        self.cache_mb, self.on_bad_image = float(cache_mb), on_bad_image
        self.backbone, self.checkpoint, self.tta, self.dropout = backbone, checkpoint, int(tta), dropout
        self.columns = int(columns)
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(size) != 2:
            raise ConfigError(f"image_cnn: image_size must be [height, width] or one number; got {image_size!r}")
        self.image_size = tuple(int(s) for s in size)
        unknown = sorted(set(augment or {}) - set(AUGMENT))
        if unknown:
            raise ConfigError(f"image_cnn: augment has no key(s) {unknown}; it takes {sorted(AUGMENT)}")
        self.augment = {**AUGMENT, **(augment or {})}

    def fit(self, X, y, X_valid=None, y_valid=None, workdir=None):
        with _plain_worker_errors():
            return super().fit(X, y, X_valid, y_valid, workdir)

    def predict(self, X):
        with _plain_worker_errors():
            return super().predict(X)

    def build_network(self, X, y, out_dim):
        from common.torch_compat import ensure_torchvision

        ensure_torchvision()
        import timm

        pool = "" if self.columns else "avg"  # "": the feature map, pooled into columns by the heads
        if self.checkpoint:
            path = Path(self.checkpoint)
            if not path.is_file():
                raise ConfigError(f"image_cnn: checkpoint {path} not found; give a local weights file or null")
            backbone = timm.create_model(self.backbone, pretrained=True, num_classes=0, global_pool=pool,
                                         pretrained_cfg_overlay={"file": str(path)})
        else:
            backbone = timm.create_model(self.backbone, pretrained=False, num_classes=0, global_pool=pool)
        self.positions_ = int(y.shape[1]) if self.task == "sequence" else None
        return _position_heads(backbone, backbone.num_features, self.positions_, out_dim, self.dropout, self.columns)

    def make_dataset(self, X, y, training):
        targets = None if y is None else np.asarray(y, dtype=np.int64 if self.task != "binary" else np.float32)
        reader = getattr(self, "reader_", None)
        if reader is None or reader.size != self.image_size:  # one per model: a fit's folds and predictions share it
            reader = self.reader_ = ImageReader(self.image_size, self.cache_mb, self.on_bad_image,
                                                threads=max(1, int(self.num_workers or 0)))
        paths = image_paths(X)
        reader.preload(paths)
        boxes = None
        if training and self.augment["box_crop"]:
            boxes = union_boxes(self.annotations, X, paths, reader.original_size)
        return _Images(paths, targets, self._transform(training), augment=training, reader=reader, boxes=boxes,
                       box_crop=self.augment["box_crop"])

    def _transform(self, training: bool):
        import albumentations as A

        h, w = self.image_size
        steps = [A.Resize(h, w)]
        a = self.augment
        if training:
            if any(a[k] for k in ("scale", "translate", "rotate", "shear")):
                steps.append(A.Affine(scale=(1 - a["scale"], 1 + a["scale"]), translate_percent=(-a["translate"], a["translate"]),
                                      rotate=(-a["rotate"], a["rotate"]), shear=(-a["shear"], a["shear"]),
                                      border_mode=1, p=0.8))  # replicate the border: no black wedges to learn
            if a["color"]:
                c = a["color"]
                steps.append(A.ColorJitter(brightness=c, contrast=c, saturation=c, hue=min(0.5, c / 3), p=0.8))
            if a["blur"]:
                steps.append(A.GaussianBlur(blur_limit=(3, 5), p=a["blur"]))
        steps.append(A.Normalize(mean=MEAN, std=STD))
        return reseed(A.Compose(steps), self.seed)

    def tta_views(self, inputs):
        views = [inputs]
        if self.tta >= 2:
            views.append(_zoom(inputs, 1.06))
        if self.tta >= 3:
            views.append(_shift(inputs, max(1, inputs.shape[-1] // 32)))
        return views


def union_boxes(annotations, X, paths: list[str], size_of) -> np.ndarray | None:
    """Per row of X: the union of its digit boxes as (left, top, right, bottom) shares of the image (NaN where
    a row has no boxes), from the fold loop's annotations (mchar columns left/top/width/height, lists per row);
    None without them. `size_of(path)` gives an image's (width, height) (ImageReader.original_size)."""
    import pandas as pd

    if annotations is None or not isinstance(X, pd.DataFrame) or not {"left", "top", "width", "height"} <= set(annotations.columns):
        return None
    rows = annotations.reindex(X.index)
    out = np.full((len(X), 4), np.nan)
    for i, (path, left, top, w, h) in enumerate(zip(paths, rows["left"], rows["top"], rows["width"], rows["height"])):
        if not isinstance(left, (list, tuple, np.ndarray)) or len(left) == 0:
            continue
        width, height = size_of(path)
        left, top, w, h = (np.asarray(v, float) for v in (left, top, w, h))
        out[i] = [left.min() / width, top.min() / height, (left + w).max() / width, (top + h).max() / height]
    return np.clip(out, 0.0, 1.0)


def crop_around(pixels: np.ndarray, box: np.ndarray, margins: np.ndarray) -> np.ndarray:
    """`pixels` cropped to `box` (left, top, right, bottom shares) widened by `margins` (shares of the box's
    width and height: left, top, right, bottom), resized back to the same size. No box: unchanged."""
    import cv2

    if not np.all(np.isfinite(box)):
        return pixels
    h, w = pixels.shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    x0, x1 = int(max(0.0, box[0] - margins[0] * bw) * w), int(np.ceil(min(1.0, box[2] + margins[2] * bw) * w))
    y0, y1 = int(max(0.0, box[1] - margins[1] * bh) * h), int(np.ceil(min(1.0, box[3] + margins[3] * bh) * h))
    if x1 - x0 < 4 or y1 - y0 < 4:  # a box too small to crop to at this size
        return pixels
    return cv2.resize(pixels[y0:y1, x0:x1], (w, h), interpolation=cv2.INTER_LINEAR)


@contextmanager
def _plain_worker_errors():
    """A DataError raised in a loader worker comes back with the worker's traceback in its message: keep the
    message alone, so a bad file ends the stage with one line, as it does without workers."""
    try:
        yield
    except DataError as exc:
        text = str(exc)
        if "Original Traceback" not in text:
            raise
        last = [line for line in text.strip().splitlines() if "DataError:" in line]
        raise DataError(last[-1].split("DataError:", 1)[1].strip() if last else text) from None


def reseed(compose, seed: int):
    """Give each transform its own stream from `seed`. Not Compose(seed=...): albumentations 2.0 seeds every
    transform alike, so all fire together (both flips or neither) with the same draws."""
    for k, transform in enumerate(compose.transforms):
        transform.set_random_seed(int(np.random.SeedSequence([seed, k]).generate_state(1)[0]))
    return compose


def _zoom(x, factor: float):
    """The centre of the batch enlarged by `factor`, at the same size."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    big = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    top, left = (big.shape[-2] - h) // 2, (big.shape[-1] - w) // 2
    return big[..., top:top + h, left:left + w]


def _shift(x, pixels: int):
    """The batch moved right by `pixels`, the left edge repeated."""
    import torch.nn.functional as F

    return F.pad(x, (pixels, 0, 0, 0), mode="replicate")[..., : x.shape[-1]]
