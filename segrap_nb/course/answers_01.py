"""Solutions of notebook 01's exercises, kept out of the notebook (``reveal(...)`` prints one).

Each function computes the expected answer from the notebook's own objects, so the answer is
right on the phantom and on the real data alike.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from segrap_nb import labels as L


def voxel_volume_mm3(info: Any) -> float:
    """Exercise 1: the volume of one voxel, in mm³, from a header's (or volume's) ``spacing``."""
    return math.prod(info.spacing)


def temporal_lobe_labels() -> set[int]:
    """Exercise 2: the one-hot label ids whose union is TemporalLobe_L (the official table)."""
    return set(L.OAR_TO_ONEHOT["TemporalLobe_L"])


def gtvp_volume_cm3(case: Any) -> float:
    """Exercise 3: the volume of the primary tumour of ``case``, in cm³, from its GTVp.nii.gz file."""
    gtvp = case.mask("GTVp")
    return float(np.count_nonzero(gtvp.array)) * math.prod(gtvp.spacing) / 1000.0
