"""Self-contained HTML reports: sections with text, tables and images embedded as base64 PNG.

The file opens offline in any browser; each image is also saved as a PNG beside it.
"""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from common.data.io import save_figure, write_text

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d232a;background:#f7f8fa}
header{background:#1d3557;color:#fff;padding:18px 32px}header h1{margin:0;font-size:1.5em}
nav{background:#fff;border-bottom:1px solid #dde1e6;padding:10px 32px}nav a{margin-right:16px;color:#1d3557}
main{padding:8px 32px 48px}section{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:18px 0;padding:6px 20px 16px}
table{border-collapse:collapse;font-size:.9em;margin:8px 0}td,th{border:1px solid #dde1e6;padding:3px 9px;text-align:right}
th{background:#eef1f5}td:first-child,th:first-child{text-align:left}img{max-width:100%;margin:8px 0}
p.note{color:#5b6570}
"""


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend: reports are drawn on machines without a screen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@dataclass
class Report:
    """Collects sections, then writes one HTML file plus the PNGs beside it."""

    title: str
    out_dir: Path
    sections: list[tuple[str, list[str]]] = field(default_factory=list)

    def section(self, heading: str) -> Report:
        self.sections.append((heading, []))
        return self

    def text(self, text: str, note: bool = False) -> Report:
        cls = ' class="note"' if note else ""
        self._body().append(f"<p{cls}>{html.escape(text)}</p>")
        return self

    def table(self, frame: pd.DataFrame, max_rows: int = 40, float_format: str = "{:.4g}") -> Report:
        shown = frame.head(max_rows)
        self._body().append(shown.to_html(index=False, border=0, float_format=float_format.format, na_rep=""))
        if len(frame) > max_rows:
            self.text(f"({len(frame) - max_rows} more rows not shown)", note=True)
        return self

    def figure(self, fig: Any, name: str, alt: str) -> Report:
        """Save `fig` as <out_dir>/<name>.png and embed it."""
        path = save_figure(self.out_dir / f"{name}.png", fig)
        data = base64.b64encode(path.read_bytes()).decode()
        self._body().append(f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">')
        return self

    def write(self, file_name: str) -> Path:
        anchors = [_anchor(h) for h, _ in self.sections]
        nav = "".join(f'<a href="#{a}">{html.escape(h)}</a>' for a, (h, _) in zip(anchors, self.sections))
        body = "".join(
            f'<section id="{a}"><h2>{html.escape(h)}</h2>{"".join(parts)}</section>'
            for a, (h, parts) in zip(anchors, self.sections)
        )
        page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(self.title)}</title>"
                f"<style>{_CSS}</style></head><body><header><h1>{html.escape(self.title)}</h1></header>"
                f"<nav>{nav}</nav><main>{body}</main></body></html>\n")
        return write_text(self.out_dir / file_name, page)

    def _body(self) -> list[str]:
        if not self.sections:
            self.section("Summary")
        return self.sections[-1][1]


def _anchor(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-") or "section"
