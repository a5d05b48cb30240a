"""The news text contest on generated data in the real format: every stage, the text models (TF-IDF and
torch), a valid submission."""
import pandas as pd
import yaml

from common.data.datasets import GENERATORS
from tests.conftest import REPO, copy_contest, run_script

NEWS = REPO / "competitions" / "news_text"


# the contest's own models, fastText cut to keep the test near half a minute on a shared CPU
SMALLER = {"fasttext": {"max_len": 256}}


def test_all_seven_stages_on_generated_news(tmp_path):
    models = yaml.safe_load((NEWS / "config.yaml").read_text())["models"]
    models = [{**m, "params": {**m.get("params", {}), **SMALLER.get(m["name"], {})}} for m in models]
    root = copy_contest(NEWS, tmp_path / "news", models=models)
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
    scores = {s.split("-")[0]: v for s, v in zip(table["strategy"], table["cv_score"])}
    assert {m["name"] for m in models} <= set(scores)  # every model of the CPU config made a run
    # the torch and NB-SVM models learned: chance is about 0.05; on 420 documents whose signal is partly in word
    # order a bag of embeddings stays far below the n-gram models, as on the real data
    assert scores["fasttext"] > 0.15 and scores["tfidf_nbsvm"] > 0.3


def test_the_gpu_profile_is_read_instead_of_config_yaml(monkeypatch):
    """config.gpu.yaml (bert at BERT-base sizes) is a valid config whose params every model accepts, and
    $COMPKIT_CONFIG makes a contest read it instead of config.yaml."""
    import pytest

    from common.contest import CONFIG_ENV, Contest
    from common.errors import ConfigError
    from common.models.base import check_params

    monkeypatch.setenv(CONFIG_ENV, "config.gpu.yaml")
    models = Contest.load(NEWS).config.models
    for spec in models:
        check_params(spec)
    bert = next(m for m in models if m.name == "bert")
    assert bert.params["hidden"] == 768 and bert.params["layers"] == 12
    monkeypatch.setenv(CONFIG_ENV, "config.tpu.yaml")
    with pytest.raises(ConfigError, match="config.tpu.yaml"):
        Contest.load(NEWS)
    monkeypatch.delenv(CONFIG_ENV)
    assert "bert" not in [m.name for m in Contest.load(NEWS).config.models]
