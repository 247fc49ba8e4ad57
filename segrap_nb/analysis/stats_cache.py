"""A small on-disk cache for per-case statistics, keyed on the identity of the files read.

One JSON file per case (``<case>-<root hash>.json`` under ``config.cache_dir()/stats``) holds
one entry per unit of work (the CT header, the Task001 counts, the Task002 counts). An entry
is valid while the files it was computed from keep their :meth:`FileRef.stat_key` (path,
size, mtime): rewriting a file invalidates exactly the entries that read it. Files are
written atomically (temporary name, then ``os.replace``), so an interrupted run never leaves
a half-written cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from segrap_nb.io.atomic import atomic_open
from segrap_nb.io.fileref import FileRef

#: Bump when the content of cached entries changes meaning; older files are then ignored.
CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """Folder of the statistics cache: ``segrap_nb.config.cache_dir() / "stats"``."""
    from segrap_nb.config import cache_dir

    return cache_dir() / "stats"


def file_keys(refs: Iterable[FileRef]) -> dict[FileRef, list[Any]]:
    """``list(ref.stat_key())`` for many files; files that cannot be stat'ed are left out.

    Zip members cost one read of each zip's index, where :meth:`FileRef.stat_key` (same values)
    opens the zip and parses its whole central directory (about 6000 entries for the release)
    once per member: batching keeps a cached rerun over the zips instant. A file left out is
    never served from the cache: reading it reports the problem, naming the file.
    """
    out: dict[FileRef, list[Any]] = {}
    by_zip: dict[Path, list[FileRef]] = defaultdict(list)
    for ref in refs:
        if ref.member is None:
            try:
                out[ref] = list(ref.stat_key())
            except OSError:
                pass  # left out: reading the file reports the problem, naming it
        else:
            by_zip[ref.path].append(ref)
    for path, members in by_zip.items():
        try:
            mtime = path.stat().st_mtime_ns
            with zipfile.ZipFile(path) as archive:
                for ref in members:
                    if ref.member is None:
                        continue
                    try:
                        info = archive.getinfo(ref.member)
                    except KeyError:
                        continue
                    out[ref] = [f"{path.resolve()}!{ref.member}", info.file_size, mtime ^ info.CRC]
        except (OSError, zipfile.BadZipFile):
            continue
    return out


def digest(key: Any) -> str:
    """A short stable hash of a JSON-serialisable key (e.g. a list of stat keys)."""
    return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()


class StatsCache:
    """Per-case JSON entries under ``directory`` for the dataset at ``root``; None disables it."""

    def __init__(self, directory: str | os.PathLike | None, root: str | os.PathLike) -> None:
        self.directory = Path(directory) if directory is not None else None
        self._root_id = digest(str(Path(root).resolve()))[:12]

    def path(self, case_id: str) -> Path | None:
        """The cache file of one case (None when caching is off)."""
        if self.directory is None:
            return None
        return self.directory / f"{case_id}-{self._root_id}.json"

    def load(self, case_id: str) -> dict[str, dict[str, Any]]:
        """The stored entries of a case, ``{unit: {"key": digest, "value": {...}}}`` (may be {})."""
        path = self.path(case_id)
        if path is None or not path.exists():
            return {}
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}  # unreadable cache file: treat as a miss, it is rewritten below
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return {}
        units = data.get("units")
        return units if isinstance(units, dict) else {}

    def lookup(self, case_id: str, keys: dict[str, str]) -> dict[str, dict[str, Any]]:
        """Cached values of the units whose key is unchanged: ``{unit: value}``."""
        stored = self.load(case_id)
        return {
            unit: stored[unit]["value"]
            for unit, key in keys.items()
            if isinstance(stored.get(unit), dict) and stored[unit].get("key") == key
        }

    def save(self, case_id: str, keys: dict[str, str], values: dict[str, dict[str, Any]]) -> None:
        """Store the units of a case atomically (temporary file, then rename)."""
        path = self.path(case_id)
        if path is None:
            return
        units = {
            u: {"key": keys[u], "value": v}
            for u, v in values.items()
            if u in keys and not v.get("transient")  # e.g. out of memory: retry next time
        }
        text = json.dumps({"version": CACHE_VERSION, "case": case_id, "units": units})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(path, "w") as fh:
                fh.write(text)
        except OSError as exc:  # read-only or full: the statistics are still right, only slower
            warnings.warn(
                f"{self.directory}: statistics cache not written "
                f"({exc.strerror or exc}); continuing without it",
                stacklevel=2,
            )
            self.directory = None
