"""The image model on generated street-chars images: output shapes per task, TTA, checkpoints, clear errors.

(The registry-wide tests in test_models.py feed tabular rows, which an image model does not read.)
"""
import numpy as np
import pandas as pd
import pytest

from common.config import Component
from common.errors import ConfigError, DataError
from common.data.images import read_mchar_labels
from common.models import create_model
from common.data.sequence import encode_sequences

TINY = {"image_size": [32, 64], "epochs": 2, "batch_size": 8}
DIGITS = tuple("0123456789")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """(X, sequence codes) for 24 training and 8 validation images of the street-chars generator."""
    from common.data.datasets.streetchar import write_split

    root = tmp_path_factory.mktemp("sc")
    out = []
    for split, n in (("train", 24), ("val", 8)):
        folder, labels = write_split(root, split, n, seed=[3, n])
        frame = read_mchar_labels(labels)
        X = pd.DataFrame({"image_path": [str(folder / name) for name in frame["file_name"]]})
        X.attrs["roles"] = {"image_path": "image"}
        out += [X, encode_sequences(frame["label"], DIGITS, positions=4)]
    return out


def _model(task="sequence", n_classes=11, **params):
    return create_model(Component(name="image_cnn", params={**TINY, **params}), task, seed=0, n_classes=n_classes)


def test_sequence_fit_predicts_per_position_probabilities(images, tmp_path):
    X, y, Xv, yv = images
    model = _model().fit(X, y, Xv, yv, workdir=tmp_path)
    pred = model.predict(Xv)
    assert pred.shape == (8, 4, 11) and model.positions_ == 4 and model.net_.head.in_features == 512 * 4
    np.testing.assert_allclose(pred.sum(axis=-1), 1, atol=1e-5)


def test_multiclass_fit_predicts_class_probabilities(images):
    X, y, Xv, yv = images
    n_digits = (y != 10).sum(axis=1) - 1  # how many digits (0-3): a per-image class
    model = _model("multiclass", 4, columns=0)  # timm's global average pool instead of column bins
    pred = model.fit(X, n_digits, Xv, (yv != 10).sum(axis=1) - 1).predict(Xv)
    assert pred.shape == (8, 4) and model.net_.head.in_features == 512
    np.testing.assert_allclose(pred.sum(axis=1), 1, atol=1e-5)


def test_tta_views_keep_the_shape_and_change_the_average(images):
    import torch

    X, y, Xv, _ = images
    model = _model(tta=3, epochs=1).fit(X, y)
    batch = torch.rand(2, 3, 32, 64)
    views = model.tta_views(batch)
    assert len(views) == 3 and all(v.shape == batch.shape for v in views)
    with_tta = model.predict(Xv)
    model.tta = 1
    assert len(model.tta_views(batch)) == 1
    plain = model.predict(Xv)
    assert with_tta.shape == plain.shape == (8, 4, 11) and not np.allclose(with_tta, plain)


def test_augmentations_follow_the_params_and_never_flip(images):
    model = _model(augment={"rotate": 0, "blur": 0})
    names = [type(t).__name__ for t in model._transform(training=True).transforms]
    assert "HorizontalFlip" not in names and "GaussianBlur" not in names and "Affine" in names
    assert [type(t).__name__ for t in model._transform(training=False).transforms] == ["Resize", "Normalize"]
    with pytest.raises(ConfigError, match="augment has no key.*'flip'"):
        _model(augment={"flip": 0.5})


def test_augmentations_are_independent_and_follow_torch_rng(images):
    import albumentations as A
    import torch

    from common.models.torch.image import reseed

    flips = reseed(A.Compose([A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)], save_applied_params=True), 0)
    img = np.zeros((4, 4, 3), np.uint8)
    fired = [tuple(name for name, _ in flips(image=img)["applied_transforms"]) for _ in range(40)]
    assert ("HorizontalFlip",) in fired and ("VerticalFlip",) in fired  # not all-or-nothing
    X, y, _, _ = images
    data = _model().make_dataset(X, y, training=True)
    draw = lambda seed: (torch.manual_seed(seed), data[0][0])[1]  # noqa: E731
    torch.testing.assert_close(draw(1), draw(1))
    assert not torch.allclose(draw(1), draw(2))


def test_a_local_checkpoint_initialises_the_backbone(images, tmp_path):
    import timm
    import torch

    from common.torch_compat import ensure_torchvision

    ensure_torchvision()
    source = timm.create_model("resnet18", pretrained=False, num_classes=10)
    torch.save(source.state_dict(), tmp_path / "resnet18.pth")
    X, y, _, _ = images
    net = _model(checkpoint=str(tmp_path / "resnet18.pth")).build_network(X, y, 11)
    torch.testing.assert_close(net.backbone.conv1.weight, source.conv1.weight)
    with pytest.raises(ConfigError, match="checkpoint .*missing.pth not found"):
        _model(checkpoint=str(tmp_path / "missing.pth")).build_network(X, y, 11)


def test_a_missing_or_corrupt_image_names_the_file(images, tmp_path):
    X, y, _, _ = images
    bad = X.copy()
    bad.iloc[3, 0] = str(tmp_path / "gone.png")
    with pytest.raises(DataError, match="gone.png not found"):
        _model().fit(bad, y)
    (tmp_path / "corrupt.png").write_bytes(b"not a png")
    bad.iloc[3, 0] = str(tmp_path / "corrupt.png")
    with pytest.raises(DataError, match="corrupt.png cannot be read"):
        _model().fit(bad, y)


def test_a_crop_around_the_boxes_never_cuts_a_digit():
    from common.models.torch.image import crop_around

    pixels = np.zeros((40, 80, 3), np.uint8)
    pixels[10:30, 20:60] = 255  # the digits: (left, top, right, bottom) = (0.25, 0.25, 0.75, 0.75) of the image
    box = np.array([0.25, 0.25, 0.75, 0.75])
    for margins in (np.zeros(4), np.full(4, 0.3), np.array([0.0, 0.3, 0.1, 0.0])):
        out = crop_around(pixels, box, margins)
        assert out.shape == pixels.shape
        white = np.argwhere(out[..., 0] > 127)
        # the whole white block is still there, touching the edges only where the margin is zero
        assert (white[:, 0].min() == 0) == (margins[1] == 0) and (white[:, 1].min() == 0) == (margins[0] == 0)
        assert (white[:, 0].max() == 39) == (margins[3] == 0) and (white[:, 1].max() == 79) == (margins[2] == 0)
    np.testing.assert_array_equal(crop_around(pixels, np.full(4, np.nan), np.zeros(4)), pixels)  # no boxes


def test_the_fold_loop_hands_the_training_rows_boxes_which_the_crop_reads(tmp_path):
    """Annotations (digit boxes) reach the image model's training as `model.annotations`, never as inputs."""
    from common.contest import Contest
    from common.data.datasets.streetchar import write_street_chars
    from common.models.torch.image import union_boxes
    from common.runs.train import fit_fold
    from tests.conftest import REPO, copy_contest

    root = copy_contest(REPO / "competitions" / "street_chars", tmp_path / "sc")
    write_street_chars(root / "data" / "raw", n_train=16, n_val=8, n_test=4)
    contest = Contest.load(root)
    fs, folds = contest.features(log=lambda _: None), contest.folds()
    tr, va = next(folds.splits())
    fit = fit_fold(Component(name="image_cnn", params={**TINY, "epochs": 1}), fs.X, fs.y, tr, va,
                   contest.cv(fs, folds), annotations=fs.annotations)
    assert list(fit.model.annotations.index) == list(fs.X.index[tr])
    assert not set(fs.annotations.columns) & set(fit.X_train.columns)  # boxes guide training, never predict
    boxes = union_boxes(fit.model.annotations, fit.X_train, fit.X_train["image_path"].tolist(),
                        fit.model.reader_.original_size)
    assert boxes.shape == (len(tr), 4) and np.isfinite(boxes).all()
    assert (boxes[:, 0] < boxes[:, 2]).all() and (boxes[:, 1] < boxes[:, 3]).all()


def test_image_models_ask_for_channels_last_which_the_engine_gives_on_a_gpu_only(images):
    import torch

    from common.models.torch import engine

    image, mlp = _model(), create_model(Component(name="mlp"), "regression")
    assert engine.memory_format(image, torch.device("cuda")) is torch.channels_last
    assert engine.memory_format(image, torch.device("cpu")) is torch.contiguous_format
    assert engine.memory_format(mlp, torch.device("cuda")) is torch.contiguous_format
    X, y, _, _ = images
    model = _model(epochs=1).fit(X[:8], y[:8])  # on this CPU: the default layout, batches passed as they are
    batch = torch.zeros(2, 3, 32, 64)
    assert model.memory_format_ is torch.contiguous_format and model._formatted(batch) is batch
    model.memory_format_ = torch.channels_last  # what a GPU fit sets
    assert model._formatted(batch).is_contiguous(memory_format=torch.channels_last)
