"""JupyterLab and headless Chromium for the browser tests (tests/viz/test_browser.py, test_itk_browser.py).

Starts JupyterLab on 127.0.0.1 (random free port, random token) in a work folder, waits for it
and for a notebook's kernel, stops it, and launches Debian's Chromium through Playwright.
"""

from __future__ import annotations

import io
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
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


def wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
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


def wait_for_kernel(
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


def stop_server(proc: subprocess.Popen, base: str, token: str) -> None:
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


def pixel_change(a: bytes, b: bytes) -> float:
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


def start_jupyterlab(work: Path, data: Path, tmp_path: Path) -> tuple[subprocess.Popen, str, str, Path]:
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
