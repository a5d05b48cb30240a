"""HTML reports open in a real headless browser: they render, every image loads, the page is not blank."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from common.reports.report import Report


def _figure(kind: str):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.linspace(0, 6, 200)
    if kind == "line":
        ax.plot(x, np.sin(x), label="sin")
        ax.plot(x, np.cos(x), label="cos")
        ax.legend()
    else:
        ax.hist(np.random.default_rng(0).normal(size=500), bins=30, color="#457b9d")
    ax.set_title(kind)
    return fig


@pytest.fixture
def two_figure_report(tmp_path):
    report = Report("Two figures", tmp_path / "reports")
    report.section("Curves").text("Two curves.").figure(_figure("line"), "curves", "sine and cosine")
    report.section("Histogram").table(pd.DataFrame({"model": ["ridge", "svr"], "cv": [0.11, 0.12]}))
    report.figure(_figure("hist"), "hist", "a histogram")
    return report.write("report.html")


def test_report_renders_with_every_image_loaded(two_figure_report, browser_check):
    page = browser_check(two_figure_report).assert_ok(min_images=2)
    assert page.n_images == 2 and page.title == "Two figures"
    assert page.text_length > 20 and not page.blank
    assert (two_figure_report.parent / "curves.png").is_file()


def test_broken_image_is_detected(tmp_path, browser_check):
    page_path = tmp_path / "broken.html"
    page_path.write_text('<!doctype html><html><head><title>b</title></head><body><h1>Broken</h1>'
                         '<img src="does_not_exist.png" alt="missing plot">'
                         '<img src="data:image/png;base64,bm90IGEgcG5n" alt="corrupt plot"></body></html>')
    page = browser_check(page_path)
    assert page.loaded and page.n_images == 2
    assert not page.ok and len(page.broken_images) == 2
    assert "missing plot <does_not_exist.png>" in page.broken_images[0]
    with pytest.raises(AssertionError, match="image did not load: missing plot"):
        page.assert_ok()


def test_relative_images_resolve_from_the_report_folder(tmp_path, browser_check, two_figure_report):
    page_path = two_figure_report.parent / "relative.html"
    page_path.write_text('<!doctype html><html><head><title>r</title></head><body><img src="curves.png" alt="c">'
                         '<img src="hist.png" alt="h"></body></html>')
    assert browser_check(page_path).assert_ok(min_images=2).n_images == 2


def test_blank_page_and_script_errors_are_detected(tmp_path, browser_check):
    page_path = tmp_path / "blank.html"
    page_path.write_text("<!doctype html><html><head><title>x</title></head><body>"
                         "<script>undefinedFunction()</script></body></html>")
    page = browser_check(page_path)
    assert page.blank and page.loaded
    assert any("undefinedFunction" in e for e in page.js_errors)
    assert any("looks blank" in p for p in page.problems)
