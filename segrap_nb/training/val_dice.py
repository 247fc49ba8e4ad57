"""Validation DSC per structure from one confusion matrix, and the organ groups we report.

An OAR is a *union* of one-hot labels (``Eye_L = {10, 12}``), so DSC is computed per structure,
not per label: from the (true label, predicted label) confusion matrix (counted piece by piece
over the volume), ``|P ∩ G|`` of structure S is the sum of the block S x S, ``|G|`` the rows of S
and ``|P|`` its columns; the DSC and its empty/empty rule are :func:`segrap_nb.eval.metrics.dice`.
"""

from __future__ import annotations

import numpy as np
import torch

from segrap_nb import labels as L
from segrap_nb.eval.metrics import dice
from segrap_nb.io.counts import PIECE_BYTES

#: Organ groups reported during validation: defined in :data:`segrap_nb.labels.SCORE_GROUPS`.
SCORE_GROUPS = L.SCORE_GROUPS


def groups_for(task: int) -> dict[str, tuple[str, ...]]:
    """The groups that apply to a task, plus ``all`` (every structure of the task)."""
    names = set(L.structures(task))
    out = {g: s for g, s in SCORE_GROUPS.items() if set(s) <= names}
    out["all"] = L.structures(task)
    return out


def _as_uint8(labels: np.ndarray) -> np.ndarray:
    """A label map as uint8 (no copy when it is already); ValueError for values outside 0..255."""
    if labels.dtype == np.uint8:
        return labels
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) > 255):
        raise ValueError(f"label values {int(labels.min())}..{int(labels.max())} outside 0..255")
    return labels.astype(np.uint8)


def _flat_pair(
    gt: np.ndarray | torch.Tensor, pred: np.ndarray | torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """Both label maps as flat uint8 arrays in one voxel order (views where their layouts allow)."""
    g, p = (_as_uint8(np.asarray(a.cpu() if isinstance(a, torch.Tensor) else a)) for a in (gt, pred))
    if g.shape != p.shape:
        raise ValueError(f"label maps of different shapes: ground truth {g.shape}, prediction {p.shape}")
    if g.ndim > 1 and g.flags.f_contiguous and p.flags.f_contiguous:  # NIfTI's (i, j, k) order
        return g.ravel(order="F"), p.ravel(order="F")
    return g.ravel(order="C"), p.ravel(order="C")


def confusion(gt: np.ndarray | torch.Tensor, pred: np.ndarray | torch.Tensor, num_classes: int) -> np.ndarray:
    """(num_classes x num_classes) voxel counts: rows = ground-truth label, columns = predicted.

    Written by hand for memory: one ``bincount`` of ``gt * n + pred`` over the whole volume
    makes int64 copies (4 GB for a release-size case). Here a cache-sized piece is counted at
    a time, and only its voxels labelled in either map; the rest is background in both.
    """
    g, p = _flat_pair(gt, pred)
    n = num_classes
    counts = np.zeros(n * n, dtype=np.int64)
    background = 0
    for lo in range(0, g.size, PIECE_BYTES):
        gp, pp = g[lo : lo + PIECE_BYTES], p[lo : lo + PIECE_BYTES]
        if max(int(gp.max(initial=0)), int(pp.max(initial=0))) >= n:
            raise ValueError(f"a label above {n - 1} in a map of {n} classes")
        either = np.bitwise_or(gp, pp) != 0
        codes = gp[either].astype(np.int64) * n + pp[either]
        counts += np.bincount(codes, minlength=n * n)
        background += gp.size - codes.size
    counts[0] += background
    return counts.reshape(n, n)


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
