"""The network: a compact MONAI 3D U-Net with two input channels (plain and contrast CT)."""

from __future__ import annotations

import torch
from monai.networks.nets import UNet

from segrap_nb.training.train_config import TrainConfig

IN_CHANNELS = 2  # plain CT, contrast-enhanced CT


def build_model(cfg: TrainConfig) -> torch.nn.Module:
    """MONAI UNet: widths ``model.features``, ``strides`` between levels, instance norm, PReLU."""
    m = cfg.model
    strides = m.strides or [2] * (len(m.features) - 1)
    strides = [s if isinstance(s, int) else tuple(s) for s in strides]
    return UNet(
        spatial_dims=3,
        in_channels=IN_CHANNELS,
        out_channels=cfg.num_classes,
        channels=tuple(m.features),
        strides=tuple(strides),
        num_res_units=m.num_res_units,
        norm=m.norm.upper(),
        dropout=m.dropout,
    )


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
