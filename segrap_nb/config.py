"""Where the data are: an explicit path, else ``$SEGRAP_DATA``, else the default quick phantom."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the SegRap data folder (or zip) to use instead of the phantom.
DATA_ENV = "SEGRAP_DATA"
#: Cases, size and seed of the default phantom every notebook runs on.
DEFAULT_PHANTOM = {"cases": 8, "size": "quick", "seed": 0}


def cache_dir() -> Path:
    """Per-user cache folder of the kit (``$SEGRAP_CACHE``, else ``~/.cache/segrap-nb``)."""
    env = os.environ.get("SEGRAP_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "segrap-nb"


def default_phantom_dir() -> Path:
    """Folder of the default quick phantom (created on first use)."""
    p = DEFAULT_PHANTOM
    return cache_dir() / f"phantom-{p['size']}-{p['cases']}cases-seed{p['seed']}"


def is_phantom(root: str | os.PathLike) -> bool:
    """True when ``root`` holds a phantom made by this kit (it leaves a marker file)."""
    return (Path(root) / "PHANTOM.txt").exists()


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The dataset to use: ``root`` if given, else ``$SEGRAP_DATA``, else the default phantom."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    out = default_phantom_dir()
    if not is_phantom(out):
        from .phantom import make_phantom

        make_phantom(out, **DEFAULT_PHANTOM)
    return out
