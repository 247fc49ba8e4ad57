"""Build a wheel of the installed kit, so that the algorithm image installs it with no network.

Written by hand (a wheel is a zip with a ``.dist-info`` folder, PEP 427) rather than with
``pip wheel``: it works the same for an editable checkout and for a kit installed from PyPI or
git (which has no ``pyproject.toml`` to build from), needs no build backend, writes nothing
into the source tree and takes well under a second. The wheel holds the package's files as
they are (sources, configs, data) and no dependency list: the image installs the pinned
``requirements.txt`` first, then this wheel with ``--no-deps``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from pathlib import Path

import segrap_nb
from segrap_nb.io.atomic import atomic_path

#: Distribution name in the wheel's file name (PEP 427 escapes "-" as "_").
DIST = "segrap_nb"
#: Every member gets this date, so the same files always give the same wheel bytes.
_DATE = (1980, 1, 1, 0, 0, 0)


def package_files() -> list[tuple[str, Path]]:
    """(archive name, file) of every file of the ``segrap_nb`` package, caches left out, sorted."""
    root = Path(segrap_nb.__file__).resolve().parent
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".part"):
            out.append((f"segrap_nb/{path.relative_to(root).as_posix()}", path))
    return out


def _record_line(name: str, data: bytes) -> str:
    """One RECORD row: name, urlsafe-base64 sha256 without padding, size in bytes."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _metadata(version: str) -> dict[str, bytes]:
    """The ``.dist-info`` files other than RECORD."""
    return {
        "METADATA": (
            f"Metadata-Version: 2.1\nName: segrap-nb\nVersion: {version}\n"
            "Summary: A Jupyter teaching and exploration kit for the SegRap 2023 head-and-neck CT challenge\n"
            "Requires-Python: >=3.10\n"
        ).encode(),
        "WHEEL": b"Wheel-Version: 1.0\nGenerator: segrap-nb export-algorithm\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        "entry_points.txt": b"[console_scripts]\nsegrap-nb = segrap_nb.cli:main\n",
    }


def build_wheel(folder: str | os.PathLike) -> Path:
    """Write ``segrap_nb-<version>-py3-none-any.whl`` of the running kit into ``folder``; return it."""
    version = segrap_nb.__version__
    info = f"{DIST}-{version}.dist-info"
    path = Path(folder) / f"{DIST}-{version}-py3-none-any.whl"
    members = [(name, file.read_bytes()) for name, file in package_files()]
    members += [(f"{info}/{name}", data) for name, data in _metadata(version).items()]
    record = "\n".join([*(_record_line(n, d) for n, d in members), f"{info}/RECORD,,"]) + "\n"
    members.append((f"{info}/RECORD", record.encode()))
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            entry = zipfile.ZipInfo(name, _DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            zf.writestr(entry, data)
    return path
