"""Issue 13, segrap_nb.sources: the default phantom is made once, completely, even by two processes.

Split from the former tests/test_safety.py (one numbered case of the issue per test).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from segrap_nb.io.dataset import IMAGES_DIR, SegRapDataset
from segrap_nb.io.nifti import read_nifti
from tests.safety import (
    REPO,
)

# == 2. two processes making the default phantom ==============================================
_MAKE_DEFAULT = "from segrap_nb.sources import data_root; print(data_root())"


def _python(code: str, env: dict, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )


def test_two_processes_make_one_complete_default_phantom(tmp_path):
    from segrap_nb.analysis.validate import validate_dataset

    env = {**os.environ, "SEGRAP_CACHE": str(tmp_path / "cache")}
    env.pop("SEGRAP_DATA", None)
    first = _python(_MAKE_DEFAULT, env)
    time.sleep(0.7)  # the timing: the second asks while the first is writing
    second = _python(_MAKE_DEFAULT, env)
    outs = [p.communicate(timeout=300) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    roots = {o[0].strip().splitlines()[-1] for o in outs}
    assert len(roots) == 1
    root = Path(roots.pop())
    reports = validate_dataset(str(root), progress=False)
    assert len(reports) == 8
    assert sum(len(r.errors) for r in reports) == 0
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")) == [
        root.name
    ]  # no temporary build folder left behind
    assert not list((tmp_path / "cache").glob("*.building"))


def test_half_built_default_phantom_is_rebuilt(tmp_path, monkeypatch):
    from segrap_nb.config import default_phantom_dir
    from segrap_nb.sources import data_root

    monkeypatch.setenv("SEGRAP_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SEGRAP_DATA", raising=False)
    out = default_phantom_dir()
    case = out / IMAGES_DIR / "segrap_0000"
    case.mkdir(parents=True)
    (case / "image.nii.gz").write_bytes(b"half written")
    # ... and the old bug's state: a marker written over an incomplete tree.
    (out / "PHANTOM.txt").write_text("cases: 8\n")
    assert data_root() == out
    ds = SegRapDataset(out)
    assert len(ds) == 8
    assert all(len(c.files) == 49 and len(c.onehot) == 2 for c in ds)
    assert read_nifti(ds["segrap_0000"].files["image"]).shape == (128, 156, 112)
