"""``segrap-nb export-algorithm``: package a trained run as a SegRap algorithm-container folder.

    segrap-nb export-algorithm --run RUN --out DIR [--checkpoint best|last] [--torch cpu|gpu]

The task comes from the run. See :mod:`segrap_nb.submission.export` for what the folder holds;
its README gives the Docker build, local test and ``docker save`` commands.
"""

from __future__ import annotations

import argparse

from segrap_nb.cli.options import guard_output
from segrap_nb.submission.templates import TORCH_INDEX


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segrap-nb export-algorithm``."""
    parser.add_argument("--run", required=True, help="run folder written by segrap-nb train")
    parser.add_argument("--out", required=True, help="folder to write (new, empty, or an earlier export)")
    parser.add_argument("--checkpoint", default="best", choices=("best", "last"), help="default: best")
    parser.add_argument(
        "--torch", default="cpu", choices=tuple(TORCH_INDEX), help="torch build in the image (default cpu)"
    )
    parser.add_argument("--name", default="segrap-algorithm", help="image name used in the README commands")


def run(args: argparse.Namespace) -> int:
    """Export; print where the folder is and what to do next."""
    from segrap_nb.submission.export import export_algorithm

    guard_output(args.out, args.run)  # never inside the run it packages; export refuses foreign files
    out = export_algorithm(args.run, args.out, args.checkpoint, args.torch, args.name)
    print(f"wrote the algorithm folder {out}")
    print(f"test it without Docker: cd {out} && python -m process --input INPUT --output OUTPUT")
    print(f"build, test and save the image with Docker: see {out / 'README.md'}")
    return 0
