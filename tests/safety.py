"""Helpers of the data-safety tests (issue 13): tree digests, the one-line error a command must
print, and a real read-only or full disk (a small tmpfs in a private mount namespace, ``unshare``;
``needs_ns`` skips where user namespaces are not available).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def tree_digest(root: Path) -> dict[str, str]:
    """sha1 of every file below ``root`` (relative path -> digest)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def one_error_line(err: str) -> str:
    """The single ``error: ...`` line a failed command must print on stderr."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


def final_error_line(err: str) -> str:
    """After some progress lines, one ``error: ...`` line and no traceback (a failure mid-way)."""
    assert "Traceback" not in err, err
    errors = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, err
    assert err.strip().splitlines()[-1] == errors[0], err
    return errors[0]


# == 6 and 7. read-only and full disks, for real (a tmpfs in a private mount namespace) =======
def namespaces_work() -> bool:
    """True where ``unshare -Urm`` can mount a tmpfs (user namespaces available)."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=1m none $d && umount $d"],
        capture_output=True,
    )
    return probe.returncode == 0


needs_ns = pytest.mark.skipif(not namespaces_work(), reason="needs unshare -Urm (user namespaces)")


def run_on_small_disk(
    mount: Path,
    commands: str,
    size: str = "2m",
    readonly: bool = False,
    fill_to_kb: int | None = None,
    env: dict | None = None,
) -> subprocess.CompletedProcess:
    """Run shell ``commands`` with a fresh tmpfs of ``size`` at ``mount`` (read-only, or filled)."""
    mount.mkdir(parents=True, exist_ok=True)
    setup = f"mount -t tmpfs -o size={size} none '{mount}'"
    if fill_to_kb is not None:  # leave about fill_to_kb KiB free
        setup += (
            f" && dd if=/dev/zero of='{mount}/filler' bs=1k "
            f"count=$(( $(df -k --output=avail '{mount}' | tail -1) - {fill_to_kb} )) 2>/dev/null"
        )
    if readonly:
        setup += f" && mount -o remount,ro '{mount}'"
    env = {**os.environ, **(env or {})}
    return subprocess.run(
        ["unshare", "-Urm", "sh", "-c", f"{setup} && {commands}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )


def cli_command(*args: str) -> str:
    """A shell command line running ``segrap-nb`` with ``args`` (each quoted) in this Python."""
    return " ".join([f"'{sys.executable}'", "-m", "segrap_nb", *[f"'{a}'" for a in args]])
