"""Post-processing of predicted label maps: keep each label's largest connected component.

A network trained on patches sometimes paints a few stray voxels of an organ far from the organ;
HD95 is very sensitive to them (notebook 05 measures how much). Every organ of SegRap is one
connected piece, except the lymph-node GTV (GTVnd: several nodes), which is left as it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from scipy import ndimage

from segrap_nb import labels as L
from segrap_nb.io.dataset import ONEHOT_DIR, SegRapDataset
from segrap_nb.io.nifti import write_nifti

#: Structures that may truly be in several pieces: their labels are never cleaned.
MULTI_PART = ("GTVnd",)
_FULL = np.ones((3, 3, 3), bool)  # 26-connectivity


def _label_ids(names: Iterable[str], task: int) -> set[int]:
    """One-hot label ids (of ``task``) that make up the structures ``names``."""
    ids: set[int] = set()
    for name in names:
        if name in L.structures(task):
            ids.update(L.labels_of(name, task))
    return ids


def keep_largest_component(
    labels: np.ndarray, task: int = 1, keep_all: Iterable[str] = MULTI_PART
) -> np.ndarray:
    """Copy of a label map where each label keeps only its largest 26-connected piece (rest -> 0)."""
    out = labels.copy()
    skip = _label_ids(keep_all, task)
    for lab, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None or lab in skip:
            continue
        mask = labels[box] == lab
        pieces, n = ndimage.label(mask, structure=_FULL)
        if n <= 1:
            continue
        sizes = np.bincount(pieces.ravel())
        sizes[0] = 0
        out[box][mask & (pieces != sizes.argmax())] = 0
    return out


def clean_predictions(pred: str | os.PathLike, out: str | os.PathLike, task: int = 1) -> list[Path]:
    """Write :func:`keep_largest_component` of every one-hot map in ``pred`` to ``out`` (same layout)."""
    written = []
    for case in SegRapDataset(pred):
        if task not in case.onehot:
            continue
        vol = case.onehot_map(task)
        cleaned = keep_largest_component(vol.array, task)
        path = Path(out) / ONEHOT_DIR / f"Task00{task}" / f"{case.case_id}.nii.gz"
        written.append(write_nifti(path, cleaned, vol.affine))
    return written
