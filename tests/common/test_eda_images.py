"""Stage 02 for image contests: every section, the grid/sizes/digit counts match the generated JSON and
PNGs, the report without images, clear errors for bad JSON and missing images; the street-char
generator's files and statistics."""
import json
import re

import numpy as np
import pytest
import yaml
from PIL import Image

from common.contest import Contest
from common.data.datasets import GENERATORS
from common.data.datasets.streetchar import DIGIT_P, N_DIGITS_P, make_labels
from common.reports.eda import eda_report
from common.errors import DataError
from common.data.images import boxes_frame, read_mchar_labels
from tests.conftest import SHARED_DATA, section_rows

SECTIONS = ["Overview", "Sample images", "Image sizes", "Digits per image", "Digit class balance", "Box sizes",
            "Label strings"]
PNGS = ["eda_image_boxes.png", "eda_image_digit_classes.png", "eda_image_digit_counts.png", "eda_image_samples.png",
        "eda_image_sizes.png"]
N_TRAIN, N_VAL, N_TEST = 60, 20, 20
CONFIG = {
    "competition": {"name": "street_chars", "task": "multiclass", "metric": "string_accuracy", "platform": "tianchi"},
    "data": {"train": "data/raw/mchar_train.json", "test": "data/raw/mchar_sample_submit_A.csv", "target": "label",
             "id_column": "file_name", "modality": "image", "image_dir": "data/raw/mchar_train",
             "test_image_dir": "data/raw/mchar_test_a"},
    "models": [{"name": "logistic"}],
}


def _contest(root, **data):
    GENERATORS.create("street_chars", root / "data" / "raw", seed=0, n_train=N_TRAIN, n_val=N_VAL, n_test=N_TEST)
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["data"].update(data)
    config["data"] = {k: v for k, v in config["data"].items() if v is not None}
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return Contest.load(root)


@pytest.fixture(scope="module")
def chars(tmp_path_factory):
    """(contest, report path, label JSON): one generated contest and its report, shared by the tests."""
    contest = _contest(tmp_path_factory.mktemp("chars"))
    labels = json.loads(contest.path("data/raw/mchar_train.json").read_text())
    return contest, eda_report(contest), labels



def test_report_has_every_section_and_plot(chars):
    _, path, _ = chars
    page = path.read_text()
    assert re.findall(r"<h2>(.*?)</h2>", page) == SECTIONS
    assert sorted(p.name for p in path.parent.glob("eda_*.png")) == PNGS
    assert page.count("data:image/png;base64,") == len(PNGS) and 'src="http' not in page


def test_frames_sizes_and_tables_match_the_generated_files(chars):
    contest, path, labels = chars
    train, test = contest.load_raw()
    assert train["file_name"].tolist() == list(labels) and len(test) == N_TEST
    assert train["label"].tolist() == ["".join(map(str, v["label"])) for v in labels.values()]
    root = contest.path("data/raw")
    actual = [Image.open(root / "mchar_train" / name).size for name in train["file_name"]]
    assert list(zip(train["image_width"], train["image_height"])) == actual == make_labels(N_TRAIN, [0, 0])[1]
    assert (boxes_frame(train)["left"] >= 0).all() and (boxes_frame(train).eval("left + width") <= np.repeat(
        train["image_width"], train["n_digits"]).to_numpy()).all()

    page = path.read_text()
    counts = np.bincount([len(v["label"]) for v in labels.values()], minlength=7)[1:]
    rows = section_rows(page, "Digits per image")
    assert [int(r[1]) for r in rows] == counts[: len(rows)].tolist() and counts[len(rows):].sum() == 0
    digits = np.bincount(np.concatenate([v["label"] for v in labels.values()]), minlength=10)
    assert [int(r[1]) for r in section_rows(page, "Digit class balance")] == digits.tolist()
    sizes = {(r[0], r[1]): r for r in section_rows(page, "Image sizes")}
    assert float(sizes["train", "width (image)"][5]) == np.median([w for w, _ in actual])
    assert float(sizes["test", "height (image)"][3]) == min(
        Image.open(root / "mchar_test_a" / f"{i:06d}.png").size[1] for i in range(N_TEST))
    assert "Random training images with their digit boxes" in page


def test_report_from_labels_alone_skips_the_grid(tmp_path):
    contest = _contest(tmp_path / "c", image_dir=None, test_image_dir=None, test="data/raw/mchar_val.json")
    page = eda_report(contest).read_text()
    assert "the sample grid is skipped" in page and "box extent" in page
    assert not (contest.reports_dir / "eda_image_samples.png").exists()
    digits = section_rows(page, "Digits per image")
    assert sum(int(r[3]) for r in digits) == N_VAL  # the labelled test split gets its own column


def test_bad_json_and_missing_images_give_clear_errors(tmp_path):
    contest = _contest(tmp_path / "c")
    path = contest.path("data/raw/mchar_train.json")
    labels = json.loads(path.read_text())

    path.write_text('{"000000.png": {"height": [3]')
    with pytest.raises(DataError, match=r"train label file .*mchar_train.json is not valid JSON"):
        contest.load_raw()
    broken = dict(labels)
    broken["000004.png"] = {k: v for k, v in labels["000004.png"].items() if k != "width"}
    path.write_text(json.dumps(broken))
    with pytest.raises(DataError, match=r"entry '000004.png' lacks key\(s\) \['width'\]"):
        contest.load_raw()
    broken["000004.png"] = {**labels["000004.png"], "left": [1, 2, 3, 4, 5, 6, 7]}
    path.write_text(json.dumps(broken))
    with pytest.raises(DataError, match=r"entry '000004.png': the lists differ in length"):
        contest.load_raw()
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(DataError, match="must hold a non-empty mapping"):
        contest.load_raw()

    path.write_text(json.dumps(labels))
    (contest.path("data/raw/mchar_train") / "000007.png").unlink()
    with pytest.raises(DataError, match=r"train images missing from .*mchar_train: \['000007.png'\] \(1 of 60"):
        contest.load_raw()
    contest = _contest(tmp_path / "d", test_image_dir="data/raw/no_such_folder")
    with pytest.raises(DataError, match=r"test image folder not found: .*no_such_folder.*data.test_image_dir"):
        contest.load_raw()


def test_street_chars_generator_files_and_statistics(tmp_path):
    paths = GENERATORS.create("street_chars", tmp_path, seed=1, n_train=5, n_val=3, n_test=2)
    assert [p.name for p in paths] == ["mchar_train", "mchar_train.json", "mchar_val", "mchar_val.json",
                                       "mchar_test_a", "mchar_test_a.json", "mchar_sample_submit_A.csv"]
    assert sorted(p.name for p in (tmp_path / "mchar_train").iterdir()) == [f"{i:06d}.png" for i in range(5)]
    assert (tmp_path / "mchar_sample_submit_A.csv").read_text().splitlines() == [
        "file_name,file_code", "000000.png,0", "000001.png,0"]
    entry = json.loads((tmp_path / "mchar_val.json").read_text())["000000.png"]
    assert sorted(entry) == ["height", "label", "left", "top", "width"]

    labels, sizes = make_labels(3_000, seed=5)
    frame = read_mchar_labels(tmp_path / "mchar_train.json")  # the reader takes the generator's files
    assert len(frame) == 5
    n = np.bincount([len(v["label"]) for v in labels.values()], minlength=7)[1:] / 3_000
    assert np.abs(n - N_DIGITS_P).max() < 0.03  # real: 15 / 54 / 26 / 4 % for 1 / 2 / 3 / 4 digits
    digits = np.bincount(np.concatenate([v["label"] for v in labels.values()]), minlength=10)
    assert digits.argmax() == 1 and np.abs(digits / digits.sum() - DIGIT_P).max() < 0.02
    heights = np.array([v["height"][0] for v in labels.values()])
    assert 26 <= np.median(heights) <= 34 and heights.min() >= 9  # real median 30
    for v, (w, h) in zip(labels.values(), sizes):
        assert max(np.add(v["left"], v["width"])) <= w and max(np.add(v["top"], v["height"])) <= h


@pytest.mark.skipif(not (SHARED_DATA / "streetchar").is_dir(), reason="real street-char labels not at ../shared/data")
def test_reader_on_the_real_label_file():
    frame = read_mchar_labels(SHARED_DATA / "streetchar" / "mchar_train.json")
    assert len(frame) == 30_000
    assert np.bincount(frame["n_digits"]).tolist() == [0, 4636, 16262, 7813, 1280, 8, 1]
    assert frame["label"].iloc[0] == "19" and len(boxes_frame(frame)) == frame["n_digits"].sum()


def test_image_report_renders_in_a_real_browser(chars, browser_check):
    _, path, _ = chars
    page = browser_check(path).assert_ok(min_images=5)
    assert page.n_images == 5 and page.title == "EDA: street_chars"
