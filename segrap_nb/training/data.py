"""MONAI datasets and transforms over the preprocessed cache: class-balanced patches, light augmentation.

Training samples are drawn by :class:`PatchDataset`, a map-style dataset of *sample numbers*:
sample ``n`` takes case ``schedule(n)`` (a fresh shuffle of the training cases every pass) and
runs the random transforms seeded from ``(seed, n)``. A sample's content therefore depends
only on its number, not on which worker or process draws it, so ``--resume`` replays exactly
the same patches, and ``DistributedSampler`` (``shuffle=False``) can deal sample numbers out
to ranks.

Augmentation is light and anatomically safe. Arrays are in RAS order, so axis 0 is
left-right: a left-right flip is realistic only if every ``*_L`` label is swapped with its
``*_R`` twin at the same time (:class:`RandFlipLRSwapd`); front-back and up-down flips would
show heads no scanner produces, so none are used. Intensities get a small random scale and
shift; an optional small affine (RandAffined) is off by default (slow on CPU).
"""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import CacheDataset, MetaTensor, NumpyReader
from monai.transforms import (
    ClassesToIndicesd,
    Compose,
    EnsureTyped,
    LoadImaged,
    MapTransform,
    RandAffined,
    RandCropByLabelClassesd,
    RandomizableTransform,
    RandScaleIntensityd,
    RandShiftIntensityd,
    SpatialPadd,
)

from segrap_nb import labels as L
from segrap_nb.training.config import TrainConfig


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


class RandFlipLRSwapd(RandomizableTransform, MapTransform):
    """Flip along the left-right axis (0 in RAS order) and swap every _L label with its _R twin.

    MONAI's RandFlipd cannot relabel, and a flipped head with unswapped labels teaches the net
    that the left eye is on the right: hence this small transform.
    """

    def __init__(self, keys: KeysCollection, label_key: str, task: int, prob: float = 0.5, axis: int = 0) -> None:
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        self.label_key = label_key
        self.axis = axis
        self.lut = torch.from_numpy(lr_swap_table(task).astype(np.int64))

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        for key in self.key_iterator(d):
            img = torch.flip(torch.as_tensor(d[key]), dims=[self.axis + 1])  # +1: channel first
            if key == self.label_key:
                img = self.lut[img.long()].to(img.dtype)
            d[key] = img
        return d


def base_transforms(cfg: TrainConfig, for_training: bool = True) -> Compose:
    """Deterministic part (cached): load the .npy files, pad to the patch, per-class indices.

    Images stay float16 here (half the RAM of the in-memory cache); patches become float32.
    """
    steps = [
        LoadImaged(keys=["image", "label"], reader=NumpyReader(channel_dim=0), image_only=True, dtype=None),
        EnsureTyped(keys=["image", "label"], data_type="tensor", dtype=None, track_meta=False),
    ]
    if for_training:
        steps += [
            SpatialPadd(keys=["image", "label"], spatial_size=cfg.data.patch_size),
            # Candidate centres per class, computed once per case and cached (subsampled so a
            # large volume's background does not hold millions of indices).
            ClassesToIndicesd(keys="label", num_classes=cfg.num_classes,
                              max_samples_per_class=cfg.data.max_samples_per_class),
        ]
    return Compose(steps)


def random_transforms(cfg: TrainConfig) -> Compose:
    """Random part: class-balanced crop, left-right flip with label swap, intensity jitter."""
    d = cfg.data
    steps = [
        RandCropByLabelClassesd(
            keys=["image", "label"], label_key="label", spatial_size=d.patch_size,
            ratios=d.class_ratios, num_classes=cfg.num_classes, num_samples=1,
            indices_key="label_cls_indices", warn=False,
        ),
    ]
    if d.affine_prob > 0:
        rot = np.deg2rad(d.rotate_deg)
        steps.append(RandAffined(
            keys=["image", "label"], prob=d.affine_prob, rotate_range=(rot, rot, rot),
            scale_range=(d.scale,) * 3, mode=("bilinear", "nearest"), padding_mode="border",
        ))
    if d.flip_lr_prob > 0:
        steps.append(RandFlipLRSwapd(keys=["image", "label"], label_key="label", task=cfg.task, prob=d.flip_lr_prob))
    if d.intensity_prob > 0:
        steps += [
            EnsureTyped(keys="image", dtype=torch.float32, track_meta=False),
            RandScaleIntensityd(keys="image", factors=d.intensity_scale, prob=d.intensity_prob),
            RandShiftIntensityd(keys="image", offsets=d.intensity_shift, prob=d.intensity_prob),
        ]
    return Compose(steps)


def plain_tensor(x) -> torch.Tensor:
    """A plain torch.Tensor (MONAI MetaTensor metadata dropped: cheaper to collate)."""
    return x.as_tensor() if isinstance(x, MetaTensor) else torch.as_tensor(x)


def sample_seed(seed: int, n: int) -> int:
    """The random seed of training sample number ``n`` (independent of worker and rank)."""
    return int(np.random.SeedSequence([int(seed), int(n)]).generate_state(1)[0])


class PatchDataset(torch.utils.data.Dataset):
    """Training patches numbered ``start, start+1, ...``: sample n = one random patch of one case."""

    def __init__(self, cases: Sequence[dict], cfg: TrainConfig, start: int, length: int, progress: bool = False) -> None:
        self.cases = CacheDataset(list(cases), transform=base_transforms(cfg, True),
                                  cache_rate=cfg.data.cache_rate, num_workers=0, progress=progress)
        self.random = random_transforms(cfg)
        self.seed = cfg.seed
        self.start = int(start)
        self.length = int(length)

    def __len__(self) -> int:
        return self.length

    def case_index(self, n: int) -> int:
        """Which case sample ``n`` comes from: every pass over the cases is a fresh shuffle."""
        k = len(self.cases)
        order = np.random.default_rng([self.seed, n // k]).permutation(k)
        return int(order[n % k])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        n = self.start + int(i)
        data = self.cases[self.case_index(n)]
        self.random.set_random_state(seed=sample_seed(self.seed, n))
        out = self.random(data)
        if isinstance(out, list):  # RandCropByLabelClassesd returns num_samples dicts
            out = out[0]
        return {"image": plain_tensor(out["image"]).float().contiguous(),
                "label": plain_tensor(out["label"]).long().contiguous()}


class ValDataset(torch.utils.data.Dataset):
    """Whole preprocessed validation cases: {"image": (2, x, y, z) float32, "label": (1, x, y, z) uint8}."""

    def __init__(self, cases: Sequence[dict], cfg: TrainConfig) -> None:
        self.items = list(cases)
        self.load = base_transforms(cfg, for_training=False)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        d = self.load(dict(self.items[i]))
        return {"image": plain_tensor(d["image"]), "label": plain_tensor(d["label"]),
                "case_id": self.items[i]["case_id"]}
