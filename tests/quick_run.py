"""The quick run of notebook 04, trained once and shared by the unit tests and the notebook checks.

``ensure_quick_run()`` returns the folder where notebook 04 trains the quick configuration on
the default phantom (``default_run_dir(cfg, root)`` under ``$SEGRAP_CACHE``), where notebook
05 looks for it. It trains there unless the folder already holds a run made by the same code:
the key (sha1 of every file of the ``segrap_nb`` package, the torch/MONAI/numpy versions, the
configuration and the dataset files' names, sizes and mtimes) is kept beside the folder in
``.<run name>.testkey``. A matching but unfinished run (an interrupted session) is resumed,
which continues exactly; a run without the key or with another key is trained again.

A file lock (``.<run name>.testlock``) makes a second pytest worker wait for that training
instead of starting another; ``train`` itself refuses two writers in one run folder, so tests
that use the run (the ``quick_run`` fixture, notebooks 04 and 05 under nbval) are put in the
``quick_run`` xdist group by the conftests and run one after another on one worker.
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

#: xdist group of every test that reads or writes the shared quick run.
GROUP = "quick_run"
#: Notebooks that train (04) or evaluate (05) the quick run.
NOTEBOOKS = ("04_training.ipynb", "05_evaluation.ipynb")


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
        names = sorted(
            {
                str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                for m in item.iter_markers("xdist_group")
            }
        )
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
        result = train(cfg, data, run, resume=same, overwrite=not same, progress=False, device="cpu")
    if result.step != cfg.train.steps:
        raise RuntimeError(f"{run}: the quick run stopped at step {result.step} of {cfg.train.steps}")
    return run
