"""Train and apply a compact 3D U-Net (MONAI) on SegRap: Task 1 (45 OARs) or Task 2 (GTVs).

    from segrap_nb.training import load_config, train, predict, get_device
    cfg = load_config("quick")                       # or "gpu", or a YAML file
    result = train(cfg, out=default_run_dir("quick"))  # data: $SEGRAP_DATA or the phantom
    predict(result.run_dir, "build/pred")            # release layout, original grids

Modules: ``train_config`` (YAML configs), ``device`` (CUDA > MPS > CPU), ``preprocess`` (resample,
body crop, normalise, on-disk cache), ``data`` (class-balanced patch crops, a threaded loader),
``augment`` (flips with the _L/_R swap, intensity, affine: batched on the training device), ``model``
(MONAI UNet), ``val_dice`` (DSC per structure and organ group), ``validate`` (validation during training),
``loop`` (training, in named steps), ``run_folder`` (a run's files: ``RunFolder``), ``runs``
(which folder a setting uses, the latest run), ``inference`` (sliding window, back to the
original grid), ``ddp`` (torchrun), ``prediction`` (a dataset or a new
patient, written in the release layout). The ``segrap-nb train`` and ``predict`` commands are in
:mod:`segrap_nb.cli`.
The live training plot is :mod:`segrap_nb.viz.training_curves` (a ``train`` callback).
"""

from __future__ import annotations

from segrap_nb.training.device import get_device
from segrap_nb.training.loop import TrainResult, default_cache_root, default_run_dir, train
from segrap_nb.training.prediction import predict
from segrap_nb.training.preprocess import PreprocessCache, preprocess_case, to_original_grid
from segrap_nb.training.run_folder import RunFolder, metrics_frames, read_metrics
from segrap_nb.training.train_config import TrainConfig, config_names, load_config, save_config
from segrap_nb.training.val_dice import SCORE_GROUPS, dice_per_structure, group_means

__all__ = [
    "SCORE_GROUPS",
    "PreprocessCache",
    "RunFolder",
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
