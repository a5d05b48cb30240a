"""Bad image input: every fault named with its file or entry and the fix, at stage 01/03 where the data is read;
a file damaged later is skipped (reported once) or stops the fit, as `on_bad_image` says. The decoded-image cache."""
import json
import warnings

import numpy as np
import pytest

from common.data.images import attach_image_sizes, read_mchar_labels
from common.errors import ConfigError, DataError
from common.models.torch.image import ImageReader


@pytest.fixture
def split(tmp_path):
    """Eight generated training images and their label file."""
    from common.data.datasets.streetchar import write_split

    folder, labels = write_split(tmp_path, "train", 8, seed=5)
    return folder, labels


def _edit(labels, name, **entry):
    raw = json.loads(labels.read_text())
    raw[name].update(entry)
    labels.write_text(json.dumps(raw))


def test_good_files_pass(split):
    folder, labels = split
    frame = attach_image_sizes(read_mchar_labels(labels), folder, "train", labels)
    assert len(frame) == 8 and (frame["image_width"] > 0).all()


def test_an_entry_without_its_image_names_both(split):
    folder, labels = split
    (folder / "000003.png").unlink()
    with pytest.raises(DataError, match=r"train images missing from .*mchar_train: \['000003.png'\] \(1 of 8 listed in "
                                        r".*mchar_train.json\).*remove those entries from .*mchar_train.json"):
        attach_image_sizes(read_mchar_labels(labels), folder, "train", labels)


def test_an_image_without_an_entry_is_named(split):
    folder, labels = split
    (folder / "000002.png").rename(folder / "extra.png")
    (folder / "000002.png").write_bytes((folder / "extra.png").read_bytes())
    with pytest.raises(DataError, match=r"without an entry in .*mchar_train.json: \['extra.png'\] \(1 files\). Add "
                                        r"their entries .* or move those files out"):
        attach_image_sizes(read_mchar_labels(labels), folder, "train", labels)


@pytest.mark.parametrize("damage", ["not an image", "truncated"])
def test_a_corrupt_image_is_named(split, damage):
    folder, labels = split
    png = folder / "000005.png"
    png.write_bytes(b"not a png" if damage == "not an image" else png.read_bytes()[:200])
    with pytest.raises(DataError, match=r"cannot be read as images: \[.000005.png \(.*\(1 of 8\)\. Unpack them again"):
        attach_image_sizes(read_mchar_labels(labels), folder, "train", labels)


def test_a_box_outside_the_image_is_named_and_one_past_the_edge_is_kept(split):
    folder, labels = split
    _edit(labels, "000001.png", left=[-1] * len(json.loads(labels.read_text())["000001.png"]["left"]))
    attach_image_sizes(read_mchar_labels(labels), folder, "train", labels)  # as in the real files: kept
    n = len(json.loads(labels.read_text())["000004.png"]["left"])
    _edit(labels, "000004.png", left=[5000] * n)
    with pytest.raises(DataError, match=r"lie wholly outside their image: \['000004.png digit 0 \(left 5000.*"
                                        r"does not match these images"):
        attach_image_sizes(read_mchar_labels(labels), folder, "train", labels)


def test_labels_outside_0_9_and_empty_boxes_name_the_entry(split):
    _, labels = split
    n = len(json.loads(labels.read_text())["000006.png"]["label"])
    _edit(labels, "000006.png", label=[10] * n)
    with pytest.raises(DataError, match=r"entry '000006.png': labels must be digits 0-9; got \[10.*write the digit 0 "
                                        r"as 10: map 10 to 0"):
        read_mchar_labels(labels)
    _edit(labels, "000006.png", label=[1] * n, width=[0] * n)
    with pytest.raises(DataError, match=r"entry '000006.png': box width and height must be positive"):
        read_mchar_labels(labels)


def test_the_reader_stops_or_skips_a_bad_file_once(split):
    folder, _ = split
    (folder / "000005.png").write_bytes(b"broken")
    paths = [str(p) for p in sorted(folder.glob("*.png"))]
    with pytest.raises(DataError, match=r"000005.png cannot be read as an image.*on_bad_image: skip"):
        ImageReader((16, 32), on_bad_image="stop")(paths[5])
    reader = ImageReader((16, 32), on_bad_image="skip")
    with pytest.warns(UserWarning, match=r"skipping unreadable image .*000005.png") as caught:
        reader.preload(paths)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            reader(paths[5]), reader.decode(paths[5])
    assert len([w for w in caught if "000005" in str(w.message)]) == 1 and reader.bad == [paths[5]]
    assert reader(paths[5]).shape == (16, 32, 3) and (reader(paths[5]) == 127).all()


def test_the_cache_decodes_once_within_its_budget(split):
    folder, _ = split
    paths = [str(p) for p in sorted(folder.glob("*.png"))]
    reader = ImageReader((16, 32), cache_mb=1, threads=2)
    reader.preload(paths)
    assert set(reader.cache) == set(paths) and reader(paths[0]) is reader.cache[paths[0]]
    np.testing.assert_array_equal(reader(paths[3]), reader.decode(paths[3]))
    small = ImageReader((16, 32), cache_mb=7 * 16 * 32 * 3 / 2**20)  # room for 7 of the 8
    small.preload(paths)
    assert not small.cache and small(paths[0]).shape == (16, 32, 3)
    off = ImageReader((16, 32), cache_mb=0)
    off.preload(paths)
    assert not off.cache


def _rows(split):
    """The split's image paths and sequence codes, as the fold loop hands them to an image model."""
    import pandas as pd

    from common.data.sequence import encode_sequences

    folder, labels = split
    frame = read_mchar_labels(labels)
    X = pd.DataFrame({"image_path": [str(folder / n) for n in frame["file_name"]]})
    return X, encode_sequences(frame["label"], tuple("0123456789"), positions=4)


def _image_cnn(**params):
    from common.config import Component
    from common.models import create_model

    params = {"image_size": [32, 64], "epochs": 1, "batch_size": 4, "export": False, **params}
    return create_model(Component(name="image_cnn", params=params), "sequence", seed=0, n_classes=11)


def test_a_fit_skips_a_corrupt_image_or_stops_naming_it(split):
    folder, _ = split
    X, y = _rows(split)
    (folder / "000005.png").write_bytes(b"broken")
    make = _image_cnn
    with pytest.raises(DataError, match="000005.png cannot be read"):
        make().fit(X, y)
    with pytest.warns(UserWarning, match="skipping unreadable image .*000005.png"):
        assert make(on_bad_image="skip").fit(X, y).predict(X).shape == (8, 4, 11)
    with pytest.raises(ConfigError, match="on_bad_image must be one of \\['stop', 'skip'\\]; got 'drop'"):
        make(on_bad_image="drop")


def test_a_bad_file_met_in_a_loader_worker_gives_one_line(split):
    folder, _ = split
    X, y = _rows(split)
    (folder / "000002.png").write_bytes(b"broken")
    with pytest.raises(DataError) as caught:
        _image_cnn(cache_mb=0, num_workers=1).fit(X, y)
    assert str(caught.value).startswith("image ") and "000002.png cannot be read" in str(caught.value)
    assert "Traceback" not in str(caught.value)
