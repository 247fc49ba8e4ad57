"""One way to run per-case work in parallel: a process pool with lazy submission and a progress bar.

Used by ``validate``, ``stats`` and ``evaluate``. Workers start with ``spawn`` (a fork after torch
or OpenMP threads ran in the parent can hang), at most ``workers`` jobs are in flight (memory stays
bounded on large cases), and results come back as jobs finish. A worker that dies (out of memory)
or a job whose result cannot come back is handed to ``failed`` when given, else re-raised.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from segrap_nb.progress import progress_bar

A = TypeVar("A")
R = TypeVar("R")

#: What ``failed(index, problem)`` gets when a worker process died during a job.
WORKER_DIED = "worker process died while this case was in progress (out of memory?); rerun with --workers 1"


def run_jobs(
    fn: Callable[[A], R],
    args: Sequence[A],
    workers: int = 1,
    *,
    desc: str = "",
    unit: str = "case",
    progress: bool = True,
    failed: Callable[[int, str], R] | None = None,
) -> Iterator[tuple[int, R]]:
    """Yield ``(index, fn(args[index]))`` as jobs finish, with ``workers`` processes and a progress bar."""
    bar = progress_bar(total=len(args), desc=desc, unit=unit, disable=not progress)
    try:
        if workers <= 1 or len(args) <= 1:
            for i, arg in enumerate(args):
                yield i, fn(arg)
                bar.update(1)
            return
        for i, result in _pooled(fn, args, min(workers, len(args)), failed):
            yield i, result
            bar.update(1)
    finally:
        bar.close()


def run_in_order(fn: Callable[[A], R], args: Sequence[A], workers: int = 1, **kwargs: Any) -> list[R]:
    """``[fn(a) for a in args]`` through :func:`run_jobs`: parallel, with progress, in input order."""
    out: dict[int, R] = dict(run_jobs(fn, args, workers, **kwargs))
    return [out[i] for i in range(len(args))]


def _pooled(
    fn: Callable[[A], R], args: Sequence[A], workers: int, failed: Callable[[int, str], R] | None
) -> Iterator[tuple[int, R]]:
    """The pool part of :func:`run_jobs`; a broken pool is replaced for the jobs not yet run."""
    queue = deque(range(len(args)))
    context = multiprocessing.get_context("spawn")
    while queue:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        pending: dict[Future[R], int] = {}
        broken = False
        try:
            while queue or pending:
                while queue and not broken and len(pending) < workers:  # submit lazily
                    i = queue.popleft()
                    pending[pool.submit(fn, args[i])] = i
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    i = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        broken = True
                        if failed is None:
                            raise
                        result = failed(i, WORKER_DIED)
                    except Exception as exc:
                        if failed is None:
                            raise
                        result = failed(i, f"worker failed ({type(exc).__name__}: {exc})")
                    yield i, result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
