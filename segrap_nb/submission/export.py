"""``export_algorithm``: a trained run as a self-contained SegRap algorithm-container folder.

The folder (see :mod:`segrap_nb.submission.templates` for the text files)::

    DIR/process.py  algorithm.json  requirements.txt  Dockerfile  .dockerignore  README.md
    DIR/weights/model.pt                    the run's weights and configuration (plain checkpoint)
    DIR/wheels/segrap_nb-<version>-py3-none-any.whl

It is written into a temporary folder beside ``DIR`` and renamed into place, so a failed
export leaves no half-written folder; an earlier export in ``DIR`` is replaced, anything
else there is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from segrap_nb import labels as L
from segrap_nb.errors import DataError
from segrap_nb.io.atomic import atomic_open
from segrap_nb.io.guards import check_writable, write_errors
from segrap_nb.submission import interface as I
from segrap_nb.submission import templates as T
from segrap_nb.submission.entry import ALGORITHM_FILE, WEIGHTS_FILE
from segrap_nb.submission.wheel import build_wheel

if TYPE_CHECKING:
    from segrap_nb.training.checkpoint import Which

#: The distributions the entry point imports (tests/submission/test_submission.py checks the list is complete).
REQUIREMENTS: tuple[str, ...] = (
    "numpy",
    "scipy",
    "pandas",
    "nibabel",
    "isal",
    "tqdm",
    "PyYAML",
    "SimpleITK",
    "torch",
    "monai",
)
#: What a checkpoint keeps in the exported weights (no optimiser, no RNG states).
_KEEP = ("config", "model", "step", "best_metric", "best_step")


def pinned_versions(recorded: dict | None = None) -> dict[str, str]:
    """``REQUIREMENTS`` with versions: those the checkpoint recorded, else this environment's.

    A local suffix (``2.13.0+cpu``) is dropped: the Dockerfile's torch index picks the build.
    """
    recorded = {str(k).lower(): str(v) for k, v in (recorded or {}).items()}
    out = {}
    for dist in REQUIREMENTS:
        version = recorded.get(dist.lower())
        if version is None:
            try:
                version = metadata.version(dist)
            except metadata.PackageNotFoundError:
                raise DataError(dist, "not installed here: cannot pin its version for the image") from None
        out[dist] = version.split("+", 1)[0]
    return out


def _check_target(out: Path) -> None:
    """DataError unless ``out`` is missing, empty, or an earlier export (its ``algorithm.json``)."""
    if out.exists() and not out.is_dir():
        raise DataError(out, "exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / ALGORITHM_FILE).is_file():
        raise DataError(out, "folder is not empty and not an earlier export: choose a new --out")


def _write_text(path: Path, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def _describe(cfg, info: dict, run: Path, versions: dict[str, str]) -> dict:
    """The content of ``algorithm.json``."""
    return {
        "task": cfg.task,
        "inputs": [I.CT_DIR, I.CONTRAST_DIR],  # the kit's U-Net takes both CTs as its two channels
        "output": I.OUTPUT_DIR,
        "channels": list(L.structures(cfg.task)),
        "run": str(run),
        "step": info.get("step"),
        "config_name": cfg.name,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "versions": versions,
    }


def _fill(folder: Path, run: Path, which: Which, name: str, torch_build: T.TorchBuild) -> None:
    """Write every file of the export into ``folder``."""
    from segrap_nb.training.checkpoint import load_checkpoint, save_checkpoint
    from segrap_nb.training.inference import load_run

    _, cfg, info = load_run(run, which, device=None)  # a clear error for anything but a run
    ckpt = load_checkpoint(info["path"])
    versions = pinned_versions(ckpt.get("versions"))
    save_checkpoint(folder / WEIGHTS_FILE, {k: ckpt[k] for k in _KEEP if k in ckpt})
    wheel = build_wheel(folder / "wheels")
    algorithm = _describe(cfg, info, run, versions)
    _write_text(folder / ALGORITHM_FILE, json.dumps(algorithm, indent=2) + "\n")
    _write_text(folder / "requirements.txt", "".join(f"{d}=={v}\n" for d, v in versions.items()))
    _write_text(folder / "process.py", T.PROCESS_PY)
    _write_text(folder / "Dockerfile", T.dockerfile(algorithm["python"], torch_build, wheel.name))
    _write_text(folder / ".dockerignore", T.DOCKERIGNORE)
    readme = T.readme(name, cfg.task, len(algorithm["channels"]), run.name, info.get("step"), torch_build)
    _write_text(folder / "README.md", readme)


def export_algorithm(
    run: str | os.PathLike,
    out: str | os.PathLike,
    which: Which = "best",
    torch_build: T.TorchBuild = "cpu",
    name: str = "segrap-algorithm",
) -> Path:
    """Export ``run`` (its ``best`` or ``last`` checkpoint) as an algorithm folder ``out``; return it."""
    if torch_build not in T.TORCH_INDEX:
        raise DataError("--torch", f"must be one of {', '.join(T.TORCH_INDEX)}, not {torch_build!r}")
    run, out = Path(run).expanduser(), Path(out).expanduser()
    if not run.is_dir():
        raise DataError(run, "no such run folder (written by segrap-nb train)")
    _check_target(out)
    check_writable(out.parent)
    with write_errors(out.parent):
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
        try:
            _fill(staging, run, which, name, torch_build)
            os.chmod(staging, 0o755)
            old = None
            if out.exists():
                old = out.with_name(f".{out.name}.old-{os.getpid()}")
                os.replace(out, old)
            os.replace(staging, out)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return out
