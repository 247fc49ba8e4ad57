"""``segrap-nb evaluate``: score predictions per case and structure exactly as the challenge does.

Reads ground truth and predictions from folders or the release zips, each case as its
one-hot map when it has one (merged into structures with the official table; any integer
dtype holding valid labels), else as its per-structure masks (any value > 0 is inside). Masks
are scored each on its own, cropped to its bounding box, exactly as the organisers' scripts
score their 45 mask files: masks may overlap in any way, and no one-hot map is built from
them. nnU-Net's flat folders of ``segrap_XXXX.nii.gz`` label maps work as predictions too, and so
does a folder of the challenge container's 4D ``.mha`` outputs (:mod:`segrap_nb.eval.mha_preds`:
named by case id, or mapped with ``--pred-map`` table).
Spacing comes from the ground truth; a prediction on another grid is an error, never a number,
and a bad file is named with its side (``--pred`` or ``--gt``).

Outputs (``--out DIR``, each written atomically):

* ``official.csv`` — the organisers' own file (:mod:`segrap_nb.eval.official`): ``Name``, then
  ``<Structure>_DSC`` for every structure in official order, then ``<Structure>_NSD``, one row
  per case in their order, numbers rounded and printed as their script does;
* ``per_case.csv`` — tidy: case, structure, dsc, nsd, hd95 (mm), pred_voxels, gt_voxels;
* ``summary.csv`` — per structure mean and std of each metric, and a final row with the task
  mean (over the 45 OARs for Task 1, over GTVp and GTVnd for Task 2). HD95 is infinite when
  exactly one of the two masks is empty; its mean and std are taken over the finite values.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from segrap_nb import labels as L
from segrap_nb.errors import DataError
from segrap_nb.eval.metrics import evaluate_case
from segrap_nb.eval.mha_preds import mha_folder, mha_predictions
from segrap_nb.eval.official import official_table as official_table  # public here (segrap_nb.official_table)
from segrap_nb.eval.reading import read_structures, read_structures_4d
from segrap_nb.io.atomic import atomic_open
from segrap_nb.io.dataset import Case, SegRapDataset
from segrap_nb.parallel import run_in_order


def _score_case(job: tuple[Case | Path, Case, int]) -> list[dict]:
    """Score one case: rows of (case, structure, dsc, nsd, hd95 mm, pred_voxels, gt_voxels).

    The prediction is a case of a dataset, or the path of a challenge 4D ``.mha``.
    """
    pred_case, gt_case, task = job
    gt, grid = read_structures(gt_case, task, "--gt")
    if isinstance(pred_case, Path):
        pred = read_structures_4d(pred_case, task, grid)
    else:
        pred, _ = read_structures(pred_case, task, "--pred", grid)
    scores = evaluate_case(pred, gt, grid.spacing, task)
    return [
        {
            "case": gt_case.case_id,
            "structure": name,
            "dsc": s.dsc,
            "nsd": s.nsd,
            "hd95": s.hd95,
            "pred_voxels": pred[name].voxels,
            "gt_voxels": gt[name].voxels,
        }
        for name, s in scores.items()
    ]


def _score_in_worker(job: tuple[Case | Path, Case, int]) -> list[dict] | tuple[str, str]:
    """:func:`_score_case` in a worker process: a DataError comes back as (source, problem) to re-raise."""
    try:
        return _score_case(job)
    except DataError as exc:  # DataError's two-argument __init__ does not survive pickling
        return exc.source, exc.problem


def _rows(result: list[dict] | tuple[str, str]) -> list[dict]:
    """A worker's rows, or its DataError raised again here."""
    if isinstance(result, tuple):
        raise DataError(*result)
    return result


def match_cases(pred: SegRapDataset, gt: SegRapDataset) -> list[tuple[Case, Case]]:
    """Pair every predicted case with its ground truth; a prediction without one is an error."""
    extra = [c for c in pred.case_ids if c not in gt.case_ids]
    if extra:
        raise DataError(pred.root, f"predictions for cases not in the ground truth: {', '.join(extra[:5])}")
    return [(pred[c], gt[c]) for c in pred.case_ids]


def evaluate(
    pred_root: str | os.PathLike,
    gt_root: str | os.PathLike,
    task: int,
    workers: int = 1,
    progress: bool = True,
    pred_map: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Tidy per-case scores (case, structure, dsc, nsd, hd95 in mm, pred_voxels, gt_voxels) of every predicted case.

    ``pred_root`` may be a folder of the challenge container's 4D ``.mha`` files, named by
    case id or mapped with the ``uuid,case`` CSV table ``pred_map``.
    """
    gt = SegRapDataset(gt_root)
    folder = mha_folder(pred_root)
    jobs: list[tuple[Case | Path, Case, int]]
    if folder is not None:
        jobs = [(p, gt[c], task) for c, p in mha_predictions(folder, gt.case_ids, pred_map).items()]
    else:
        if pred_map is not None:
            raise DataError(pred_root, "--pred-map maps .mha files, and this folder has none")
        pred = SegRapDataset(pred_root, flat_task=task)
        jobs = [(p, g, task) for p, g in match_cases(pred, gt)]
    results = run_in_order(_score_in_worker, jobs, workers, desc=f"evaluate Task00{task}", progress=progress)
    rows = [r for res in results for r in _rows(res)]
    df = pd.DataFrame(rows, columns=["case", "structure", "dsc", "nsd", "hd95", "pred_voxels", "gt_voxels"])
    df["structure"] = pd.Categorical(df["structure"], categories=L.structures(task), ordered=True)
    df = df.sort_values(["case", "structure"], ignore_index=True)
    df["structure"] = df["structure"].astype(str)
    return df


def summary_table(per_case: pd.DataFrame, task: int) -> pd.DataFrame:
    """Per structure mean and std of DSC, NSD and HD95 (mm), then the task mean as a last row."""
    names = list(L.structures(task))
    # HD95 is infinite when exactly one mask is empty: average it over the finite cases only.
    per_case = per_case.assign(hd95=per_case["hd95"].replace([np.inf, -np.inf], np.nan))
    g = per_case.groupby("structure")[["dsc", "nsd", "hd95"]]
    mean, std = g.mean().reindex(names), g.std(ddof=0).reindex(names)
    out = pd.DataFrame(index=pd.Index(names, name="structure"))
    for m in ("dsc", "nsd", "hd95"):
        out[f"{m}_mean"], out[f"{m}_std"] = mean[m], std[m]
    # The task mean: per-case mean over structures, then mean and std over cases.
    per_case_mean = per_case.groupby("case")[["dsc", "nsd", "hd95"]].mean()
    label = "mean of 45 OARs" if task == 1 else "mean of GTVp and GTVnd"
    last = {f"{m}_mean": per_case_mean[m].mean() for m in ("dsc", "nsd", "hd95")}
    last |= {f"{m}_std": per_case_mean[m].std(ddof=0) for m in ("dsc", "nsd", "hd95")}
    out.loc[label] = pd.Series(last)
    return out.reset_index()


def write_csv_atomic(df: pd.DataFrame, path: Path, **kwargs) -> Path:
    """Write a DataFrame as CSV through a temporary file and a rename."""
    with atomic_open(path, "w", newline="") as fh:
        df.to_csv(fh, index=False, **kwargs)
    return path
