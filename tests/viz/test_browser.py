"""The viewer notebook in a real browser: JupyterLab + headless Chromium, driven like a user.

Starts JupyterLab on 127.0.0.1 (random free port, random token) in a temporary copy of
``notebooks/02_viewer.ipynb`` with a one-case phantom as ``SEGRAP_DATA``, opens it in Debian's
Chromium through Playwright, runs all cells from the Run menu, and checks that

* every cell ran without an exception, including the last (itkwidgets) cell: in a real
  front end without network it says why it fell back (offline, not "headless") instead of
  hanging;
* the widget viewer rendered its matplotlib picture (a non-empty image in the widget area);
* pressing the arrow key on the focused axial slider changes the slice and the picture
  (screenshots of the viewer element differ).

Screenshots are saved under ``build/browser/`` (before.png, after.png, page.png).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.browser import (
    CHROMIUM,
    REPO,
    SHOTS,
    launch_chromium,
    pixel_change,
    start_jupyterlab,
    stop_server,
    wait_for_kernel,
    wait_for_server,
)

# One work unit under pytest-xdist (--dist loadgroup): two headless Chromiums at once would
# share 2 cores with software WebGL.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


@pytest.mark.timeout(240)
def test_viewer_notebook_runs_and_responds_in_jupyterlab(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (Python)")
    from segrap_nb.phantom.writer import make_phantom

    work = tmp_path / "lab"
    work.mkdir()
    shutil.copy(REPO / "notebooks" / "02_viewer.ipynb", work / "02_viewer.ipynb")
    data = make_phantom(tmp_path / "data", cases=1, progress=False)
    SHOTS.mkdir(parents=True, exist_ok=True)

    proc, base, token, log = start_jupyterlab(work, data, tmp_path)
    try:
        wait_for_server(f"{base}/api/status?token={token}", proc, log, timeout_s=60)
        with sync_api.sync_playwright() as pw:
            context = launch_chromium(pw, tmp_path)
            try:
                page = context.new_page()
                page.set_default_timeout(60_000)
                page.goto(f"{base}/lab/tree/02_viewer.ipynb?token={token}")
                page.wait_for_selector(".jp-Notebook .jp-Cell")
                # Run > Run All Cells once the kernel is up and connected to this page.
                wait_for_kernel(base, token, timeout_s=90)
                page.wait_for_selector(".jp-StatusBar-TextItem >> text=/Idle/", timeout=30_000)
                page.locator(".lm-MenuBar-item", has_text="Run").first.click()
                page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()

                # All cells done: the last cell (itkwidgets) prints its one-line fallback reason.
                page.wait_for_function(
                    """() => {
                        const cells = document.querySelectorAll('.jp-Notebook .jp-CodeCell');
                        const last = cells[cells.length - 1];
                        const prompt = last && last.querySelector('.jp-InputPrompt');
                        return prompt && /\\[\\d+\\]/.test(prompt.textContent);
                    }""",
                    timeout=150_000,
                )
                last_out = page.locator(".jp-Notebook .jp-CodeCell").last.inner_text()
                assert "Error" not in last_out and "Traceback" not in last_out, last_out
                if "itkwidgets 3D view not shown" in last_out:  # offline: the fallback ran
                    # A real front end must not be mistaken for a headless run.
                    assert "headless" not in last_out, last_out
                errors = page.locator(".jp-OutputArea-output >> text=Traceback").count()
                assert errors == 0, f"{errors} cells raised an exception"

                # The widget viewer drew its picture.
                image = page.locator("img.segrap-viewer-image").first
                image.scroll_into_view_if_needed()
                page.wait_for_function(
                    "img => img.complete && img.naturalWidth > 200", arg=image.element_handle()
                )
                slider = page.locator(".segrap-slider-axial").first
                handle = slider.locator(".noUi-handle")

                def slider_value() -> int:
                    return int(float(handle.get_attribute("aria-valuenow")))

                value_before = slider_value()
                value_max = int(float(handle.get_attribute("aria-valuemax")))
                src_before = image.get_attribute("src")
                before = image.screenshot(path=str(SHOTS / "before.png"))

                # A user moves the axial slider with the keyboard.
                handle.click()
                for _ in range(4):
                    page.keyboard.press("ArrowRight")
                page.wait_for_function(
                    "([img, src]) => img.src !== src && img.complete && img.naturalWidth > 200",
                    arg=[image.element_handle(), src_before],
                )
                page.wait_for_timeout(1000)  # let the last key's redraw arrive
                value_after = slider_value()
                after = image.screenshot(path=str(SHOTS / "after.png"))
                page.screenshot(path=str(SHOTS / "page.png"))
            except Exception:
                page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
                raise
            finally:
                context.close()
        assert value_after == min(value_before + 4, value_max), (value_before, value_after)
        assert before != after, "the viewer picture did not change"
        changed = pixel_change(before, after)
        assert changed > 0.005, f"only {changed:.2%} of the viewer's pixels changed"
    finally:
        stop_server(proc, base, token)
    assert proc.poll() is not None, "JupyterLab is still running"
