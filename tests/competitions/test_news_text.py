"""The news text contest on generated data in the real format: every stage, a text model, a valid submission."""
import pandas as pd

from common.datasets import GENERATORS
from tests.conftest import REPO, copy_contest, run_script

NEWS = REPO / "competitions" / "news_text"


def test_all_seven_stages_on_generated_news(tmp_path):
    root = copy_contest(NEWS, tmp_path / "news")
    GENERATORS.create("news_text", root / "data" / "raw", seed=1, n_train=420, n_test=80)
    result = run_script(REPO / "common" / "cli.py", "run", str(root), timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    card = (root / "reports" / "task_card.md").read_text()
    assert "| text | text |" in card  # the documents reach the model as text, not as a category
    submission = pd.read_csv(root / "submissions" / "submission.csv")
    assert list(submission.columns) == ["label"] and len(submission) == 80
    assert submission["label"].between(0, 13).all()
    table = pd.read_csv(root / "reports" / "ensemble_comparison.csv")
    assert table["cv_score"].max() > 0.4  # 14 classes with a planted signal: far above chance (~0.07)
