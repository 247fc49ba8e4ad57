"""Solutions of notebook 00's exercises, kept out of the notebook (``reveal(...)`` prints one).

Each function computes the expected answer from the notebook's own objects, so the answer is
right on the phantom and on the real data alike.
"""

from __future__ import annotations

import math
from collections.abc import Sized
from typing import Any


def number_of_cases(dataset: Sized) -> int:
    """Exercise 1: the number of cases in the dataset in use (``len`` of a ``SegRapDataset``)."""
    return len(dataset)


def voxel_volume_mm3(ct: Any) -> float:
    """Exercise 2: the volume of one voxel of the CT ``ct`` (a ``Volume``), in mm³."""
    return math.prod(ct.spacing)
