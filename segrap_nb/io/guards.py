"""Guards for every command that writes: never into a dataset, only where it can write, only over
files the kit made itself, and one clear line (not a traceback) when the disk is full.

* :func:`refuse_overlap` -- an output folder must not overlap a dataset in either direction
  (through symbolic links, and for a zip its folder, where a scan finds it and where its members
  would be extracted).
* :func:`check_writable` -- before any computation: the folder (or its nearest existing parent)
  accepts a new file.
* :class:`Manifest` -- ``OUT/.segrap-nb-manifest.json`` lists the files the kit wrote under
  ``OUT``; only those may be replaced or removed later.
* :func:`write_errors` -- an ``OSError`` of a full or read-only disk becomes a
  :class:`~segrap_nb.errors.DataError` naming the path.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from segrap_nb.errors import DataError

#: File, in an output folder, listing what the kit wrote there (relative POSIX paths).
MANIFEST = ".segrap-nb-manifest.json"
#: errno values that mean "the disk cannot take this write", and how each is said.
_WRITE_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}
_FULL = (errno.ENOSPC, errno.EDQUOT)


def real_path(path: str | os.PathLike) -> Path:
    """Absolute path with every symbolic link resolved (the path need not exist)."""
    return Path(os.path.realpath(Path(path).expanduser()))


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _linked_dirs(root: Path) -> Iterator[Path]:
    """Real targets of the directory links found below ``root`` (followed once; loops are cut)."""
    seen: set[str] = set()
    for dirpath, dirnames, _ in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if os.path.islink(full):
                yield real_path(full)


def dataset_areas(data: str | os.PathLike) -> list[Path]:
    """The real folders a dataset occupies: its folder (a zip's folder) and its linked folders."""
    real = real_path(data)
    if real.is_file():  # a zip: a later scan of its folder would read anything written there
        return [real.parent]
    areas = [real]
    if real.is_dir():
        areas += [p for p in _linked_dirs(real) if p not in areas]
    return areas


def refuse_overlap(
    out: str | os.PathLike, *datasets: str | os.PathLike | None, option: str = "--out"
) -> None:
    """DataError when ``out`` is, contains, or lies inside any of ``datasets`` (None skipped)."""
    target = real_path(out)
    for data in datasets:
        if data is None:
            continue
        for area in dataset_areas(data):
            if _within(target, area) or _within(area, target):
                where = "the dataset" if area == real_path(data) else f"the dataset's folder {area}"
                raise DataError(
                    out,
                    f"{option} overlaps {where} ({data}): writing there could replace "
                    "or shadow its files; choose a folder outside the dataset",
                )


def check_writable(path: str | os.PathLike, what: str = "output folder") -> Path:
    """DataError unless a file can be created in ``path`` (or its nearest existing parent)."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise DataError(path, f"{what} is an existing file, not a folder")
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise DataError(path, f"cannot create the {what}: {probe} is a file")
    try:
        fd, name = tempfile.mkstemp(prefix=".segrap-nb-write-test.", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        why = _WRITE_ERRNOS.get(exc.errno or 0, exc.strerror or str(exc))
        raise DataError(path, f"{what} is not writable ({why})") from None
    return path


def is_disk_error(exc: BaseException) -> bool:
    """True for an OSError that says the disk cannot take a write (full, read-only, denied)."""
    return isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS


def disk_error(exc: OSError, path: str | os.PathLike) -> DataError:
    """The DataError for a failed write to ``path``: e.g. ``path: no space left on the device``."""
    why = _WRITE_ERRNOS.get(exc.errno or 0, exc.strerror or str(exc))
    if exc.errno in _FULL:
        why += " (partial files removed)"
    return DataError(path, f"cannot write: {why}")


@contextmanager
def write_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn a full / read-only disk error raised inside the block into one DataError for ``path``."""
    try:
        yield
    except OSError as exc:
        if not is_disk_error(exc):
            raise
        raise disk_error(exc, path) from None


def torch_save_error(exc: RuntimeError, path: str | os.PathLike) -> DataError | None:
    """The DataError for a failed ``torch.save`` to ``path`` (its writer raises RuntimeError)."""
    text = str(exc)
    if "enforce fail" not in text and "write" not in text.lower():
        return None
    parent = Path(path).parent
    try:
        full = shutil.disk_usage(parent).free < 64 << 20
    except OSError:
        full = False
    why = "no space left on the device (partial files removed)" if full else text.splitlines()[0]
    return DataError(path, f"cannot write: {why}")


class Manifest:
    """The files the kit wrote under ``folder`` (``folder/.segrap-nb-manifest.json``)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder).expanduser()
        self.path = self.folder / MANIFEST
        self.files: set[str] = set()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("files"), list):
                self.files = {str(f) for f in data["files"]}
        except (OSError, ValueError):
            pass  # none (or unreadable): the kit owns nothing here yet

    def owns(self, rel: str) -> bool:
        """True when the kit wrote ``folder/rel``."""
        return rel in self.files

    def foreign(self, rels: Iterable[str]) -> list[str]:
        """Those of ``rels`` that exist under the folder but were not written by the kit."""
        return [r for r in rels if r not in self.files and os.path.lexists(self.folder / r)]

    def check(self, rels: Iterable[str]) -> None:
        """DataError when any of ``rels`` exists and was not written by the kit."""
        foreign = self.foreign(rels)
        if foreign:
            more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
            raise DataError(
                self.folder / foreign[0],
                f"exists and was not written by segrap-nb{more}: refusing to replace "
                "it (move it away, or choose another output folder)",
            )

    def claim(self, rels: Iterable[str]) -> None:
        """Check ``rels`` (see :meth:`check`), then record them as the kit's, saved at once."""
        rels = list(rels)
        self.check(rels)
        if not set(rels) <= self.files:
            self.files |= set(rels)
            self.save()

    def forget(self, rels: Iterable[str]) -> None:
        """Drop ``rels`` (files the kit removed) from the list and save it."""
        before = len(self.files)
        self.files -= set(rels)
        if len(self.files) != before:
            self.save()

    def save(self) -> None:
        """Write the list atomically (temporary name, then rename)."""
        from segrap_nb.io.atomic import atomic_open

        with write_errors(self.path), atomic_open(self.path, "w", encoding="utf-8") as fh:
            json.dump({"written_by": "segrap-nb", "files": sorted(self.files)}, fh, indent=0)
            fh.write("\n")
