"""``segrap-nb phantom OUT --cases N [--size quick|full] [--seed S] [--zip]``: write the synthetic dataset.

The work is :func:`segrap_nb.phantom.writer.make_phantom`; it writes only into an empty folder
or over a phantom it made (``PHANTOM.txt``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from segrap_nb.cli.options import add_progress, guard_output, int_in
from segrap_nb.phantom.writer import MAX_CASES, SIZES, make_phantom


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segrap-nb phantom``."""
    parser.add_argument("out", type=Path, help="folder to write the dataset into")
    parser.add_argument(
        "--cases", type=int_in(1, MAX_CASES), default=8, help=f"number of cases, 1..{MAX_CASES} (default 8)"
    )
    parser.add_argument(
        "--size",
        choices=SIZES,
        default="quick",
        help="quick: 1.5x1.5x3 mm head-and-neck grid (default); full: release-size "
        "grids (about 130 M voxels per case)",
    )
    parser.add_argument(
        "--seed", type=int_in(0, 2**63 - 1), default=0, help="random seed, a non-negative integer (default 0)"
    )
    parser.add_argument(
        "--zip", action="store_true", help="write the two release zips instead of extracted folders"
    )
    add_progress(parser, aliases=("--quiet",))


def run(args: argparse.Namespace) -> int:
    """Run ``segrap-nb phantom``; returns the exit status."""
    guard_output(args.out)
    out = make_phantom(
        args.out, cases=args.cases, size=args.size, seed=args.seed, as_zip=args.zip, progress=args.progress
    )
    print(
        f"wrote {args.cases} synthetic {args.size} case(s) to {out}"
        f"{' as the two release zips' if args.zip else ''}"
    )
    return 0
