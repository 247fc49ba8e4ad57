"""What the benchmark scripts share: their argument parser, timing, peak RSS, load average, ratios.

Not a benchmark itself (``make bench`` runs ``benchmarks/bench_*.py``); each script imports it
as ``_common``, its own folder being first on ``sys.path`` when run as ``python benchmarks/x.py``.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: The repository's root folder (the notebooks, the package when it is not installed).
ROOT = Path(__file__).resolve().parents[1]
#: Binder's memory limit, MB: every measured process must stay under it.
BINDER_MB = 2048


def arg_parser(doc: str | None) -> argparse.ArgumentParser:
    """The script's argument parser, described by the first line of its docstring."""
    return argparse.ArgumentParser(description=(doc or "").splitlines()[0])


def add_repeat(ap: argparse.ArgumentParser, default: int, help: str | None = None) -> None:
    """The common ``--repeat N`` flag: how many timed runs (the best or the median is reported)."""
    ap.add_argument("--repeat", type=int, default=default, help=help)


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()``'s value and its wall time in seconds."""
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time in seconds of ``repeat`` calls."""
    return min(timed(fn)[1] for _ in range(repeat))


def peak_rss_mb(usage: resource.struct_rusage | None = None) -> float:
    """Peak resident memory in MB of ``usage`` (``wait4``'s, say), by default of this process (Linux: KiB)."""
    if usage is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_maxrss / 1024


def load_average() -> float:
    """The machine's 1-minute load average (a ratio is trustworthy only on a quiet machine)."""
    return os.getloadavg()[0]


def print_ratio(label: str, slow_s: float, fast_s: float) -> None:
    """Print ``ratio <label>: slow/fast x`` (``label`` padded by the caller to line up its rows)."""
    print(f"ratio {label}: {slow_s / fast_s:8.1f} x")
