"""Sliding-window inference on whole preprocessed cases, and mapping back to the original grid."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from monai.inferers import sliding_window_inference

from segrap_nb.errors import DataError
from segrap_nb.io.dataset import Case
from segrap_nb.training.checkpoint import Which, load_checkpoint
from segrap_nb.training.device import autocast_for, get_device
from segrap_nb.training.model import build_model
from segrap_nb.training.preprocess import CaseMeta, preprocess_case, to_original_grid
from segrap_nb.training.run_folder import RunFolder
from segrap_nb.training.train_config import TrainConfig


@torch.no_grad()
def predict_labels(
    model: torch.nn.Module, image: np.ndarray | torch.Tensor, cfg: TrainConfig, device: torch.device
) -> np.ndarray:
    """uint8 label map (x, y, z) of one preprocessed (2, x, y, z) image: Gaussian-weighted windows."""
    was_training = model.training
    model.eval()
    x = torch.as_tensor(image, dtype=torch.float32)[None].to(device)
    with autocast_for(device, cfg.train):
        logits = sliding_window_inference(
            x,
            roi_size=tuple(cfg.train.sw_roi_size or cfg.data.patch_size),
            sw_batch_size=cfg.train.sw_batch_size,
            predictor=model,
            overlap=cfg.train.sw_overlap,
            mode="gaussian",
        )
    assert isinstance(logits, torch.Tensor)  # one output head
    labels = torch.argmax(logits, dim=1)[0].to(torch.uint8).cpu().numpy()
    if was_training:
        model.train()
    return labels


def load_run(
    run: str | os.PathLike, which: Which = "best", device: torch.device | None = None, verbose: bool = False
) -> tuple[torch.nn.Module, TrainConfig, dict]:
    """Model (eval mode, on ``device``), config and checkpoint info of a run (``best`` or ``last``)."""
    path = RunFolder(run).checkpoint(which) if which in ("best", "last") else Path(which)
    device = device or get_device(verbose=verbose)
    ckpt = load_checkpoint(path)
    missing = [k for k in ("config", "model") if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise DataError(
            path,
            f"not a segrap-nb checkpoint (no {' or '.join(repr(k) for k in missing)} "
            "entry): use best.pt or last.pt of a run written by segrap-nb train",
        )
    cfg = TrainConfig.from_dict(ckpt["config"], str(path))
    model = build_model(cfg)
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise DataError(
            path, f"weights do not fit the model of its config ({str(exc).splitlines()[0]})"
        ) from None
    model.to(device).eval()
    info = {k: ckpt.get(k) for k in ("step", "best_metric", "best_step")}
    info["path"] = str(path)
    return model, cfg, info


def predict_case(
    model: torch.nn.Module, case: Case, cfg: TrainConfig, device: torch.device
) -> tuple[np.ndarray, CaseMeta]:
    """Predict one case's one-hot map on its original (i, j, k) grid (uint8) and the preprocessing meta."""
    image, _, meta = preprocess_case(case, cfg.preprocess, cfg.task, with_label=False)
    # Round through float16 as the training cache does, so validation and prediction agree.
    labels = predict_labels(model, image.astype(np.float16).astype(np.float32), cfg, device)
    return to_original_grid(labels, meta), meta
