"""The street chars contest on generated data in the real format: every stage, the image model, a valid submission."""
import pandas as pd

from common.data.datasets.streetchar import write_street_chars
from tests.conftest import REPO, copy_contest, run_script

STREET = REPO / "competitions" / "street_chars"
# the contest's models at test size: the image network small enough to train in seconds on a CPU
TINY = [{"name": "image_cnn", "params": {"backbone": "resnet18", "image_size": [32, 64], "epochs": 2,
                                         "batch_size": 16, "tta": 3}},
        {"name": "crnn_ctc", "params": {"image_size": [32, 64], "channels": [8, 16, 16], "hidden": 16, "layers": 1,
                                        "epochs": 2, "batch_size": 16}},
        {"name": "per_position", "label": "per_position_logistic"}]


def test_all_seven_stages_on_generated_street_chars(tmp_path):
    root = copy_contest(STREET, tmp_path / "sc", models=TINY)
    write_street_chars(root / "data" / "raw", seed=1, n_train=48, n_val=16, n_test=12)
    result = run_script(REPO / "common" / "cli.py", "run", str(root), timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    card = (root / "reports" / "task_card.md").read_text()
    assert "| image_path | image |" in card and "| left | annotation |" in card
    submission = pd.read_csv(root / "submissions" / "submission.csv", dtype=str, keep_default_na=False)
    sample = pd.read_csv(root / "data" / "raw" / "mchar_sample_submit_A.csv", dtype=str)
    assert list(submission.columns) == ["file_name", "file_code"]
    assert submission["file_name"].tolist() == sample["file_name"].tolist()  # every test image, in sample order
    assert submission["file_code"].str.fullmatch(r"[0-9]{0,6}").all()  # digit strings, leading zeros kept
    table = pd.read_csv(root / "reports" / "ensemble_comparison.csv")
    assert table["strategy"].str.contains("image_cnn").any() and table["strategy"].str.contains("crnn_ctc").any()


def test_annotations_never_reach_a_model(tmp_path):
    """The digit boxes are in the train JSON only; the fold loop hands no model any of them, whatever it takes."""
    from common.contest import Contest
    from common.data.images import ANNOTATIONS
    from common.models import MODELS
    from common.models.base import model_inputs

    root = copy_contest(STREET, tmp_path / "sc")
    write_street_chars(root / "data" / "raw", n_train=12, n_val=6, n_test=4)
    fs = Contest.load(root).features(log=lambda _: None)
    assert set(fs.annotations.columns) == set(ANNOTATIONS) and not set(ANNOTATIONS) & set(fs.X.columns)
    for takes in {MODELS.get(name)().takes for name in MODELS.list()} | {frozenset({"numeric", "categorical",
                                                                                  "text", "image"})}:
        seen = model_inputs(fs.X, takes)
        assert not set(ANNOTATIONS) & set(seen.columns) and "file_code" not in seen.columns, takes
    assert list(model_inputs(fs.X, frozenset({"image"})).columns) == ["image_path"]
