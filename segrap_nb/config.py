"""The kit's environment and paths: the data variable, the cache folder, the default phantom's place.

A leaf: it imports nothing from the kit. Choosing and opening a dataset is :mod:`segrap_nb.sources`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, TypedDict

#: Environment variable naming the SegRap data folder (or zip) to use instead of the phantom.
DATA_ENV = "SEGRAP_DATA"


#: Cases, size and seed of the default phantom every notebook runs on.
class PhantomSpec(TypedDict):
    """Arguments of :func:`segrap_nb.phantom.writer.make_phantom` for a default phantom."""

    cases: int
    size: Literal["quick", "full"]
    seed: int


DEFAULT_PHANTOM: PhantomSpec = {"cases": 8, "size": "quick", "seed": 0}


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


def short_path(path: str | os.PathLike) -> str:
    """``path`` for printing: ``$SEGRAP_CACHE/...`` inside the kit's cache variable, ``~/...`` inside
    the home folder, else as given (a stored notebook then shows no user's absolute folders)."""
    p = Path(path)
    env = os.environ.get("SEGRAP_CACHE")
    bases = ([("$SEGRAP_CACHE", Path(env).expanduser())] if env else []) + [("~", Path.home())]
    for name, base in bases:
        try:
            rel = p.relative_to(base)
        except ValueError:
            continue
        return f"{name}/{rel.as_posix()}" if str(rel) != "." else name
    return str(p)
