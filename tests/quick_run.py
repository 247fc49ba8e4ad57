"""The quick run of notebook 04, trained once and shared by the unit tests and the notebook checks.

``ensure_quick_run()`` returns the folder where notebook 04 trains the quick configuration on
the default phantom (``default_run_dir(cfg, root)`` under ``$SEGRAP_CACHE``), where notebook
05 looks for it. It trains there unless the folder already holds a run made by the same code:
the key (sha1 of every file of the ``segrap_nb`` package, the torch/MONAI/numpy versions, the
configuration and the dataset files' names, sizes and mtimes) is kept beside the folder in
``.<run name>.testkey``. A matching but unfinished run (an interrupted session) is resumed,
which continues exactly; a run without the key or with another key is trained again.

A file lock (``.<run name>.testlock``) makes a second pytest worker wait for that training
instead of starting another. The users of the run form two xdist groups, each run in turn on
one worker, and the two groups side by side once the run is trained:

* ``quick_run``, what resumes the run (``train`` refuses two writers in one run folder):
  notebook 04 under nbval and its exercise pass. It is scheduled first, so one worker trains
  while the other runs the rest of the suite;
* ``quick_run_eval``, what only reads it: notebook 05 and its exercise pass, the quick DSC and
  live-plot tests (the ``quick_run`` fixture). It is scheduled last (``--no-loadscope-reorder``
  keeps the order :func:`schedule_order` gives), so the other worker only waits for the training
  once it has nothing else to do.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import filelock

import segrap_nb
from segrap_nb.config import DATA_ENV
from segrap_nb.io.atomic import atomic_open

#: xdist group of what resumes the shared quick run (and trains it first).
GROUP = "quick_run"
#: xdist group of what only reads the finished quick run.
EVAL_GROUP = "quick_run_eval"
#: Notebooks that resume (04) or read (05 evaluates it, 06 exports it) the quick run, and their groups.
NOTEBOOKS = {"04_training.ipynb": GROUP, "05_evaluation.ipynb": EVAL_GROUP, "06_submit.ipynb": EVAL_GROUP}


def _groups(item) -> set[str]:
    return {
        str(m.args[0] if m.args else m.kwargs.get("name", "default"))
        for m in item.iter_markers("xdist_group")
    }


def schedule_order(items) -> None:
    """Sort items in place: the quick run's writers first, then slow tests, the rest, its readers last."""

    def rank(item) -> int:
        groups = _groups(item)
        if GROUP in groups:
            return 0
        if EVAL_GROUP in groups:
            return 3
        return 1 if item.get_closest_marker("slow") is not None else 2

    items.sort(key=rank)  # stable: collection order within each rank


def restore_xdist_groups(config, items) -> None:
    """Give each item with an ``xdist_group`` mark its ``@group`` nodeid suffix (``--dist loadgroup``).

    pytest-xdist 3.8 groups by that suffix, which it writes into ``item._nodeid``; pytest 9.2
    builds node ids from ``item._id`` instead, so the suffix is lost and every test is
    scheduled alone (pytest-dev/pytest-xdist#1386, fix proposed in #1388). This writes it the
    way that fix does; where xdist's own suffix took (older pytest), it changes nothing.
    """
    if not getattr(config.option, "loadgroup", False):  # set by pytest-xdist for --dist loadgroup
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # a pytest that still uses _nodeid: xdist's suffix works
        return
    for item in items:
        names = sorted(_groups(item))
        suffix = "@" + "_".join(names)
        if names and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
            item._id = NodeId.parse(item.nodeid + suffix)


def default_phantom() -> Path:
    """The default phantom (built on first use, under a lock), whatever ``$SEGRAP_DATA`` says."""
    from segrap_nb.sources import data_root

    saved = os.environ.pop(DATA_ENV, None)
    try:
        return data_root()
    finally:
        if saved is not None:
            os.environ[DATA_ENV] = saved


def quick_config():
    """Notebook 04's configuration on the phantom: ``quick`` with the last 2 cases held out."""
    from segrap_nb.training import load_config

    return load_config("quick", {"data.val_cases": 2})


def _code_digest() -> str:
    """sha1 of every file of the installed ``segrap_nb`` package (sources, configs, data)."""
    package = Path(segrap_nb.__file__).resolve().parent
    h = hashlib.sha1()
    for f in sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(f.relative_to(package).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def run_key(cfg, data: Path) -> str:
    """sha1 of what the run depends on: code, library versions, configuration, dataset files."""
    import monai
    import numpy
    import torch

    files = sorted(
        (f.relative_to(data).as_posix(), f.stat().st_size, f.stat().st_mtime_ns)
        for f in data.rglob("*")
        if f.is_file()
    )
    raw = {
        "code": _code_digest(),
        "torch": torch.__version__,
        "monai": monai.__version__,
        "numpy": numpy.__version__,
        "config": cfg.to_dict(),
        "data": str(data),
        "files": files,
    }
    return hashlib.sha1(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()


_OUTCOME: list[Path | BaseException] = []  # this process's answer, a failure included


def ensure_quick_run() -> Path:
    """The finished quick run in notebook 04's run folder, trained here if needed (on the CPU).

    Asked again in the same process, it answers at once: the same folder, or the same error
    (a failed training is not retried before every cell of notebooks 04 and 05).
    """
    if not _OUTCOME:
        try:
            _OUTCOME.append(_ensure())
        except Exception as exc:  # re-raised below, now and on every later call
            _OUTCOME.append(exc)
    if isinstance(_OUTCOME[0], BaseException):
        raise _OUTCOME[0]
    return _OUTCOME[0]


def _ensure() -> Path:
    """Train or resume the quick run under the lock; return its folder once it has every step."""
    from segrap_nb.training import default_run_dir, train
    from segrap_nb.training.runs import mark_latest

    data = default_phantom()
    cfg = quick_config()
    run = default_run_dir(cfg, data)
    run.parent.mkdir(parents=True, exist_ok=True)
    key_file = run.parent / f".{run.name}.testkey"
    with filelock.FileLock(str(run.parent / f".{run.name}.testlock")):
        key = run_key(cfg, data)
        same = key_file.exists() and key_file.read_text().strip() == key and (run / "last.pt").exists()
        if not same:
            with atomic_open(key_file, "w") as fh:  # before training: an interrupted run resumes
                fh.write(key + "\n")
        if same and _finished(run, cfg.train.steps):
            return run  # not even a resume: a notebook may be resuming it on the other worker
        result = train(cfg, data, run, resume=same, overwrite=not same, progress=False, device="cpu")
        if result.step != cfg.train.steps:
            raise RuntimeError(f"{run}: the quick run stopped at step {result.step} of {cfg.train.steps}")
        mark_latest(run)  # as notebook 04 does: notebook 05 evaluates this run in either order
    return run


def _finished(run: Path, steps: int) -> bool:
    """True when the run's log reports its last step (its checkpoints are written before that)."""
    from segrap_nb.training import read_metrics

    try:
        return max((e["step"] for e in read_metrics(run)), default=0) >= steps
    except (OSError, ValueError, KeyError):
        return False
