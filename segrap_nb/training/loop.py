"""The training loop: patches -> U-Net -> Dice + cross-entropy -> AdamW, with validation and checkpoints.

:func:`train` is what ``segrap-nb train`` and the notebook call. One step = one batch of
``data.batch_size`` patches per process. Every ``train.log_every`` steps it reports the mean
loss and the time spent waiting for data vs computing; every ``train.val_every`` steps (and at
the end) rank 0 runs sliding-window inference on the whole validation cases, computes the DSC
of every structure, saves ``last.pt`` and, when the selected group's mean DSC improved,
``best.pt``. Each report is appended to ``metrics.jsonl`` and passed to ``callback(event)``.

Run folder::

    config.yaml     the configuration used (with overrides applied)
    split.json      training and validation case ids, and the preprocessed cache folder
    metrics.jsonl   one JSON object per report ({"kind": "train"|"val", "step": ..., ...})
    last.pt best.pt checkpoints (model, optimiser, scheduler, scaler, step, config, RNG states)
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None  # type: ignore[assignment]

import numpy as np
import torch
from monai.optimizers import WarmupCosineSchedule
from monai.utils import set_determinism

from segrap_nb import config as kit_config
from segrap_nb.errors import DataError
from segrap_nb.io.atomic import atomic_open
from segrap_nb.io.dataset import SegRapDataset
from segrap_nb.io.guards import check_writable, disk_error, is_disk_error, refuse_overlap, torch_save_error
from segrap_nb.progress import progress_bar
from segrap_nb.sources import chosen_root, data_root
from segrap_nb.training import ddp
from segrap_nb.training.augment import DeviceAugment
from segrap_nb.training.checkpoint import load_checkpoint, rng_states, save_checkpoint, set_rng_states
from segrap_nb.training.data import PatchDataset, PatchLoader, ValDataset
from segrap_nb.training.device import (
    autocast,
    get_device,
    grad_scaler,
    loader_options,
    parse_device,
    tune_backends,
    use_amp,
)
from segrap_nb.training.inference import predict_labels
from segrap_nb.training.loss import DiceCE
from segrap_nb.training.model import build_model, count_parameters
from segrap_nb.training.preprocess import PreprocessCache
from segrap_nb.training.train_config import TrainConfig, save_config
from segrap_nb.training.val_dice import confusion, dice_from_confusion, group_means

RUN_FILES = ("config.yaml", "split.json", "metrics.jsonl", "last.pt", "best.pt")


def default_cache_root() -> Path:
    """Where preprocessed cases are cached: ``segrap_nb.config.cache_dir()/preprocessed``."""
    return kit_config.cache_dir() / "preprocessed"


def default_run_dir(cfg: TrainConfig | str = "quick", data: str | os.PathLike | None = None) -> Path:
    """The run folder of a config (or packaged config name) on ``data``: ``<cache>/runs/<name>-<hash>``.

    The hash covers every setting and the dataset folder, so two settings never share a folder.
    """
    from segrap_nb.training.runs import run_dir_for
    from segrap_nb.training.train_config import load_config

    cfg = load_config(cfg) if isinstance(cfg, str) else cfg
    return run_dir_for(cfg, chosen_root(data))


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


@dataclass
class TrainResult:
    """What a finished run reports: where it is, the last and best steps, all events."""

    run_dir: Path
    step: int
    best_step: int
    best_metric: float
    events: list[dict[str, Any]] = field(default_factory=list)
    digest: str = ""


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


def metrics_frames(run: str | os.PathLike):
    """(train, val) pandas DataFrames of a run's metrics; val has one column per group mean DSC."""
    import pandas as pd

    events = read_metrics(run)
    train = pd.DataFrame([e for e in events if e["kind"] == "train"])
    val = pd.DataFrame([{"step": e["step"], **e["groups"]} for e in events if e["kind"] == "val"])
    return train, val


def _rewrite_metrics(path: Path, events: list[dict[str, Any]]) -> None:
    """Replace the metrics log atomically (on resume: drop reports after the checkpoint)."""
    with atomic_open(path, "w") as fh:
        fh.write("".join(json.dumps(e) + "\n" for e in events))


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    inner = model.module if hasattr(model, "module") else model
    assert isinstance(inner, torch.nn.Module)
    return inner


def run_validation(
    model: torch.nn.Module, val: ValDataset, cfg: TrainConfig, device: torch.device
) -> dict[str, Any]:
    """DSC per structure (mean over the validation cases) and per group, on the training grid."""
    per_case = {}
    for i in range(len(val)):
        item = val[i]
        pred = predict_labels(model, item["image"], cfg, device)
        cm = confusion(item["label"][0], pred, cfg.num_classes)
        per_case[item["case_id"]] = dice_from_confusion(cm, cfg.task)
    names = next(iter(per_case.values())).keys()
    mean = {n: float(np.mean([d[n] for d in per_case.values()])) for n in names}
    return {"structures": mean, "groups": group_means(mean, cfg.task), "cases": per_case}


@contextmanager
def _run_lock(out: Path, main: bool) -> Iterator[None]:
    """Hold ``out/.train.lock`` for the whole run (rank 0 only): a second train there stops."""
    if not main or fcntl is None:
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".train.lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataError(
                out,
                "another segrap-nb train is writing into this run folder: "
                "wait for it to finish, or choose another --out",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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
        with _run_lock(out, ddp.from_env().is_main):
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
) -> tuple[int, float, int]:
    """Load a checkpoint into the run's objects and RNG streams; returns (step, best metric, best step)."""
    ckpt = load_checkpoint(path, map_location="cpu")  # RNG states must stay on the CPU
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    scaler.load_state_dict(ckpt["scaler"])
    set_rng_states(ckpt["rng"], {"augment": augment.generator})
    return ckpt["step"], ckpt["best_metric"], ckpt["best_step"]


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
    out = Path(out) if out is not None else default_run_dir(cfg.name)
    dist = ddp.from_env()
    if isinstance(device, str):
        device = torch.device(device)
    device = device or get_device(verbose=dist.is_main, local_rank=dist.local_rank)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", dist.local_rank)
    ckpt_path = out / "last.pt"
    if ckpt_path.exists() and not resume and not overwrite:  # every rank stops, none waits
        raise DataError(
            out,
            "already holds a run: pass resume=True (--resume) to continue it "
            "or overwrite=True (--overwrite) to start again",
        )
    dist = ddp.init(device)
    main = dist.is_main
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if main and ckpt_path.exists() and not resume:
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    ddp.barrier(dist)

    set_determinism(seed=cfg.seed)
    tune_backends(device)
    amp = use_amp(device, cfg.train.amp)

    data_set = _prepare_data(cfg, data, cache_root, dist, progress)
    dataset, train_ids, val_ids, cache = (
        data_set.dataset,
        data_set.train_ids,
        data_set.val_ids,
        data_set.cache,
    )
    model = build_model(cfg).to(device)
    loss_fn = DiceCE()  # MONAI's DiceCELoss(to_onehot_y, softmax, batch=True), in one pass
    optimizer, scheduler = _optimiser(cfg, model)
    scaler = grad_scaler(device, amp)
    # Flips, intensity and affine run batched on the device; its generator is checkpointed.
    augment = DeviceAugment(cfg, device, rank=dist.rank, world_size=dist.world_size)
    step, best_metric, best_step = 0, -math.inf, 0
    events: list[dict[str, Any]] = []
    metrics_path = out / "metrics.jsonl"
    if resume and ckpt_path.exists():
        step, best_metric, best_step = _restore(ckpt_path, model, optimizer, scheduler, scaler, augment)
        events = [e for e in read_metrics(out) if e["step"] <= step]
        if main:
            _rewrite_metrics(metrics_path, events)
            print(f"resuming {out} at step {step} (best {best_metric:.4f} at step {best_step})")
    elif resume and main:
        print(f"no checkpoint in {out}: starting a new run")
    if main and step == 0:
        _rewrite_metrics(metrics_path, [])  # a new run: drop the reports of a killed earlier one
    if main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
        with atomic_open(out / "split.json", "w") as fh:
            json.dump(
                {"data": str(dataset.root), "train": train_ids, "val": val_ids, "cache": str(cache.folder)},
                fh,
                indent=1,
            )
        print(
            f"task {cfg.task}: {len(train_ids)} training / {len(val_ids)} validation cases; "
            f"U-Net {cfg.model.features}, {count_parameters(model) / 1e6:.2f} M parameters; "
            f"patch {cfg.data.patch_size} x {cfg.data.batch_size}"
            + (f" x {dist.world_size} ranks" if dist.enabled else "")
        )
    if dist.enabled:
        if cfg.model.norm.lower() == "batch" and device.type == "cuda":
            # Batch statistics over all ranks' patches (SyncBatchNorm exists on CUDA only; on
            # CPU each rank normalises its own batch and DDP broadcasts rank 0's running stats).
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    total = cfg.train.steps
    if step >= total:
        if main:
            print(f"{out} already trained for {step} steps (config: {total})")
        ddp.shutdown(dist)
        return TrainResult(out, step, best_step, best_metric, events, ddp.weights_digest(_unwrap(model)))

    per_step = cfg.data.batch_size * dist.world_size
    patches = PatchDataset(
        [e.as_dict() for e in data_set.train_entries],
        cfg,
        start=step * per_step,
        length=(total - step) * per_step,
        progress=progress and main,
    )
    # Each rank takes every world_size-th sample number (as DistributedSampler(shuffle=False)).
    loader = PatchLoader(
        patches,
        cfg.data.batch_size,
        rank=dist.rank,
        world_size=dist.world_size,
        **loader_options(device, cfg.data.num_workers),
    )
    val_set = ValDataset([e.as_dict() for e in data_set.val_entries], cfg)

    def emit(event: dict[str, Any]) -> None:
        events.append(event)
        if main:
            with open(metrics_path, "a") as fh:
                fh.write(json.dumps(event) + "\n")
            if callback is not None:
                callback(event)

    def checkpoint_state() -> dict[str, Any]:
        return {
            "model": _unwrap(model).state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "step": step,
            "config": cfg.to_dict(),
            "rng": rng_states({"augment": augment.generator}),
            "best_metric": best_metric,
            "best_step": best_step,
            "train_cases": train_ids,
            "val_cases": val_ids,
        }

    model.train()
    bar = progress_bar(
        total=total, initial=step, desc="train", disable=not (progress and main), dynamic_ncols=True
    )
    sums = {"loss": 0.0, "data": 0.0, "compute": 0.0, "n": 0}
    t_start = time.perf_counter()
    it = iter(loader)
    while step < total:
        t0 = time.perf_counter()
        batch = next(it)
        image = batch["image"].to(device, non_blocking=True)
        label = batch["label"].to(device, non_blocking=True)
        t1 = time.perf_counter()  # data_s: waiting for the loader (and the copy on CPU)
        image, label = augment(image, label)  # float32 image, int64 label (compute_s)
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, amp):
            loss = loss_fn(model(image), label)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        loss_value = float(loss.detach())  # synchronises on CUDA: compute time is real time
        t2 = time.perf_counter()
        step += 1
        sums["loss"] += loss_value
        sums["data"] += t1 - t0
        sums["compute"] += t2 - t1
        sums["n"] += 1
        bar.update(1)
        if step % cfg.train.log_every == 0 or step == total:
            n = sums["n"]
            bar.set_postfix(loss=f"{sums['loss'] / n:.3f}")
            emit(
                {
                    "kind": "train",
                    "step": step,
                    "loss": sums["loss"] / n,
                    "lr": float(optimizer.param_groups[0]["lr"]),
                    "data_s": sums["data"] / n,
                    "compute_s": sums["compute"] / n,
                    "patches_per_s": per_step * n / max(sums["data"] + sums["compute"], 1e-9),
                    "elapsed_s": time.perf_counter() - t_start,
                }
            )
            sums = {"loss": 0.0, "data": 0.0, "compute": 0.0, "n": 0}
        stopping = stop_at is not None and step >= stop_at
        do_val = step == total or stopping or (cfg.train.val_every and step % cfg.train.val_every == 0)
        if do_val:
            if main:
                t_val = time.perf_counter()
                result = run_validation(_unwrap(model), val_set, cfg, device) if len(val_set) else None
                if result is not None:
                    score = result["groups"][cfg.train.select_group]
                    improved = score > best_metric
                    if improved:
                        best_metric, best_step = score, step
                    emit(
                        {
                            "kind": "val",
                            "step": step,
                            "groups": result["groups"],
                            "structures": result["structures"],
                            "val_s": time.perf_counter() - t_val,
                            "best": improved,
                        }
                    )
                    shown = ", ".join(f"{g} {v:.3f}" for g, v in result["groups"].items())
                    bar.write(f"step {step}: validation DSC {shown}" + (" (best)" if improved else ""))
                state = checkpoint_state()
                save_checkpoint(ckpt_path, state)
                if result is None or improved:
                    save_checkpoint(out / "best.pt", state)
            ddp.barrier(dist)
        if stopping:
            break
    it.close()  # stops the loader threads
    bar.close()
    digest = ddp.weights_digest(_unwrap(model))
    if dist.enabled:
        # One write per line: the ranks share the terminal.
        sys.stdout.write(f"rank {dist.rank}/{dist.world_size}: finished step {step}, weights sha1 {digest}\n")
        sys.stdout.flush()
    ddp.shutdown(dist)
    return TrainResult(out, step, best_step, best_metric, events, digest)
