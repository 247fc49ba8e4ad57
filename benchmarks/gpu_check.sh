#!/usr/bin/env bash
# The `gpu` training configuration on a real GPU, in under 8 minutes (issue 15).
#
# Makes a full-size phantom of a few cases (release-size 1024 x 1024 x 126 grids), preprocesses
# them to the gpu grid (1 x 1 x 3 mm), trains the gpu configuration (U-Net 32..320, patches
# 128 x 128 x 48, batch 2, mixed precision, cuDNN autotuning) for a few hundred steps and prints
# steps/s, patches/s, voxels/s, the loader's share of the step, peak GPU memory and the
# validation DSC of the six large organs; then times one training step of the network alone
# in float32, with mixed precision, with cuDNN autotuning and with channels-last 3D (and, with
# COMPILE=1, torch.compile), so the defaults can be chosen on measurements. A JSON summary goes
# to $OUT/gpu_check.json when $OUT is set (the device tool returns that folder).
#
#   benchmarks/gpu_check.sh --fetch-wheels   here, with network: wheels of the kit's training
#                                            dependencies that the GPU machine's image lacks
#                                            (monai, nibabel, isal) into build/gpu_wheels/
#   benchmarks/gpu_check.sh                  on the GPU machine; with the device tool:
#       run(command="bash benchmarks/gpu_check.sh", carry=["build/gpu_wheels"], timeout_s=540)
#   benchmarks/gpu_check.sh --dry-run        any machine, CPU, a minute or two: the same path on
#                                            a small phantom, 2 steps, a narrow network
#
# Environment: PYTHON (default: .venv/bin/python for --dry-run when present, else python3),
# STEPS (300), CASES (4: the last one validates), WORKERS (the config's data.num_workers),
# WORK (scratch folder, default /tmp/segrap-gpu-check), COMPILE=1 (also time torch.compile).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
T0=$(date +%s)
MODE=gpu
case "${1:-}" in
  --dry-run) MODE=dry ;;
  --fetch-wheels) MODE=fetch ;;
  "") ;;
  *) echo "usage: $0 [--dry-run | --fetch-wheels]" >&2; exit 2 ;;
esac
WHEELS=$REPO/build/gpu_wheels
stamp() { echo "[gpu_check +$(( $(date +%s) - T0 ))s] $*"; }

if [[ $MODE == fetch ]]; then
  # Versions as installed here (make install); the GPU image runs CPython 3.12 on x86-64.
  PIP_PY=${PYTHON:-$REPO/.venv/bin/python}
  mkdir -p "$WHEELS"
  pins=$("$PIP_PY" -m pip freeze | grep -i -E '^(monai|nibabel|isal)==' || true)
  [[ -n $pins ]] || pins="monai nibabel isal"
  # shellcheck disable=SC2086
  "$PIP_PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    -d "$WHEELS" $pins
  ls -l "$WHEELS"
  exit 0
fi

if [[ -n ${PYTHON:-} ]]; then PY=$PYTHON
elif [[ $MODE == dry && -x $REPO/.venv/bin/python ]]; then PY=$REPO/.venv/bin/python
else PY=python3; fi
WORK=${WORK:-/tmp/segrap-gpu-check}
mkdir -p "$WORK"
export PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
stamp "python: $PY ($("$PY" --version 2>&1)), mode $MODE, work folder $WORK"

# -- 1. torch with CUDA -------------------------------------------------------------------------
cuda=$("$PY" -c 'import torch; print(torch.cuda.is_available())' 2>/dev/null || echo missing)
stamp "torch: $("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo none), CUDA available: $cuda"
if [[ $MODE == gpu && $cuda != True ]]; then
  stamp "installing torch from PyPI's default index (a CUDA build)"
  "$PY" -m pip install --quiet --index-url https://pypi.org/simple torch
  cuda=$("$PY" -c 'import torch; print(torch.cuda.is_available())')
  [[ $cuda == True ]] || { echo "no CUDA device visible to torch: nothing to measure" >&2; exit 1; }
fi

# -- 2. the kit's training dependencies -----------------------------------------------------------
# The kit itself runs from this checkout (PYTHONPATH). Only what is missing is installed: from
# the carried wheels when there are any (the GPU machine has no network), else with the
# project's constraints minus its CPU torch pin (an installed CUDA torch must stay).
if ! "$PY" -c 'import monai, nibabel, isal, yaml, tqdm, scipy, pandas' 2>/dev/null; then
  if compgen -G "$WHEELS/*.whl" >/dev/null; then
    stamp "installing the missing dependencies from $WHEELS"
    "$PY" -m pip install --quiet --no-index --no-deps "$WHEELS"/*.whl
  else
    stamp "installing the kit with pip (-c constraints.txt without its torch pin)"
    grep -v -E '^torch([=<>~ ]|$)' constraints.txt >"$WORK/constraints-gpu.txt"
    "$PY" -m pip install --quiet -c "$WORK/constraints-gpu.txt" -e .
  fi
fi
"$PY" -c 'import monai, nibabel, segrap_nb.training' || { echo "the kit does not import" >&2; exit 1; }

# -- 3. a phantom of a few cases --------------------------------------------------------------------
CASES=${CASES:-4}
if [[ $MODE == dry ]]; then SIZE=quick; CASES=${CASES_DRY:-3}; else SIZE=full; fi
DATA=$WORK/phantom-$SIZE-$CASES
if [[ ! -f $DATA/.gpu_check_done ]]; then
  stamp "phantom: $CASES $SIZE-size cases into $DATA"
  "$PY" -m segrap_nb phantom "$DATA" --cases "$CASES" --size "$SIZE" --quiet
  touch "$DATA/.gpu_check_done"
fi
stamp "phantom ready"

# -- 4. train, then time the network alone ----------------------------------------------------------
export GC_MODE=$MODE GC_DATA=$DATA GC_WORK=$WORK GC_T0=$T0 GC_STEPS=${STEPS:-300} \
  GC_WORKERS=${WORKERS:-} GC_COMPILE=${COMPILE:-0} GC_OUT=${OUT:-}
[[ $MODE == dry ]] && export SEGRAP_DEVICE=cpu GC_STEPS=${STEPS:-2}
"$PY" - <<'EOF'
"""Train the gpu config on the phantom, then A/B the network's step (float32, AMP, cuDNN, channels-last)."""
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from segrap_nb.training import load_config, train
from segrap_nb.training.val_dice import SCORE_GROUPS

mode, work, t0 = os.environ["GC_MODE"], Path(os.environ["GC_WORK"]), int(os.environ["GC_T0"])
steps = int(os.environ["GC_STEPS"])
dry = mode == "dry"


def stamp(msg: str) -> None:
    print(f"[gpu_check +{int(time.time()) - t0}s] {msg}", flush=True)


over = {"train.steps": steps, "train.val_every": 0, "train.log_every": 1,
        "train.warmup_steps": 1 if dry else 50, "data.val_cases": 1}
if os.environ["GC_WORKERS"]:
    over["data.num_workers"] = int(os.environ["GC_WORKERS"])
if dry:  # the same path, small enough for a CPU: narrow network, small patch
    over.update({"model.features": [8, 16, 16, 32, 32], "data.patch_size": [64, 64, 48],
                 "train.sw_batch_size": 4})
cfg = load_config("gpu", over)
device = torch.device("cuda" if torch.cuda.is_available() and not dry else "cpu")
run = work / "run"
shutil.rmtree(run, ignore_errors=True)
events = []
if device.type == "cuda":
    torch.cuda.reset_peak_memory_stats()
stamp(f"training the gpu config for {steps} steps on {device} (preprocessing first, once)")
res = train(cfg, os.environ["GC_DATA"], run, cache_root=work / "cache", device=device,
            callback=events.append, progress=False)
tr = [e for e in events if e["kind"] == "train"]
val = [e for e in events if e["kind"] == "val"][-1]
peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
reserved = torch.cuda.max_memory_reserved() / 2**30 if device.type == "cuda" else float("nan")
# Steady state: from the first report after 10 % of the steps (cuDNN autotuning, warm caches).
skip = next((i for i, e in enumerate(tr) if e["step"] >= max(1, steps // 10)), 0)
a, b = tr[skip], tr[-1]
n = b["step"] - a["step"]
wall = b["elapsed_s"] - a["elapsed_s"]
steps_s = n / wall if n else float("nan")
later = tr[skip + 1:] or tr[-1:]
data_s = float(np.mean([e["data_s"] for e in later]))
comp_s = float(np.mean([e["compute_s"] for e in later]))
bsz, voxels = cfg.data.batch_size, int(np.prod(cfg.data.patch_size))
large = {k: round(val["structures"][k], 4) for k in SCORE_GROUPS["core6"]}
summary = {
    "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
    "torch": torch.__version__, "steps": res.step, "steps timed": n,
    "first step s (incl. cuDNN autotuning)": tr[0]["elapsed_s"],
    "steps/s": steps_s, "patches/s": steps_s * bsz, "Mvoxels/s": steps_s * bsz * voxels / 1e6,
    "loader wait share": data_s / (data_s + comp_s), "loader wait ms/step": data_s * 1e3,
    "compute ms/step": comp_s * 1e3, "peak GPU memory GiB (allocated)": peak,
    "peak GPU memory GiB (reserved)": reserved, "validation s": val["val_s"],
    "validation DSC, six large organs (mean)": val["groups"]["core6"], "validation DSC per large organ": large,
    "loader workers (threads)": cfg.data.num_workers,
}
print(json.dumps(summary, indent=1))
stamp(f"{steps_s:.2f} steps/s, {steps_s * bsz:.1f} patches/s, {steps_s * bsz * voxels / 1e6:.1f} Mvoxels/s; "
      f"loader wait {100 * summary['loader wait share']:.1f}% of the step; peak GPU memory {peak:.2f} GiB; "
      f"DSC six large organs {val['groups']['core6']:.3f} after {res.step} steps")

# -- the network's step alone: which switches help ----------------------------------------------
from segrap_nb.training.device import autocast, grad_scaler
from segrap_nb.training.model import build_model
from monai.losses import DiceCELoss


def time_step(amp: bool, bench: bool, channels_last: bool, compiled: bool = False, reps: int = 20) -> dict:
    torch.backends.cudnn.benchmark = bench
    torch.manual_seed(0)
    model = build_model(cfg).to(device)
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    step_model = torch.compile(model) if compiled else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = grad_scaler(device, amp)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
    x = torch.randn(bsz, 2, *cfg.data.patch_size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, cfg.num_classes, (bsz, 1, *cfg.data.patch_size), device=device)

    def one() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast(device, amp):
            loss = loss_fn(step_model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t = time.perf_counter()
    one()
    sync()
    first = time.perf_counter() - t
    for _ in range(3):
        one()
    sync()
    t = time.perf_counter()
    for _ in range(reps):
        one()
    sync()
    return {"first step s": round(first, 2), "ms/step": round((time.perf_counter() - t) / reps * 1e3, 2)}


variants = {"float32": (False, False, False), "AMP": (True, False, False),
            "AMP + cudnn.benchmark (the kit's setting)": (True, True, False),
            "AMP + cudnn.benchmark + channels_last_3d": (True, True, True)}
ab = {}
reps = 2 if dry else 20
for name, (amp, bench, cl) in variants.items():
    if not dry and time.time() - t0 > 400:
        stamp(f"skipping '{name}': the 8-minute budget is nearly spent")
        continue
    ab[name] = time_step(amp and device.type == "cuda", bench, cl, reps=reps)
    stamp(f"network step, {name}: {ab[name]}")
if os.environ["GC_COMPILE"] == "1":
    if dry or time.time() - t0 < 300:
        ab["AMP + cudnn.benchmark + torch.compile"] = time_step(device.type == "cuda", True, False, True, reps)
        stamp(f"network step, torch.compile: {ab['AMP + cudnn.benchmark + torch.compile']}")
    else:
        stamp("skipping torch.compile: not enough of the 8 minutes left")
summary["network step A/B"] = ab
print(json.dumps({"network step A/B": ab}, indent=1))

# -- the device augmentation on this device: ms per batch, as configured and all parts forced ------
from dataclasses import replace

from segrap_nb.training.augment import DeviceAugment

aug = DeviceAugment(cfg, device)
xb = torch.randn(bsz, 2, *cfg.data.patch_size).half().to(device)
yb = torch.randint(0, cfg.num_classes, (bsz, 1, *cfg.data.patch_size), dtype=torch.uint8).to(device)
sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
every = replace(aug.draw(bsz), flip=torch.ones(bsz, dtype=torch.bool), affine=torch.ones(bsz, dtype=torch.bool),
                scale=torch.full((bsz,), 1.05), shift=torch.full((bsz,), 0.05))
costs = {}
for name, fn in {"as configured": lambda: aug(xb, yb), "flip + intensity + affine on every patch":
                 lambda: aug.apply(xb, yb, every)}.items():
    fn()
    sync()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    sync()
    costs[name] = round((time.perf_counter() - t) / reps * 1e3, 2)
summary["augmentation ms per batch"] = costs
stamp(f"device augmentation, ms per batch of {bsz}: {costs}")
if os.environ["GC_OUT"]:
    Path(os.environ["GC_OUT"], "gpu_check.json").write_text(json.dumps(summary, indent=1))
stamp("done")
EOF
