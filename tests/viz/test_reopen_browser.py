"""Every course notebook reopened as saved, without running it, in JupyterLab + headless Chromium.

A student who opens a notebook the next day (or on GitHub, or before the kernel has run) sees
its stored outputs. For each numbered notebook this test opens a copy in JupyterLab (no cell
is run) and checks what the page shows:

* every stored picture is drawn (as many rendered ``<img>`` as stored ``image/png`` outputs);
* no widget placeholder says "Error displaying widget" or "model not found" (a stale
  widget-state block, or a widget view saved without its state);
* no saved progress bar reads "0%" (bars are stored as their finished text).

A screenshot of each notebook's top is saved under ``build/browser/reopen_<name>.png``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.browser import (
    CHROMIUM,
    REPO,
    SHOTS,
    launch_chromium,
    start_jupyterlab,
    stop_server,
    wait_for_server,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def stored_pictures(path: Path) -> int:
    """Number of stored ``image/png`` outputs of a notebook file."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return sum(
        "image/png" in out.get("data", {})
        for cell in nb["cells"]
        if cell["cell_type"] == "code"
        for out in cell.get("outputs", [])
    )


def _render_everything(tmp_path: Path) -> None:
    """User settings: JupyterLab renders every cell at once (no windowing), so all outputs exist."""
    tracker = tmp_path / "lab-settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text('{"windowingMode": "none"}\n')


@pytest.mark.timeout(300)
def test_saved_notebooks_reopen_with_pictures_and_no_widget_errors(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (Python)")

    work = tmp_path / "lab"
    work.mkdir()
    for nb in NOTEBOOKS:
        shutil.copy(nb, work / nb.name)
    _render_everything(tmp_path)
    SHOTS.mkdir(parents=True, exist_ok=True)
    proc, base, token, log = start_jupyterlab(work, tmp_path, tmp_path)
    problems: list[str] = []
    try:
        wait_for_server(f"{base}/api/status?token={token}", proc, log, timeout_s=60)
        with sync_api.sync_playwright() as pw:
            context = launch_chromium(pw, tmp_path)
            try:
                for nb in NOTEBOOKS:
                    problems += _check_one(context, base, token, nb)
            finally:
                context.close()
    finally:
        stop_server(proc, base, token)
    assert problems == [], problems


def _check_one(context, base: str, token: str, nb: Path) -> list[str]:
    """Open one saved notebook and list what a student would see wrong in it."""
    expected = stored_pictures(nb)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        # A workspace of its own: only this notebook is open (JupyterLab restores earlier tabs).
        page.goto(f"{base}/lab/workspaces/{nb.stem}/tree/{nb.name}?token={token}&reset")
        page.wait_for_selector(".jp-Notebook .jp-Cell")
        page.wait_for_function(
            "n => document.querySelectorAll('.jp-Notebook .jp-OutputArea-output img').length >= n",
            arg=expected,
            timeout=60_000,
        )
        page.wait_for_timeout(1000)  # let widget placeholders settle into their final text
        page.screenshot(path=str(SHOTS / f"reopen_{nb.stem}.png"))
        shown = page.locator(".jp-Notebook .jp-OutputArea-output img").count()
        text = page.locator(".jp-Notebook").inner_text()
    finally:
        page.close()
    found = []
    if shown < expected:
        found.append(f"{nb.name}: {shown} of {expected} stored pictures drawn")
    for bad in ("Error displaying widget", "model not found", " 0%|"):
        if bad in text:
            found.append(f"{nb.name}: the page shows {bad!r}")
    return found
