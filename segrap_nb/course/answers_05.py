"""Solutions of notebook 05's exercises (evaluation), kept out of the notebook.

Each function computes the expected answer from the notebook's own objects; the notebook's
solution cell calls it and checks the student's answer. ``reveal(answers_05.<function>)`` prints
a function's source for a student who is stuck.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from segrap_nb import labels as L
from segrap_nb.eval.metrics import surface_metrics
from segrap_nb.io.dataset import SegRapDataset


def two_boxes_dsc() -> float:
    """Exercise 1: DSC of the box [5:15, 5:15, 5:15] against the box [7:17, 5:15, 5:15] (voxels)."""
    truth = np.zeros((20, 20, 20), bool)
    pred = np.zeros((20, 20, 20), bool)
    truth[5:15, 5:15, 5:15] = True
    pred[7:17, 5:15, 5:15] = True
    return float(surface_metrics(pred, truth, (1.0, 1.0, 1.0), 1.0).dsc)


def metric_hurt_most(blob_table: pd.DataFrame) -> str:
    """Exercise 2: the metric ("dsc", "nsd" or "hd95") whose value changes most, relative to itself.

    ``blob_table`` has one row without the blob, then one row with it, and the three metrics as
    columns.
    """
    before, after = blob_table.iloc[0], blob_table.iloc[1]
    change = (after - before).abs() / before.abs()
    return str(change.idxmax())


def structure_volume_cm3(data_root: str | os.PathLike, case_id: str, structure: str) -> float:
    """Exercise 3: ground-truth volume (cm³) of one structure of one case, counted from its voxels.

    Voxels of ``labels.structure_mask`` on the case's one-hot map, times the voxel volume (the
    product of the three spacings, mm³), over 1000 mm³ per cm³.
    """
    task = 2 if structure in L.GTV_NAMES else 1
    onehot = SegRapDataset(data_root)[case_id].onehot_map(task)
    voxels = int(L.structure_mask(onehot.array, structure, task).sum())
    return voxels * float(np.prod(onehot.spacing)) / 1000.0
