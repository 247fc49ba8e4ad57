"""``segrap-nb stats DATA --out DIR``: the statistics tables as CSV, beside the dataset card.

The work is :func:`segrap_nb.analysis.stats.compute_stats`. Exit status: 0 when at least one
case was processed (skipped cases listed on stderr), 1 when every case was skipped, 2 when the
dataset cannot be opened or ``--out`` is refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segrap_nb.analysis.stats import TABLE_NAMES, compute_stats, default_workers
from segrap_nb.cli.options import add_data, add_progress, add_workers, guard_output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segrap-nb stats``."""
    add_data(parser, positional=True)
    parser.add_argument("--out", required=True, help="folder for the CSV tables")
    add_workers(parser, "cases processed", default=None, default_text=str(default_workers()))
    parser.add_argument(
        "--cache-dir", default=None, help="cache folder (default: the kit's cache folder /stats)"
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    add_progress(parser)


def run(args: argparse.Namespace) -> int:
    """Write the tables; one line per problem on stderr; 0 if any case was processed, else 1."""
    out = Path(args.out).expanduser()
    # Refused before any work: an output inside the dataset, unwritable, or over a user's files.
    guard_output(out, args.data, files=TABLE_NAMES)
    result = compute_stats(
        args.data,
        workers=args.workers,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        progress=args.progress,
    )
    for problem in result.problems:
        print(f"skipped: {problem}", file=sys.stderr)
    paths = result.write(args.out)
    print(f"stats: {result.summary()}")
    print(f"wrote {', '.join(p.name for p in paths)} to {Path(args.out)}")
    matched = result.comparison["match"]
    print(f"{int(matched.sum())} of {len(matched)} published numbers reproduced (see comparison.csv)")
    if result.skipped:
        shown = ", ".join(result.skipped[:10]) + (" ..." if len(result.skipped) > 10 else "")
        print(f"warning: {len(result.skipped)} of {result.n_cases} cases skipped ({shown})", file=sys.stderr)
    if result.processed == 0:
        print("error: no case could be processed", file=sys.stderr)
        return 1
    return 0
