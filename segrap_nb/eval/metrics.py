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
over the one-hot map, each structure's masks are built only inside its crop, distances are
read from the distance transform only at the surfels (no float64 map of the whole crop), and
surfels are sorted by ``np.lexsort``. The rest follows DeepMind's code step by step (same
neighbour codes, same surfel areas, same distance transform on the same grid, same sums), so
the results are the same floating-point numbers, which ``tests/test_metrics.py`` checks
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
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Union

import numpy as np
from scipy import ndimage

from segrap_nb import labels as _labels

__all__ = [
    "StructureScore",
    "surface_metrics",
    "surface_distances",
    "evaluate_case",
]

#: A 3D bounding box as voxel index slices (what ``scipy.ndimage.find_objects`` returns).
Box = tuple[slice, ...]
#: A case's segmentation: a uint8 one-hot map, or a mapping structure name -> binary mask.
Segmentation = Union[np.ndarray, Mapping[str, np.ndarray]]


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


# --------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------


def _check_spacing(spacing_mm: tuple[float, float, float]) -> tuple[float, float, float]:
    """Voxel spacing in mm as three positive floats (same axis order as the arrays)."""
    spacing = tuple(float(s) for s in spacing_mm)
    if len(spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"spacing_mm must be three positive numbers (mm), got {spacing_mm!r}")
    return spacing  # type: ignore[return-value]


def _bbox(mask: np.ndarray) -> Box | None:
    """Tight bounding box (voxel slices) of a binary mask, or None when it is empty."""
    found = ndimage.find_objects(mask.view(np.uint8))
    return found[0] if found else None


def _union(a: Box | None, b: Box | None) -> Box | None:
    """Smallest box containing both boxes (None stands for an empty mask)."""
    if a is None:
        return b
    if b is None:
        return a
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b))


@lru_cache(maxsize=64)
def _surfel_area_table(spacing: tuple[float, float, float]) -> np.ndarray:
    """Surface area in mm² of the surfels of each of the 256 neighbour codes at this spacing."""
    # Same arithmetic, in the same order, as surface-distance's
    # create_table_neighbour_code_to_surface_area, so the areas are bit-identical.
    table = np.zeros([256])
    for code in range(256):
        normals = np.array(_NEIGHBOUR_CODE_TO_NORMALS[code])
        sum_area = 0
        for normal_idx in range(normals.shape[0]):
            n = np.zeros([3])
            n[0] = normals[normal_idx, 0] * spacing[1] * spacing[2]
            n[1] = normals[normal_idx, 1] * spacing[0] * spacing[2]
            n[2] = normals[normal_idx, 2] * spacing[0] * spacing[1]
            sum_area += np.linalg.norm(n)
        table[code] = sum_area
    table.setflags(write=False)
    return table


def _neighbour_codes(crop: np.ndarray) -> np.ndarray:
    """8-bit code of the 2x2x2 neighbourhood at each voxel corner of a crop (shape + 1 per axis).

    Corner ``(i, j, k)`` sits between voxels ``i-1`` and ``i`` (and so on) of the crop; voxel
    ``(i-1, j-1, k-1)`` is bit 7 and voxel ``(i, j, k)`` bit 0, exactly like surface-distance's
    ``correlate(crop, [[[128, 64], [32, 16]], [[8, 4], [2, 1]]])``, done as three shifted ORs.
    """
    padded = np.zeros(tuple(s + 2 for s in crop.shape), np.uint8)
    padded[1:-1, 1:-1, 1:-1] = crop
    q = (padded[:, :, :-1] << 1) | padded[:, :, 1:]  # 2 bits: axis 2
    r = (q[:, :-1] << 2) | q[:, 1:]  # 4 bits: axes 1, 2
    return (r[:-1] << 4) | r[1:]  # 8 bits: axes 0, 1, 2


def _surfels(crop: np.ndarray, area_table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Surfel corner mask (bool, shape + 1) and the surfel areas in mm² (C order) of a crop."""
    codes = _neighbour_codes(crop)
    border = (codes != 0) & (codes != 255)
    return border, area_table[codes[border]]


def _sorted(distances: np.ndarray, areas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort surfels by (distance, area), the order of surface-distance's sorted(zip(...))."""
    order = np.lexsort((areas, distances))
    return distances[order], areas[order]


def _distances_to(
    surface: np.ndarray, at: np.ndarray, spacing: tuple[float, float, float]
) -> np.ndarray:
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
    total = None
    for ax in range(3):
        d = (nearest[ax][where] - where[ax]).astype(np.float64) * spacing[ax]
        d *= d
        total = d if total is None else total + d
    return np.sqrt(total)


def _crop_distances(
    pred: np.ndarray, gt: np.ndarray, spacing: tuple[float, float, float]
) -> dict[str, np.ndarray]:
    """surface-distance's dict of sorted distances (mm) and surfel areas (mm²) from two crops."""
    area_table = _surfel_area_table(spacing)
    border_gt, areas_gt = _surfels(gt, area_table)
    border_pred, areas_pred = _surfels(pred, area_table)
    dist_gt_to_pred, areas_gt = _sorted(_distances_to(border_pred, border_gt, spacing), areas_gt)
    dist_pred_to_gt, areas_pred = _sorted(
        _distances_to(border_gt, border_pred, spacing), areas_pred
    )
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
    idx = np.searchsorted(cumulative, percent / 100.0)
    return float(distances[min(idx, len(distances) - 1)])


def _score_crops(
    pred: np.ndarray, gt: np.ndarray, spacing: tuple[float, float, float], tolerance_mm: float
) -> StructureScore:
    """Scores from two bool crops of the joint bounding box, both masks non-empty."""
    n_pred = int(np.count_nonzero(pred))
    n_gt = int(np.count_nonzero(gt))
    n_both = int(np.count_nonzero(pred & gt))
    dsc = 2 * n_both / (n_pred + n_gt)
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
    box_pred, box_gt = _bbox(pred), _bbox(gt)
    if box_pred is None and box_gt is None:
        return BOTH_EMPTY
    if box_pred is None or box_gt is None:
        return ONE_EMPTY
    box = _union(box_pred, box_gt)
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
    box = _union(_bbox(pred), _bbox(gt))
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


class _Structures:
    """Per-structure bounding boxes and cropped masks of one segmentation (one-hot map or masks)."""

    def __init__(self, what: str, seg: Segmentation, task: int) -> None:
        self.task = task
        self.onehot: np.ndarray | None = None
        self.masks: dict[str, np.ndarray] = {}
        self._label_boxes: list[Box | None] = []
        if isinstance(seg, Mapping):
            given = {_labels.canonical_name(k): v for k, v in seg.items()}
            missing = [n for n in _labels.structures(task) if n not in given]
            if missing:
                raise KeyError(f"{what} has no mask for: {', '.join(missing)}")
            self.masks = {
                n: _as_bool_3d(f"{what}[{n!r}]", given[n]) for n in _labels.structures(task)
            }
            shapes = {m.shape for m in self.masks.values()}
            if len(shapes) != 1:
                raise ValueError(f"{what}'s masks have different shapes: {sorted(shapes)}")
            self.shape = shapes.pop()
            return
        onehot = np.asarray(seg)
        if onehot.ndim != 3:
            raise ValueError(
                f"{what} must be a 3D one-hot map or a dict of masks, got shape {onehot.shape}"
            )
        if onehot.dtype != np.uint8:
            raise TypeError(
                f"{what} one-hot map must be uint8, got {onehot.dtype} (read labels with "
                "np.asanyarray(img.dataobj), not get_fdata(), or pass a dict of masks)"
            )
        # One pass over the volume gives the tight box of every label present.
        self._label_boxes = ndimage.find_objects(onehot)
        top = _labels.max_label(self.task)
        if len(self._label_boxes) > top:
            raise ValueError(
                f"{what} holds label {len(self._label_boxes)}; task {task} labels are 0..{top}"
            )
        self.onehot = onehot
        self.shape = onehot.shape

    def box(self, name: str) -> Box | None:
        """Tight bounding box of a structure, or None when it is empty."""
        if self.onehot is None:
            return _bbox(self.masks[name])
        box = None
        for lab in _labels.labels_of(name, self.task):
            if lab <= len(self._label_boxes):
                box = _union(box, self._label_boxes[lab - 1])
        return box

    def crop(self, name: str, box: Box) -> np.ndarray:
        """The structure's bool mask inside ``box``."""
        if self.onehot is None:
            return self.masks[name][box]
        return _labels.structure_mask(self.onehot[box], name, self.task)


def evaluate_case(
    pred: Segmentation,
    gt: Segmentation,
    spacing_mm: tuple[float, float, float],
    task: int = 1,
) -> dict[str, StructureScore]:
    """DSC, NSD (official tolerances, mm) and HD95 (mm) of every structure of a task, one case.

    ``pred`` and ``gt`` are each a uint8 one-hot map (task 1: labels 0..54, merged into the 45
    OARs with the official table; task 2: 1 = GTVp, 2 = GTVnd) or a mapping structure name ->
    binary mask. ``spacing_mm`` is the ground truth's voxel size in mm, in the arrays' axis
    order. Returns structure name -> :class:`StructureScore`, in the official order.
    """
    names = _labels.structures(task)
    spacing = _check_spacing(spacing_mm)
    p = _Structures("pred", pred, task)
    g = _Structures("gt", gt, task)
    if p.shape != g.shape:
        raise ValueError(f"pred has shape {p.shape} but gt has shape {g.shape}")
    scores: dict[str, StructureScore] = {}
    for name in names:
        box_pred, box_gt = p.box(name), g.box(name)
        if box_pred is None and box_gt is None:
            scores[name] = BOTH_EMPTY
        elif box_pred is None or box_gt is None:
            scores[name] = ONE_EMPTY
        else:
            box = _union(box_pred, box_gt)
            scores[name] = _score_crops(
                p.crop(name, box), g.crop(name, box), spacing, _labels.NSD_TOLERANCE_MM[name]
            )
    return scores


# --------------------------------------------------------------------------------------------
# Surfel normals per neighbour code
# --------------------------------------------------------------------------------------------
# Copied verbatim from DeepMind's surface-distance (surface_distance/lookup_tables.py,
# Copyright 2018 Google Inc., Apache License 2.0, https://github.com/deepmind/surface-distance).
# For each of the 256 codes of a 2x2x2 neighbourhood it lists the normals of the marching-cubes
# triangles ("surfels"); a normal's length encodes the triangle's area for unit spacing.
# pylint: disable=line-too-long
# fmt: off
_NEIGHBOUR_CODE_TO_NORMALS: list[list[list[float]]] = [
    [[0, 0, 0]],
    [[0.125, 0.125, 0.125]],
    [[-0.125, -0.125, 0.125]],
    [[-0.25, -0.25, 0.0], [0.25, 0.25, -0.0]],
    [[0.125, -0.125, 0.125]],
    [[-0.25, -0.0, -0.25], [0.25, 0.0, 0.25]],
    [[0.125, -0.125, 0.125], [-0.125, -0.125, 0.125]],
    [[0.5, 0.0, -0.0], [0.25, 0.25, 0.25], [0.125, 0.125, 0.125]],
    [[-0.125, 0.125, 0.125]],
    [[0.125, 0.125, 0.125], [-0.125, 0.125, 0.125]],
    [[-0.25, 0.0, 0.25], [-0.25, 0.0, 0.25]],
    [[0.5, 0.0, 0.0], [-0.25, -0.25, 0.25], [-0.125, -0.125, 0.125]],
    [[0.25, -0.25, 0.0], [0.25, -0.25, 0.0]],
    [[0.5, 0.0, 0.0], [0.25, -0.25, 0.25], [-0.125, 0.125, -0.125]],
    [[-0.5, 0.0, 0.0], [-0.25, 0.25, 0.25], [-0.125, 0.125, 0.125]],
    [[0.5, 0.0, 0.0], [0.5, 0.0, 0.0]],
    [[0.125, -0.125, -0.125]],
    [[0.0, -0.25, -0.25], [0.0, 0.25, 0.25]],
    [[-0.125, -0.125, 0.125], [0.125, -0.125, -0.125]],
    [[0.0, -0.5, 0.0], [0.25, 0.25, 0.25], [0.125, 0.125, 0.125]],
    [[0.125, -0.125, 0.125], [0.125, -0.125, -0.125]],
    [[0.0, 0.0, -0.5], [0.25, 0.25, 0.25], [-0.125, -0.125, -0.125]],
    [[-0.125, -0.125, 0.125], [0.125, -0.125, 0.125], [0.125, -0.125, -0.125]],
    [[-0.125, -0.125, -0.125], [-0.25, -0.25, -0.25], [0.25, 0.25, 0.25], [0.125, 0.125, 0.125]],
    [[-0.125, 0.125, 0.125], [0.125, -0.125, -0.125]],
    [[0.0, -0.25, -0.25], [0.0, 0.25, 0.25], [-0.125, 0.125, 0.125]],
    [[-0.25, 0.0, 0.25], [-0.25, 0.0, 0.25], [0.125, -0.125, -0.125]],
    [[0.125, 0.125, 0.125], [0.375, 0.375, 0.375], [0.0, -0.25, 0.25], [-0.25, 0.0, 0.25]],
    [[0.125, -0.125, -0.125], [0.25, -0.25, 0.0], [0.25, -0.25, 0.0]],
    [[0.375, 0.375, 0.375], [0.0, 0.25, -0.25], [-0.125, -0.125, -0.125], [-0.25, 0.25, 0.0]],
    [[-0.5, 0.0, 0.0], [-0.125, -0.125, -0.125], [-0.25, -0.25, -0.25], [0.125, 0.125, 0.125]],
    [[-0.5, 0.0, 0.0], [-0.125, -0.125, -0.125], [-0.25, -0.25, -0.25]],
    [[0.125, -0.125, 0.125]],
    [[0.125, 0.125, 0.125], [0.125, -0.125, 0.125]],
    [[0.0, -0.25, 0.25], [0.0, 0.25, -0.25]],
    [[0.0, -0.5, 0.0], [0.125, 0.125, -0.125], [0.25, 0.25, -0.25]],
    [[0.125, -0.125, 0.125], [0.125, -0.125, 0.125]],
    [[0.125, -0.125, 0.125], [-0.25, -0.0, -0.25], [0.25, 0.0, 0.25]],
    [[0.0, -0.25, 0.25], [0.0, 0.25, -0.25], [0.125, -0.125, 0.125]],
    [[-0.375, -0.375, 0.375], [-0.0, 0.25, 0.25], [0.125, 0.125, -0.125], [-0.25, -0.0, -0.25]],
    [[-0.125, 0.125, 0.125], [0.125, -0.125, 0.125]],
    [[0.125, 0.125, 0.125], [0.125, -0.125, 0.125], [-0.125, 0.125, 0.125]],
    [[-0.0, 0.0, 0.5], [-0.25, -0.25, 0.25], [-0.125, -0.125, 0.125]],
    [[0.25, 0.25, -0.25], [0.25, 0.25, -0.25], [0.125, 0.125, -0.125], [-0.125, -0.125, 0.125]],
    [[0.125, -0.125, 0.125], [0.25, -0.25, 0.0], [0.25, -0.25, 0.0]],
    [[0.5, 0.0, 0.0], [0.25, -0.25, 0.25], [-0.125, 0.125, -0.125], [0.125, -0.125, 0.125]],
    [[0.0, 0.25, -0.25], [0.375, -0.375, -0.375], [-0.125, 0.125, 0.125], [0.25, 0.25, 0.0]],
    [[-0.5, 0.0, 0.0], [-0.25, -0.25, 0.25], [-0.125, -0.125, 0.125]],
    [[0.25, -0.25, 0.0], [-0.25, 0.25, 0.0]],
    [[0.0, 0.5, 0.0], [-0.25, 0.25, 0.25], [0.125, -0.125, -0.125]],
    [[0.0, 0.5, 0.0], [0.125, -0.125, 0.125], [-0.25, 0.25, -0.25]],
    [[0.0, 0.5, 0.0], [0.0, -0.5, 0.0]],
    [[0.25, -0.25, 0.0], [-0.25, 0.25, 0.0], [0.125, -0.125, 0.125]],
    [[-0.375, -0.375, -0.375], [-0.25, 0.0, 0.25], [-0.125, -0.125, -0.125], [-0.25, 0.25, 0.0]],
    [[0.125, 0.125, 0.125], [0.0, -0.5, 0.0], [-0.25, -0.25, -0.25], [-0.125, -0.125, -0.125]],
    [[0.0, -0.5, 0.0], [-0.25, -0.25, -0.25], [-0.125, -0.125, -0.125]],
    [[-0.125, 0.125, 0.125], [0.25, -0.25, 0.0], [-0.25, 0.25, 0.0]],
    [[0.0, 0.5, 0.0], [0.25, 0.25, -0.25], [-0.125, -0.125, 0.125], [-0.125, -0.125, 0.125]],
    [[-0.375, 0.375, -0.375], [-0.25, -0.25, 0.0], [-0.125, 0.125, -0.125], [-0.25, 0.0, 0.25]],
    [[0.0, 0.5, 0.0], [0.25, 0.25, -0.25], [-0.125, -0.125, 0.125]],
    [[0.25, -0.25, 0.0], [-0.25, 0.25, 0.0], [0.25, -0.25, 0.0], [0.25, -0.25, 0.0]],
    [[-0.25, -0.25, 0.0], [-0.25, -0.25, 0.0], [-0.125, -0.125, 0.125]],
    [[0.125, 0.125, 0.125], [-0.25, -0.25, 0.0], [-0.25, -0.25, 0.0]],
    [[-0.25, -0.25, 0.0], [-0.25, -0.25, 0.0]],
    [[-0.125, -0.125, 0.125]],
    [[0.125, 0.125, 0.125], [-0.125, -0.125, 0.125]],
    [[-0.125, -0.125, 0.125], [-0.125, -0.125, 0.125]],
    [[-0.125, -0.125, 0.125], [-0.25, -0.25, 0.0], [0.25, 0.25, -0.0]],
    [[0.0, -0.25, 0.25], [0.0, -0.25, 0.25]],
    [[0.0, 0.0, 0.5], [0.25, -0.25, 0.25], [0.125, -0.125, 0.125]],
    [[0.0, -0.25, 0.25], [0.0, -0.25, 0.25], [-0.125, -0.125, 0.125]],
    [[0.375, -0.375, 0.375], [0.0, -0.25, -0.25], [-0.125, 0.125, -0.125], [0.25, 0.25, 0.0]],
    [[-0.125, -0.125, 0.125], [-0.125, 0.125, 0.125]],
    [[0.125, 0.125, 0.125], [-0.125, -0.125, 0.125], [-0.125, 0.125, 0.125]],
    [[-0.125, -0.125, 0.125], [-0.25, 0.0, 0.25], [-0.25, 0.0, 0.25]],
    [[0.5, 0.0, 0.0], [-0.25, -0.25, 0.25], [-0.125, -0.125, 0.125], [-0.125, -0.125, 0.125]],
    [[-0.0, 0.5, 0.0], [-0.25, 0.25, -0.25], [0.125, -0.125, 0.125]],
    [[-0.25, 0.25, -0.25], [-0.25, 0.25, -0.25], [-0.125, 0.125, -0.125], [-0.125, 0.125, -0.125]],
    [[-0.25, 0.0, -0.25], [0.375, -0.375, -0.375], [0.0, 0.25, -0.25], [-0.125, 0.125, 0.125]],
    [[0.5, 0.0, 0.0], [-0.25, 0.25, -0.25], [0.125, -0.125, 0.125]],
    [[-0.25, 0.0, 0.25], [0.25, 0.0, -0.25]],
    [[-0.0, 0.0, 0.5], [-0.25, 0.25, 0.25], [-0.125, 0.125, 0.125]],
    [[-0.125, -0.125, 0.125], [-0.25, 0.0, 0.25], [0.25, 0.0, -0.25]],
    [[-0.25, -0.0, -0.25], [-0.375, 0.375, 0.375], [-0.25, -0.25, 0.0], [-0.125, 0.125, 0.125]],
    [[0.0, 0.0, -0.5], [0.25, 0.25, -0.25], [-0.125, -0.125, 0.125]],
    [[-0.0, 0.0, 0.5], [0.0, 0.0, 0.5]],
    [[0.125, 0.125, 0.125], [0.125, 0.125, 0.125], [0.25, 0.25, 0.25], [0.0, 0.0, 0.5]],
    [[0.125, 0.125, 0.125], [0.25, 0.25, 0.25], [0.0, 0.0, 0.5]],
    [[-0.25, 0.0, 0.25], [0.25, 0.0, -0.25], [-0.125, 0.125, 0.125]],
    [[-0.0, 0.0, 0.5], [0.25, -0.25, 0.25], [0.125, -0.125, 0.125], [0.125, -0.125, 0.125]],
    [[-0.25, 0.0, 0.25], [-0.25, 0.0, 0.25], [-0.25, 0.0, 0.25], [0.25, 0.0, -0.25]],
    [[0.125, -0.125, 0.125], [0.25, 0.0, 0.25], [0.25, 0.0, 0.25]],
    [[0.25, 0.0, 0.25], [-0.375, -0.375, 0.375], [-0.25, 0.25, 0.0], [-0.125, -0.125, 0.125]],
    [[-0.0, 0.0, 0.5], [0.25, -0.25, 0.25], [0.125, -0.125, 0.125]],
    [[0.125, 0.125, 0.125], [0.25, 0.0, 0.25], [0.25, 0.0, 0.25]],
    [[0.25, 0.0, 0.25], [0.25, 0.0, 0.25]],
    [[-0.125, -0.125, 0.125], [0.125, -0.125, 0.125]],
    [[0.125, 0.125, 0.125], [-0.125, -0.125, 0.125], [0.125, -0.125, 0.125]],
    [[-0.125, -0.125, 0.125], [0.0, -0.25, 0.25], [0.0, 0.25, -0.25]],
    [[0.0, -0.5, 0.0], [0.125, 0.125, -0.125], [0.25, 0.25, -0.25], [-0.125, -0.125, 0.125]],
    [[0.0, -0.25, 0.25], [0.0, -0.25, 0.25], [0.125, -0.125, 0.125]],
    [[0.0, 0.0, 0.5], [0.25, -0.25, 0.25], [0.125, -0.125, 0.125], [0.125, -0.125, 0.125]],
    [[0.0, -0.25, 0.25], [0.0, -0.25, 0.25], [0.0, -0.25, 0.25], [0.0, 0.25, -0.25]],
    [[0.0, 0.25, 0.25], [0.0, 0.25, 0.25], [0.125, -0.125, -0.125]],
    [[-0.125, 0.125, 0.125], [0.125, -0.125, 0.125], [-0.125, -0.125, 0.125]],
    [[-0.125, 0.125, 0.125], [0.125, -0.125, 0.125], [-0.125, -0.125, 0.125], [0.125, 0.125, 0.125]],
    [[-0.0, 0.0, 0.5], [-0.25, -0.25, 0.25], [-0.125, -0.125, 0.125], [-0.125, -0.125, 0.125]],
    [[0.125, 0.125, 0.125], [0.125, -0.125, 0.125], [0.125, -0.125, -0.125]],
    [[-0.0, 0.5, 0.0], [-0.25, 0.25, -0.25], [0.125, -0.125, 0.125], [0.125, -0.125, 0.125]],
    [[0.125, 0.125, 0.125], [-0.125, -0.125, 0.125], [0.125, -0.125, -0.125]],
    [[0.0, -0.25, -0.25], [0.0, 0.25, 0.25], [0.125, 0.125, 0.125]],
    [[0.125, 0.125, 0.125], [0.125, -0.125, -0.125]],
    [[0.5, 0.0, -0.0], [0.25, -0.25, -0.25], [0.125, -0.125, -0.125]],
    [[-0.25, 0.25, 0.25], [-0.125, 0.125, 0.125], [-0.25, 0.25, 0.25], [0.125, -0.125, -0.125]],
    [[0.375, -0.375, 0.375], [0.0, 0.25, 0.25], [-0.125, 0.125, -0.125], [-0.25, 0.0, 0.25]],
    [[0.0, -0.5, 0.0], [-0.25, 0.25, 0.25], [-0.125, 0.125, 0.125]],
    [[-0.375, -0.375, 0.375], [0.25, -0.25, 0.0], [0.0, 0.25, 0.25], [-0.125, -0.125, 0.125]],
    [[-0.125, 0.125, 0.125], [-0.25, 0.25, 0.25], [0.0, 0.0, 0.5]],
    [[0.125, 0.125, 0.125], [0.0, 0.25, 0.25], [0.0, 0.25, 0.25]],
    [[0.0, 0.25, 0.25], [0.0, 0.25, 0.25]],
    [[0.5, 0.0, -0.0], [0.25, 0.25, 0.25], [0.125, 0.125, 0.125], [0.125, 0.125, 0.125]],
    [[0.125, -0.125, 0.125], [-0.125, -0.125, 0.125], [0.125, 0.125, 0.125]],
    [[-0.25, -0.0, -0.25], [0.25, 0.0, 0.25], [0.125, 0.125, 0.125]],
    [[0.125, 0.125, 0.125], [0.125, -0.125, 0.125]],
    [[-0.25, -0.25, 0.0], [0.25, 0.25, -0.0], [0.125, 0.125, 0.125]],
    [[0.125, 0.125, 0.125], [-0.125, -0.125, 0.125]],
    [[0.125, 0.125, 0.125], [0.125, 0.125, 0.125]],
    [[0.125, 0.125, 0.125]],
    [[0.125, 0.125, 0.125]],
    [[0.125, 0.125, 0.125], [0.125, 0.125, 0.125]],
    [[0.125, 0.125, 0.125], [-0.125, -0.125, 0.125]],
    [[-0.25, -0.25, 0.0], [0.25, 0.25, -0.0], [0.125, 0.125, 0.125]],
    [[0.125, 0.125, 0.125], [0.125, -0.125, 0.125]],
    [[-0.25, -0.0, -0.25], [0.25, 0.0, 0.25], [0.125, 0.125, 0.125]],
    [[0.125, -0.125, 0.125], [-0.125, -0.125, 0.125], [0.125, 0.125, 0.125]],
    [[0.5, 0.0, -0.0], [0.25, 0.25, 0.25], [0.125, 0.125, 0.125], [0.125, 0.125, 0.125]],
    [[0.0, 0.25, 0.25], [0.0, 0.25, 0.25]],
    [[0.125, 0.125, 0.125], [0.0, 0.25, 0.25], [0.0, 0.25, 0.25]],
    [[-0.125, 0.125, 0.125], [-0.25, 0.25, 0.25], [0.0, 0.0, 0.5]],
    [[-0.375, -0.375, 0.375], [0.25, -0.25, 0.0], [0.0, 0.25, 0.25], [-0.125, -0.125, 0.125]],
    [[0.0, -0.5, 0.0], [-0.25, 0.25, 0.25], [-0.125, 0.125, 0.125]],
    [[0.375, -0.375, 0.375], [0.0, 0.25, 0.25], [-0.125, 0.125, -0.125], [-0.25, 0.0, 0.25]],
    [[-0.25, 0.25, 0.25], [-0.125, 0.125, 0.125], [-0.25, 0.25, 0.25], [0.125, -0.125, -0.125]],
    [[0.5, 0.0, -0.0], [0.25, -0.25, -0.25], [0.125, -0.125, -0.125]],
    [[0.125, 0.125, 0.125], [0.125, -0.125, -0.125]],
    [[0.0, -0.25, -0.25], [0.0, 0.25, 0.25], [0.125, 0.125, 0.125]],
    [[0.125, 0.125, 0.125], [-0.125, -0.125, 0.125], [0.125, -0.125, -0.125]],
    [[-0.0, 0.5, 0.0], [-0.25, 0.25, -0.25], [0.125, -0.125, 0.125], [0.125, -0.125, 0.125]],
    [[0.125, 0.125, 0.125], [0.125, -0.125, 0.125], [0.125, -0.125, -0.125]],
    [[-0.0, 0.0, 0.5], [-0.25, -0.25, 0.25], [-0.125, -0.125, 0.125], [-0.125, -0.125, 0.125]],
    [[-0.125, 0.125, 0.125], [0.125, -0.125, 0.125], [-0.125, -0.125, 0.125], [0.125, 0.125, 0.125]],
    [[-0.125, 0.125, 0.125], [0.125, -0.125, 0.125], [-0.125, -0.125, 0.125]],
    [[0.0, 0.25, 0.25], [0.0, 0.25, 0.25], [0.125, -0.125, -0.125]],
    [[0.0, -0.25, -0.25], [0.0, 0.25, 0.25], [0.0, 0.25, 0.25], [0.0, 0.25, 0.25]],
    [[0.0, 0.0, 0.5], [0.25, -0.25, 0.25], [0.125, -0.125, 0.125], [0.125, -0.125, 0.125]],
    [[0.0, -0.25, 0.25], [0.0, -0.25, 0.25], [0.125, -0.125, 0.125]],
    [[0.0, -0.5, 0.0], [0.125, 0.125, -0.125], [0.25, 0.25, -0.25], [-0.125, -0.125, 0.125]],
    [[-0.125, -0.125, 0.125], [0.0, -0.25, 0.25], [0.0, 0.25, -0.25]],
    [[0.125, 0.125, 0.125], [-0.125, -0.125, 0.125], [0.125, -0.125, 0.125]],
    [[-0.125, -0.125, 0.125], [0.125, -0.125, 0.125]],
    [[0.25, 0.0, 0.25], [0.25, 0.0, 0.25]],
    [[0.125, 0.125, 0.125], [0.25, 0.0, 0.25], [0.25, 0.0, 0.25]],
    [[-0.0, 0.0, 0.5], [0.25, -0.25, 0.25], [0.125, -0.125, 0.125]],
    [[0.25, 0.0, 0.25], [-0.375, -0.375, 0.375], [-0.25, 0.25, 0.0], [-0.125, -0.125, 0.125]],
    [[0.125, -0.125, 0.125], [0.25, 0.0, 0.25], [0.25, 0.0, 0.25]],
    [[-0.25, -0.0, -0.25], [0.25, 0.0, 0.25], [0.25, 0.0, 0.25], [0.25, 0.0, 0.25]],
    [[-0.0, 0.0, 0.5], [0.25, -0.25, 0.25], [0.125, -0.125, 0.125], [0.125, -0.125, 0.125]],
    [[-0.25, 0.0, 0.25], [0.25, 0.0, -0.25], [-0.125, 0.125, 0.125]],
    [[0.125, 0.125, 0.125], [0.25, 0.25, 0.25], [0.0, 0.0, 0.5]],
    [[0.125, 0.125, 0.125], [0.125, 0.125, 0.125], [0.25, 0.25, 0.25], [0.0, 0.0, 0.5]],
    [[-0.0, 0.0, 0.5], [0.0, 0.0, 0.5]],
    [[0.0, 0.0, -0.5], [0.25, 0.25, -0.25], [-0.125, -0.125, 0.125]],
    [[-0.25, -0.0, -0.25], [-0.375, 0.375, 0.375], [-0.25, -0.25, 0.0], [-0.125, 0.125, 0.125]],
    [[-0.125, -0.125, 0.125], [-0.25, 0.0, 0.25], [0.25, 0.0, -0.25]],
    [[-0.0, 0.0, 0.5], [-0.25, 0.25, 0.25], [-0.125, 0.125, 0.125]],
    [[-0.25, 0.0, 0.25], [0.25, 0.0, -0.25]],
    [[0.5, 0.0, 0.0], [-0.25, 0.25, -0.25], [0.125, -0.125, 0.125]],
    [[-0.25, 0.0, -0.25], [0.375, -0.375, -0.375], [0.0, 0.25, -0.25], [-0.125, 0.125, 0.125]],
    [[-0.25, 0.25, -0.25], [-0.25, 0.25, -0.25], [-0.125, 0.125, -0.125], [-0.125, 0.125, -0.125]],
    [[-0.0, 0.5, 0.0], [-0.25, 0.25, -0.25], [0.125, -0.125, 0.125]],
    [[0.5, 0.0, 0.0], [-0.25, -0.25, 0.25], [-0.125, -0.125, 0.125], [-0.125, -0.125, 0.125]],
    [[-0.125, -0.125, 0.125], [-0.25, 0.0, 0.25], [-0.25, 0.0, 0.25]],
    [[0.125, 0.125, 0.125], [-0.125, -0.125, 0.125], [-0.125, 0.125, 0.125]],
    [[-0.125, -0.125, 0.125], [-0.125, 0.125, 0.125]],
    [[0.375, -0.375, 0.375], [0.0, -0.25, -0.25], [-0.125, 0.125, -0.125], [0.25, 0.25, 0.0]],
    [[0.0, -0.25, 0.25], [0.0, -0.25, 0.25], [-0.125, -0.125, 0.125]],
    [[0.0, 0.0, 0.5], [0.25, -0.25, 0.25], [0.125, -0.125, 0.125]],
    [[0.0, -0.25, 0.25], [0.0, -0.25, 0.25]],
    [[-0.125, -0.125, 0.125], [-0.25, -0.25, 0.0], [0.25, 0.25, -0.0]],
    [[-0.125, -0.125, 0.125], [-0.125, -0.125, 0.125]],
    [[0.125, 0.125, 0.125], [-0.125, -0.125, 0.125]],
    [[-0.125, -0.125, 0.125]],
    [[-0.25, -0.25, 0.0], [-0.25, -0.25, 0.0]],
    [[0.125, 0.125, 0.125], [-0.25, -0.25, 0.0], [-0.25, -0.25, 0.0]],
    [[-0.25, -0.25, 0.0], [-0.25, -0.25, 0.0], [-0.125, -0.125, 0.125]],
    [[-0.25, -0.25, 0.0], [-0.25, -0.25, 0.0], [-0.25, -0.25, 0.0], [0.25, 0.25, -0.0]],
    [[0.0, 0.5, 0.0], [0.25, 0.25, -0.25], [-0.125, -0.125, 0.125]],
    [[-0.375, 0.375, -0.375], [-0.25, -0.25, 0.0], [-0.125, 0.125, -0.125], [-0.25, 0.0, 0.25]],
    [[0.0, 0.5, 0.0], [0.25, 0.25, -0.25], [-0.125, -0.125, 0.125], [-0.125, -0.125, 0.125]],
    [[-0.125, 0.125, 0.125], [0.25, -0.25, 0.0], [-0.25, 0.25, 0.0]],
    [[0.0, -0.5, 0.0], [-0.25, -0.25, -0.25], [-0.125, -0.125, -0.125]],
    [[0.125, 0.125, 0.125], [0.0, -0.5, 0.0], [-0.25, -0.25, -0.25], [-0.125, -0.125, -0.125]],
    [[-0.375, -0.375, -0.375], [-0.25, 0.0, 0.25], [-0.125, -0.125, -0.125], [-0.25, 0.25, 0.0]],
    [[0.25, -0.25, 0.0], [-0.25, 0.25, 0.0], [0.125, -0.125, 0.125]],
    [[0.0, 0.5, 0.0], [0.0, -0.5, 0.0]],
    [[0.0, 0.5, 0.0], [0.125, -0.125, 0.125], [-0.25, 0.25, -0.25]],
    [[0.0, 0.5, 0.0], [-0.25, 0.25, 0.25], [0.125, -0.125, -0.125]],
    [[0.25, -0.25, 0.0], [-0.25, 0.25, 0.0]],
    [[-0.5, 0.0, 0.0], [-0.25, -0.25, 0.25], [-0.125, -0.125, 0.125]],
    [[0.0, 0.25, -0.25], [0.375, -0.375, -0.375], [-0.125, 0.125, 0.125], [0.25, 0.25, 0.0]],
    [[0.5, 0.0, 0.0], [0.25, -0.25, 0.25], [-0.125, 0.125, -0.125], [0.125, -0.125, 0.125]],
    [[0.125, -0.125, 0.125], [0.25, -0.25, 0.0], [0.25, -0.25, 0.0]],
    [[0.25, 0.25, -0.25], [0.25, 0.25, -0.25], [0.125, 0.125, -0.125], [-0.125, -0.125, 0.125]],
    [[-0.0, 0.0, 0.5], [-0.25, -0.25, 0.25], [-0.125, -0.125, 0.125]],
    [[0.125, 0.125, 0.125], [0.125, -0.125, 0.125], [-0.125, 0.125, 0.125]],
    [[-0.125, 0.125, 0.125], [0.125, -0.125, 0.125]],
    [[-0.375, -0.375, 0.375], [-0.0, 0.25, 0.25], [0.125, 0.125, -0.125], [-0.25, -0.0, -0.25]],
    [[0.0, -0.25, 0.25], [0.0, 0.25, -0.25], [0.125, -0.125, 0.125]],
    [[0.125, -0.125, 0.125], [-0.25, -0.0, -0.25], [0.25, 0.0, 0.25]],
    [[0.125, -0.125, 0.125], [0.125, -0.125, 0.125]],
    [[0.0, -0.5, 0.0], [0.125, 0.125, -0.125], [0.25, 0.25, -0.25]],
    [[0.0, -0.25, 0.25], [0.0, 0.25, -0.25]],
    [[0.125, 0.125, 0.125], [0.125, -0.125, 0.125]],
    [[0.125, -0.125, 0.125]],
    [[-0.5, 0.0, 0.0], [-0.125, -0.125, -0.125], [-0.25, -0.25, -0.25]],
    [[-0.5, 0.0, 0.0], [-0.125, -0.125, -0.125], [-0.25, -0.25, -0.25], [0.125, 0.125, 0.125]],
    [[0.375, 0.375, 0.375], [0.0, 0.25, -0.25], [-0.125, -0.125, -0.125], [-0.25, 0.25, 0.0]],
    [[0.125, -0.125, -0.125], [0.25, -0.25, 0.0], [0.25, -0.25, 0.0]],
    [[0.125, 0.125, 0.125], [0.375, 0.375, 0.375], [0.0, -0.25, 0.25], [-0.25, 0.0, 0.25]],
    [[-0.25, 0.0, 0.25], [-0.25, 0.0, 0.25], [0.125, -0.125, -0.125]],
    [[0.0, -0.25, -0.25], [0.0, 0.25, 0.25], [-0.125, 0.125, 0.125]],
    [[-0.125, 0.125, 0.125], [0.125, -0.125, -0.125]],
    [[-0.125, -0.125, -0.125], [-0.25, -0.25, -0.25], [0.25, 0.25, 0.25], [0.125, 0.125, 0.125]],
    [[-0.125, -0.125, 0.125], [0.125, -0.125, 0.125], [0.125, -0.125, -0.125]],
    [[0.0, 0.0, -0.5], [0.25, 0.25, 0.25], [-0.125, -0.125, -0.125]],
    [[0.125, -0.125, 0.125], [0.125, -0.125, -0.125]],
    [[0.0, -0.5, 0.0], [0.25, 0.25, 0.25], [0.125, 0.125, 0.125]],
    [[-0.125, -0.125, 0.125], [0.125, -0.125, -0.125]],
    [[0.0, -0.25, -0.25], [0.0, 0.25, 0.25]],
    [[0.125, -0.125, -0.125]],
    [[0.5, 0.0, 0.0], [0.5, 0.0, 0.0]],
    [[-0.5, 0.0, 0.0], [-0.25, 0.25, 0.25], [-0.125, 0.125, 0.125]],
    [[0.5, 0.0, 0.0], [0.25, -0.25, 0.25], [-0.125, 0.125, -0.125]],
    [[0.25, -0.25, 0.0], [0.25, -0.25, 0.0]],
    [[0.5, 0.0, 0.0], [-0.25, -0.25, 0.25], [-0.125, -0.125, 0.125]],
    [[-0.25, 0.0, 0.25], [-0.25, 0.0, 0.25]],
    [[0.125, 0.125, 0.125], [-0.125, 0.125, 0.125]],
    [[-0.125, 0.125, 0.125]],
    [[0.5, 0.0, -0.0], [0.25, 0.25, 0.25], [0.125, 0.125, 0.125]],
    [[0.125, -0.125, 0.125], [-0.125, -0.125, 0.125]],
    [[-0.25, -0.0, -0.25], [0.25, 0.0, 0.25]],
    [[0.125, -0.125, 0.125]],
    [[-0.25, -0.25, 0.0], [0.25, 0.25, -0.0]],
    [[-0.125, -0.125, 0.125]],
    [[0.125, 0.125, 0.125]],
    [[0, 0, 0]]]
# fmt: on
