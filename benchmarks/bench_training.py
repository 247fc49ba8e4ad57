"""Training data path and throughput on this machine's CPU: loader alone, device augmentation, steps.

One run reports, on the default 8-case quick phantom (or ``--data``), preprocessed once (not timed):

1. **Loader alone**, ``gpu`` configuration (batch 2 x 128 x 128 x 48, 1 x 1 x 3 mm): patches/s
   that the kit's ``PatchLoader`` delivers with 0, 1 and 2 worker threads (it only selects
   and crops); for reference, torch's ``DataLoader`` with one worker process over the same
   dataset, and the former per-patch MONAI chain on the CPU (class-balanced crop, RandAffined
   with probability 0.2, flip with label swap, intensity).
2. **Device augmentation on the CPU** (``DeviceAugment``, ``gpu`` configuration), ms per batch
   of 2: as configured, and each part forced on every patch. On a GPU it is milliseconds.
3. **Training steps** of the ``quick`` configuration (and a few of the ``gpu`` one): time
   waiting for the loader vs compute (forward, backward, optimiser and the device
   augmentation), the loader's share of the step, patches/s and voxels/s, and the peak
   resident memory of the process (``resource.getrusage``; the gpu row is the peak of both).

4. **The loss**, forward and backward on scores of one quick batch (2 x 55 classes x 48 x 48 x
   32), float32 and bfloat16 scores: MONAI's ``DiceCELoss``, the kit's loss written with autograd
   (``dice_ce_loss_autograd``) and the kit's fused ``DiceCE`` (analytic gradient; the same value),
   ms each and their ratios.

5. **Where a quick step's time goes** (timers around each part, the kit's model, loss,
   optimiser and augmentation on quick batches): augmentation, forward, the 55-class loss,
   backward, optimiser, ms per step, in float32 and with the quick setting's bfloat16 autocast
   (``train.cpu_bf16``; on a CPU without native bf16 the setting is ignored), the latter with
   the autograd loss and with the fused one (ratio column), and the validation of the two
   held-out cases.
6. **The whole quick run as notebook 04 runs it** (``train`` on the default phantom, 2 cases
   held out, preprocessing cached beforehand as the notebook's earlier cells do), once with 1
   and once with 2 threads (``OMP_NUM_THREADS``, a fresh process each): wall and CPU seconds,
   the final core6 and "all" validation DSC, and the load average before and after. Issue 23's
   goals on an idle 2-core machine: <= 120 s with 2 threads, <= 180 s with 1, core6 >= 0.85,
   "all" >= 0.62. CPU seconds / threads is what an idle machine would need at best: a wall
   time far above it means other work shared the cores.

Goals (issue 15) on 2 CPU cores: >= 150 patches/s with one worker for the ``gpu`` loader, and a
loader wait under 10 % of the quick step. The machine's other load distorts the seconds:
compare the rows of one run, and rerun when the machine is idle.

    python benchmarks/bench_training.py [--steps-quick 60] [--steps-gpu 4] [--batches 100] [--data DIR]
        [--whole-run-threads 1 2] [--only-whole-run] [--only-loss]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from _common import arg_parser, load_average, peak_rss_mb


def bench(name: str, data: Path, cache: Path, steps: int, overrides: dict) -> dict:
    """Train ``steps`` steps of config ``name``; return timings (s) and memory (MB)."""
    from segrap_nb.training import load_config, train

    cfg = load_config(
        name,
        {
            "train.steps": steps,
            "train.val_every": 0,
            "train.log_every": 1,
            "train.warmup_steps": 1,
            **overrides,
        },
    )
    # Preprocessing and the in-memory patch cache are built before the first step (their cost is
    # in the wall time only); the per-step numbers skip the first few steps.
    events: list[dict] = []
    with tempfile.TemporaryDirectory() as run:
        t0 = time.perf_counter()
        train(
            cfg, data, Path(run) / "r", cache_root=cache, progress=False, device="cpu", callback=events.append
        )
        wall = time.perf_counter() - t0
    warm = min(5, steps // 3)  # the first steps touch fresh memory and warm up the allocator
    steps_ev = [e for e in events if e["kind"] == "train"][warm:]
    data_s = float(np.mean([e["data_s"] for e in steps_ev]))
    comp_s = float(np.mean([e["compute_s"] for e in steps_ev]))
    patch = int(np.prod(cfg.data.patch_size))
    per_step = data_s + comp_s
    return {
        "config": name,
        "steps timed": len(steps_ev),
        "batch": cfg.data.batch_size,
        "patch": "x".join(map(str, cfg.data.patch_size)),
        "features": cfg.model.features,
        "data wait s/step": data_s,
        "compute s/step": comp_s,
        "loader wait share": data_s / per_step,
        "patches/s": cfg.data.batch_size / per_step,
        "Mvoxels/s": cfg.data.batch_size * patch / per_step / 1e6,
        "wall s (incl. setup+val)": wall,
        "peak RSS MB": peak_rss_mb(),
        "load average (1 min)": load_average(),
    }


def training_entries(name: str, data: Path, cache: Path, overrides: dict) -> tuple:
    """(config, training cache entries as dicts) of config ``name`` on ``data`` (preprocessed once)."""
    from segrap_nb.io.dataset import SegRapDataset
    from segrap_nb.training import PreprocessCache, load_config
    from segrap_nb.training.loop import split_cases

    cfg = load_config(name, overrides)
    dataset = SegRapDataset(data)
    train_ids, _ = split_cases(dataset.case_ids, cfg)
    entries = PreprocessCache(cache, cfg.preprocess, cfg.task).prepare(
        [dataset[c] for c in train_ids], progress=False
    )
    return cfg, [e.as_dict() for e in entries]


def loader_rate(patches, batch_size: int, workers: int, batches: int, processes: bool = False) -> float:
    """Patches/s delivered (warm) by the kit's PatchLoader with ``workers`` threads, or a torch DataLoader."""
    from torch.utils.data import DataLoader

    from segrap_nb.training.data import PatchLoader

    if processes:  # torch's worker processes: every batch goes through fresh shared memory
        loader = DataLoader(
            patches,
            batch_size=batch_size,
            shuffle=False,
            drop_last=True,
            num_workers=workers,
            persistent_workers=workers > 0,
        )
    else:
        loader = PatchLoader(patches, batch_size, workers=workers)
    it = iter(loader)
    for _ in range(3 + 2 * workers):  # workers started, their prefetch queues full
        next(it)
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    rate = batches * batch_size / (time.perf_counter() - t0)
    if hasattr(it, "close"):
        it.close()
    del it, loader
    return rate


def monai_chain_rate(patches, cfg, count: int) -> float:
    """Patches/s of the former per-patch MONAI chain on the CPU (crop, RandAffined, flip, intensity)."""
    from monai.transforms import (
        Compose,
        EnsureTyped,
        RandAffined,
        RandCropByLabelClassesd,
        RandScaleIntensityd,
        RandShiftIntensityd,
    )

    from segrap_nb.training.data import RandFlipLRSwapd

    d = cfg.data
    rot = np.deg2rad(d.rotate_deg)
    chain = Compose(
        [
            RandCropByLabelClassesd(
                keys=["image", "label"],
                label_key="label",
                spatial_size=d.patch_size,
                ratios=d.class_ratios,
                num_classes=cfg.num_classes,
                num_samples=1,
                indices_key="idx",
                warn=False,
            ),
            RandAffined(
                keys=["image", "label"],
                prob=d.affine_prob,
                rotate_range=(rot,) * 3,
                scale_range=(d.scale,) * 3,
                mode=("bilinear", "nearest"),
                padding_mode="border",
            ),
            RandFlipLRSwapd(keys=["image", "label"], label_key="label", task=cfg.task, prob=d.flip_lr_prob),
            EnsureTyped(keys="image", dtype=torch.float32, track_meta=False),
            RandScaleIntensityd(keys="image", factors=d.intensity_scale, prob=d.intensity_prob),
            RandShiftIntensityd(keys="image", offsets=d.intensity_shift, prob=d.intensity_prob),
        ]
    )
    chain.set_random_state(seed=0)
    cases = [
        {**patches.cases[k], "idx": [torch.from_numpy(c.astype(np.int64)) for c in a.centres]}
        for k, a in enumerate(patches.cases.arrays)
    ]
    chain(cases[0])
    t0 = time.perf_counter()
    for n in range(count):
        chain(cases[n % len(cases)])
    return count / (time.perf_counter() - t0)


def augment_costs(patches, cfg, batches: int) -> dict[str, float]:
    """ms per batch of the device augmentation on the CPU: as configured, and each part alone."""
    from dataclasses import replace

    from segrap_nb.training.augment import DeviceAugment

    b = cfg.data.batch_size
    items = [patches[i] for i in range(b)]
    image = torch.stack([x["image"] for x in items])
    label = torch.stack([x["label"] for x in items])
    aug = DeviceAugment(cfg, "cpu")
    p = aug.draw(b)
    none = replace(
        p,
        flip=torch.zeros(b, dtype=torch.bool),
        affine=torch.zeros(b, dtype=torch.bool),
        scale=torch.ones(b),
        shift=torch.zeros(b),
    )
    forced = {
        "cast only (float16 -> float32, uint8 -> int64)": none,
        "flip with label swap, every patch": replace(none, flip=torch.ones(b, dtype=torch.bool)),
        "intensity scale + shift, every patch": replace(
            none, scale=torch.full((b,), 1.05), shift=torch.full((b,), 0.05)
        ),
        "affine (rotation + scaling in mm), every patch": replace(
            none, affine=torch.ones(b, dtype=torch.bool)
        ),
    }
    out = {}
    for what, params in forced.items():
        aug.apply(image, label, params)
        t0 = time.perf_counter()
        for _ in range(3):
            aug.apply(image, label, params)
        out[what] = (time.perf_counter() - t0) / 3 * 1e3
    aug(image, label)
    t0 = time.perf_counter()
    for _ in range(batches):
        aug(image, label)
    out[f"as configured (mean of {batches} batches)"] = (time.perf_counter() - t0) / batches * 1e3
    return out


def loss_costs(classes: int, patch: list[int], batch: int, repeats: int = 10) -> dict[str, float]:
    """ms per forward + backward of MONAI's DiceCELoss, the kit's loss with autograd and fused, on bf16 scores too."""
    from monai.losses import DiceCELoss

    from segrap_nb.training.loss import DiceCE, dice_ce_loss_autograd

    g = torch.Generator().manual_seed(0)
    scores32 = torch.randn(batch, classes, *patch, generator=g)
    labels = torch.randint(0, classes, (batch, 1, *patch), generator=g)
    out: dict[str, float] = {}
    for dtype in (torch.float32, torch.bfloat16):
        scores = scores32.to(dtype).requires_grad_()
        kind = "float32" if dtype == torch.float32 else "bfloat16"
        fns: dict[str, Callable[..., torch.Tensor]] = {
            "kit autograd DiceCE": dice_ce_loss_autograd,
            "kit fused DiceCE": DiceCE(),
        }
        if dtype == torch.float32:  # MONAI's one-hot Dice needs the scores' dtype to match
            fns = {"MONAI DiceCELoss": DiceCELoss(to_onehot_y=True, softmax=True, batch=True), **fns}
        values = []
        for name, fn in fns.items():
            fn(scores, labels).backward()  # warm-up
            t0 = time.perf_counter()
            for _ in range(repeats):
                loss = fn(scores, labels)
                loss.backward()
            out[f"{name}, {kind} scores, ms"] = (time.perf_counter() - t0) / repeats * 1e3
            values.append(float(loss.detach()))
        fused = out[f"kit fused DiceCE, {kind} scores, ms"]
        out[f"ratio autograd / fused, {kind}"] = out[f"kit autograd DiceCE, {kind} scores, ms"] / fused
        if dtype == torch.float32:
            out["ratio MONAI / fused, float32"] = out["MONAI DiceCELoss, float32 scores, ms"] / fused
        out[f"max |difference| of the values, {kind}"] = max(values) - min(values)
    return out


def step_breakdown(cfg, entries: list[dict], steps: int, bf16: bool, fused: bool = True) -> dict[str, float]:
    """ms per quick step of each part (augmentation, forward, loss, backward, optimiser), warm."""
    from segrap_nb.training.augment import DeviceAugment
    from segrap_nb.training.data import PatchDataset, PatchLoader
    from segrap_nb.training.loss import DiceCE, dice_ce_loss_autograd
    from segrap_nb.training.model import build_model

    torch.manual_seed(0)
    model, loss_fn = build_model(cfg), (DiceCE() if fused else dice_ce_loss_autograd)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr)
    augment = DeviceAugment(cfg, torch.device("cpu"))
    b = cfg.data.batch_size
    it = iter(PatchLoader(PatchDataset(entries, cfg, start=0, length=(steps + 3) * b), b))
    parts = dict.fromkeys(("augmentation", "forward", "loss (55 classes)", "backward", "optimiser"), 0.0)
    for n in range(steps + 3):
        batch = next(it)
        t = [time.perf_counter()]
        image, label = augment(batch["image"], batch["label"])
        t.append(time.perf_counter())
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            scores = model(image)
        t.append(time.perf_counter())
        loss = loss_fn(scores, label)
        t.append(time.perf_counter())
        loss.backward()
        t.append(time.perf_counter())
        optimizer.step()
        t.append(time.perf_counter())
        if n >= 3:  # the first steps warm the allocator and oneDNN's kernels
            for key, a, z in zip(parts, t, t[1:]):
                parts[key] += (z - a) / steps * 1e3
    parts["step (sum)"] = sum(parts.values())
    return parts


def validation_seconds(cfg, data: Path, cache: Path, bf16: bool) -> float:
    """Seconds of one validation (sliding window over the 2 held-out quick cases), untrained weights."""
    from segrap_nb.io.dataset import SegRapDataset
    from segrap_nb.training import PreprocessCache
    from segrap_nb.training.data import ValDataset
    from segrap_nb.training.model import build_model
    from segrap_nb.training.run_folder import split_cases
    from segrap_nb.training.validate import run_validation

    dataset = SegRapDataset(data)
    _, val_ids = split_cases(dataset.case_ids, cfg)
    entries = PreprocessCache(cache, cfg.preprocess, cfg.task).prepare([dataset[c] for c in val_ids])
    cfg.train.cpu_bf16 = bf16
    val = ValDataset([e.as_dict() for e in entries], cfg)
    model = build_model(cfg)
    run_validation(model, val, cfg, torch.device("cpu"))  # warm
    t0 = time.perf_counter()
    run_validation(model, val, cfg, torch.device("cpu"))
    return time.perf_counter() - t0


def whole_run(data: Path, cache: Path, out: Path) -> dict:
    """Train the quick setting as notebook 04 does (in this process); wall/CPU s, final DSC, load."""
    from segrap_nb.training import load_config, train
    from segrap_nb.training.run_folder import RunFolder

    cfg = load_config("quick", {"data.val_cases": 2})
    load0, t0, c0 = load_average(), time.perf_counter(), time.process_time()
    result = train(cfg, data, out, cache_root=cache, progress=False, device="cpu", overwrite=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    final = [e for e in result.events if e["kind"] == "val"][-1]["groups"]
    return {
        "threads": torch.get_num_threads(),
        "steps": result.step,
        "wall s": wall,
        "CPU s": cpu,
        "core6 DSC": final["core6"],
        "all DSC": final["all"],
        "load average before": load0,
        "load average after": load_average(),
        "run's own record": RunFolder(out).time_summary(),
    }


def whole_runs(data: Path, cache: Path, tmp: Path, threads: list[int]) -> list[dict]:
    """:func:`whole_run` in a fresh process per thread count (``OMP_NUM_THREADS``), in turn."""
    from segrap_nb.io.dataset import SegRapDataset
    from segrap_nb.training import PreprocessCache, load_config

    cfg = load_config("quick", {"data.val_cases": 2})
    PreprocessCache(cache, cfg.preprocess, cfg.task).prepare(SegRapDataset(data), progress=False)
    rows = []
    for n in threads:
        env = {**os.environ, "OMP_NUM_THREADS": str(n), "MKL_NUM_THREADS": str(n)}
        args = [sys.executable, __file__, "--child-run", str(data), str(cache), str(tmp / f"run{n}")]
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return rows


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--steps-quick", type=int, default=60)
    parser.add_argument(
        "--steps-gpu", type=int, default=4, help="gpu-config training steps on the CPU (0: skip)"
    )
    parser.add_argument("--batches", type=int, default=100, help="batches timed per loader setting")
    parser.add_argument("--data", default=None, help="dataset (default: a fresh 8-case quick phantom)")
    parser.add_argument("--whole-run-threads", type=int, nargs="*", default=[1, 2], help="[] to skip 6.")
    parser.add_argument("--only-whole-run", action="store_true", help="sections 5 and 6 only")
    parser.add_argument(
        "--only-loss", action="store_true", help="sections 4 and 5 only (6 with --whole-run-threads)"
    )
    parser.add_argument("--child-run", nargs=3, metavar=("DATA", "CACHE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_run:  # section 6's worker: one whole run, one JSON line
        print(json.dumps(whole_run(*map(Path, args.child_run))))
        return
    import pandas as pd

    from segrap_nb.phantom.writer import make_phantom
    from segrap_nb.training.device import describe_device

    print(
        f"torch {torch.__version__}, {describe_device(torch.device('cpu'))}, {os.cpu_count()} CPUs; "
        f"CUDA available: {torch.cuda.is_available()}"
    )

    def show():
        return pd.option_context("display.float_format", "{:.3f}".format, "display.width", 120)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = Path(args.data) if args.data else make_phantom(tmp / "phantom", cases=8, progress=False)
        if args.only_loss:
            loss_section(show)
        elif not args.only_whole_run:
            throughput(args, data, tmp, show)
        quick_run_sections(args, data, tmp, show)


def quick_run_sections(args, data: Path, tmp: Path, show) -> None:
    """Sections 5 (a quick step's parts, validation) and 6 (the whole quick run, 1 and 2 threads)."""
    import pandas as pd

    from segrap_nb.training import load_config

    cfg, entries = training_entries("quick", data, tmp / "cache", {"data.val_cases": 2})
    print(
        f"\n5. a quick step's parts, ms ({torch.get_num_threads()} threads; load average {load_average():.1f}):"
    )
    parts = {
        "float32": step_breakdown(cfg, entries, 10, bf16=False),
        "bf16, autograd loss": step_breakdown(cfg, entries, 10, bf16=True, fused=False),
        "bfloat16 autocast": step_breakdown(cfg, entries, 10, bf16=True),
    }
    table = pd.DataFrame(parts)
    table["ratio autograd / fused loss"] = table["bf16, autograd loss"] / table["bfloat16 autocast"]
    with show():
        print(table.to_string())
    print("(the loss's backward is inside 'backward'; 'bfloat16 autocast' is the quick setting, fused loss)")
    for bf16 in (False, True):
        secs = validation_seconds(load_config("quick", {"data.val_cases": 2}), data, tmp / "cache", bf16)
        print(f"one validation (2 held-out cases, {'bfloat16' if bf16 else 'float32'}): {secs:.2f} s")
    if args.whole_run_threads:
        print("\n6. the whole quick run as notebook 04 runs it (goal: <= 120 s on 2 threads, <= 180 s on 1):")
        rows = whole_runs(data, tmp / "cache", tmp, args.whole_run_threads)
        with show():
            print(pd.DataFrame(rows).drop(columns="run's own record").set_index("threads").T.to_string())
        for r in rows:
            record = r["run's own record"]
            print(f"{r['threads']} thread(s): {record}")


def throughput(args, data: Path, tmp: Path, show) -> None:
    """Sections 1-4: the loader, the device augmentation, training steps, the loss."""
    import pandas as pd

    from segrap_nb.training.data import PatchDataset

    # 1. the loader alone, gpu configuration
    cfg, entries = training_entries("gpu", data, tmp / "cache", {"data.val_cases": 2})
    b = cfg.data.batch_size
    patches = PatchDataset(entries, cfg, start=0, length=(args.batches + 20) * b * 3)
    loader = {
        f"loader, {w} worker{'s' if w != 1 else ''}": loader_rate(patches, b, w, args.batches)
        for w in (0, 1, 2)
    }
    loader["torch DataLoader, 1 worker process"] = loader_rate(patches, b, 1, args.batches, processes=True)
    loader["former MONAI chain per patch, main process"] = monai_chain_rate(patches, cfg, 20)
    print(
        f"\n1. loader alone, gpu config (patch {cfg.data.patch_size} x batch {b}, "
        f"{len(entries)} cases), patches/s:"
    )
    with show():
        print(pd.Series(loader).to_string())
    ok = loader["loader, 1 worker"] >= 150
    print(f"goal >= 150 patches/s with 1 worker: {'met' if ok else 'NOT met'}")

    # 2. device augmentation on the CPU, both configurations
    qcfg, qentries = training_entries("quick", data, tmp / "cache", {})
    qpatches = PatchDataset(qentries, qcfg, start=0, length=100)
    costs = {
        f"gpu ({b} x {cfg.data.patch_size})": augment_costs(patches, cfg, 20),
        f"quick ({qcfg.data.batch_size} x {qcfg.data.patch_size})": augment_costs(qpatches, qcfg, 20),
    }
    print("\n2. device augmentation on the CPU, ms per batch:")
    with show():
        print(pd.DataFrame(costs).to_string())
    del patches, qpatches

    # 3. training steps
    rows = [bench("quick", data, tmp / "cache", args.steps_quick, {})]
    if args.steps_gpu:  # gpu config on CPU: full model and patch, no worker processes, few steps
        rows.append(
            bench("gpu", data, tmp / "cache", args.steps_gpu, {"data.num_workers": 0, "data.val_cases": 2})
        )
    print("\n3. training steps on the CPU:")
    with show():
        print(pd.DataFrame(rows).set_index("config").T.to_string())
    for r in rows:
        print(
            f"{r['config']}: loader wait is {100 * r['loader wait share']:.1f}% of a step "
            f"({r['data wait s/step'] * 1e3:.1f} ms wait vs {r['compute s/step'] * 1e3:.0f} ms compute)"
        )
    quick = rows[0]["loader wait share"]
    print(f"goal: quick-mode loader wait < 10% of the step: {'met' if quick < 0.10 else 'NOT met'}")

    loss_section(show)


def loss_section(show) -> None:
    """Section 4: the loss's forward + backward on one quick batch of scores, ms, with the load average."""
    import pandas as pd

    from segrap_nb.training import load_config

    qcfg = load_config("quick")
    print(
        f"\n4. the loss, forward + backward, batch {qcfg.data.batch_size} x {qcfg.num_classes} classes x "
        f"{qcfg.data.patch_size} ({torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.1f}):"
    )
    with show():
        print(pd.Series(loss_costs(qcfg.num_classes, qcfg.data.patch_size, qcfg.data.batch_size)).to_string())


if __name__ == "__main__":
    main()
