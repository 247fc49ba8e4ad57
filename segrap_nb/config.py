"""The kit's environment and paths: the data variable, the cache folder, the default phantom's place.

A leaf: it imports nothing from the kit. Choosing and opening a dataset is :mod:`segrap_nb.sources`.
"""

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
