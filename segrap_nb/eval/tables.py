"""Tables of the evaluation: structures by difficulty, organ volumes, worst cases, shift sweeps.

Inputs are the tidy per-case table of :func:`segrap_nb.eval.evaluate.evaluate` (columns ``case``,
``structure``, ``dsc``, ``nsd``, ``hd95`` in mm). Every function returns plain data (a list or a
DataFrame); the pictures of these tables are in :mod:`segrap_nb.viz.eval_figures`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Literal, cast

import numpy as np
import pandas as pd

from segrap_nb import labels as L
from segrap_nb.eval.metrics import surface_metrics

__all__ = [
    "HIGHER_IS_BETTER",
    "check_metric",
    "difficulty_order",
    "finite",
    "gt_volumes",
    "shift_sweep",
    "structure_volumes",
    "toy_pair",
    "worst_cases",
]

#: Metrics of the per-case table and whether a higher value is better.
#: The challenge metrics: DSC and NSD (higher is better), HD95 in mm (lower is better).
Metric = Literal["dsc", "nsd", "hd95"]
HIGHER_IS_BETTER: dict[str, bool] = {"dsc": True, "nsd": True, "hd95": False}


def check_metric(metric: str) -> Metric:
    """``metric`` if it is a column of the per-case table (dsc, nsd, hd95); else a clear error."""
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"metric must be one of {sorted(HIGHER_IS_BETTER)}, got {metric!r}")
    return cast(Metric, metric)


def finite(values: pd.Series) -> pd.Series:
    """The values with +-inf turned into NaN (HD95 is inf when exactly one mask is empty)."""
    return values.replace([np.inf, -np.inf], np.nan)


def difficulty_order(per_case: pd.DataFrame, metric: Metric = "dsc") -> list[str]:
    """Structures from hardest to easiest: lowest mean DSC/NSD first (highest mean HD95 first).

    Means are over the cases in ``per_case`` (HD95 over its finite values). Ties keep the
    official order.
    """
    metric = check_metric(metric)
    values = per_case.assign(v=finite(per_case[metric].astype(float)))
    mean = values.groupby("structure", sort=False)["v"].mean()
    official = [s for s in (*L.OAR_NAMES, *L.GTV_NAMES) if s in mean.index]
    others = [s for s in mean.index if s not in official]
    mean = mean.reindex(official + others)
    order = mean.sort_values(ascending=HIGHER_IS_BETTER[metric], kind="mergesort", na_position="first")
    return list(order.index)


def structure_volumes(counts: np.ndarray, voxel_volume_mm3: float, task: int = 1) -> dict[str, float]:
    """Volume in cm³ of every structure of a task from the voxel count of each one-hot label.

    ``counts[k]`` is the number of voxels of label ``k`` (e.g. ``np.bincount`` of the map); a
    structure is the union of its labels, which are disjoint in a one-hot map, so its volume is
    the sum of their counts times the voxel volume (mm³), divided by 1000.
    """
    counts = np.asarray(counts)
    out = {}
    for name in L.structures(task):
        n = sum(int(counts[k]) for k in L.labels_of(name, task) if k < len(counts))
        out[name] = n * float(voxel_volume_mm3) / 1000.0
    return out


def gt_volumes(
    gt_root: str | os.PathLike,
    case_ids: Iterable[str] | None = None,
    task: int = 1,
) -> pd.DataFrame:
    """Ground-truth volume of every structure: columns case, structure, voxels, cm3.

    Reads each case's one-hot map once (``stats.count_labels`` counts every label in one
    streamed pass; built from the masks when the map is missing). ``case_ids`` defaults to all
    cases of the dataset.
    """
    from segrap_nb.io.counts import bincount_uint8, count_labels
    from segrap_nb.io.dataset import SegRapDataset

    ds = SegRapDataset(gt_root)
    rows = []
    for cid in list(case_ids) if case_ids is not None else ds.case_ids:
        case = ds[cid]
        if task in case.onehot:
            counts, info = count_labels(case.onehot[task])
            voxel_mm3 = float(np.prod(info.spacing[:3]))
        else:
            vol = case.onehot_map(task)
            counts, voxel_mm3 = bincount_uint8(vol.array), vol.voxel_volume_mm3
        for name, cm3 in structure_volumes(counts, voxel_mm3, task).items():
            voxels = sum(int(counts[k]) for k in L.labels_of(name, task) if k < len(counts))
            rows.append({"case": cid, "structure": name, "voxels": voxels, "cm3": cm3})
    return pd.DataFrame(rows, columns=["case", "structure", "voxels", "cm3"])


def worst_cases(
    per_case: pd.DataFrame, n: int = 5, metric: Metric = "dsc", both_present: bool = False
) -> pd.DataFrame:
    """The ``n`` (case, structure) pairs with the worst score, worst first.

    Worst = lowest DSC or NSD, or highest HD95 (infinite first). Ties are broken by the other
    ranking metric (NSD for DSC, DSC otherwise), then by case and official structure order.
    ``both_present`` leaves out the pairs where exactly one mask is empty (HD95 infinite: an
    organ missed entirely, or predicted where the ground truth has none), keeping the ones
    where prediction and truth can be compared boundary to boundary.
    """
    metric = check_metric(metric)
    other = "nsd" if metric == "dsc" else "dsc"
    if both_present:
        per_case = per_case[np.isfinite(per_case["hd95"].astype(float))]
    rank = {s: i for i, s in enumerate((*L.OAR_NAMES, *L.GTV_NAMES))}
    df = per_case.assign(_rank=per_case["structure"].map(rank).fillna(len(rank)))
    asc = HIGHER_IS_BETTER[metric]
    df = df.sort_values([metric, other, "case", "_rank"], ascending=[asc, True, True, True], kind="mergesort")
    return df.drop(columns="_rank").head(n).reset_index(drop=True)


def toy_pair(
    radius_mm: float,
    shift_vox: int = 1,
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0),
    axis: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, truth): a ball of ``radius_mm`` and the same ball moved by ``shift_vox`` voxels.

    Both are bool arrays of the same shape (voxel index order, ``spacing_mm`` per axis), with
    room for the shift. The ball is the set of voxel centres within ``radius_mm`` of its centre.
    """
    spacing = np.asarray(spacing_mm, float)
    half = np.ceil(radius_mm / spacing).astype(int) + 2
    shape = 2 * half + 1
    shape[axis] += abs(int(shift_vox))
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    centre = half.astype(float)
    if shift_vox < 0:
        centre[axis] += abs(int(shift_vox))
    r2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing))
    truth = r2 <= radius_mm**2
    pred = np.roll(truth, int(shift_vox), axis=axis)
    return pred, truth


def shift_sweep(
    radii_mm: Iterable[float],
    shifts_vox: Iterable[int],
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0),
    tolerance_mm: float = 1.0,
    axis: int = 0,
) -> pd.DataFrame:
    """DSC, NSD at ``tolerance_mm`` and HD95 (mm) of every ball radius moved by every shift.

    Columns: radius_mm, volume_cm3 (of the voxelised ball), shift_vox, shift_mm, dsc, nsd, hd95.
    """
    rows = []
    for r in radii_mm:
        for s in shifts_vox:
            pred, truth = toy_pair(r, s, spacing_mm, axis)
            score = surface_metrics(pred, truth, spacing_mm, tolerance_mm)
            rows.append(
                {
                    "radius_mm": float(r),
                    "volume_cm3": np.count_nonzero(truth) * float(np.prod(spacing_mm)) / 1000.0,
                    "shift_vox": int(s),
                    "shift_mm": abs(int(s)) * float(spacing_mm[axis]),
                    "dsc": score.dsc,
                    "nsd": score.nsd,
                    "hd95": score.hd95,
                }
            )
    return pd.DataFrame(rows)
