"""Which dataset to use: an explicit path, else ``$SEGRAP_DATA``, else the default quick phantom."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one process at a time is then up to the user
    fcntl = None  # type: ignore[assignment]

from segrap_nb import labels as L
from segrap_nb.config import DATA_ENV, DEFAULT_PHANTOM, PhantomSpec, default_phantom_dir
from segrap_nb.io.dataset import IMAGE_KEYS, SegRapDataset
from segrap_nb.io.guards import check_writable, write_errors
from segrap_nb.phantom.writer import GENERATOR, MARKER, make_phantom, marker_generator, marker_settings


def is_phantom(root: str | os.PathLike) -> bool:
    """True when ``root`` holds a phantom made by this kit (it leaves a marker file)."""
    return (Path(root) / MARKER).exists()


def phantom_settings(root: str | os.PathLike) -> PhantomSpec:
    """``cases``, ``size`` and ``seed`` of the phantom at ``root`` (its marker file), to remake it.

    For real data (no marker) the default quick phantom's settings: a phantom of the same
    layout, never of the same voxels.
    """
    if is_phantom(root):
        return marker_settings(root)
    return PhantomSpec(**DEFAULT_PHANTOM)


def chosen_root(root: str | os.PathLike | None = None) -> Path:
    """Where :func:`data_root` points, without making the default phantom."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else default_phantom_dir()


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The dataset to use: ``root`` if given, else ``$SEGRAP_DATA``, else the default phantom."""
    out = chosen_root(root)
    if root is None and not os.environ.get(DATA_ENV) and not _complete(out):
        _build_default_phantom(out)
    return out


def _complete(out: Path) -> bool:
    """True when the default phantom at ``out`` has its marker, this kit's generator and every file."""
    if not is_phantom(out) or marker_generator(out) != GENERATOR:
        return False
    per_case = len(L.OAR_NAMES) + len(L.GTV_NAMES) + len(IMAGE_KEYS) + 2  # + the two maps
    found = sum(f.endswith(".nii.gz") for _, _, files in os.walk(out) for f in files)
    return found == DEFAULT_PHANTOM["cases"] * per_case


@contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (blocking; a no-op where fcntl is missing)."""
    with open(lock_file, "a") as fh:
        if fcntl is not None:
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _build_default_phantom(out: Path) -> None:
    """Make the default phantom at ``out`` once, even with several processes asking at once.

    Under a lock in the cache folder, the phantom is written into a temporary sibling folder
    and renamed into place, so ``out`` is either absent or complete. A tree left without its
    marker (an older kit killed while writing, or edited by hand) is rebuilt.
    """
    cache = out.parent
    check_writable(cache, "cache folder ($SEGRAP_CACHE)")
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / f".{out.name}.lock"):
        if _complete(out):  # another process built it while this one waited
            return
        for stale in cache.glob(f".{out.name}.*.building"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed build (we hold the lock)
        if out.exists() or out.is_symlink():
            why = "made by an older kit" if is_phantom(out) else "incomplete"
            print(f"rebuilding the default phantom: {out} is {why}", file=sys.stderr)
            if out.is_dir() and not out.is_symlink():
                shutil.rmtree(out)
            else:
                out.unlink()
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".building", dir=cache))
        try:
            with write_errors(cache):
                make_phantom(tmp, **DEFAULT_PHANTOM)
                os.replace(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def open_dataset(root: str | os.PathLike | None = None) -> SegRapDataset:
    """Open the dataset at ``root``, else ``$SEGRAP_DATA``, else the default phantom."""
    return SegRapDataset(data_root(root))
