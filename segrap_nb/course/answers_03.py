"""Solutions of notebook 03's exercises (dataset statistics), kept out of the notebook.

Each function computes the expected answer from the notebook's own objects; the notebook's
solution cell calls it and checks the student's answer. ``reveal(answers_03.<function>)`` prints
a function's source for a student who is stuck.
"""

from __future__ import annotations

import pandas as pd

#: The organisers' tutorial grid (mm): 1 x 1 mm in-plane, 3 mm slices.
TUTORIAL_VOXEL_MM = (1.0, 1.0, 3.0)


def chiasm_voxels(card: pd.DataFrame, voxel_mm: tuple[float, float, float] = TUTORIAL_VOXEL_MM) -> float:
    """Exercise 1: voxels of an average chiasm (the card's mean cm³) on a grid of ``voxel_mm`` voxels.

    ``card`` is ``published.card_labels()``. 1 cm³ = 1000 mm³; one voxel is the product of its
    three spacings in mm³.
    """
    mean_cm3 = float(card.set_index("name").loc["Chiasm", "mean_cm3"])
    voxel_mm3 = voxel_mm[0] * voxel_mm[1] * voxel_mm[2]
    return mean_cm3 * 1000.0 / voxel_mm3


def labels_missing_somewhere(card: pd.DataFrame, n_cases: int = 120) -> int:
    """Exercise 2: how many of the card's 54 one-hot labels are absent from at least one case.

    ``card`` is ``published.card_labels()``; its ``cases`` column counts the training cases in
    which a label has at least one voxel, out of ``n_cases``.
    """
    return int((card["cases"] < n_cases).sum())


def background_per_chiasm_voxel(fractions: pd.DataFrame) -> float:
    """Exercise 3: background voxels (label 0) per chiasm voxel (label 3) over the whole dataset.

    ``fractions`` is ``stats.class_fractions(result.volumes, task=1)`` (columns label, voxels).
    """
    counts = fractions.set_index("label")["voxels"]
    return float(counts[0] / counts[3])
