"""``segrap-nb predict --run RUN --out PRED [--data DATA] [--cases ...]``: predictions in the release layout.

The work is :func:`segrap_nb.training.predict` (see :mod:`segrap_nb.training.prediction` for
the files written); it replaces only files the kit wrote in ``--out``.
"""

from __future__ import annotations

import argparse

from segrap_nb.cli.options import add_data, add_device, add_progress, guard_output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segrap-nb predict``."""
    parser.add_argument("--run", required=True, help="run folder written by segrap-nb train")
    parser.add_argument("--out", required=True, help="output folder (release layout)")
    add_data(parser, positional=False)
    parser.add_argument("--cases", nargs="+", default=None, help="case ids (default: every case)")
    parser.add_argument("--checkpoint", default="best", help="best (default), last, or a .pt file")
    parser.add_argument(
        "--no-masks", action="store_true", help="write only the one-hot maps, not the per-structure masks"
    )
    add_device(parser)
    add_progress(parser)


def run(args: argparse.Namespace) -> int:
    """Predict; returns 0 on success."""
    from segrap_nb.training import predict
    from segrap_nb.training.device import parse_device

    device = parse_device(args.device, "--device") if args.device else None
    guard_output(args.out, args.data)
    files = predict(
        args.run,
        args.out,
        args.data,
        args.cases,
        args.checkpoint,
        masks=not args.no_masks,
        device=device,
        progress=args.progress,
    )
    print(f"wrote {len(files)} prediction(s) to {args.out}")
    return 0
