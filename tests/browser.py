"""Open an HTML file in headless Chromium: did it render, did every image load, is the screenshot blank?

Reusable by any report test (common.reports.report, common.reports.eda, ...):

    from tests.browser import check_page
    page = check_page(html_path, tmp_path)       # PageCheck; raises BrowserUnavailable without Chromium
    assert page.ok, page.problems                 # or: page.assert_ok(min_images=2)

How: the page is copied to a temporary file with a `<base href>` pointing at its own folder (so relative
image paths still resolve and nothing is written beside the report) and a small script that, on the
`load` event, records how many <img> there are, which have naturalWidth == 0, and any JavaScript
errors, into a hidden <pre>. One Chromium run prints the DOM (`--dump-dom`) and takes the screenshot;
the screenshot is called blank when one colour covers nearly all of it. No driver or Python browser
package is needed: only /usr/bin/chromium (Debian's `chromium`, installed by scripts/system_deps.sh).
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars")
_MARK = "__compkit_browser_check__"
_PROBE = """<script>(function(){var errors=[];
window.addEventListener('error',function(e){if(e.message){errors.push(String(e.message));}},true);
window.addEventListener('load',function(){var imgs=[].slice.call(document.images);
var broken=imgs.filter(function(i){return !i.complete||i.naturalWidth===0;}).map(function(i){
var s=i.getAttribute('src')||'';return (i.getAttribute('alt')||'')+' <'+(s.length>120?s.slice(0,120)+'...':s)+'>';});
var p=document.createElement('pre');p.id='%s';p.hidden=true;
p.textContent=JSON.stringify({images:imgs.length,broken:broken,errors:errors,title:document.title,
text:(document.body?document.body.innerText.length:0)});document.body.appendChild(p);});})();</script>""" % _MARK


class BrowserUnavailable(RuntimeError):
    """No Chromium on this machine (run scripts/system_deps.sh, or `make test`, to install it)."""


@dataclass(frozen=True)
class PageCheck:
    """What the browser saw. `problems` is empty when the page rendered, every image loaded and the
    screenshot is not blank."""

    html: Path
    screenshot: Path
    loaded: bool  # the load event fired and the probe reported back
    title: str = ""
    n_images: int = 0
    broken_images: tuple[str, ...] = ()
    js_errors: tuple[str, ...] = ()
    text_length: int = 0
    n_colors: int = 0
    dominant_share: float = 1.0  # fraction of screenshot pixels in its most common colour
    max_dominant_share: float = 0.995
    min_colors: int = 8
    log: str = field(default="", repr=False)

    @property
    def blank(self) -> bool:
        return self.n_colors < self.min_colors or self.dominant_share > self.max_dominant_share

    @property
    def problems(self) -> list[str]:
        out = []
        if not self.loaded:
            out.append(f"the page did not finish loading in Chromium (last output: {self.log[-500:]!r})")
        out += [f"image did not load: {b}" for b in self.broken_images]
        out += [f"JavaScript error: {e}" for e in self.js_errors]
        if self.blank:
            out.append(f"screenshot {self.screenshot} looks blank: {self.n_colors} colours, "
                       f"{self.dominant_share:.2%} of pixels in one colour")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def assert_ok(self, min_images: int = 0) -> PageCheck:
        """Raise AssertionError listing every problem (and too few images); returns self."""
        problems = self.problems
        if self.n_images < min_images:
            problems.append(f"expected at least {min_images} images, the page has {self.n_images}")
        if problems:
            raise AssertionError(f"{self.html} failed the browser check:\n  " + "\n  ".join(problems))
        return self


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable: $CHROMIUM, then the usual names on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def check_page(html_path: str | Path, out_dir: str | Path | None = None, *, width: int = 1280,
               height: int = 2000, timeout: float = 90, budget_ms: int = 10_000,
               min_colors: int = 8, max_dominant_share: float = 0.995) -> PageCheck:
    """Render `html_path` in headless Chromium; screenshot to <out_dir>/<stem>.screenshot.png.

    `out_dir` defaults to a new temporary folder. Never raises on a bad page: read `.ok` /
    `.problems`, or call `.assert_ok()`. Raises BrowserUnavailable when there is no Chromium.
    """
    chromium = find_chromium()
    if chromium is None:
        raise BrowserUnavailable("no chromium on PATH: install Debian's `chromium` (scripts/system_deps.sh) "
                                 "or set $CHROMIUM to a Chrome/Chromium executable.")
    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise FileNotFoundError(f"no HTML file at {html_path}")
    out_dir = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="browser-check-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    shot = out_dir / f"{html_path.stem}.screenshot.png"
    shot.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-") as work:
        probe_page = Path(work) / "page.html"
        probe_page.write_text(_instrument(html_path.read_text(encoding="utf-8", errors="replace"),
                                          html_path.parent.as_uri() + "/"), encoding="utf-8")
        cmd = [chromium, *FLAGS, f"--user-data-dir={Path(work) / 'profile'}", f"--window-size={width},{height}",
               f"--screenshot={shot}", f"--virtual-time-budget={budget_ms}", "--dump-dom", probe_page.as_uri()]
        env = {**os.environ, "HOME": work}  # keep Chromium's caches out of the real HOME
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
            dom, log = proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            dom, log = _text(exc.stdout), _text(exc.stderr) + f"\n(chromium timed out after {timeout}s)"
    report = _read_probe(dom)
    colors, dominant = _screenshot_stats(shot)
    common = dict(html=html_path, screenshot=shot, n_colors=colors, dominant_share=dominant,
                  min_colors=min_colors, max_dominant_share=max_dominant_share, log=log)
    if report is None:
        return PageCheck(loaded=False, **common)
    return PageCheck(loaded=True, title=report.get("title", ""), n_images=int(report["images"]),
                     broken_images=tuple(report["broken"]), js_errors=tuple(report["errors"]),
                     text_length=int(report.get("text", 0)), **common)


def _instrument(page: str, base_href: str) -> str:
    """Insert <base> and the probe first in <head> (or the document), so they run before the page."""
    inject = f'<base href="{html.escape(base_href, quote=True)}">{_PROBE}'
    for pattern in (r"<head\b[^>]*>", r"<html\b[^>]*>", r"<!doctype[^>]*>"):
        m = re.search(pattern, page, flags=re.IGNORECASE)
        if m:
            return page[:m.end()] + inject + page[m.end():]
    return inject + page


def _read_probe(dom: str) -> dict | None:
    m = re.search(rf'<pre id="{_MARK}"[^>]*>(.*?)</pre>', dom, flags=re.DOTALL)
    return json.loads(html.unescape(m.group(1))) if m else None


def _screenshot_stats(path: Path) -> tuple[int, float]:
    """(distinct colours, share of the most common colour); (0, 1.0) when there is no screenshot."""
    if not path.is_file():
        return 0, 1.0
    from PIL import Image

    with Image.open(path) as img:
        rgb = img.convert("RGB")
        counts = rgb.getcolors(maxcolors=rgb.width * rgb.height)
    return len(counts), max(c for c, _ in counts) / (rgb.width * rgb.height)


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")
