"""Which dataset to use: an explicit path, else ``$SEGRAP_DATA``, else the default quick phantom."""

from __future__ import annotations

import os
from pathlib import Path

from segrap_nb.config import DATA_ENV, DEFAULT_PHANTOM, default_phantom_dir
from segrap_nb.io.dataset import SegRapDataset
from segrap_nb.phantom.writer import MARKER, make_phantom


def is_phantom(root: str | os.PathLike) -> bool:
    """True when ``root`` holds a phantom made by this kit (it leaves a marker file)."""
    return (Path(root) / MARKER).exists()


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The dataset to use: ``root`` if given, else ``$SEGRAP_DATA``, else the default phantom."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    out = default_phantom_dir()
    if not is_phantom(out):
        make_phantom(out, **DEFAULT_PHANTOM)
    return out


def open_dataset(root: str | os.PathLike | None = None) -> SegRapDataset:
    """Open the dataset at ``root``, else ``$SEGRAP_DATA``, else the default phantom."""
    return SegRapDataset(data_root(root))
