"""``segrap-nb export-nnunet DATA --out RAW --task 1|2``: a SegRap dataset as an nnU-Net v2 raw dataset.

The work is :func:`segrap_nb.io.nnunet.export_counted` (layout and rules in :mod:`segrap_nb.io.nnunet`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segrap_nb.cli.options import add_data, add_progress, guard_output
from segrap_nb.io.nnunet import DEFAULT_IDS, dataset_dirname, export_counted, summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segrap-nb export-nnunet``."""
    add_data(parser, positional=True)
    parser.add_argument(
        "--out", required=True, metavar="RAW", help="nnU-Net raw folder (what $nnUNet_raw points to)"
    )
    parser.add_argument(
        "--task",
        type=int,
        choices=(1, 2),
        required=True,
        help="1 = the 54 one-hot OAR labels, 2 = GTVp and GTVnd",
    )
    parser.add_argument(
        "--id",
        type=int,
        default=None,
        dest="dataset_id",
        metavar="ID",
        help="nnU-Net dataset id, 1..999 (default 651 for task 1, 652 for task 2)",
    )
    parser.add_argument(
        "--name", default=None, help="dataset name after DatasetXXX_ (default SegRapTask1 / SegRapTask2)"
    )
    add_progress(parser)


def run(args: argparse.Namespace) -> int:
    """Export, print where it went and the next nnU-Net command; exit status 0."""
    try:
        dirname = dataset_dirname(args.task, args.dataset_id, args.name)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    guard_output(Path(args.out).expanduser() / dirname, args.data)
    folder, counts = export_counted(
        args.data, args.out, args.task, args.dataset_id, args.name, progress=args.progress
    )
    print(f"wrote {folder}: {summary(counts)}")
    dataset_id = DEFAULT_IDS[args.task] if args.dataset_id is None else args.dataset_id
    print(
        f"next: export nnUNet_raw={Path(args.out).expanduser().resolve()} (and "
        f"nnUNet_preprocessed, nnUNet_results), then "
        f"nnUNetv2_plan_and_preprocess -d {dataset_id} --verify_dataset_integrity"
    )
    return 0
