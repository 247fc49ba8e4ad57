"""The SegRap 2023 metrics, per structure: DSC, NSD (the ranking metrics) and HD95 (an extra).

The challenge scores every structure of every case with the definitions of DeepMind's
``surface-distance`` package (Nikolov et al. 2021): surface elements ("surfels") are the
marching-cubes-style faces found from each 2x2x2 voxel neighbourhood, each weighted by its area
in mm², and each surfel's distance to the other surface is read from a Euclidean distance
transform (in mm) of the other surface's surfel grid.

* DSC  = 2|P ∩ G| / (|P| + |G|).
* NSD  = area of both surfaces lying within ``tolerance_mm`` of the other surface, divided by
  the total area of both surfaces (``compute_surface_dice_at_tolerance``).
* HD95 = max over the two directions of the surfel-area-weighted 95th percentile of the
  surface-to-surface distances, in mm (``compute_robust_hausdorff(..., 95)``). Not a ranking
  metric. MONAI's default (voxel-boundary) HD95 gives different numbers on the same masks.

Empty masks (the challenge's rules): both empty -> DSC = NSD = 1 and HD95 = 0; exactly one
empty -> DSC = NSD = 0 and HD95 = ``inf`` (what ``compute_robust_hausdorff`` returns; we keep
``inf`` rather than ``nan`` so that "no surface to compare with" is never mistaken for "not
computed" -- drop or cap it before averaging HD95 over cases).

Why hand-written rather than calling ``surface-distance``: speed, with the same numbers. The
package scans the full volume once per structure (bounding box by max-projections, then a
bool mask per structure) and sorts surfels with a Python ``sorted(zip(...))``; on a full-size
SegRap case (1024 x 1024 x 126 voxels, 45 OARs) that costs tens of seconds per case (about
1 s here). The bounding boxes of all labels come from one ``scipy.ndimage.find_objects`` pass
over the one-hot map (separate masks: two max-projections each, see :mod:`segrap_nb.eval.crops`;
no one-hot map is built from them), each structure's masks are built only inside its crop, distances are
read from the distance transform only at the surfels (no float64 map of the whole crop), and
surfels are sorted by ``np.lexsort``. The rest follows DeepMind's code step by step (same
neighbour codes, same surfel areas, same distance transform on the same grid, same sums), so
the results are the same floating-point numbers, which ``tests/eval/test_metrics.py`` checks
against the package.

Why cropping is exact: ``surface-distance`` itself works on the crop to the joint bounding box
of the two masks, zero-padded by one voxel on the high side (the 2x2x2 correlation's zero
``cval`` supplies the low side): every surfel lies on that grid of voxel corners, and the
Euclidean distance transform is exact, so a surfel's distance to the nearest surfel of the
other surface depends only on where those surfels are, never on how far the grid extends. We
build exactly that grid (the tight joint box, one zero voxel of padding on every side, codes
at the ``shape + 1`` voxel corners), so even ties in the distance transform resolve alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from segrap_nb import labels as _labels
from segrap_nb.eval.crops import CroppedMask, crop_structures
from segrap_nb.eval.surfels import surfel_area_table, surfels
from segrap_nb.grid import bbox, union_box

__all__ = [
    "StructureScore",
    "dice",
    "evaluate_case",
    "surface_distances",
    "surface_metrics",
]

#: A case's segmentation: a uint8 one-hot map, or a mapping structure name -> binary mask.
Segmentation = np.ndarray | Mapping[str, np.ndarray | CroppedMask]


@dataclass(frozen=True)
class StructureScore:
    """One structure's scores: DSC, NSD in [0, 1]; HD95 in mm (inf if exactly one mask is empty)."""

    dsc: float
    nsd: float
    hd95: float


#: Scores when prediction and ground truth are both empty (challenge rule).
BOTH_EMPTY = StructureScore(dsc=1.0, nsd=1.0, hd95=0.0)
#: Scores when exactly one of prediction and ground truth is empty (challenge rule).
ONE_EMPTY = StructureScore(dsc=0.0, nsd=0.0, hd95=math.inf)


def dice(n_both: int, n_pred: int, n_gt: int) -> float:
    """DSC from voxel counts, 2|P ∩ G| / (|P| + |G|): the kit's one Dice formula.

    Empty/empty rule (the challenge's): both masks empty gives 1.0; exactly one empty gives 0.0.
    Used by the evaluation, the validation DSC while training and the prediction pictures.
    """
    total = n_pred + n_gt
    return 1.0 if total == 0 else float(2 * n_both / total)


# --------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------


def _check_spacing(spacing_mm: tuple[float, float, float]) -> tuple[float, float, float]:
    """Voxel spacing in mm as three positive floats (same axis order as the arrays)."""
    spacing = tuple(float(s) for s in spacing_mm)
    if len(spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"spacing_mm must be three positive numbers (mm), got {spacing_mm!r}")
    return spacing  # type: ignore[return-value]


def _sorted(distances: np.ndarray, areas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort surfels by (distance, area), the order of surface-distance's sorted(zip(...))."""
    order = np.lexsort((areas, distances))
    return distances[order], areas[order]


def _distances_to(surface: np.ndarray, at: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Distance in mm from each corner flagged in ``at`` (C order) to the nearest surface corner.

    The distance transform of ``~surface`` on the crop's corner grid, as surface-distance takes
    it, read only where it is needed: scipy's feature transform gives the nearest surface corner
    of every grid corner, and the distances are then formed with scipy's own arithmetic
    (``sqrt(((di*s0)**2 + (dj*s1)**2) + (dk*s2)**2)``), so they are bit-identical to
    ``distance_transform_edt(~surface, sampling=spacing)[at]`` without filling a float64 map of
    the whole crop.
    """
    if not surface.any():
        return np.full(int(np.count_nonzero(at)), np.inf)
    nearest = ndimage.distance_transform_edt(
        ~surface, sampling=spacing, return_distances=False, return_indices=True
    )
    where = np.nonzero(at)
    total = np.zeros(len(where[0]))
    for ax in range(3):
        d = (nearest[ax][where] - where[ax]).astype(np.float64) * spacing[ax]
        total += d * d
    return np.sqrt(total)


def _crop_distances(
    pred: np.ndarray, gt: np.ndarray, spacing: tuple[float, float, float]
) -> dict[str, np.ndarray]:
    """surface-distance's dict of sorted distances (mm) and surfel areas (mm²) from two crops."""
    area_table = surfel_area_table(spacing)
    border_gt, areas_gt = surfels(gt, area_table)
    border_pred, areas_pred = surfels(pred, area_table)
    dist_gt_to_pred, areas_gt = _sorted(_distances_to(border_pred, border_gt, spacing), areas_gt)
    dist_pred_to_gt, areas_pred = _sorted(_distances_to(border_gt, border_pred, spacing), areas_pred)
    return {
        "distances_gt_to_pred": dist_gt_to_pred,
        "distances_pred_to_gt": dist_pred_to_gt,
        "surfel_areas_gt": areas_gt,
        "surfel_areas_pred": areas_pred,
    }


def _robust_hausdorff(distances: np.ndarray, areas: np.ndarray, percent: float) -> float:
    """Surfel-area-weighted percentile (mm) of sorted distances; inf if there are no surfels."""
    if len(distances) == 0:
        return math.inf
    cumulative = np.cumsum(areas) / np.sum(areas)
    idx = int(np.searchsorted(cumulative, percent / 100.0))
    return float(distances[min(idx, len(distances) - 1)])


def _score_crops(
    pred: np.ndarray, gt: np.ndarray, spacing: tuple[float, float, float], tolerance_mm: float
) -> StructureScore:
    """Scores from two bool crops of the joint bounding box, both masks non-empty."""
    n_pred = int(np.count_nonzero(pred))
    n_gt = int(np.count_nonzero(gt))
    n_both = int(np.count_nonzero(pred & gt))
    dsc = dice(n_both, n_pred, n_gt)
    sd = _crop_distances(pred, gt, spacing)
    d_gp, d_pg = sd["distances_gt_to_pred"], sd["distances_pred_to_gt"]
    a_g, a_p = sd["surfel_areas_gt"], sd["surfel_areas_pred"]
    # compute_surface_dice_at_tolerance, same sums in the same order.
    overlap_gt = np.sum(a_g[d_gp <= tolerance_mm])
    overlap_pred = np.sum(a_p[d_pg <= tolerance_mm])
    nsd = float((overlap_gt + overlap_pred) / (np.sum(a_g) + np.sum(a_p)))
    # compute_robust_hausdorff(..., 95).
    hd95 = max(_robust_hausdorff(d_gp, a_g, 95), _robust_hausdorff(d_pg, a_p, 95))
    return StructureScore(dsc=dsc, nsd=nsd, hd95=hd95)


def _as_bool_3d(name: str, mask: np.ndarray) -> np.ndarray:
    """A binary mask as a 3D bool array (no copy when it already is one)."""
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"{name} must be a 3D mask, got shape {mask.shape}")
    return mask.astype(bool, copy=False)


# --------------------------------------------------------------------------------------------
# One structure
# --------------------------------------------------------------------------------------------


def surface_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    spacing_mm: tuple[float, float, float],
    tolerance_mm: float,
) -> StructureScore:
    """DSC, NSD at ``tolerance_mm`` (mm) and HD95 (mm) of one structure's two 3D binary masks.

    ``spacing_mm`` is the voxel size in mm in the masks' axis order (the ground truth's spacing).
    """
    pred = _as_bool_3d("pred", pred)
    gt = _as_bool_3d("gt", gt)
    if pred.shape != gt.shape:
        raise ValueError(f"pred has shape {pred.shape} but gt has shape {gt.shape}")
    spacing = _check_spacing(spacing_mm)
    box_pred, box_gt = bbox(pred), bbox(gt)
    if box_pred is None and box_gt is None:
        return BOTH_EMPTY
    if box_pred is None or box_gt is None:
        return ONE_EMPTY
    box = union_box(box_pred, box_gt)
    return _score_crops(pred[box], gt[box], spacing, float(tolerance_mm))


def surface_distances(
    pred: np.ndarray, gt: np.ndarray, spacing_mm: tuple[float, float, float]
) -> dict[str, np.ndarray]:
    """Sorted surfel distances (mm) and areas (mm²), same dict as surface-distance's function.

    Note the argument order: ``(pred, gt)`` like the rest of this module, whereas
    ``surface_distance.compute_surface_distances`` takes ``(mask_gt, mask_pred)``.
    Keys: ``distances_gt_to_pred``, ``distances_pred_to_gt``, ``surfel_areas_gt``,
    ``surfel_areas_pred``. Distances are ``inf`` when the other mask is empty. Handy for
    histograms of the errors behind an NSD or HD95.
    """
    pred = _as_bool_3d("pred", pred)
    gt = _as_bool_3d("gt", gt)
    if pred.shape != gt.shape:
        raise ValueError(f"pred has shape {pred.shape} but gt has shape {gt.shape}")
    spacing = _check_spacing(spacing_mm)
    box = union_box(bbox(pred), bbox(gt))
    if box is None:
        empty = np.array([])
        return {
            "distances_gt_to_pred": empty,
            "distances_pred_to_gt": empty.copy(),
            "surfel_areas_gt": empty.copy(),
            "surfel_areas_pred": empty.copy(),
        }
    return _crop_distances(pred[box], gt[box], spacing)


# --------------------------------------------------------------------------------------------
# A whole case
# --------------------------------------------------------------------------------------------


def evaluate_case(
    pred: Segmentation,
    gt: Segmentation,
    spacing_mm: tuple[float, float, float],
    task: int = 1,
) -> dict[str, StructureScore]:
    """DSC, NSD (official tolerances, mm) and HD95 (mm) of every structure of a task, one case.

    ``pred`` and ``gt`` are each a uint8 one-hot map (task 1: labels 0..54, merged into the 45
    OARs with the official table; task 2: 1 = GTVp, 2 = GTVnd) or a mapping structure name ->
    binary mask (or :class:`~segrap_nb.eval.crops.CroppedMask`). Masks are scored each on its
    own, as the organisers' scripts do, so predicted masks may overlap in ways no one-hot label
    represents. ``spacing_mm`` is the ground truth's voxel size in mm, in the arrays' axis
    order. Returns structure name -> :class:`StructureScore`, in the official order.
    """
    spacing = _check_spacing(spacing_mm)
    p = crop_structures(pred, task, "pred")
    g = crop_structures(gt, task, "gt")
    shape_p, shape_g = next(iter(p.values())).shape, next(iter(g.values())).shape
    if shape_p != shape_g:
        raise ValueError(f"pred has shape {shape_p} but gt has shape {shape_g}")
    scores: dict[str, StructureScore] = {}
    for name in _labels.structures(task):
        box_pred, box_gt = p[name].box, g[name].box
        if box_pred is None and box_gt is None:
            scores[name] = BOTH_EMPTY
        elif box_pred is None or box_gt is None:
            scores[name] = ONE_EMPTY
        else:
            box = union_box(box_pred, box_gt)
            assert box is not None
            scores[name] = _score_crops(
                p[name].inside(box), g[name].inside(box), spacing, _labels.NSD_TOLERANCE_MM[name]
            )
    return scores
