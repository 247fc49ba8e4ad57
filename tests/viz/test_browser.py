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

import io
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# One work unit under pytest-xdist (--dist loadgroup): two headless Chromiums at once would
# share 2 cores with software WebGL.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "build" / "browser"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab not ready after {timeout_s} s:\n{log.read_text()[-3000:]}")


def _wait_for_kernel(
    base: str, token: str, timeout_s: float, pause: Callable[[float], object] = time.sleep
) -> None:
    """Wait until the notebook's kernel is started, idle and connected to the page.

    ``pause(seconds)`` waits between polls; with Playwright request routing pass one that lets
    Playwright work (``page.wait_for_timeout``): during a plain sleep no routed request proceeds.
    """
    import json

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=5) as resp:
            sessions = json.load(resp)
        kernels = [s["kernel"] for s in sessions if s.get("kernel")]
        if any(k.get("execution_state") == "idle" and k.get("connections", 0) > 0 for k in kernels):
            return
        pause(0.5)
    raise TimeoutError(f"no idle, connected kernel after {timeout_s} s")


def _stop_server(proc: subprocess.Popen, base: str, token: str) -> None:
    """Shut the kernels down through the API, then terminate (and if needed kill) the server."""
    try:
        req = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
        urllib.request.urlopen(req, timeout=5).close()
        proc.wait(timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        pass
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _pixel_change(a: bytes, b: bytes) -> float:
    """Fraction of pixels that differ between two PNG screenshots (0 when identical)."""
    import numpy as np
    from PIL import Image

    x = np.asarray(Image.open(io.BytesIO(a)).convert("RGB"), dtype=np.int16)
    y = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=np.int16)
    if x.shape != y.shape:
        return 1.0
    return float((np.abs(x - y).max(axis=2) > 8).mean())


def launch_chromium(pw: Any, tmp_path: Path) -> Any:
    """Debian's headless Chromium (a fresh profile under tmp_path), 1400 x 1000 px: a Playwright context."""
    return pw.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_FLAGS,
        viewport={"width": 1400, "height": 1000},
    )


def _start_jupyterlab(work: Path, data: Path, tmp_path: Path) -> tuple[subprocess.Popen, str, str, Path]:
    """JupyterLab on a free loopback port serving ``work`` with ``$SEGRAP_DATA=data``: (process, base URL, token, log)."""
    port, token = _free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    # Fresh user settings that answer JupyterLab's "get notified about Jupyter news?" question
    # (no news: nothing fetched, and no pop-up over the screenshots).
    settings = tmp_path / "lab-settings"
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text('{"fetchNews": "false", "checkForUpdates": false}\n')
    env.update(
        {
            "SEGRAP_DATA": str(data),
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
        }
    )
    log = tmp_path / "jupyterlab.log"
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={port}",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={work}",
                "--ServerApp.port_retries=0",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ]
            + (["--allow-root"] if os.geteuid() == 0 else []),
            cwd=work,
            env=env,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, base, token, log


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

    proc, base, token, log = _start_jupyterlab(work, data, tmp_path)
    try:
        _wait_for_server(f"{base}/api/status?token={token}", proc, log, timeout_s=60)
        with sync_api.sync_playwright() as pw:
            context = launch_chromium(pw, tmp_path)
            try:
                page = context.new_page()
                page.set_default_timeout(60_000)
                page.goto(f"{base}/lab/tree/02_viewer.ipynb?token={token}")
                page.wait_for_selector(".jp-Notebook .jp-Cell")
                # Run > Run All Cells once the kernel is up and connected to this page.
                _wait_for_kernel(base, token, timeout_s=90)
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
        changed = _pixel_change(before, after)
        assert changed > 0.005, f"only {changed:.2%} of the viewer's pixels changed"
    finally:
        _stop_server(proc, base, token)
    assert proc.poll() is not None, "JupyterLab is still running"
