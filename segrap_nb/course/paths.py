"""Paths as a notebook should print them: short, and without the machine's absolute folders."""

from __future__ import annotations

import os
from pathlib import Path


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
