"""Validation DSC per structure from one confusion matrix, and the organ groups we report.

An OAR is a *union* of one-hot labels (``Eye_L = {10, 12}``), so DSC is computed per structure,
not per label: from the (true label, predicted label) confusion matrix (one ``torch.bincount``
over the volume), ``|P ∩ G|`` of structure S is the sum of the block S x S, ``|G|`` the rows of
S and ``|P|`` its columns; the DSC and its empty/empty rule are :func:`segrap_nb.eval.metrics.dice`.
"""

from __future__ import annotations

import numpy as np
import torch

from segrap_nb import labels as L
from segrap_nb.eval.metrics import dice

#: Organ groups reported during validation: defined in :data:`segrap_nb.labels.SCORE_GROUPS`.
SCORE_GROUPS = L.SCORE_GROUPS


def groups_for(task: int) -> dict[str, tuple[str, ...]]:
    """The groups that apply to a task, plus ``all`` (every structure of the task)."""
    names = set(L.structures(task))
    out = {g: s for g, s in SCORE_GROUPS.items() if set(s) <= names}
    out["all"] = L.structures(task)
    return out


def confusion(gt: np.ndarray | torch.Tensor, pred: np.ndarray | torch.Tensor, num_classes: int) -> np.ndarray:
    """(num_classes x num_classes) voxel counts: rows = ground-truth label, columns = predicted."""
    g = torch.as_tensor(np.asarray(gt)).reshape(-1).long()
    p = torch.as_tensor(np.asarray(pred)).reshape(-1).long()
    counts = torch.bincount(g * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).numpy()


def dice_from_confusion(cm: np.ndarray, task: int) -> dict[str, float]:
    """DSC of every structure of ``task`` from a label confusion matrix (empty/empty = 1)."""
    out = {}
    for name in L.structures(task):
        ids = list(L.labels_of(name, task))
        inter = cm[np.ix_(ids, ids)].sum()
        g = cm[ids, :].sum()
        p = cm[:, ids].sum()
        out[name] = dice(int(inter), int(p), int(g))
    return out


def dice_per_structure(gt: np.ndarray, pred: np.ndarray, task: int) -> dict[str, float]:
    """DSC per structure between two uint8 one-hot maps on the same grid."""
    return dice_from_confusion(confusion(gt, pred, L.max_label(task) + 1), task)


def group_means(dsc: dict[str, float], task: int) -> dict[str, float]:
    """Mean DSC of each organ group (see :data:`SCORE_GROUPS`) over the structures given."""
    return {g: float(np.mean([dsc[n] for n in names])) for g, names in groups_for(task).items()}
