"""Options shared by the subcommands, defined once, and the output-folder guard of every writing command.

* :func:`add_data` -- the dataset (a positional ``DATA``, or ``--data`` defaulting to
  ``$SEGRAP_DATA``, else the quick phantom);
* :func:`add_workers` -- ``--workers N``, an integer from 1 to the number of CPU cores;
* :func:`add_progress` -- ``--no-progress`` (the one spelling; older ones stay as hidden aliases);
* :func:`add_device` -- ``--device cpu|cuda|cuda:1|mps``;
* :func:`guard_output` -- before any work: an output folder must not overlap a dataset, must be
  writable, and must not hold a user's file named like one the command writes.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable

from segrap_nb.io.guards import Manifest, check_writable, refuse_overlap

#: Help of a positional dataset argument.
DATA_HELP = "dataset folder or zip (release layout)"
#: Help of ``--data`` (commands that can fall back on the environment or the phantom).
DATA_DEFAULT_HELP = "dataset folder or zip (default: $SEGRAP_DATA, else the quick phantom)"


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer between ``lo`` and ``hi`` (inclusive)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, got {value}")
        return value

    parse.__name__ = f"integer {lo}..{hi}"
    return parse


def cpu_count() -> int:
    """CPU cores of this machine (at least 1): the upper bound of ``--workers``."""
    return os.cpu_count() or 1


def add_data(parser: argparse.ArgumentParser, *, positional: bool, help: str | None = None) -> None:
    """The dataset: positional ``data`` (required), or ``--data`` (default None: environment, phantom)."""
    if positional:
        parser.add_argument("data", help=help or DATA_HELP)
    else:
        parser.add_argument("--data", default=None, help=help or DATA_DEFAULT_HELP)


def add_workers(
    parser: argparse.ArgumentParser, what: str, default: int | None = 1, default_text: str | None = None
) -> None:
    """``--workers N``: ``what`` (e.g. "cases checked") in parallel, 1..cpu count (``default`` None: the library's)."""
    shown = f" (default {default if default_text is None else default_text})"
    parser.add_argument(
        "--workers",
        type=int_in(1, cpu_count()),
        default=default,
        metavar="N",
        help=f"{what} in parallel, 1..{cpu_count()}{shown}",
    )


def add_progress(parser: argparse.ArgumentParser, aliases: Iterable[str] = ()) -> None:
    """``--no-progress`` (dest ``progress``, default True); ``aliases`` are older spellings, hidden."""
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    for alias in aliases:
        parser.add_argument(alias, dest="progress", action="store_false", help=argparse.SUPPRESS)


def add_device(parser: argparse.ArgumentParser) -> None:
    """``--device``: force a torch device (default None: CUDA, then MPS, then CPU, or $SEGRAP_DEVICE)."""
    parser.add_argument("--device", default=None, help="force a device (cpu, cuda, cuda:1, mps)")


def guard_output(
    out: str | os.PathLike,
    *datasets: str | os.PathLike | None,
    files: Iterable[str] = (),
    what: str = "output folder",
) -> Manifest:
    """Check an output folder before any work; returns its manifest (the files the kit wrote there).

    DataError (one line) when ``out`` overlaps any of ``datasets`` (None skipped), cannot take a
    new file, or holds one of ``files`` (paths relative to ``out``) that segrap-nb did not write.
    A command records the files it is about to write with ``manifest.claim(files)``.
    """
    refuse_overlap(out, *datasets)
    check_writable(out, what)
    manifest = Manifest(out)
    manifest.check(files)
    return manifest
