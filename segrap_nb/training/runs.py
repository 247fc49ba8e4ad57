"""Run folders: one per configuration and dataset, never shared, and the pointer to the latest run.

* :func:`run_dir_for` names the folder ``<cache>/runs/<config name>-<hash>``: the hash covers the
  whole configuration (overrides included) and the dataset, so the quick and the gpu setting,
  or the phantom and the real data, can never write into one folder.
  (:func:`segrap_nb.training.train` also locks a run folder while it writes: a second process
  training into the same folder stops with a clear error instead of mixing its logs in.)
* :func:`mark_latest` / :func:`latest_run`: notebook 04 records the run it made, notebook 05
  evaluates that run (quick or gpu) rather than guessing a folder.
* :func:`time_warning`: one line of warning before a long setting starts on a CPU or the phantom.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from segrap_nb import config as kit_config
from segrap_nb.io.atomic import atomic_open

if TYPE_CHECKING:
    import torch

    from segrap_nb.training.train_config import TrainConfig

#: File in ``<cache>/runs`` holding the path of the run notebook 04 made last.
LATEST_FILE = "latest.txt"


def runs_root() -> Path:
    """Folder of the notebook runs: ``segrap_nb.config.cache_dir()/runs``."""
    return kit_config.cache_dir() / "runs"


def run_key(cfg: TrainConfig, data: str | os.PathLike | None = None) -> str:
    """8 hex digits identifying a configuration (every setting) trained on a dataset folder."""
    raw = {"config": cfg.to_dict(), "data": str(Path(data).expanduser().resolve()) if data else None}
    return hashlib.sha1(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:8]


def run_dir_for(cfg: TrainConfig, data: str | os.PathLike | None = None) -> Path:
    """The run folder of ``cfg`` on ``data``: ``<cache>/runs/<cfg.name>-<run_key>``."""
    return runs_root() / f"{cfg.name}-{run_key(cfg, data)}"


def mark_latest(run: str | os.PathLike) -> Path:
    """Record ``run`` as the latest notebook run (``<cache>/runs/latest.txt``); returns that file."""
    path = runs_root() / LATEST_FILE
    with atomic_open(path, "w") as fh:
        fh.write(str(Path(run).expanduser().resolve()) + "\n")
    return path


def latest_run() -> Path | None:
    """The run recorded by :func:`mark_latest`, or None when there is none or it has no checkpoint."""
    path = runs_root() / LATEST_FILE
    try:
        run = Path(path.read_text().strip())
    except OSError:
        return None
    return run if (run / "last.pt").exists() else None


def work_per_run(cfg: TrainConfig) -> float:
    """Patch voxels pushed through the network in a whole run: steps x batch x patch voxels."""
    n = 1
    for s in cfg.data.patch_size:
        n *= int(s)
    return float(cfg.train.steps * cfg.data.batch_size * n)


def time_warning(cfg: TrainConfig, device: torch.device | str, phantom: bool) -> str | None:
    """A warning when ``cfg`` is far heavier than the quick setting and runs on a CPU or the phantom."""
    from segrap_nb.training.train_config import load_config

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
    from segrap_nb.training.loop import read_metrics

    total = last = 0.0
    for event in read_metrics(run):
        if event["kind"] != "train":
            continue
        if event["elapsed_s"] < last:  # a new session (a resume) starts its clock again
            total += last
        last = event["elapsed_s"]
    return (total + last) / 60
