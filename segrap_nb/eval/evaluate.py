"""``segrap-nb evaluate``: score predictions per case and structure exactly as the challenge does.

Reads ground truth and predictions as one-hot maps or per-structure masks (converted with the
official table), from folders or the release zips; nnU-Net's flat folders of
``segrap_XXXX.nii.gz`` label maps work as predictions too. Spacing comes from the ground
truth; a prediction on another grid is an error, never a number.

Outputs (``--out DIR``, each written atomically):

* ``official.csv`` — the organisers' per-case format: ``case``, then ``<Structure>_DSC`` for
  every structure in official order, then ``<Structure>_NSD``, rounded to 4 decimals;
* ``per_case.csv`` — tidy: case, structure, dsc, nsd, hd95 (mm);
* ``summary.csv`` — per structure mean and std of each metric, and a final row with the task
  mean (over the 45 OARs for Task 1, over GTVp and GTVnd for Task 2). HD95 is infinite when
  exactly one of the two masks is empty; its mean and std are taken over the finite values.
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from segrap_nb import labels as L
from segrap_nb.io.atomic import atomic_open
from segrap_nb.io.dataset import Case, SegRapDataset
from segrap_nb.errors import DataError
from segrap_nb.eval.metrics import evaluate_case

#: Affine entries (mm) may differ by float32 rounding between writers.
GRID_TOL_MM = 1e-3


def _score_case(job: tuple[Case, Case, int]) -> list[dict]:
    """Score one case: rows of (case, structure, dsc, nsd, hd95)."""
    pred_case, gt_case, task = job
    gt = gt_case.onehot_map(task)
    pred = pred_case.onehot_map(task)
    if pred.shape != gt.shape:
        raise DataError(pred.source, f"prediction shape {pred.shape} differs from the ground truth's {gt.shape}")
    if not np.allclose(pred.affine, gt.affine, atol=GRID_TOL_MM):
        raise DataError(
            pred.source,
            "prediction is on a different grid than the ground truth (affine differs: "
            f"spacing {tuple(round(s, 4) for s in pred.spacing)} vs "
            f"{tuple(round(s, 4) for s in gt.spacing)} mm)",
        )
    scores = evaluate_case(pred.array, gt.array, gt.spacing, task)
    return [
        {"case": gt_case.case_id, "structure": name, "dsc": s.dsc, "nsd": s.nsd, "hd95": s.hd95}
        for name, s in scores.items()
    ]


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
) -> pd.DataFrame:
    """Tidy per-case scores (case, structure, dsc, nsd, hd95 in mm) of every predicted case."""
    pred = SegRapDataset(pred_root, flat_task=task)
    gt = SegRapDataset(gt_root)
    jobs = [(p, g, task) for p, g in match_cases(pred, gt)]
    bar = dict(total=len(jobs), desc=f"evaluate Task00{task}", unit="case", disable=not progress)
    if workers <= 1:
        rows = [r for job in tqdm(jobs, **bar) for r in _score_case(job)]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rows = [r for res in tqdm(pool.map(_score_case, jobs), **bar) for r in res]
    df = pd.DataFrame(rows, columns=["case", "structure", "dsc", "nsd", "hd95"])
    df["structure"] = pd.Categorical(df["structure"], categories=L.structures(task), ordered=True)
    df = df.sort_values(["case", "structure"], ignore_index=True)
    df["structure"] = df["structure"].astype(str)
    return df


def official_table(per_case: pd.DataFrame, task: int) -> pd.DataFrame:
    """The organisers' per-case table: case, <S>_DSC ..., <S>_NSD ..., rounded to 4 decimals."""
    names = list(L.structures(task))
    dsc = per_case.pivot(index="case", columns="structure", values="dsc")[names]
    nsd = per_case.pivot(index="case", columns="structure", values="nsd")[names]
    table = pd.concat([dsc.add_suffix("_DSC"), nsd.add_suffix("_NSD")], axis=1).round(4)
    return table.reset_index()


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segrap-nb evaluate``."""
    parser.add_argument("--pred", required=True, help="predictions: release layout, zips, or flat nnU-Net folder")
    parser.add_argument("--gt", required=True, help="ground truth dataset (folder or zips)")
    parser.add_argument("--task", type=int, choices=(1, 2), required=True)
    parser.add_argument("--out", required=True, type=Path, help="output folder for the CSV files")
    parser.add_argument("--workers", type=int, default=1, help="cases evaluated in parallel")


def run(args: argparse.Namespace) -> int:
    """Evaluate, write the three CSV files and print the summary."""
    per_case = evaluate(args.pred, args.gt, args.task, workers=args.workers)
    write_csv_atomic(official_table(per_case, args.task), args.out / "official.csv", float_format="%.4f")
    write_csv_atomic(per_case, args.out / "per_case.csv")
    summary = summary_table(per_case, args.task)
    write_csv_atomic(summary, args.out / "summary.csv")
    with pd.option_context("display.max_rows", 100, "display.width", 120):
        print(summary.round(4).to_string(index=False))
    print(f"{per_case['case'].nunique()} cases; CSV files in {args.out}")
    return 0
