"""Stage 02 for text contests: every section, tables that match the data, the planted class tokens
found, the length shift measured; the news generator's format and statistics; text config/loading."""
import collections
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from common.config import parse_config
from common.contest import Contest
from common.data.datasets import GENERATORS
from common.data.datasets.news import CLASS_COUNTS, MAX_ID, PUNCTUATION, class_sizes, make_news, signature_tokens
from common.reports.eda import eda_report
from common.reports.eda_text import class_balance, class_token_counts, distinctive_tokens, length_shift, top_tokens
from common.errors import ConfigError, DataError
from tests.conftest import SHARED_DATA, section_rows

SECTIONS = ["Overview", "Class balance", "Document lengths", "Top tokens per class", "Distinctive tokens per class",
            "Vocabulary", "Train vs test length shift"]
PNGS = ["eda_text_classes.png", "eda_text_distinctive.png", "eda_text_length_shift.png", "eda_text_lengths.png",
        "eda_text_zipf.png"]
CONFIG = {
    "competition": {"name": "news_text", "task": "multiclass", "metric": "macro_f1", "platform": "tianchi",
                    "n_classes": 14},
    "data": {"train": "data/raw/train_set.csv", "test": "data/raw/test_a.csv", "sep": "\t", "target": "label",
             "modality": "text", "text_column": "text"},
    "models": [{"name": "logistic"}],
}


def _contest(root, config=CONFIG, **generate):
    GENERATORS.create("news_text", root / "data" / "raw", seed=3, **{"n_train": 1_000, "n_test": 250, **generate})
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return Contest.load(root)


@pytest.fixture(scope="module")
def news(tmp_path_factory):
    """(contest, report path, train frame): one generated contest and its report, shared by the tests."""
    contest = _contest(tmp_path_factory.mktemp("news"))
    path = eda_report(contest)
    return contest, path, contest.load_raw()[0]



def test_report_has_every_section_and_plot(news):
    _, path, _ = news
    page = path.read_text()
    assert re.findall(r"<h2>(.*?)</h2>", page) == SECTIONS
    assert sorted(p.name for p in path.parent.glob("eda_*.png")) == PNGS
    assert page.count("data:image/png;base64,") == len(PNGS) and 'src="http' not in page
    assert "Macro-F1 weighs every class equally" in page


def test_class_balance_table_matches_the_data(news):
    _, path, train = news
    rows = section_rows(path.read_text(), "Class balance")
    expected = train["label"].value_counts().sort_index()
    assert [(int(c), int(n)) for c, n, _ in rows] == list(expected.items())
    assert expected.tolist() == class_sizes(1_000).tolist()  # the generator's exact class sizes
    assert class_balance(train["label"])["share"].sum() == pytest.approx(1.0)


def test_length_tables_count_tokens_per_document(news):
    _, path, train = news
    lengths = train["text"].str.split().str.len()
    overview = section_rows(path.read_text(), "Overview")
    assert overview[0][0] == "train" and int(overview[0][1]) == len(train)
    assert float(overview[0][2]) == pytest.approx(lengths.mean(), rel=1e-3)
    per_class = section_rows(path.read_text(), "Document lengths")
    assert [int(r[0]) for r in per_class] == list(range(14))
    assert float(per_class[0][5]) == lengths[train["label"] == 0].median()


def test_top_tokens_count_right_and_distinctive_tokens_recover_the_planted_ones(news):
    _, path, train = news
    classes, vocab, counts = class_token_counts(train["text"], train["label"])
    frequent = top_tokens(classes, vocab, counts, n=5)
    manual = collections.Counter(t for doc in train.loc[train["label"] == 4, "text"] for t in doc.split())
    assert [(r.token, r["count"]) for _, r in frequent[frequent["class"] == 4].iterrows()] == manual.most_common(5)
    top3 = frequent[frequent["rank"] <= 3].groupby("class")["token"].agg(set)
    assert all(len(s & {str(t) for t in PUNCTUATION}) >= 2 for s in top3)  # frequent everywhere: says nothing

    planted = {k: {str(t) for t in toks} for k, toks in signature_tokens(seed=3).items()}
    distinctive = distinctive_tokens(classes, vocab, counts, n=5)
    first = distinctive[distinctive["rank"] == 1].set_index("class")["token"]
    assert all(first[k] in planted[k] for k in range(14)), first
    hits = [t in planted[k] for k, t in zip(distinctive["class"], distinctive["token"])]
    assert np.mean(hits) >= 0.7
    rows = dict(section_rows(path.read_text(), "Distinctive tokens per class"))
    assert all(rows[str(k)].split()[0] == first[k] for k in range(14))


def test_length_shift_is_measured(tmp_path, news):
    _, path, _ = news
    assert "Lengths look alike" in path.read_text()
    contest = _contest(tmp_path / "shifted", test_length_scale=2.5)
    train, test = contest.load_raw()
    lengths = [df["text"].str.split().str.len() for df in (train, test)]
    assert length_shift(*lengths)["ks"] > 0.3
    assert "Test documents differ in length" in eda_report(contest).read_text()


def test_news_generator_format_and_statistics(tmp_path):
    paths = GENERATORS.create("news_text", tmp_path, seed=0, n_train=400, n_test=100)
    assert [p.name for p in paths] == ["train_set.csv", "test_a.csv", "test_a_sample_submit.csv"]
    first = paths[0].read_text().splitlines()[:2]
    assert first[0] == "label\ttext" and re.fullmatch(r"\d+\t\d+( \d+)+", first[1])
    assert paths[1].read_text().splitlines()[0] == "text"
    train, test = make_news(2_000, 500, seed=0)
    assert list(train.columns) == ["label", "text"] and list(test.columns) == ["text"]
    assert sorted(train["label"].unique()) == list(range(14)) and len(CLASS_COUNTS) == 14
    ids = np.array([int(t) for doc in train["text"].head(200) for t in doc.split()])
    assert ids.min() >= 0 and ids.max() < MAX_ID
    lengths = train["text"].str.split().str.len()
    assert 550 < lengths.median() < 800 and 300 < lengths.quantile(0.25) < 450  # real: 676, 374
    assert lengths.min() >= 2


def test_text_modality_needs_a_text_column():
    raw = yaml.safe_load(yaml.safe_dump(CONFIG))
    del raw["data"]["text_column"]
    with pytest.raises(ConfigError, match="data.modality 'text' needs data.text_column"):
        parse_config(raw)


def test_load_raw_keeps_text_and_requires_the_text_column(tmp_path):
    contest = _contest(tmp_path / "c", n_train=100, n_test=20)
    train, test = contest.load_raw()
    assert pd.api.types.is_string_dtype(train["text"]) and len(test) == 20
    pd.DataFrame({"body": ["1 2 3"]}).to_csv(contest.path("data/raw/test_a.csv"), sep="\t", index=False)
    with pytest.raises(DataError, match=r"test file .*test_a.csv lacks column\(s\) \['text'\]"):
        contest.load_raw()


@pytest.mark.skipif(not (SHARED_DATA / "news").is_dir(), reason="real news heads not found at ../shared/data/news")
def test_report_on_the_real_news_heads(tmp_path):
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["data"].update(train=str(SHARED_DATA / "news/train_set_head.csv"),
                          test=str(SHARED_DATA / "news/test_a_head.csv"))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    page = eda_report(Contest.load(tmp_path)).read_text()
    train = pd.read_csv(SHARED_DATA / "news/train_set_head.csv", sep="\t")
    rows = section_rows(page, "Class balance")
    assert [(int(c), int(n)) for c, n, _ in rows] == list(train["label"].value_counts().sort_index().items())
    assert dict(section_rows(page, "Top tokens per class"))["1"].startswith("3750 ")  # the commonest id


def test_text_report_renders_in_a_real_browser(news, browser_check):
    _, path, _ = news
    page = browser_check(path).assert_ok(min_images=5)
    assert page.n_images == 5 and page.title == "EDA: news_text"
