"""Solutions of notebook 02's exercises, kept out of the notebook (``reveal(...)`` prints one).

Each function computes the expected answer from the notebook's own objects, so the answer is
right on the phantom and on the real data alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from segrap_nb import labels as L
from segrap_nb.viz.render import plane_spacing


def coronal_aspect(spacing_lps: tuple[float, ...]) -> float:
    """Exercise 1: ``imshow(aspect=...)`` of a coronal plane in voxel units: slice spacing over the
    left-right spacing (mm / mm), from an LPS-ordered spacing."""
    rows_mm, cols_mm = plane_spacing(spacing_lps, "coronal")
    return rows_mm / cols_mm


def false_positive_voxels(prediction: Any, truth_mask: np.ndarray, structure: str = "Parotid_L") -> int:
    """Exercise 2: voxels labelled ``structure`` in the one-hot ``prediction`` (a ``Volume`` or array)
    that the ground-truth mask ``truth_mask`` (bool, same grid) does not contain."""
    pred = L.structure_mask(np.asarray(getattr(prediction, "array", prediction)), structure)
    return int(np.count_nonzero(pred & ~truth_mask))
