"""The organisers' per-case CSV (``official.csv`` of ``segrap-nb evaluate``), byte for byte.

The challenge's evaluation scripts (``Eval/SegRap_Task00{1,2}_DSC_NSD_Eval.py`` in the
organisers' SegRap2023 repository) write one row per case and no averages. This module writes
the same file from the tidy per-case scores:

* first column ``Name`` (the case folder's name), then ``<structure>_DSC`` for every structure
  in the order of their tolerance table (:func:`csv_order`; for Task 1 nearly alphabetical, not
  the channel order of the 4D submission), then ``<structure>_NSD`` in the same order;
* rows in the order ``os.listdir`` returns the prediction's case folders (not sorted), as their
  script loops over them; sorted by case when the prediction is not one folder on disk (zips);
* a structure absent from the ground truth gets the integers ``1`` (prediction empty too) or
  ``0``, so a column holding only such cases is written as integers;
* otherwise the DSC is a Python float (medpy's ``dc`` under the NumPy 1.x of the challenge)
  rounded by the built-in ``round(x, 4)``, i.e. on its exact binary value: a DSC of exactly
  0.00625 (stored as 0.006250000000000000347) becomes 0.0063; the NSD is a NumPy float64
  (``surface-distance`` sums), which ``round(x, 4)`` rounds the NumPy way, scaled by 10⁴ and
  rounded half to even: an NSD of 0.00625 becomes 0.0062;
* written by pandas' ``to_csv(index=False)``: Python's shortest float text (``1.0``, ``0.83``,
  ``0.8567``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from segrap_nb import labels as L
from segrap_nb.io.dataset import Case, SegRapDataset

__all__ = ["csv_order", "official_order", "official_table", "official_values"]


def csv_order(task: int) -> list[str]:
    """The task's structures in the organisers' CSV column order: that of their NSD tolerance table."""
    names = set(L.structures(task))
    return [n for n in L.NSD_TOLERANCE_MM if n in names]


def official_values(dsc: float, nsd: float, gt_empty: bool) -> tuple[float | int, float | int]:
    """(DSC, NSD) as the organisers' script stores them: ints for an empty ground truth, else rounded."""
    if gt_empty:
        both_empty = int(dsc == 1.0)
        return both_empty, both_empty
    return round(float(dsc), 4), round(np.float64(nsd), 4)


def official_table(per_case: pd.DataFrame, task: int, order: list[str] | None = None) -> pd.DataFrame:
    """The organisers' per-case table: ``Name``, ``<S>_DSC`` ..., ``<S>_NSD`` ..., one row per case.

    ``per_case`` is :func:`segrap_nb.eval.evaluate.evaluate`'s tidy table; its ``gt_voxels``
    column tells which structures are absent from the ground truth (without it, every value is
    taken as computed). ``order`` lists the cases in row order (default: as in ``per_case``).
    """
    names = csv_order(task)
    cases = list(order) if order is not None else list(dict.fromkeys(per_case["case"]))
    gt_voxels = per_case["gt_voxels"] if "gt_voxels" in per_case.columns else [-1] * len(per_case)
    scores = {
        (c, s): (d, n, int(g) == 0)
        for c, s, d, n, g in zip(
            per_case["case"], per_case["structure"], per_case["dsc"], per_case["nsd"], gt_voxels
        )
    }
    missing = [(c, s) for c in cases for s in names if (c, s) not in scores]
    if missing:
        raise ValueError(f"no scores for {len(missing)} (case, structure) pairs, e.g. {missing[0]}")
    columns: dict[str, list] = {"Name": list(cases)}
    for name in names:
        columns[f"{name}_DSC"] = []
    for name in names:
        columns[f"{name}_NSD"] = []
    for case in cases:
        for name in names:
            dsc, nsd = official_values(*scores[(case, name)])
            columns[f"{name}_DSC"].append(dsc)
            columns[f"{name}_NSD"].append(nsd)
    return pd.DataFrame(columns)


def _scored_entry(case: Case, task: int) -> tuple[Path, str] | None:
    """(folder, entry name) that stands for a predicted case on disk, or None inside a zip."""
    ref = case.onehot.get(task)
    if ref is None:  # masks: the case folder inside the folder of cases
        refs = [case.files[n] for n in L.structures(task) if n in case.files]
        if not refs:
            return None
        ref = refs[0]
        if ref.member is not None:
            return None
        return ref.path.parent.parent, ref.path.parent.name
    if ref.member is not None:
        return None
    return ref.path.parent, ref.path.name


def official_order(pred_root: str | os.PathLike, task: int, case_ids: list[str]) -> list[str]:
    """``case_ids`` in the organisers' row order: ``os.listdir`` of the folder holding the predicted cases.

    Sorted when the predicted cases are not all entries of one folder on disk (zips, mixed folders).
    """
    pred = SegRapDataset(pred_root, flat_task=task)
    entries = {c: _scored_entry(pred[c], task) for c in case_ids if c in pred.case_ids}
    folders = {e[0] for e in entries.values() if e is not None}
    if len(entries) != len(case_ids) or None in entries.values() or len(folders) != 1:
        return sorted(case_ids)
    by_name = {name: case for case, (_, name) in entries.items()}  # type: ignore[misc]
    listed = [by_name[n] for n in os.listdir(folders.pop()) if n in by_name]
    return listed if len(listed) == len(case_ids) else sorted(case_ids)
