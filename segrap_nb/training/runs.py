"""Which run folder a setting uses, the latest-run pointer, and the warning before a long setting.

The run folder itself (its files, the lock, the pointer) is :mod:`segrap_nb.training.run_folder`;
these are the short functions the notebooks call:

* :func:`run_dir_for` names the folder ``<cache>/runs/<config name>-<hash>`` (every setting and
  the dataset are in the hash, so two settings never write into one folder);
* :func:`mark_latest` / :func:`latest_run`: notebook 04 records the run it made, notebook 05
  evaluates that run (quick or gpu) rather than guessing a folder;
* :func:`time_warning`: one line of warning before a long setting starts on a CPU or the phantom.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from segrap_nb.training.run_folder import LATEST_FILE, RunFolder, run_key, runs_root
from segrap_nb.training.train_config import TrainConfig, load_config

if TYPE_CHECKING:
    import torch

__all__ = [
    "LATEST_FILE",
    "latest_run",
    "mark_latest",
    "run_dir_for",
    "run_key",
    "runs_root",
    "time_warning",
    "training_minutes",
    "work_per_run",
]


def run_dir_for(cfg: TrainConfig, data: str | os.PathLike | None = None) -> Path:
    """The run folder of ``cfg`` on ``data``: ``<cache>/runs/<cfg.name>-<run_key>``."""
    return RunFolder.for_config(cfg, data).path


def mark_latest(run: str | os.PathLike) -> Path:
    """Record ``run`` as the latest notebook run (``<cache>/runs/latest.txt``); returns that file."""
    return RunFolder(run).mark_latest()


def latest_run() -> Path | None:
    """The run recorded by :func:`mark_latest`, or None when there is none or it has no checkpoint."""
    run = RunFolder.latest()
    return run.path if run is not None else None


def work_per_run(cfg: TrainConfig) -> float:
    """Patch voxels pushed through the network in a whole run: steps x batch x patch voxels."""
    n = 1
    for s in cfg.data.patch_size:
        n *= int(s)
    return float(cfg.train.steps * cfg.data.batch_size * n)


def time_warning(cfg: TrainConfig, device: torch.device | str, phantom: bool) -> str | None:
    """A warning when ``cfg`` is far heavier than the quick setting and runs on a CPU or the phantom."""
    ratio = work_per_run(cfg) / work_per_run(load_config("quick"))
    if ratio < 3:
        return None
    kind = str(getattr(device, "type", device)).split(":")[0]
    reasons = []
    if kind != "cuda":
        reasons.append(f"this machine trains on the {kind.upper()}, not a CUDA GPU")
    if phantom:
        reasons.append("the data are the 8-case phantom, which the quick setting already learns")
    if not reasons:
        return None
    return (
        f"warning: the {cfg.name!r} setting pushes {ratio:.0f} times the patch voxels of 'quick' "
        f"through a wider network ({cfg.train.steps} steps of {cfg.data.batch_size} x "
        f"{list(cfg.data.patch_size)}), and "
        + "; ".join(reasons)
        + ". Expect it to run many times longer than the quick setting; interrupt the "
        "kernel to stop (resume=True continues later)."
    )


def training_minutes(run: str | os.PathLike) -> float:
    """Wall-clock minutes the run's training loop took, summed over its sessions (from its log)."""
    return RunFolder(run).training_minutes()
