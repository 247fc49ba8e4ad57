"""The run folder: the one module that knows its files, and the pointer to the latest run.

A run folder holds one training run of one configuration on one dataset::

    config.yaml     the configuration used (with overrides applied)
    split.json      training and validation case ids, the dataset and the preprocessed cache folder
    metrics.jsonl   one JSON object per report ({"kind": "train"|"val", "step": ..., ...})
    last.pt best.pt checkpoints (model, optimiser, scheduler, scaler, step, config, RNG states)
    .train.lock     held by the process that trains into the folder

:meth:`RunFolder.for_config` names it ``<cache>/runs/<config name>-<hash>``: the hash covers the
whole configuration (overrides included) and the dataset, so two settings, or the phantom and
the real data, never share a folder. ``<cache>/runs/latest.txt`` records the run notebook 04
made last (:meth:`RunFolder.mark_latest`, :meth:`RunFolder.latest`), which notebook 05 evaluates.

    run = RunFolder(path)
    run.split().val          # the validation case ids
    run.metrics()            # the reports, in order
    run.training_minutes()   # wall-clock minutes of its training loop, over all its sessions
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None  # type: ignore[assignment]

from segrap_nb import config as kit_config
from segrap_nb.errors import DataError
from segrap_nb.io.atomic import atomic_open
from segrap_nb.training.train_config import TrainConfig, load_config, save_config

#: The files a run writes (removed together when a run is started again in the folder).
RUN_FILES = ("config.yaml", "split.json", "metrics.jsonl", "last.pt", "best.pt")
#: File in ``<cache>/runs`` holding the path of the run notebook 04 made last.
LATEST_FILE = "latest.txt"


def runs_root() -> Path:
    """Folder of the notebook runs: ``segrap_nb.config.cache_dir()/runs``."""
    return kit_config.cache_dir() / "runs"


def run_key(cfg: TrainConfig, data: str | os.PathLike | None = None) -> str:
    """8 hex digits identifying a configuration (every setting) trained on a dataset folder."""
    raw = {"config": cfg.to_dict(), "data": str(Path(data).expanduser().resolve()) if data else None}
    return hashlib.sha1(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Split:
    """A run's split (``split.json``): training and validation case ids, dataset and cache folders."""

    train: list[str]
    val: list[str]
    data: Path
    cache: Path


def split_cases(case_ids: list[str], cfg: TrainConfig) -> tuple[list[str], list[str]]:
    """(training ids, validation ids): ``data.val_cases`` = the last N ids or an explicit list."""
    ids = sorted(case_ids)
    v = cfg.data.val_cases
    if isinstance(v, int):
        if not 0 <= v < len(ids):
            raise DataError("config", f"data.val_cases={v} leaves no training case among {len(ids)}")
        val = ids[len(ids) - v :] if v else []
    else:
        val = list(v)
        missing = sorted(set(val) - set(ids))
        if missing:
            raise DataError("config", f"validation cases not in the dataset: {', '.join(missing)}")
    train = list(cfg.data.train_cases) if cfg.data.train_cases else [c for c in ids if c not in val]
    missing = sorted(set(train) - set(ids))
    if missing:
        raise DataError("config", f"training cases not in the dataset: {', '.join(missing)}")
    if not train:
        raise DataError("config", "no training case left")
    return train, val


def read_metrics(run: str | os.PathLike) -> list[dict[str, Any]]:
    """The events of a run's ``metrics.jsonl`` (train and val reports), in order.

    A torn last line (the run was killed while writing it) is skipped; a bad line elsewhere
    raises DataError naming the file and the line.
    """
    path = Path(run) / "metrics.jsonl"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    events = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            if n == len(lines):
                break  # torn tail of a killed run: the checkpoint decides where to resume
            raise DataError(path, f"line {n} is not a JSON report") from None
    return events


def metrics_frames(run: str | os.PathLike) -> tuple[Any, Any]:
    """(train, val) pandas DataFrames of a run's metrics; val has one column per group mean DSC."""
    import pandas as pd

    events = read_metrics(run)
    train = pd.DataFrame([e for e in events if e["kind"] == "train"])
    val = pd.DataFrame([{"step": e["step"], **e["groups"]} for e in events if e["kind"] == "val"])
    return train, val


class RunFolder:
    """One run folder: its configuration, split, metrics log, checkpoints and lock (see the module)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @classmethod
    def for_config(cls, cfg: TrainConfig | str, data: str | os.PathLike | None = None) -> RunFolder:
        """The folder of ``cfg`` (or a packaged config name) on ``data``: ``<cache>/runs/<name>-<hash>``."""
        cfg = load_config(cfg) if isinstance(cfg, str) else cfg
        return cls(runs_root() / f"{cfg.name}-{run_key(cfg, data)}")

    # -- files -------------------------------------------------------------------------------
    @property
    def metrics_path(self) -> Path:
        """``metrics.jsonl``: one JSON report per line."""
        return self.path / "metrics.jsonl"

    def checkpoint(self, which: str = "last") -> Path:
        """``last.pt`` or ``best.pt`` (``best`` falls back to ``last`` when a run has no best yet)."""
        if which not in ("best", "last"):
            raise DataError(self.path, f"no checkpoint {which!r} (use 'best' or 'last')")
        path = self.path / f"{which}.pt"
        return path if which == "last" or path.exists() else self.path / "last.pt"

    def has_checkpoint(self) -> bool:
        """True when the folder holds a run that can be resumed or evaluated (``last.pt``)."""
        return (self.path / "last.pt").exists()

    def clear(self) -> None:
        """Remove the files of a previous run (a new run starts in the folder)."""
        for name in RUN_FILES:
            (self.path / name).unlink(missing_ok=True)

    # -- configuration and split -------------------------------------------------------------
    def config(self) -> TrainConfig:
        """The configuration the run was trained with (``config.yaml``)."""
        return load_config(self.path / "config.yaml")

    def write_config(self, cfg: TrainConfig) -> Path:
        """Write ``config.yaml`` atomically."""
        self.path.mkdir(parents=True, exist_ok=True)
        return save_config(cfg, self.path / "config.yaml")

    def split(self) -> Split:
        """The run's split (``split.json``): ``.train``, ``.val`` case ids, ``.data``, ``.cache`` folders."""
        path = self.path / "split.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return Split(list(raw["train"]), list(raw["val"]), Path(raw["data"]), Path(raw["cache"]))
        except FileNotFoundError:
            raise DataError(path, "not found: the folder holds no training run") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(path, f"not a run's split ({type(exc).__name__}: {exc})") from None

    def write_split(self, split: Split) -> Path:
        """Write ``split.json`` atomically."""
        raw = {"data": str(split.data), "train": split.train, "val": split.val, "cache": str(split.cache)}
        path = self.path / "split.json"
        with atomic_open(path, "w") as fh:
            json.dump(raw, fh, indent=1)
        return path

    # -- metrics -----------------------------------------------------------------------------
    def metrics(self) -> list[dict[str, Any]]:
        """The reports of ``metrics.jsonl`` in order (see :func:`read_metrics`)."""
        return read_metrics(self.path)

    def metrics_frames(self) -> tuple[Any, Any]:
        """(train, val) pandas DataFrames of the reports (see :func:`metrics_frames`)."""
        return metrics_frames(self.path)

    def append_metric(self, event: dict[str, Any]) -> None:
        """Append one report to ``metrics.jsonl``."""
        with open(self.metrics_path, "a") as fh:
            fh.write(json.dumps(event) + "\n")

    def rewrite_metrics(self, events: list[dict[str, Any]]) -> None:
        """Replace the metrics log atomically (on resume: drop reports after the checkpoint)."""
        with atomic_open(self.metrics_path, "w") as fh:
            fh.write("".join(json.dumps(e) + "\n" for e in events))

    def sessions(self) -> list[dict[str, Any]]:
        """Timing of each training session up to the last checkpoint (``last.pt``): steps, wall/CPU s, threads."""
        from segrap_nb.training.checkpoint import load_checkpoint

        if not self.has_checkpoint():
            return []
        return list(load_checkpoint(self.checkpoint("last")).get("sessions", []))

    def time_summary(self) -> str:
        """One line: the run's measured wall time (set-up and validation included), threads and load average."""
        sessions = self.sessions()
        if not sessions:
            return (
                f"{self.path.name}: no timed session (trained by an older segrap-nb or not yet checkpointed)"
            )
        wall = sum(x["wall_s"] for x in sessions)
        steps = sessions[-1]["last_step"]
        where = sorted(
            {f"{x['device']}, {x['threads']} thread{'s' if x['threads'] != 1 else ''}" for x in sessions}
        )
        loads = [x["load_average"] for x in sessions if x.get("load_average") is not None]
        return (
            f"{steps} steps in {wall:.0f} s ({wall / 60:.1f} min) of wall time, set-up and validation "
            f"included, in {len(sessions)} session{'s' if len(sessions) != 1 else ''} on "
            + "; ".join(where)
            + (f"; highest load average {max(loads):.1f}" if loads else "")
        )

    def training_minutes(self) -> float:
        """Wall-clock minutes the run's training loop took, summed over its sessions (from its log)."""
        total = last = 0.0
        for event in self.metrics():
            if event["kind"] != "train":
                continue
            if event["elapsed_s"] < last:  # a new session (a resume) starts its clock again
                total += last
            last = event["elapsed_s"]
        return (total + last) / 60

    # -- lock and latest pointer -------------------------------------------------------------
    @contextmanager
    def lock(self, enabled: bool = True) -> Iterator[None]:
        """Hold ``.train.lock`` while a run writes here (rank 0 only): a second writer stops."""
        if not enabled or fcntl is None:
            yield
            return
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".train.lock", "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DataError(
                    self.path,
                    "another segrap-nb train is writing into this run folder: "
                    "wait for it to finish, or choose another --out",
                ) from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def mark_latest(self) -> Path:
        """Record this run as the latest notebook run (``<cache>/runs/latest.txt``); returns that file."""
        path = runs_root() / LATEST_FILE
        with atomic_open(path, "w") as fh:
            fh.write(str(self.path.resolve()) + "\n")
        return path

    @classmethod
    def latest(cls) -> RunFolder | None:
        """The run recorded by :meth:`mark_latest`, or None when there is none or it has no checkpoint."""
        try:
            run = cls(Path((runs_root() / LATEST_FILE).read_text().strip()))
        except OSError:
            return None
        return run if run.has_checkpoint() else None
