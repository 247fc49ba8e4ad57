"""Checkpoints: model, optimiser, schedule, gradient scaler, step, config and every RNG state.

Written atomically (temporary file in the same folder, then ``os.replace``), so a run killed
while saving keeps its previous checkpoint intact.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segrap_nb.io.atomic import atomic_path
from segrap_nb.errors import DataError


def rng_states() -> dict[str, Any]:
    """The global random states of Python, NumPy and torch (CPU and, if present, CUDA)."""
    out = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` captured."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """``torch.save`` to a temporary name, then rename over ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; DataError if missing or unreadable."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "checkpoint not found")
    try:
        # weights_only=False: the file holds RNG states and the config dict (our own files).
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise DataError(path, f"not a readable checkpoint ({type(exc).__name__}: {exc})") from None
