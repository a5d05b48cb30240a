"""The CRNN + CTC model on generated street-chars images: it fits, predicts the kit's per-position shape and decodes
to strings; greedy CTC decoding on hand-made column scores; its loss is CTC's.

(The registry-wide tests in test_models.py feed tabular rows, which an image model does not read.)
"""
import numpy as np
import pytest

from common.config import Component
from common.data.sequence import decode_sequences
from common.errors import ConfigError
from common.models import create_model
from common.models.torch.crnn import decode_ctc
from tests.common.test_torch_image import DIGITS, images  # noqa: F401 (the 24 + 8 image fixture)

TINY = {"image_size": [32, 64], "channels": [8, 16, 16], "hidden": 16, "layers": 1, "epochs": 2, "batch_size": 8}


def _model(**params):
    return create_model(Component(name="crnn_ctc", params={**TINY, **params}), "sequence", seed=0, n_classes=11)


def test_fits_predicts_per_position_probabilities_and_decodes_to_strings(images, tmp_path):  # noqa: F811
    X, y, Xv, yv = images
    model = _model(lr=3e-3).fit(X, y, Xv, yv, workdir=tmp_path)
    pred = model.predict(Xv)
    assert pred.shape == (8, 4, 11) and model.info["monitor"] == "val_loss" and "export" not in model.info, model.info
    np.testing.assert_allclose(pred.sum(axis=-1), 1, atol=1e-5)
    strings = decode_sequences(pred, DIGITS)
    assert len(strings) == 8 and all(isinstance(s, str) and len(s) <= 4 and s.isdigit() or s == "" for s in strings)
    out = model.net_(model._loader(Xv, None, training=False).dataset[0][0][None])
    assert out.shape == (1, 64 // 4, 11)  # one score row per column: width / 4


def test_greedy_decoding_merges_repeats_and_drops_blanks():
    blank, classes = 3, 4  # alphabet "abc" + the blank
    path = [0, 0, 3, 0, 1, 1, 3, 3, 2]  # "a a _ a b b _ _ c" -> "aabc"
    probs = np.full((1, len(path), classes), 0.1)
    probs[0, np.arange(len(path)), path] = 0.7
    probs[0, 1, 1] = 0.2  # the second column of the first "a" is less sure: its position averages both
    probs /= probs.sum(-1, keepdims=True)
    out = decode_ctc(probs, positions=6)
    assert "".join(decode_sequences(out, tuple("abc"))) == "aabc"
    np.testing.assert_allclose(out[0, 0], probs[0, :2].mean(0))
    np.testing.assert_allclose(out[0, 4:], np.eye(classes)[[blank, blank]])
    assert decode_sequences(decode_ctc(probs, positions=2), tuple("abc"))[0] == "aa"  # cut to the positions


def test_the_loss_is_ctc_and_ignores_the_blank_padding():
    import torch
    import torch.nn.functional as F

    model = _model()
    out = torch.randn(2, 10, 11)
    target = torch.tensor([[1, 2, 10, 10], [7, 10, 10, 10]])
    expected = F.ctc_loss(out.log_softmax(-1).transpose(0, 1), torch.tensor([1, 2, 7]), torch.tensor([10, 10]),
                          torch.tensor([2, 1]), blank=10)
    torch.testing.assert_close(model.loss(out, target), expected)


def test_a_timm_backbone_and_bad_params(images):  # noqa: F811
    X, y, _, _ = images
    net = _model(backbone="resnet18").build_network(X, y, 11)
    import torch

    assert net(torch.rand(2, 3, 32, 64)).shape == (2, 64 // 8, 11)  # resnet18's stride-8 map: width / 8 columns
    with pytest.raises(ConfigError, match="rnn must be 'gru' or 'lstm'; got 'rnn'"):
        _model(rnn="rnn")
    with pytest.raises(ConfigError, match="crnn_ctc: checkpoint .*gone.pth not found"):
        _model(backbone="resnet18", checkpoint="gone.pth").build_network(X, y, 11)
