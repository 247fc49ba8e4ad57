"""Batched augmentation on the training device: left-right flip with label swap, intensity, affine.

The data loader only cuts patches (:mod:`segrap_nb.training.data`); :class:`DeviceAugment`
transforms a whole batch where it already lies, on the GPU in a few milliseconds (on the CPU
in quick mode, where the patches are small). In the order of the former per-patch MONAI chain:

1. **affine** (probability ``data.affine_prob``): a rotation of up to ``data.rotate_deg``
   degrees about each axis and a scaling by ``1 +- data.scale`` per axis, about the patch
   centre, **in millimetres**: the preprocessed grid is anisotropic (1 x 1 x 3 mm), and a
   rotation in voxel units would shear the anatomy. Trilinear for the CTs, nearest for the
   labels, border padding (``grid_sample``).
2. **left-right flip** (``data.flip_lr_prob``) along axis 0 (RAS x), every ``*_L`` label
   swapped with its ``*_R`` twin (:func:`lr_swap_table`); no other flips (no scanner shows
   such heads).
3. **intensity**: scale by ``1 + U(-s, s)`` and shift by ``U(-o, o)`` (z-score units), each
   with probability ``data.intensity_prob``, the same for both CT channels.

The random parameters are drawn on the CPU from the augmenter's own ``torch.Generator``, a
fixed number of draws per step for the *global* batch (every rank's patches) of which each
DDP rank applies its own slice. Hence every rank holds the same generator state, the same
seed gives the same augmentation on a CPU and a GPU, and the state (:attr:`DeviceAugment.
generator`) goes into the checkpoints, so ``--resume`` continues exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from segrap_nb import labels as L
from segrap_nb.training.train_config import TrainConfig

#: Uniform numbers drawn per sample and step (fixed, so the generator state depends only on
#: the number of steps): flip, scale?, scale, shift?, shift, affine?, 3 angles, 3 scales.
DRAWS_PER_SAMPLE = 12


def lr_swap_table(task: int) -> np.ndarray:
    """uint8 lookup table mapping each label to its left/right twin (identity when it has none)."""
    lut = np.arange(256, dtype=np.uint8)
    if task != 1:
        return lut  # GTVp / GTVnd have no side
    for lab, name in L.ONEHOT_LABELS.items():
        if name.endswith("_L"):
            twin = L.ONEHOT_IDS[name[:-2] + "_R"]
            lut[lab], lut[twin] = twin, lab
    return lut


def augment_seed(seed: int) -> int:
    """Seed of the augmentation generator for config seed ``seed`` (apart from the patch seeds)."""
    return int(np.random.SeedSequence([int(seed), 0xA06]).generate_state(1)[0])


@dataclass
class AugmentParams:
    """One batch's random parameters (CPU tensors, first dimension = samples)."""

    flip: torch.Tensor  # bool (B,)
    scale: torch.Tensor  # float32 (B,): intensity factor (1 when not drawn)
    shift: torch.Tensor  # float32 (B,): intensity offset, z-score units (0 when not drawn)
    affine: torch.Tensor  # bool (B,)
    angles: torch.Tensor  # float64 (B, 3): radians about RAS x, y, z
    zoom: torch.Tensor  # float64 (B, 3): scale factor per RAS axis


def rotation_matrix(angles: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) rotations Rz @ Ry @ Rx from (B, 3) angles in radians about x, y, z."""
    cx, cy, cz = torch.cos(angles).unbind(-1)
    sx, sy, sz = torch.sin(angles).unbind(-1)
    one, zero = torch.ones_like(cx), torch.zeros_like(cx)
    rx = torch.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1).view(-1, 3, 3)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).view(-1, 3, 3)
    rz = torch.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1).view(-1, 3, 3)
    return rz @ ry @ rx


def affine_theta(
    angles: torch.Tensor, zoom: torch.Tensor, extent_mm: tuple[float, float, float]
) -> torch.Tensor:
    """(B, 3, 4) ``affine_grid`` matrices rotating and scaling about the patch centre in mm.

    ``extent_mm`` is the patch size in mm along (x, y, z). ``affine_grid`` works in coordinates
    normalised to [-1, 1] per axis and ordered (last, middle, first) array axis, i.e. (z, y, x).
    """
    half = torch.tensor(extent_mm, dtype=torch.float64) / 2
    m = rotation_matrix(angles) @ torch.diag_embed(zoom)  # output mm -> input mm
    m = m * half[None, None, :] / half[None, :, None]  # D^-1 M D: normalised -> normalised
    m = m.flip(1).flip(2)  # (x, y, z) -> (z, y, x) order on both sides
    return torch.cat([m, torch.zeros(len(m), 3, 1, dtype=m.dtype)], 2).float()


class DeviceAugment:
    """Augment batches ``(B, C, x, y, z)`` on ``device``; draws from :attr:`generator` (CPU)."""

    def __init__(
        self, cfg: TrainConfig, device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1
    ) -> None:
        d = cfg.data
        self.device = torch.device(device)
        self.flip_p, self.intensity_p, self.affine_p = d.flip_lr_prob, d.intensity_prob, d.affine_prob
        self.intensity_scale, self.intensity_shift = d.intensity_scale, d.intensity_shift
        self.rotate_rad, self.zoom_range = math.radians(d.rotate_deg), d.scale
        px, py, pz = (float(p * s) for p, s in zip(d.patch_size, cfg.preprocess.spacing_mm))
        self.extent_mm = (px, py, pz)
        self.rank, self.world_size = int(rank), int(world_size)
        self.lut = torch.from_numpy(lr_swap_table(cfg.task)).to(self.device)
        self.generator = torch.Generator().manual_seed(augment_seed(cfg.seed))

    def draw(self, batch: int) -> AugmentParams:
        """Parameters of this rank's ``batch`` samples; advances the generator by one global batch."""
        u = torch.rand(
            batch * self.world_size, DRAWS_PER_SAMPLE, generator=self.generator, dtype=torch.float64
        )
        u = u[self.rank * batch : (self.rank + 1) * batch]
        sym = 2 * u - 1  # U(-1, 1)
        scale = torch.where(u[:, 1] < self.intensity_p, 1 + self.intensity_scale * sym[:, 2], 1.0)
        shift = torch.where(u[:, 3] < self.intensity_p, self.intensity_shift * sym[:, 4], 0.0)
        return AugmentParams(
            flip=u[:, 0] < self.flip_p,
            scale=scale.float(),
            shift=shift.float(),
            affine=u[:, 5] < self.affine_p,
            angles=self.rotate_rad * sym[:, 6:9],
            zoom=1 + self.zoom_range * sym[:, 9:12],
        )

    @torch.no_grad()
    def __call__(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(float32 image, int64 label) augmented; inputs (any float / integer dtype) are left as they were."""
        return self.apply(image, label, self.draw(image.shape[0]))

    @torch.no_grad()
    def apply(
        self, image: torch.Tensor, label: torch.Tensor, p: AugmentParams
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply drawn parameters ``p``: affine, then flip with label swap, then intensity."""
        image = image.to(self.device, torch.float32, copy=True)
        label = label.to(self.device, torch.uint8, copy=True)
        # Which samples: decided on the CPU, so the device never has to answer (no sync).
        warp = torch.nonzero(p.affine).flatten().tolist()
        if warp:
            theta = affine_theta(p.angles[warp], p.zoom[warp], self.extent_mm).to(self.device)
            grid = F.affine_grid(theta, [len(warp), 1, *image.shape[2:]], align_corners=False)
            image[warp] = F.grid_sample(
                image[warp], grid, mode="bilinear", padding_mode="border", align_corners=False
            )
            lab = F.grid_sample(
                label[warp].float(), grid, mode="nearest", padding_mode="border", align_corners=False
            )
            label[warp] = lab.to(torch.uint8)
        for i in torch.nonzero(p.flip).flatten().tolist():
            image[i] = image[i].flip(1)  # axis 0 of (x, y, z) = dim 1 of (C, x, y, z)
            label[i] = self.lut[label[i].flip(1).long()]
        if bool((p.scale != 1).any() or (p.shift != 0).any()):
            shape = (-1,) + (1,) * (image.dim() - 1)
            image.mul_(p.scale.to(self.device, non_blocking=True).view(shape))
            image.add_(p.shift.to(self.device, non_blocking=True).view(shape))
        return image, label.long()
