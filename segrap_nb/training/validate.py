"""Validation during training: sliding-window inference on the whole validation cases, DSC per structure and group."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from segrap_nb.training.data import ValDataset
from segrap_nb.training.inference import predict_labels
from segrap_nb.training.train_config import TrainConfig
from segrap_nb.training.val_dice import confusion, dice_from_confusion, group_means


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
