"""Train and apply a compact 3D U-Net (MONAI) on SegRap: Task 1 (45 OARs) or Task 2 (GTVs).

    from segrap_nb.training import load_config, train, predict, get_device
    cfg = load_config("quick")                       # or "gpu", or a YAML file
    result = train(cfg, out=default_run_dir("quick"))  # data: $SEGRAP_DATA or the phantom
    predict(result.run_dir, "build/pred")            # release layout, original grids

Modules: ``train_config`` (YAML configs), ``device`` (CUDA > MPS > CPU), ``preprocess`` (resample,
body crop, normalise, on-disk cache), ``data`` (class-balanced patch crops, a threaded loader),
``augment`` (flips with the _L/_R swap, intensity, affine: batched on the training device), ``model``
(MONAI UNet), ``val_dice`` (validation DSC per structure and organ group), ``loop`` (training),
``inference`` (sliding window, back to the original grid), ``prediction`` (a dataset or a new
patient, written in the release layout), ``ddp`` (torchrun), ``live`` (notebook plot). The
``segrap-nb train`` and ``predict`` commands are in :mod:`segrap_nb.cli`.
"""

from __future__ import annotations

from segrap_nb.training.device import get_device
from segrap_nb.training.loop import (
    TrainResult,
    default_cache_root,
    default_run_dir,
    metrics_frames,
    read_metrics,
    train,
)
from segrap_nb.training.prediction import predict
from segrap_nb.training.preprocess import PreprocessCache, preprocess_case, to_original_grid
from segrap_nb.training.train_config import TrainConfig, config_names, load_config, save_config
from segrap_nb.training.val_dice import SCORE_GROUPS, dice_per_structure, group_means

__all__ = [
    "SCORE_GROUPS",
    "PreprocessCache",
    "TrainConfig",
    "TrainResult",
    "config_names",
    "default_cache_root",
    "default_run_dir",
    "dice_per_structure",
    "get_device",
    "group_means",
    "load_config",
    "metrics_frames",
    "predict",
    "preprocess_case",
    "read_metrics",
    "save_config",
    "to_original_grid",
    "train",
]
