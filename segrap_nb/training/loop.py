"""The training loop: patches -> U-Net -> Dice + cross-entropy -> AdamW, with validation and checkpoints.

:func:`train` is what ``segrap-nb train`` and the notebook call. One step = one batch of
``data.batch_size`` patches per process. Every ``train.log_every`` steps it reports the mean
loss and the time spent waiting for data vs computing; every ``train.val_every`` steps (and at
the end) rank 0 runs sliding-window inference on the whole validation cases
(:mod:`segrap_nb.training.validate`), computes the DSC of every structure, saves ``last.pt``
and, when the selected group's mean DSC improved, ``best.pt``. Each report is appended to
``metrics.jsonl`` and passed to ``callback(event)``. The run folder's files are described and
written by :mod:`segrap_nb.training.run_folder`.

A session runs in named steps: :func:`_set_up` (device, distributed group, run folder),
:func:`_build` (data, model, optimiser, augmentation), :func:`_restore` (from ``last.pt``),
:func:`_write_run_files`, then :func:`_train_step` per batch and
:func:`_validate_and_checkpoint` at the validation steps, and :func:`_finish`.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from monai.optimizers import WarmupCosineSchedule
from monai.utils import set_determinism

from segrap_nb import config as kit_config
from segrap_nb.config import short_path
from segrap_nb.errors import DataError
from segrap_nb.io.dataset import SegRapDataset
from segrap_nb.io.guards import check_writable, disk_error, is_disk_error, refuse_overlap, torch_save_error
from segrap_nb.progress import progress_bar
from segrap_nb.sources import chosen_root, data_root
from segrap_nb.training import ddp
from segrap_nb.training.augment import DeviceAugment
from segrap_nb.training.checkpoint import load_checkpoint, rng_states, save_checkpoint, set_rng_states
from segrap_nb.training.data import PatchDataset, PatchLoader, ValDataset
from segrap_nb.training.device import (
    autocast_for,
    get_device,
    grad_scaler,
    loader_options,
    parse_device,
    tune_backends,
    use_amp,
)
from segrap_nb.training.loss import DiceCE
from segrap_nb.training.model import build_model, count_parameters
from segrap_nb.training.preprocess import PreprocessCache
from segrap_nb.training.run_folder import RunFolder, Split, metrics_frames, read_metrics, split_cases
from segrap_nb.training.train_config import TrainConfig
from segrap_nb.training.validate import run_validation

__all__ = [
    "TrainResult",
    "default_cache_root",
    "default_run_dir",
    "metrics_frames",
    "read_metrics",
    "split_cases",
    "train",
]


def default_cache_root() -> Path:
    """Where preprocessed cases are cached: ``segrap_nb.config.cache_dir()/preprocessed``."""
    return kit_config.cache_dir() / "preprocessed"


def default_run_dir(cfg: TrainConfig | str = "quick", data: str | os.PathLike | None = None) -> Path:
    """The run folder of a config (or packaged config name) on ``data``: ``<cache>/runs/<name>-<hash>``.

    The hash covers every setting and the dataset folder, so two settings never share a folder.
    """
    return RunFolder.for_config(cfg, chosen_root(data)).path


@dataclass
class TrainResult:
    """What a finished run reports: where it is, the last and best steps, all events."""

    run_dir: Path
    step: int
    best_step: int
    best_metric: float
    events: list[dict[str, Any]] = field(default_factory=list)
    digest: str = ""
    wall_s: float = 0.0  # this session's wall-clock seconds, set-up and validation included


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    inner = model.module if hasattr(model, "module") else model
    assert isinstance(inner, torch.nn.Module)
    return inner


def train(
    cfg: TrainConfig,
    data: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    **options: Any,
) -> TrainResult:
    """Train ``cfg`` on the dataset ``data`` (default: $SEGRAP_DATA or the phantom) into ``out``.

    ``options``: ``resume`` (continue from ``out/last.pt`` exactly), ``overwrite`` (replace a
    previous run), ``cache_root``, ``callback(event)``, ``progress``, ``device``, ``stop_at``
    (end this session after that step, with a checkpoint); see :func:`_train`.
    Before any work: ``out`` must not overlap the dataset and must be writable (so must the
    preprocessed cache), the device must exist; the run folder is locked for the whole run.
    A full disk ends it with one DataError naming the file, not a traceback.
    """
    out = Path(out).expanduser() if out is not None else default_run_dir(cfg, data)
    if isinstance(options.get("device"), str):
        options["device"] = parse_device(options["device"], "--device")
    refuse_overlap(out, chosen_root(data))
    check_writable(out, "run folder")
    check_writable(options.get("cache_root") or default_cache_root(), "preprocessed cache")
    try:
        with RunFolder(out).lock(ddp.from_env().is_main):
            return _train(cfg, data, out, **options)
    except OSError as exc:
        if not is_disk_error(exc):
            raise
        raise disk_error(exc, exc.filename or out) from None
    except RuntimeError as exc:  # torch.save reports a failed write as a RuntimeError
        error = torch_save_error(exc, out / "last.pt")
        if error is None:
            raise
        raise error from None


@dataclass
class _RunData:
    """The dataset, its split and the preprocessed cache entries of a run."""

    dataset: SegRapDataset
    train_ids: list[str]
    val_ids: list[str]
    cache: PreprocessCache
    train_entries: list[Any]
    val_entries: list[Any]


def _prepare_data(
    cfg: TrainConfig,
    data: str | os.PathLike | None,
    cache_root: str | os.PathLike | None,
    dist: ddp.DistInfo,
    progress: bool,
) -> _RunData:
    """Open the dataset, split it, and preprocess every case once (rank 0 first; the others read the cache)."""
    if dist.is_main:
        data_root(data)  # the default phantom is generated once, by rank 0
    ddp.barrier(dist)
    dataset = SegRapDataset(data_root(data))
    train_ids, val_ids = split_cases(dataset.case_ids, cfg)
    cache = PreprocessCache(cache_root or default_cache_root(), cfg.preprocess, cfg.task)
    if dist.is_main:
        cache.prepare([dataset[c] for c in train_ids + val_ids], progress=progress)
    ddp.barrier(dist)
    return _RunData(
        dataset,
        train_ids,
        val_ids,
        cache,
        cache.prepare([dataset[c] for c in train_ids], progress=False),
        cache.prepare([dataset[c] for c in val_ids], progress=False),
    )


def _optimiser(
    cfg: TrainConfig, model: torch.nn.Module
) -> tuple[torch.optim.Optimizer, WarmupCosineSchedule]:
    """AdamW with a linear warm-up then a cosine decay over ``train.steps``."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    scheduler = WarmupCosineSchedule(
        optimizer,
        warmup_steps=min(cfg.train.warmup_steps, cfg.train.steps - 1),
        t_total=cfg.train.steps,
        end_lr=cfg.train.end_lr,
    )
    return optimizer, scheduler


def _restore(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: WarmupCosineSchedule,
    scaler: Any,
    augment: DeviceAugment,
) -> tuple[int, float, int, list[dict[str, Any]]]:
    """Load a checkpoint into the run's objects and RNG streams; (step, best metric, best step, sessions)."""
    ckpt = load_checkpoint(path, map_location="cpu")  # RNG states must stay on the CPU
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    scaler.load_state_dict(ckpt["scaler"])
    set_rng_states(ckpt["rng"], {"augment": augment.generator})
    return ckpt["step"], ckpt["best_metric"], ckpt["best_step"], list(ckpt.get("sessions", []))


@dataclass
class _Session:
    """Everything one training session works with; ``step``/``best_*``/``events`` change as it runs."""

    cfg: TrainConfig
    run: RunFolder
    dist: ddp.DistInfo
    device: torch.device
    data: _RunData
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: WarmupCosineSchedule
    scaler: Any
    augment: DeviceAugment
    callback: Callable[[dict[str, Any]], None] | None
    progress: bool
    step: int = 0
    best_metric: float = -math.inf
    best_step: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    loss_fn: torch.nn.Module = field(default_factory=DiceCE)  # MONAI's DiceCELoss, in one pass
    sessions: list[dict[str, Any]] = field(default_factory=list)  # earlier sessions' timings
    first_step: int = 0  # the step this session started from
    clock: tuple[float, float] = field(default_factory=lambda: (time.perf_counter(), time.process_time()))

    @property
    def main(self) -> bool:
        """True on the process that writes the run folder (rank 0)."""
        return self.dist.is_main

    def emit(self, event: dict[str, Any]) -> None:
        """Record a report: in the events, the metrics log and the callback (rank 0)."""
        self.events.append(event)
        if self.main:
            self.run.append_metric(event)
            if self.callback is not None:
                self.callback(event)

    def checkpoint_state(self) -> dict[str, Any]:
        """What ``last.pt``/``best.pt`` hold: weights, optimiser, schedule, RNG states, progress."""
        return {
            "model": _unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "config": self.cfg.to_dict(),
            "rng": rng_states({"augment": self.augment.generator}),
            "best_metric": self.best_metric,
            "best_step": self.best_step,
            "train_cases": self.data.train_ids,
            "val_cases": self.data.val_ids,
            "sessions": [*self.sessions, self.timing()],
        }

    def timing(self) -> dict[str, Any]:
        """This session so far: steps, wall and CPU seconds (set-up and validation included), threads, load."""
        return {
            "first_step": self.first_step + 1,
            "last_step": self.step,
            "wall_s": time.perf_counter() - self.clock[0],
            "cpu_s": time.process_time() - self.clock[1],
            "device": str(self.device),
            "threads": torch.get_num_threads(),
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        }

    def result(self) -> TrainResult:
        """The session's :class:`TrainResult` (with the weights' digest, equal on every rank)."""
        digest = ddp.weights_digest(_unwrap(self.model))
        wall_s = time.perf_counter() - self.clock[0]
        return TrainResult(
            self.run.path, self.step, self.best_step, self.best_metric, self.events, digest, wall_s
        )


def _set_up(
    cfg: TrainConfig, run: RunFolder, resume: bool, overwrite: bool, device: torch.device | str | None
) -> tuple[torch.device, ddp.DistInfo]:
    """Pick the device, join the distributed group, refuse or clear an earlier run; seed and tune."""
    dist = ddp.from_env()
    if isinstance(device, str):
        device = torch.device(device)
    device = device or get_device(verbose=dist.is_main, local_rank=dist.local_rank)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", dist.local_rank)
    if run.has_checkpoint() and not resume and not overwrite:  # every rank stops, none waits
        raise DataError(
            run.path,
            "already holds a run: pass resume=True (--resume) to continue it "
            "or overwrite=True (--overwrite) to start again",
        )
    dist = ddp.init(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if dist.is_main and run.has_checkpoint() and not resume:
        run.clear()
    ddp.barrier(dist)
    set_determinism(seed=cfg.seed)
    tune_backends(device)
    return device, dist


def _build(
    cfg: TrainConfig,
    run: RunFolder,
    dist: ddp.DistInfo,
    device: torch.device,
    data: _RunData,
    callback: Callable[[dict[str, Any]], None] | None,
    progress: bool,
) -> _Session:
    """The model, optimiser, schedule, gradient scaler and device augmentation of a new session."""
    model = build_model(cfg).to(device)
    optimizer, scheduler = _optimiser(cfg, model)
    return _Session(
        cfg,
        run,
        dist,
        device,
        data,
        model,
        optimizer,
        scheduler,
        grad_scaler(device, use_amp(device, cfg.train.amp)),
        # Flips, intensity and affine run batched on the device; its generator is checkpointed.
        DeviceAugment(cfg, device, rank=dist.rank, world_size=dist.world_size),
        callback,
        progress,
    )


def _resume(s: _Session, resume: bool) -> None:
    """Continue from ``last.pt`` when asked and present (the log cut back to it), else start the log."""
    ckpt_path = s.run.checkpoint("last")
    if resume and ckpt_path.exists():
        s.step, s.best_metric, s.best_step, s.sessions = _restore(
            ckpt_path, s.model, s.optimizer, s.scheduler, s.scaler, s.augment
        )
        s.first_step = s.step
        s.events = [e for e in s.run.metrics() if e["step"] <= s.step]
        if s.main:
            s.run.rewrite_metrics(s.events)
            print(
                f"resuming {short_path(s.run.path)} at step {s.step} (best {s.best_metric:.4f} at step {s.best_step})"
            )
    elif resume and s.main:
        print(f"no checkpoint in {short_path(s.run.path)}: starting a new run")
    if s.main and s.step == 0:
        s.run.rewrite_metrics([])  # a new run: drop the reports of a killed earlier one


def _write_run_files(s: _Session) -> None:
    """Rank 0 writes ``config.yaml`` and ``split.json`` and prints what is trained; DDP wraps the model."""
    cfg, dist = s.cfg, s.dist
    if s.main:
        s.run.write_config(cfg)
        d = s.data
        s.run.write_split(Split(d.train_ids, d.val_ids, d.dataset.root, d.cache.folder))
        print(
            f"task {cfg.task}: {len(d.train_ids)} training / {len(d.val_ids)} validation cases; "
            f"U-Net {cfg.model.features}, {count_parameters(s.model) / 1e6:.2f} M parameters; "
            f"patch {cfg.data.patch_size} x {cfg.data.batch_size}"
            + (f" x {dist.world_size} ranks" if dist.enabled else "")
        )
    if dist.enabled:
        if cfg.model.norm.lower() == "batch" and s.device.type == "cuda":
            # Batch statistics over all ranks' patches (SyncBatchNorm exists on CUDA only; on
            # CPU each rank normalises its own batch and DDP broadcasts rank 0's running stats).
            s.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(s.model)
        s.model = torch.nn.parallel.DistributedDataParallel(
            s.model, device_ids=[s.device.index] if s.device.type == "cuda" else None
        )


def _loader(s: _Session) -> PatchLoader:
    """The batches of the steps still to run (sample numbers continue from ``s.step``)."""
    cfg, dist = s.cfg, s.dist
    per_step = cfg.data.batch_size * dist.world_size
    patches = PatchDataset(
        [e.as_dict() for e in s.data.train_entries],
        cfg,
        start=s.step * per_step,
        length=(cfg.train.steps - s.step) * per_step,
        progress=s.progress and s.main,
    )
    # Each rank takes every world_size-th sample number (as DistributedSampler(shuffle=False)).
    return PatchLoader(
        patches,
        cfg.data.batch_size,
        rank=dist.rank,
        world_size=dist.world_size,
        **loader_options(s.device, cfg.data.num_workers),
    )


def _train_step(s: _Session, batch: dict[str, torch.Tensor]) -> tuple[float, float]:
    """One optimiser step on ``batch``; returns (loss, seconds of compute incl. augmentation)."""
    t0 = time.perf_counter()
    image, label = s.augment(batch["image"], batch["label"])  # float32 image, int64 label
    s.optimizer.zero_grad(set_to_none=True)
    with autocast_for(s.device, s.cfg.train):
        loss = s.loss_fn(s.model(image), label)
    s.scaler.scale(loss).backward()
    s.scaler.step(s.optimizer)
    s.scaler.update()
    s.scheduler.step()
    value = float(loss.detach())  # synchronises on CUDA: compute time is real time
    s.step += 1
    return value, time.perf_counter() - t0


def _report(s: _Session, sums: dict[str, float], elapsed: float) -> None:
    """Emit the mean loss, learning rate and data/compute seconds of the steps since the last report."""
    n = sums["n"]
    per_step = s.cfg.data.batch_size * s.dist.world_size
    s.emit(
        {
            "kind": "train",
            "step": s.step,
            "loss": sums["loss"] / n,
            "lr": float(s.optimizer.param_groups[0]["lr"]),
            "data_s": sums["data"] / n,
            "compute_s": sums["compute"] / n,
            "patches_per_s": per_step * n / max(sums["data"] + sums["compute"], 1e-9),
            "elapsed_s": elapsed,
        }
    )


def _validate_and_checkpoint(s: _Session, val_set: ValDataset, write: Callable[[str], None]) -> None:
    """Rank 0: validate (DSC per structure and group), save ``last.pt`` and, if better, ``best.pt``."""
    if s.main:
        t_val = time.perf_counter()
        result = run_validation(_unwrap(s.model), val_set, s.cfg, s.device) if len(val_set) else None
        improved = True
        if result is not None:
            score = result["groups"][s.cfg.train.select_group]
            improved = score > s.best_metric
            if improved:
                s.best_metric, s.best_step = score, s.step
            s.emit(
                {
                    "kind": "val",
                    "step": s.step,
                    "groups": result["groups"],
                    "structures": result["structures"],
                    "val_s": time.perf_counter() - t_val,
                    "best": improved,
                }
            )
            shown = ", ".join(f"{g} {v:.3f}" for g, v in result["groups"].items())
            write(f"step {s.step}: validation DSC {shown}" + (" (best)" if improved else ""))
        state = s.checkpoint_state()
        save_checkpoint(s.run.checkpoint("last"), state)
        if improved:
            save_checkpoint(s.run.path / "best.pt", state)
    ddp.barrier(s.dist)


def _run_steps(s: _Session, stop_at: int | None) -> None:
    """Train until ``train.steps`` (or ``stop_at``): report every ``log_every``, validate every ``val_every``."""
    cfg, total = s.cfg, s.cfg.train.steps
    val_set = ValDataset([e.as_dict() for e in s.data.val_entries], cfg)
    s.model.train()
    bar = progress_bar(
        total=total, initial=s.step, desc="train", disable=not (s.progress and s.main), dynamic_ncols=True
    )
    sums = {"loss": 0.0, "data": 0.0, "compute": 0.0, "n": 0}
    t_start = time.perf_counter()
    it = iter(_loader(s))
    while s.step < total:
        t0 = time.perf_counter()
        batch = next(it)
        batch = {k: batch[k].to(s.device, non_blocking=True) for k in ("image", "label")}
        t1 = time.perf_counter()  # data_s: waiting for the loader (and the copy on CPU)
        loss, compute = _train_step(s, batch)
        for key, value in (("loss", loss), ("data", t1 - t0), ("compute", compute), ("n", 1)):
            sums[key] += value
        bar.update(1)
        if s.step % cfg.train.log_every == 0 or s.step == total:
            bar.set_postfix(loss=f"{sums['loss'] / sums['n']:.3f}")
            _report(s, sums, time.perf_counter() - t_start)
            sums = dict.fromkeys(sums, 0.0)
        stopping = stop_at is not None and s.step >= stop_at
        if s.step == total or stopping or (cfg.train.val_every and s.step % cfg.train.val_every == 0):
            _validate_and_checkpoint(s, val_set, bar.write)
        if stopping:
            break
    it.close()  # stops the loader threads
    bar.close()


def _finish(s: _Session, trained: bool) -> TrainResult:
    """Each rank reports its weights' digest under DDP (after training); leave the group; the result."""
    result = s.result()
    if s.dist.enabled and trained:
        # One write per line: the ranks share the terminal.
        sys.stdout.write(
            f"rank {s.dist.rank}/{s.dist.world_size}: finished step {s.step}, weights sha1 {result.digest}\n"
        )
        sys.stdout.flush()
    ddp.shutdown(s.dist)
    return result


def _train(
    cfg: TrainConfig,
    data: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    cache_root: str | os.PathLike | None = None,
    callback: Callable[[dict[str, Any]], None] | None = None,
    progress: bool = True,
    device: torch.device | str | None = None,
    stop_at: int | None = None,
) -> TrainResult:
    """Train ``cfg`` on the dataset ``data`` (default: $SEGRAP_DATA or the phantom) into ``out``.

    ``resume`` continues from ``out/last.pt`` exactly (same patches, same RNG states);
    ``overwrite`` replaces a previous run in ``out``; ``stop_at`` ends this session after that
    step (with a checkpoint; the schedule still runs to ``train.steps``, so a later ``resume``
    continues as if never stopped). Under torchrun this is DistributedDataParallel.
    """
    clock = (time.perf_counter(), time.process_time())  # the session's time includes its set-up
    run = RunFolder(out if out is not None else default_run_dir(cfg.name))
    device, dist = _set_up(cfg, run, resume, overwrite, device)
    run_data = _prepare_data(cfg, data, cache_root, dist, progress)
    s = _build(cfg, run, dist, device, run_data, callback, progress)
    s.clock = clock
    _resume(s, resume)
    _write_run_files(s)
    trained = s.step < cfg.train.steps
    if trained:
        _run_steps(s, stop_at)
    elif s.main:
        print(f"{short_path(run.path)} already trained for {s.step} steps (config: {cfg.train.steps})")
    return _finish(s, trained)
