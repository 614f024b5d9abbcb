"""report.html in a real browser: headless Chromium renders the report of a tiny search and must show
every plot and picture with no script error, no failed or outside request, and a readable screenshot.

Chromium is driven over its DevTools pipe (tests/browser.py, standard library
only). Without a browser the tests skip, naming the package to install; under CI
(``CI=true``, set by .ci/run, which installs Debian's ``chromium``) they fail
instead. Screenshots go to ``$REPORT_SCREENSHOTS`` (default: the test's tmp_path).
"""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path

import pytest
from browser import check_page, find_chromium
from conftest import needs

FIGURES = ["fig-history", "fig-importances", "fig-slice", "fig-parallel", "fig-pruning", "fig-curves", "fig-spread",
           "fig-compression"]


@pytest.fixture(autouse=True)
def chromium():
    needs(find_chromium() is not None, "no Chromium to render the report in: apt-get install chromium")


def save_screenshot(png: bytes, name: str, tmp_path: Path) -> Path:
    folder = Path(os.environ.get("REPORT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(png)
    return path


def assert_readable(path: Path) -> None:
    """A real page: wide and tall enough, and not one flat colour."""
    from PIL import Image

    with Image.open(path) as image:
        assert image.width >= 800 and image.height >= 600, image.size
        low, high = image.convert("L").getextrema()
        assert low < 100 < high, "the screenshot is (nearly) one flat colour"


def tiny_png() -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 4), (40, 120, 200)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_the_report_renders_every_plot_and_picture_without_an_error(searched_run, tmp_path):
    run_dir, _ = searched_run
    check = check_page(run_dir / "report.html")
    shot = save_screenshot(check.screenshot, "report-tiny-search.png", tmp_path)
    assert_readable(shot)
    assert check.errors == [] and check.requests == []
    assert check.broken_images == [] and check.empty_figures == []
    drawn = {figure["id"] for figure in check.dom["figures"]}
    assert [f for f in FIGURES if f not in drawn] == []
    assert check.dom["img"] == 3 * (3 + 6)  # every episode picture loaded (naturalWidth > 0)
    assert check.dom["scripts"] == 0 and check.dom["width"] <= 1200  # no script; nothing wider than the window


def test_the_check_catches_a_broken_page(tmp_path):
    """The browser check itself can fail: a script error, console.error, missing and corrupt images,
    an empty plot and a CDN script are each reported."""
    page = tmp_path / "broken.html"
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="80"><rect width="200" height="80"/></svg>'
    page.write_text(
        "<!doctype html><meta charset=utf-8><title>broken</title>"
        f'<figure class="plot" id="drawn">{svg}</figure><figure class="plot" id="empty"></figure>'
        f'<img alt="fine" src="data:image/png;base64,{tiny_png()}">'
        '<img alt="missing" src="missing.png"><img alt="corrupt" src="data:image/png;base64,iVBORw0KGgoAAAAbroken">'
        '<script src="https://cdn.example.invalid/plotly.min.js"></script>'
        '<script>console.error("deliberate"); undefinedFunction();</script>',
        encoding="utf-8",
    )
    check = check_page(page)
    errors = "\n".join(check.errors)
    assert "ReferenceError: undefinedFunction is not defined" in errors and "console.error: deliberate" in errors
    assert "ERR_FILE_NOT_FOUND" in errors and "missing.png" in errors
    assert check.requests == ["https://cdn.example.invalid/plotly.min.js"]
    assert sorted(image["alt"] for image in check.broken_images) == ["corrupt", "missing"]
    assert [figure["id"] for figure in check.empty_figures] == ["empty"]


def test_the_check_catches_a_plot_cut_from_the_report(searched_run, tmp_path):
    run_dir, _ = searched_run
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    cut = re.sub(r'(<figure class="plot" id="fig-curves">)<svg.*?</svg>', r"\1", text, count=1, flags=re.S)
    assert cut != text
    page = tmp_path / "report-without-curves.html"
    page.write_text(cut, encoding="utf-8")
    check = check_page(page)
    assert [figure["id"] for figure in check.empty_figures] == ["fig-curves"] and check.errors == []
