"""itkwidgets in a real browser with no outside network: JupyterLab + headless Chromium.

Runs notebook 02's set-up cell and its two itkwidgets cells (a copy, on a one-case phantom) in
JupyterLab while Playwright aborts every request that is not to 127.0.0.1, and checks that

* the kit chose the local viewer copy (``make itk-viewer``) and said so in one line;
* the itk-vtk-viewer page came from this Jupyter server and drew the phantom: its canvas is not
  blank (at least 5 % of the centre of the viewer's screenshot differs from the background);
* the organs are coloured with the kit's palette: each label value the viewer coloured has the
  fixed colour of its structure (``STRUCTURE_IDS``, ``ORGAN_COLORS``), read back from the viewer;
* every outside request that was attempted is one the viewer does not need (ImJoy's optional
  internal plugins), so none was needed.

Screenshots: ``build/browser/itk_viewer.png`` (the viewer) and ``itk_page.png`` (the page).
"""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.browser import (
    CHROMIUM,
    REPO,
    SHOTS,
    launch_chromium,
    start_jupyterlab,
    stop_server,
    wait_for_kernel,
    wait_for_server,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

#: Outside pages imjoy-core tries at start-up for optional internal plugins; itkwidgets needs neither.
UNNEEDED_HOSTS = {"imjoy-team.github.io"}
CELLS = ("d2a8e6e1", "a06e12dd", "93c836e1")  # set-up, availability check, show_3d (02_viewer)


def _notebook(dest: Path) -> None:
    """Copy of notebook 02 reduced to its set-up cell and its itkwidgets cells."""
    import nbformat

    nb = nbformat.read(REPO / "notebooks" / "02_viewer.ipynb", as_version=4)
    nb.cells = [c for c in nb.cells if c.get("id") in CELLS]
    assert [c.id for c in nb.cells] == list(CELLS), "notebook 02 lost its itkwidgets cells"
    for cell in nb.cells:
        cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, dest)


def _drawn_fraction(png: bytes) -> float:
    """Share of the central 60 % of a screenshot that differs from its background grey by > 12.

    The centre of the viewer holds no buttons or labels: a blank (background-only) canvas gives 0.
    """
    import numpy as np
    from PIL import Image

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    h, w = grey.shape
    centre = grey[h // 5 : h - h // 5, w // 5 : w - w // 5]
    values, counts = np.unique(centre.round(), return_counts=True)
    return float((np.abs(centre - values[counts.argmax()]) > 12).mean())


@pytest.mark.timeout(1080)
def test_itkwidgets_renders_offline_from_the_local_copy(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (Python)")
    from segrap_nb.phantom.writer import make_phantom
    from segrap_nb.viz import itk_assets
    from segrap_nb.viz.colors import STRUCTURE_IDS, color_of

    if itk_assets.installed_manifest() is None or not itk_assets.config_installed():
        pytest.skip("the local itkwidgets viewer is not installed (make itk-viewer)")

    work = tmp_path / "lab"
    work.mkdir()
    _notebook(work / "02_itk.ipynb")
    data = make_phantom(tmp_path / "data", cases=1, progress=False)
    SHOTS.mkdir(parents=True, exist_ok=True)

    proc, base, token, log = start_jupyterlab(work, data, tmp_path)
    blocked: list[str] = []
    try:
        wait_for_server(f"{base}/api/status?token={token}", proc, log, timeout_s=60)
        with sync_api.sync_playwright() as pw:
            context = launch_chromium(pw, tmp_path)

            def route(r: object) -> None:
                url = r.request.url  # type: ignore[attr-defined]
                if url.startswith(("data:", "blob:")) or urlparse(url).hostname in ("127.0.0.1", "localhost"):
                    r.continue_()  # type: ignore[attr-defined]
                else:
                    blocked.append(url)
                    r.abort()  # type: ignore[attr-defined]

            context.route("**/*", route)
            page = context.new_page()
            console: list[str] = []  # kept in build/browser/itk_console.log
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            try:
                page.set_default_timeout(60_000)
                page.goto(f"{base}/lab/tree/02_itk.ipynb?token={token}")
                page.wait_for_selector(".jp-Notebook .jp-Cell")
                # Routed requests only proceed while Playwright runs: wait with its timer.
                wait_for_kernel(base, token, timeout_s=240, pause=lambda s: page.wait_for_timeout(s * 1000))
                page.wait_for_selector(".jp-StatusBar-TextItem >> text=/Idle/", timeout=30_000)
                page.locator(".lm-MenuBar-item", has_text="Run").first.click()
                page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()

                last = page.locator(".jp-Notebook .jp-CodeCell").last
                last.locator("text=/itkwidgets viewer: local copy/").wait_for(timeout=150_000)
                frame_el = page.locator("iframe[src*='segrap-offline/itk-vtk-viewer']").first
                frame_el.wait_for(timeout=60_000)
                frame = frame_el.element_handle().content_frame()
                frame.wait_for_selector("canvas", timeout=90_000)
                # A page screenshot clipped to the viewer's visible part: an element screenshot
                # of the iframe waits for a quiet frame that software WebGL never gives.
                # The viewer's first software-WebGL renders can keep the page busy for minutes on
                # a loaded CPU (no answer to Playwright meanwhile): keep asking until the deadline.
                # The label image is coloured once it is loaded, after the CT's first render:
                # the screenshot waits for that too.
                deadline, drawn, coloured = time.monotonic() + 420, 0.0, False
                while time.monotonic() < deadline and (drawn < 0.05 or not coloured):
                    try:
                        page.wait_for_timeout(5000)
                        frame_el.scroll_into_view_if_needed(timeout=60_000)
                        if not coloured:
                            frame.wait_for_function(
                                "() => window.segrapLabelPalette !== undefined", polling=1000, timeout=60_000
                            )
                            coloured = True
                        box = frame_el.bounding_box(timeout=60_000)
                        assert box is not None, "the viewer's frame is not shown"
                        clip = {
                            "x": box["x"],
                            "y": box["y"],
                            "width": box["width"],
                            "height": min(box["height"], page.viewport_size["height"] - box["y"]),
                        }
                        shot = page.screenshot(path=str(SHOTS / "itk_viewer.png"), clip=clip, timeout=60_000)
                    except sync_api.TimeoutError:
                        continue
                    drawn = _drawn_fraction(shot)
                page.screenshot(path=str(SHOTS / "itk_page.png"), timeout=90_000)
                out = last.inner_text()
                # What the viewer's label colouring last applied (kept by the local copy's patch).
                palette, colours = frame.evaluate(
                    "() => [window.segrapLabelPalette, window.segrapLabelColors]"
                )
            except Exception:
                with contextlib.suppress(sync_api.Error):  # best effort: report the first error
                    page.screenshot(path=str(SHOTS / "itk_failure.png"), timeout=60_000)
                raise
            finally:
                context.close()
                (SHOTS / "itk_console.log").write_text("\n".join(console) + "\n")
    finally:
        stop_server(proc, base, token)
    assert "Traceback" not in out, out
    needed = [u for u in blocked if urlparse(u).hostname not in UNNEEDED_HOSTS]
    assert not needed, f"outside requests attempted: {needed}"
    assert drawn >= 0.05, f"the itkwidgets viewer stayed blank ({drawn:.1%} of its centre drawn)"
    # The organs are drawn in the kit's fixed colours: the palette stayed the kit's, and each
    # label value present has the colour of the structure with that value.
    assert palette == itk_assets.PALETTE
    by_value = {v: name for name, v in STRUCTURE_IDS.items()}
    shown = {int(value): rgb for value, *rgb in colours if value}
    assert set(shown) <= set(range(1, 46))  # the 45 OARs that notebook 02 shows
    assert len(shown) >= 40, shown  # the phantom case has almost all of them
    for value, rgb in shown.items():
        assert rgb == pytest.approx(color_of(by_value[value], 1.0), abs=1e-6), by_value[value]
