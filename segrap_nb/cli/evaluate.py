"""``segrap-nb evaluate --pred PRED --gt DATA --task 1|2 --out DIR``: the challenge's scores as CSV.

The scores are :func:`segrap_nb.eval.evaluate.evaluate`. The three files (``official.csv``,
``per_case.csv``, ``summary.csv``) are written all or none, and only over files of the same
name that the kit wrote (listed in ``DIR/.segrap-nb-manifest.json``): a user's own file named
like one of them stops the command before any work.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from segrap_nb.cli.options import add_progress, add_workers, guard_output
from segrap_nb.eval.evaluate import evaluate, official_table, summary_table
from segrap_nb.eval.mha_preds import mha_folder
from segrap_nb.eval.official import official_order
from segrap_nb.io.atomic import atomic_paths
from segrap_nb.io.guards import write_errors

#: The files written in ``--out``, in writing order.
TABLE_NAMES = ("official.csv", "per_case.csv", "summary.csv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segrap-nb evaluate``."""
    parser.add_argument(
        "--pred",
        required=True,
        help="predictions: release layout, zips, flat nnU-Net folder, or a folder of challenge 4D .mha files",
    )
    parser.add_argument(
        "--pred-map", type=Path, default=None, help="CSV table uuid,case naming the case of each .mha file"
    )
    parser.add_argument("--gt", required=True, help="ground truth dataset (folder or zips)")
    parser.add_argument("--task", type=int, choices=(1, 2), required=True)
    parser.add_argument("--out", required=True, type=Path, help="output folder for the CSV files")
    add_workers(parser, "cases evaluated")
    add_progress(parser)


def run(args: argparse.Namespace) -> int:
    """Evaluate, write the three CSV files and print the summary."""
    # Before any work: never into a dataset, only where writable, never over a user's file.
    manifest = guard_output(args.out, args.pred, args.gt, files=TABLE_NAMES)
    per_case = evaluate(
        args.pred, args.gt, args.task, workers=args.workers, progress=args.progress, pred_map=args.pred_map
    )
    cases = list(dict.fromkeys(per_case["case"]))
    order = sorted(cases) if mha_folder(args.pred) else official_order(args.pred, args.task, cases)
    summary = summary_table(per_case, args.task)
    tables = dict(
        zip(TABLE_NAMES, (official_table(per_case, args.task, order), per_case, summary), strict=True)
    )
    with write_errors(args.out):
        manifest.claim(TABLE_NAMES)
        with atomic_paths(args.out / name for name in tables) as tmps:  # all or none
            for table, tmp in zip(tables.values(), tmps, strict=True):
                with open(tmp, "w", newline="") as fh:
                    table.to_csv(fh, index=False)
    with pd.option_context("display.max_rows", 100, "display.width", 120):
        print(summary.round(4).to_string(index=False))
    print(f"{per_case['case'].nunique()} cases; CSV files in {args.out}")
    return 0
