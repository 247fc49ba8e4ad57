"""Training throughput and memory of the ``quick`` and ``gpu`` configs on this machine's CPU.

For each config it preprocesses the default-size phantom once (not timed), then runs a few
training steps and reports, per step: the time spent waiting for the next batch (data
loader: cached case -> class-balanced crop -> flips/intensity) and the time spent in
forward + backward + optimiser step; patches/s and voxels/s; the peak resident memory of
the process (``resource.getrusage``) and the peak Python-level allocations (``tracemalloc``,
which does not see torch's own buffers). The gpu config runs only a few steps here: it is
meant for a GPU, and this reports what it costs on a CPU.

    python benchmarks/bench_training.py [--steps-quick 60] [--steps-gpu 4] [--data DIR]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch


def bench(name: str, data: Path, cache: Path, steps: int, overrides: dict) -> dict:
    """Train ``steps`` steps of config ``name``; return timings (s) and memory (MB)."""
    from segrap_nb.training import load_config, train

    cfg = load_config(name, {"train.steps": steps, "train.val_every": 0, "train.log_every": 1,
                             "train.warmup_steps": 1, **overrides})
    # Preprocessing and MONAI's in-memory cache are built before the first step (their cost is
    # in the wall time only); the per-step numbers skip the first few steps.
    events: list[dict] = []
    with tempfile.TemporaryDirectory() as run:
        tracemalloc.start()
        t0 = time.perf_counter()
        train(cfg, data, Path(run) / "r", cache_root=cache, progress=False, device="cpu",
              callback=events.append)
        wall = time.perf_counter() - t0
        _, py_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    warm = min(5, steps // 3)  # the first steps touch fresh memory and warm up the allocator
    steps_ev = [e for e in events if e["kind"] == "train"][warm:]
    data_s = float(np.mean([e["data_s"] for e in steps_ev]))
    comp_s = float(np.mean([e["compute_s"] for e in steps_ev]))
    patch = int(np.prod(cfg.data.patch_size))
    per_step = data_s + comp_s
    return {
        "config": name, "steps timed": len(steps_ev), "batch": cfg.data.batch_size,
        "patch": "x".join(map(str, cfg.data.patch_size)), "features": cfg.model.features,
        "data wait s/step": data_s, "compute s/step": comp_s,
        "patches/s": cfg.data.batch_size / per_step,
        "Mvoxels/s": cfg.data.batch_size * patch / per_step / 1e6,
        "wall s (incl. setup+val)": wall,
        "peak RSS MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "tracemalloc peak MB": py_peak / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps-quick", type=int, default=60)
    parser.add_argument("--steps-gpu", type=int, default=4)
    parser.add_argument("--data", default=None, help="dataset (default: a fresh 8-case quick phantom)")
    args = parser.parse_args()
    from segrap_nb.phantom.writer import make_phantom
    from segrap_nb.training.device import describe_device

    print(f"torch {torch.__version__}, {describe_device(torch.device('cpu'))}; "
          f"CUDA available: {torch.cuda.is_available()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = Path(args.data) if args.data else make_phantom(tmp / "phantom", cases=8, progress=False)
        rows = [bench("quick", data, tmp / "cache", args.steps_quick, {}),
                # gpu config on CPU: full model and patch, no worker processes, few steps.
                bench("gpu", data, tmp / "cache", args.steps_gpu,
                      {"data.num_workers": 0, "data.val_cases": 2})]
    import pandas as pd

    table = pd.DataFrame(rows).set_index("config").T
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 120):
        print(table.to_string())
    for r in rows:
        share = r["data wait s/step"] / (r["data wait s/step"] + r["compute s/step"])
        print(f"{r['config']}: data loading is {100 * share:.1f}% of a step "
              f"({r['data wait s/step'] * 1e3:.0f} ms wait vs {r['compute s/step'] * 1e3:.0f} ms compute)")


if __name__ == "__main__":
    main()
