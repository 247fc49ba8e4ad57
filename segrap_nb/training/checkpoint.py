"""Checkpoints: model, optimiser, schedule, gradient scaler, step, config and every RNG state.

Written atomically (temporary file in the same folder, then ``os.replace``), so a run killed
while saving keeps its previous checkpoint intact. Read with ``torch.load(weights_only=True)``:
a checkpoint holds only tensors and plain values (numbers, strings, lists, dicts), so a
downloaded file that would run code while loading is refused, never executed.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from segrap_nb.errors import DataError
from segrap_nb.io.atomic import atomic_path

#: Which checkpoint of a run: the best validation score, or the last step.
Which = Literal["best", "last"]


def rng_states(generators: Mapping[str, torch.Generator] | None = None) -> dict[str, Any]:
    """The global random states of Python, NumPy and torch (CPU and, if present, CUDA), and of ``generators``.

    ``generators`` are the run's own torch generators by name (e.g. ``{"augment": ...}``, the
    device augmentation's), stored under ``"generators"``.
    """
    out = {"python": random.getstate(), "numpy": _numpy_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    if generators:
        out["generators"] = {name: g.get_state() for name, g in generators.items()}
    return out


def _numpy_state() -> dict[str, Any]:
    """NumPy's global RNG state as plain values (the key as a list of ints), loadable with weights_only."""
    state = np.random.get_state(legacy=False)
    inner = state["state"]
    return {
        **state,
        "state": {"key": np.asarray(inner["key"]).tolist(), "pos": int(inner["pos"])},
        "has_gauss": int(state["has_gauss"]),
        "gauss": float(state["gauss"]),
    }


def set_rng_states(states: dict[str, Any], generators: Mapping[str, torch.Generator] | None = None) -> None:
    """Restore what :func:`rng_states` captured, ``generators`` too (those the checkpoint holds)."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    saved = states.get("generators", {})
    for name, g in (generators or {}).items():
        if name in saved:
            g.set_state(saved[name])


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
        # Checkpoints written before the RNG state became plain values hold NumPy's RNG key as a
        # uint32 array: allow exactly what rebuilding such an array needs (data, not code;
        # torch >= 2.5, older versions refuse such files with the message below).
        allow = getattr(torch.serialization, "safe_globals", None)
        with allow(_OLD_RNG_KEY_GLOBALS) if allow else contextlib.nullcontext():
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        what = f"calls {found.group(1)}" if found else "holds more than tensors and plain values"
        raise DataError(
            path,
            f"refused: not a plain checkpoint, the file {what} while loading (it could "
            "run code); segrap-nb loads only tensors, numbers, strings, lists and dicts",
        ) from None
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise DataError(path, f"not a readable checkpoint ({type(exc).__name__}: {first})") from None


#: What unpickling NumPy's uint32 RNG key array needs (checkpoints from before plain RNG states).
_OLD_RNG_KEY_GLOBALS = [
    np.ndarray.__reduce__(np.zeros(1, np.uint32))[0],
    np.ndarray,
    np.dtype,
    type(np.dtype(np.uint32)),
]
