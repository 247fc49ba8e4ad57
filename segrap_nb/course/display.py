"""Paths as a notebook shows them: short and the same on every machine."""

from __future__ import annotations

import os
from pathlib import Path

from segrap_nb.config import cache_dir


def shown_path(path: str | os.PathLike) -> str:
    """``path`` for printing: under the kit's cache as ``$SEGRAP_CACHE/...`` (when that variable is
    set) or ``~/...`` (the default cache is in the home folder), else as given."""
    p = Path(path)
    try:
        rel = p.resolve().relative_to(cache_dir().resolve())
    except ValueError:
        rel = None
    if rel is not None and os.environ.get("SEGRAP_CACHE"):
        return str(Path("$SEGRAP_CACHE") / rel)
    try:
        return str(Path("~") / p.resolve().relative_to(Path.home().resolve()))
    except ValueError:
        return str(p)
