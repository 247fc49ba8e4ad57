"""Validation DSC per structure from one confusion matrix, and the organ groups we report.

An OAR is a *union* of one-hot labels (``Eye_L = {10, 12}``), so DSC is computed per structure,
not per label: from the (true label, predicted label) confusion matrix (one ``torch.bincount``
over the volume), ``|P ∩ G|`` of structure S is the sum of the block S x S, ``|G|`` the rows of
S and ``|P|`` its columns. Empty ground truth and empty prediction give DSC 1, exactly one of
them empty gives 0 (the challenge's convention).
"""

from __future__ import annotations

import numpy as np
import torch

from segrap_nb import labels as L

#: Organ groups reported during validation (task 1), then the GTVs (task 2).
SCORE_GROUPS: dict[str, tuple[str, ...]] = {
    # The six large, high-contrast organs the CPU quick mode is expected to learn (DSC >= 0.7).
    "core6": ("Brain", "Mandible_L", "Mandible_R", "SpinalCord", "Eye_L", "Eye_R"),
    "large": (
        "Brain",
        "BrainStem",
        "TemporalLobe_L",
        "TemporalLobe_R",
        "Eye_L",
        "Eye_R",
        "OralCavity",
        "Mandible_L",
        "Mandible_R",
        "Submandibular_L",
        "Submandibular_R",
        "Parotid_L",
        "Parotid_R",
        "Mastoid_L",
        "Mastoid_R",
        "SpinalCord",
        "Esophagus",
        "Larynx",
        "PharynxConst",
        "Thyroid",
        "Trachea",
    ),
    "small": (
        "Chiasm",
        "Hippocampus_L",
        "Hippocampus_R",
        "Lens_L",
        "Lens_R",
        "OpticNerve_L",
        "OpticNerve_R",
        "Pituitary",
        "TMjoint_L",
        "TMjoint_R",
        "Larynx_Glottic",
        "Larynx_Supraglot",
    ),
    "inner_ear": (
        "MiddleEar_L",
        "MiddleEar_R",
        "IAC_L",
        "IAC_R",
        "TympanicCavity_L",
        "TympanicCavity_R",
        "VestibulSemi_L",
        "VestibulSemi_R",
        "Cochlea_L",
        "Cochlea_R",
        "ETbone_L",
        "ETbone_R",
    ),
    "gtv": ("GTVp", "GTVnd"),
}


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
        out[name] = 1.0 if g + p == 0 else float(2.0 * inter / (g + p))
    return out


def dice_per_structure(gt: np.ndarray, pred: np.ndarray, task: int) -> dict[str, float]:
    """DSC per structure between two uint8 one-hot maps on the same grid."""
    return dice_from_confusion(confusion(gt, pred, L.max_label(task) + 1), task)


def group_means(dsc: dict[str, float], task: int) -> dict[str, float]:
    """Mean DSC of each organ group (see :data:`SCORE_GROUPS`) over the structures given."""
    return {g: float(np.mean([dsc[n] for n in names])) for g, names in groups_for(task).items()}
