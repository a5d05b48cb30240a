"""Stage 02's EDA report: sections, the shift table finds the planted drift, images embedded."""
import re

import pandas as pd

from common.contest import Contest
from common.data.datasets.steam import SHIFTED
from common.reports.eda import eda_report, missing_table, target_relation
from tests.conftest import section_rows

SECTIONS = ["Overview", "Target", "Train vs test shift", "Target vs features", "Correlations", "Missing values",
            "Adversarial validation"]


def _shift_rows(html: str) -> list[str]:
    return [row[0] for row in section_rows(html, "Train vs test shift")]


def test_report_has_every_section_and_finds_the_planted_shift(regression_contest):
    path = eda_report(Contest.load(regression_contest))
    html = path.read_text()
    for heading in SECTIONS:
        assert '<a href="#' in html and f"<h2>{heading}</h2>" in html
    assert set(_shift_rows(html)[: len(SHIFTED)]) == set(SHIFTED)
    assert "AUC" in html and "strong drift" in html
    pngs = sorted(p.name for p in path.parent.glob("eda_*.png"))
    assert pngs == ["eda_adversarial.png", "eda_correlation.png", "eda_shift.png", "eda_target.png",
                    "eda_target_vs_features.png"]
    assert html.count("data:image/png;base64,") == len(pngs)
    assert "src=\"http" not in html  # self-contained: opens offline


def test_missing_values_get_a_table_and_plot(binary_contest):
    train = pd.read_csv(binary_contest / "data/raw/train.csv")
    train.loc[::4, "f2"] = None
    train.to_csv(binary_contest / "data/raw/train.csv", index=False)
    path = eda_report(Contest.load(binary_contest))
    assert (path.parent / "eda_missing.png").is_file()
    table = missing_table(train, train, ["f0", "f2"])
    assert table["feature"].tolist() == ["f2"] and abs(table["train_missing"].iloc[0] - 0.25) < 0.01


def test_target_relation_ranks_the_informative_feature_first(binary_contest):
    train = pd.read_csv(binary_contest / "data/raw/train.csv")
    table = target_relation(train, ["f0", "f1", "f2", "f3"], "label", "binary")
    assert table["feature"].iloc[0] == "f0"  # the label is built mostly from f0


def test_eda_report_renders_in_a_real_browser(regression_contest, browser_check):
    path = eda_report(Contest.load(regression_contest))
    page = browser_check(path)
    page.assert_ok(min_images=5)
    assert page.n_images == 5 and not page.broken_images and not page.blank
    assert page.title == "EDA: steam"


def test_side_files_are_profiled_with_streaming_scans(binary_contest):
    import numpy as np
    import yaml

    log = pd.DataFrame({"id": np.repeat(np.arange(1000, 1100), 3), "action": np.tile([0, 1, 2], 100),
                        "amount": np.arange(300) * 1.5})
    log.loc[::10, "action"] = None
    log.to_csv(binary_contest / "data/raw/log.csv", index=False)
    config = yaml.safe_load((binary_contest / "config.yaml").read_text())
    config["data"]["extra"] = {"log": "data/raw/log.csv"}
    (binary_contest / "config.yaml").write_text(yaml.safe_dump(config))
    html = eda_report(Contest.load(binary_contest)).read_text()
    part = html[html.index("<h2>File: log</h2>"):]
    assert "log.csv: 300 rows, 3 columns" in part
    assert re.search(r"<td>action</td>\s*<td>0\.1</td>\s*<td>[34]</td>", part)  # 10% missing; 3 levels (+ null)
    assert (binary_contest / "reports/eda_log_levels.png").is_file()
