"""``segrap-nb validate DATA``: one line per problem, a summary, exit status 1 on any error.

The checks are :func:`segrap_nb.analysis.validate.validate_dataset`.
"""

from __future__ import annotations

import argparse

from segrap_nb.analysis.validate import validate_dataset
from segrap_nb.cli.options import add_data, add_progress, add_workers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segrap-nb validate``."""
    add_data(parser, positional=True)
    add_workers(parser, "cases checked")
    parser.add_argument("--quiet-info", action="store_true", help="hide information lines")
    add_progress(parser)


def run(args: argparse.Namespace) -> int:
    """Print one line per problem and a summary; exit status 1 when any error was found."""
    reports = validate_dataset(args.data, workers=args.workers, progress=args.progress)
    n_err = n_info = 0
    for rep in reports:
        for f in rep.findings:
            if f.level == "error":
                n_err += 1
                print(f"{f}")
            else:
                n_info += 1
                if not args.quiet_info:
                    print(f"{f} (info)")
    bad = sum(1 for r in reports if r.errors)
    print(
        f"checked {len(reports)} cases: {len(reports) - bad} ok, {bad} with errors; "
        f"{n_err} errors, {n_info} information lines"
    )
    return 1 if n_err else 0
