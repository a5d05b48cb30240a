"""CRNN with CTC on the shared PyTorch trainer: a string read left to right, column by column.

A conv backbone turns the image into a feature map; its height is averaged away, leaving a sequence of
columns (image width / 4 for the built-in backbone); a bidirectional GRU (or LSTM) reads the columns and a
linear layer scores each column over the alphabet plus the CTC blank, trained with
`torch.nn.functional.ctc_loss` against the string, with no alignment to boxes or positions. Decoding is
greedy: each column's best class, repeats merged, blanks dropped.

To fit the kit's sequence kind, predictions are (n, positions, classes) per-position probabilities of the
decoded string: position k holds the mean softmax over the columns that decoded to the k-th character, the
positions after the string a certain blank (the kit's blank index, len(alphabet), doubles as the CTC blank).
Stage 07's blends and `string_accuracy` then take a CRNN run unchanged. Images are read, cached and augmented
as image_cnn reads them (common.models.torch.image).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from common.errors import ConfigError
from common.models.base import MODELS
from common.models.torch.image import ImageCNN


def _conv_backbone(channels: tuple[int, ...]):
    """Conv-BN-ReLU blocks; the first two halve height and width, the rest the height only (width / 4 columns)."""
    from torch import nn

    layers, before = [], 3
    for k, width in enumerate(channels):
        layers += [nn.Conv2d(before, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                   nn.MaxPool2d(2 if k < 2 else (2, 1))]
        before = width
    return nn.Sequential(*layers), before


def _timm_backbone(name: str, checkpoint: str | None):
    """A timm model's deepest feature map at most 8x narrower than the image (enough columns for 6 digits)."""
    from common.torch_compat import ensure_torchvision

    ensure_torchvision()
    import timm

    probe = timm.create_model(name, pretrained=False, features_only=True)
    index = max(i for i, r in enumerate(probe.feature_info.reduction()) if r <= 8)
    if checkpoint:
        if not Path(checkpoint).is_file():
            raise ConfigError(f"crnn_ctc: checkpoint {checkpoint} not found; give a local weights file or null")
        net = timm.create_model(name, pretrained=True, features_only=True, out_indices=(index,),
                                pretrained_cfg_overlay={"file": str(checkpoint)})
    else:
        net = timm.create_model(name, pretrained=False, features_only=True, out_indices=(index,))
    return net, net.feature_info.channels()[-1]


def _crnn(backbone, n_features: int, hidden: int, layers: int, rnn: str, classes: int, dropout: float, timm: bool):
    import torch.nn.functional as F
    from torch import nn

    class CRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = backbone
            kind = nn.GRU if rnn == "gru" else nn.LSTM
            self.rnn = kind(n_features, hidden, num_layers=layers, bidirectional=True, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
            self.dropout = nn.Dropout(dropout)
            self.head = nn.Linear(2 * hidden, classes)

        def forward(self, x):
            features = self.backbone(x)
            features = features[-1] if timm else features  # timm's features_only returns a list of maps
            columns = F.adaptive_avg_pool2d(features, (1, features.shape[-1])).squeeze(2).transpose(1, 2)
            out, _ = self.rnn(columns)
            return self.head(self.dropout(out))  # (batch, columns, classes)

    return CRNN()


@MODELS.register("crnn_ctc")
class CRNNCTC(ImageCNN):
    """CRNN + CTC over the digit string (sequence task only). `backbone`: "conv" (built in: conv blocks of
    `channels`, width / 4 columns) or a timm name (its deepest map at most 8x narrower than the image;
    `checkpoint` for local weights); `rnn`: "gru" or "lstm", `hidden` units each way, `layers`. Reads, caches
    and augments images as image_cnn does (image_size, augment, cache_mb, num_workers, on_bad_image, tta)."""

    tasks = ("sequence",)

    def __init__(self, task="sequence", seed=0, n_classes=None, backbone="conv", image_size=(32, 128),
                 channels=(32, 64, 128, 192), rnn="gru", hidden=128, layers=2, dropout=0.2, tta=1, epochs=20,
                 batch_size=32, lr=3e-3, **params):
        # from scratch, CTC sits on a plateau (every column blank) until enough large steps move it: with 64 and
        # 1e-3 a 3,000-image fit of 20 epochs had barely left it (0.06 whole-string accuracy), with 32 and 3e-3
        # it left it by epoch 6 (0.95)
        super().__init__(task, seed, n_classes, backbone=backbone, image_size=image_size, tta=tta, dropout=dropout,
                         epochs=epochs, batch_size=batch_size, lr=lr, **params)
        if rnn not in ("gru", "lstm"):
            raise ConfigError(f"crnn_ctc: rnn must be 'gru' or 'lstm'; got {rnn!r}")
        self.channels, self.rnn, self.hidden, self.layers = tuple(int(c) for c in channels), rnn, int(hidden), int(layers)

    def build_network(self, X, y, out_dim):
        if self.backbone == "conv":
            backbone, n_features = _conv_backbone(self.channels)
        else:
            backbone, n_features = _timm_backbone(self.backbone, self.checkpoint)
        self.positions_ = int(y.shape[1])
        return _crnn(backbone, n_features, self.hidden, self.layers, self.rnn, out_dim, float(self.dropout),
                     timm=self.backbone != "conv")

    def _export(self, loader, path):
        import warnings

        with warnings.catch_warnings():  # torch.export's note on the GRU's flattened weights: the export works
            warnings.filterwarnings("ignore", message="The tensor attributes self.rnn._flat_weights")
            super()._export(loader, path)

    def loss(self, out, target):
        """CTC between the column scores and each string (the codes before the first blank)."""
        import torch
        import torch.nn.functional as F

        blank = out.shape[-1] - 1
        target = target.long()
        kept = target != blank
        log_probs = out.float().log_softmax(-1).transpose(0, 1)  # (columns, batch, classes)
        columns = torch.full((out.shape[0],), out.shape[1], dtype=torch.long, device=out.device)
        return F.ctc_loss(log_probs, target[kept], columns, kept.sum(1), blank=blank, zero_infinity=True)

    def to_prediction(self, out):
        """Greedy CTC decoding, as (batch, positions, classes) probabilities of the decoded string."""
        import torch

        probs = torch.softmax(out.float(), dim=-1).numpy()
        return torch.from_numpy(decode_ctc(probs, self.positions_))


def decode_ctc(probs: np.ndarray, positions: int) -> np.ndarray:
    """(n, columns, classes) column probabilities (blank last) -> (n, positions, classes): the k-th decoded
    character's position holds the mean of the columns that decoded to it; later positions a certain blank.
    A string longer than `positions` is cut."""
    n, _, classes = probs.shape
    blank = classes - 1
    out = np.zeros((n, positions, classes), dtype=probs.dtype)
    out[..., blank] = 1.0
    best = probs.argmax(-1)
    for row in range(n):
        runs: list[list[int]] = []  # the columns of each decoded character
        previous = blank
        for column, code in enumerate(best[row]):
            if code != blank:
                if code == previous:
                    runs[-1].append(column)
                else:
                    runs.append([column])
            previous = code
        for k, columns in enumerate(runs[:positions]):
            out[row, k] = probs[row, columns].mean(0)
    return out
