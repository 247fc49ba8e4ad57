"""``segrap-nb train``: train a compact 3D U-Net on a SegRap dataset (or the phantom).

segrap-nb train --config quick --out build/runs/quick
segrap-nb train --config gpu --data /data/segrap --out runs/gpu --steps 8000
segrap-nb train --config gpu --data /data/segrap --out runs/gpu --resume
torchrun --nproc_per_node=2 -m segrap_nb train --config gpu --data /data/segrap --out runs/ddp

The work is :func:`segrap_nb.training.train`; torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse

import yaml

from segrap_nb.cli.options import add_data, add_device, add_progress, guard_output, int_in
from segrap_nb.errors import DataError
from segrap_nb.training.train_config import config_names

#: Options that override one config key: option dest -> dotted config key.
OVERRIDES = (
    ("steps", "train.steps"),
    ("task", "task"),
    ("batch_size", "data.batch_size"),
    ("num_workers", "data.num_workers"),
    ("val_every", "train.val_every"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segrap-nb train``."""
    parser.add_argument(
        "--config",
        default="quick",
        help=f"a packaged config ({', '.join(config_names())}) or a YAML file (default: quick)",
    )
    add_data(parser, positional=False)
    parser.add_argument("--out", required=True, help="run folder (config copy, metrics, checkpoints)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    parser.add_argument("--overwrite", action="store_true", help="replace a previous run in --out")
    parser.add_argument("--steps", type=int_in(1, 10**9), help="override train.steps")
    parser.add_argument(
        "--stop-at",
        type=int_in(1, 10**9),
        dest="stop_at",
        help="stop after this step (with a checkpoint); --resume continues later",
    )
    parser.add_argument("--task", type=int, choices=(1, 2), help="override the task (1: OARs, 2: GTVs)")
    parser.add_argument(
        "--batch-size", type=int_in(1, 4096), dest="batch_size", help="override data.batch_size"
    )
    parser.add_argument(
        "--num-workers", type=int_in(0, 256), dest="num_workers", help="override data.num_workers"
    )
    parser.add_argument(
        "--val-every",
        type=int_in(0, 10**9),
        dest="val_every",
        help="override train.val_every (0: only at the end)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set train.lr=0.001 (repeatable)",
    )
    parser.add_argument(
        "--cache", default=None, help="preprocessed-cache folder (default: <segrap-nb cache>/preprocessed)"
    )
    add_device(parser)
    add_progress(parser)


def overrides_from_args(args: argparse.Namespace) -> dict:
    """The dotted config overrides named by the command-line options."""
    out: dict = {}
    for key, dotted in OVERRIDES:
        value = getattr(args, key, None)
        if value is not None:
            out[dotted] = value
    for item in args.set:
        if "=" not in item:
            raise DataError("--set", f"expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise DataError("--set", f"{key.strip()}: cannot read the value {value!r}") from None
    return out


def run(args: argparse.Namespace) -> int:
    """Train; returns 0 on success."""
    from segrap_nb.training import load_config, train
    from segrap_nb.training.ddp import from_env

    cfg = load_config(args.config, overrides_from_args(args))
    guard_output(args.out, args.data, what="run folder")
    result = train(
        cfg,
        args.data,
        args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        cache_root=args.cache,
        progress=args.progress,
        device=args.device,
        stop_at=args.stop_at,
    )
    if from_env().is_main:
        print(
            f"run saved in {result.run_dir}: step {result.step}, best mean DSC "
            f"({cfg.train.select_group}) {result.best_metric:.4f} at step {result.best_step}"
        )
    return 0
