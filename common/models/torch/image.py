"""Image models on the shared PyTorch trainer: a timm backbone with one linear head per position.

Takes the image role (the `image_path` column common.data.images adds); each image is read with PIL, resized
to `image_size`, augmented in training (albumentations: affine, colour, blur; never a horizontal flip, which
would turn a house number into another one) and normalised. For a sequence target (street chars) the head
predicts every position's character or blank; for a multiclass one, one class per image.

CPU-sized by default (resnet18, 64x128, no pretrained weights: nothing is downloaded). `checkpoint` names a
local weights file for the backbone (timm's format, .pth or .safetensors; its classifier is dropped).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from common.errors import ConfigError, DataError
from common.models.base import MODELS
from common.models.torch.trainer import TorchModel

#: training augmentation strengths; 0 turns one off (`augment: {rotate: 0}`)
AUGMENT = {"scale": 0.1, "translate": 0.05, "rotate": 8.0, "shear": 6.0, "color": 0.3, "blur": 0.2}
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


def read_image(path: str) -> np.ndarray:
    """An image as an RGB uint8 array; a missing or unreadable file is a DataError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"image {path} not found: unpack the contest's images there or fix data.image_dir") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"image {path} cannot be read as an image ({exc}); unpack it again") from None


class _Images:
    """A torch-style dataset of (CHW float tensor, target) read from files on demand. With `augment`, each
    item's augmentations are drawn from torch's RNG (which the engine seeds, checkpoints and gives each
    loader worker its own of), so a seed, a resumed fit and several workers all draw reproducibly."""

    def __init__(self, paths, targets, transform, augment: bool):
        self.paths, self.targets, self.transform, self.augment = paths, targets, transform, augment

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        import torch

        if self.augment:
            reseed(self.transform, int(torch.randint(0, 2**31 - 1, ())))
        pixels = self.transform(image=read_image(self.paths[i]))["image"]
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
    ViT). `tta`: views averaged at predict (1 = none, 2 = + a slight zoom, 3 = + a small shift)."""

    tasks = ("binary", "multiclass", "sequence")
    takes = frozenset({"image"})

    def __init__(self, task="sequence", seed=0, n_classes=None, backbone="resnet18", image_size=(64, 128),
                 checkpoint=None, columns=4, augment=None, tta=2, dropout=0.2, epochs=20, batch_size=64, lr=1e-3,
                 weight_decay=1e-4, patience=5, **params):
        super().__init__(task, seed, n_classes, epochs=epochs, batch_size=batch_size, lr=lr,
                         weight_decay=weight_decay, patience=patience, **params)
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
        return _Images(image_paths(X), targets, self._transform(training), augment=training)

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
