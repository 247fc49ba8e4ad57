"""Training patches from the preprocessed cache: class-balanced crops, nothing else, on the CPU.

Training samples are drawn by :class:`PatchDataset`, a map-style dataset of *sample numbers*:
sample ``n`` takes case ``schedule(n)`` (a fresh shuffle of the training cases every pass),
draws a class (``data.class_ratios``, uniform over the classes present by default, as MONAI's
``RandCropByLabelClassesd``) and one of that class's candidate centres, both seeded from
``(seed, n)``, and copies the patch out of the cached arrays. A sample's content therefore
depends only on its number, not on which worker or process draws it, so ``--resume`` replays
exactly the same patches, and :class:`PatchLoader` can deal sample numbers out to ranks.

Everything per case is done once (:class:`CaseCache`): load the float16 image and uint8 label,
pad them to the patch size, and list up to ``data.max_samples_per_class`` candidate centres per
class. A patch then costs one strided copy straight into the batch (about 1 ms for
128 x 128 x 48 x 2 channels in float16), which :class:`PatchLoader`'s threads do ahead of the
training loop, so the loader keeps up with a GPU on two CPU cores. Augmentation (flip with the
``_L``/``_R`` label swap, intensity, affine) runs batched on the training device:
:mod:`segrap_nb.training.augment`.

:class:`RandFlipLRSwapd` is the same flip as a MONAI dictionary transform, for the notebook.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform

from segrap_nb.errors import DataError
from segrap_nb.progress import progress_bar
from segrap_nb.training.augment import lr_swap_table
from segrap_nb.training.train_config import TrainConfig

__all__ = [
    "CaseCache",
    "PatchDataset",
    "PatchLoader",
    "RandFlipLRSwapd",
    "ValDataset",
    "class_centres",
    "lr_swap_table",
    "sample_seed",
]


class RandFlipLRSwapd(RandomizableTransform, MapTransform):
    """Flip along the left-right axis (0 in RAS order) and swap every _L label with its _R twin.

    MONAI's RandFlipd cannot relabel, and a flipped head with unswapped labels teaches the net
    that the left eye is on the right: hence this small transform.
    """

    def __init__(
        self, keys: KeysCollection, label_key: str, task: int, prob: float = 0.5, axis: int = 0
    ) -> None:
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


def sample_seed(seed: int, n: int) -> int:
    """The random seed of training sample number ``n`` (independent of worker and rank)."""
    return int(np.random.SeedSequence([int(seed), int(n)]).generate_state(1)[0])


def pad_to(array: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Zero-pad the spatial axes (all but the first) to at least ``size``, evenly on both sides."""
    diff = [max(int(s) - d, 0) for s, d in zip(size, array.shape[1:])]
    if not any(diff):
        return array
    return np.pad(array, [(0, 0)] + [(d // 2, d - d // 2) for d in diff])


def class_centres(
    label: np.ndarray, num_classes: int, max_per_class: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Candidate patch centres per class: flat int32 indices into ``label`` (x, y, z), at most ``max_per_class`` each.

    One stable sort of the uint8 labels (a radix sort: linear time) groups the voxels of every
    class; large classes are subsampled without replacement.
    """
    flat = label.reshape(-1)
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(num_classes + 1), side="left")
    out = []
    for c in range(num_classes):
        idx = order[bounds[c] : bounds[c + 1]]
        if len(idx) > max_per_class:
            idx = np.sort(idx[rng.choice(len(idx), max_per_class, replace=False)])
        out.append(idx.astype(np.int32))
    return out


@dataclass
class CaseArrays:
    """One training case ready for cropping: arrays padded to at least the patch, centres per class."""

    case_id: str
    image: np.ndarray  # float16 (2, x, y, z); in RAM, or memory-mapped beyond data.cache_rate (unless padded)
    label: np.ndarray  # uint8 (1, x, y, z)
    centres: list[np.ndarray]  # per class: flat int32 indices into (x, y, z); empty if absent
    cum_probs: np.ndarray  # float64 (num_classes,): cumulative class probabilities for this case


class CaseCache(Sequence):
    """The training cases, loaded once: ``cache[k]`` = {"image", "label"} tensors (no copy) of case k."""

    def __init__(self, cases: Sequence[dict], cfg: TrainConfig, progress: bool = False) -> None:
        d = cfg.data
        ratios = np.ones(cfg.num_classes) if d.class_ratios is None else np.asarray(d.class_ratios, float)
        in_ram = round(d.cache_rate * len(cases))
        self.arrays: list[CaseArrays] = []
        for k, case in enumerate(progress_bar(list(cases), desc="cache patches", disable=not progress)):
            mmap: Literal["c"] | None = (
                None if k < in_ram else "c"
            )  # copy-on-write: read lazily, never written back
            image = pad_to(np.load(case["image"], mmap_mode=mmap), d.patch_size)
            label = pad_to(np.load(case["label"], mmap_mode=mmap), d.patch_size)
            rng = np.random.default_rng([int(cfg.seed), 0xCE, k])
            centres = class_centres(np.asarray(label[0]), cfg.num_classes, d.max_samples_per_class, rng)
            probs = ratios * np.array([len(c) > 0 for c in centres])
            if probs.sum() <= 0:
                raise DataError(case["label"], "no class of data.class_ratios occurs in this case")
            self.arrays.append(
                CaseArrays(case.get("case_id", str(k)), image, label, centres, np.cumsum(probs / probs.sum()))
            )

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:  # type: ignore[override]  # ints only, no slices
        a = self.arrays[k]
        return {
            "image": torch.from_numpy(np.asarray(a.image)),
            "label": torch.from_numpy(np.asarray(a.label)),
        }


def crop_start(centre: Sequence[int], size: Sequence[int], shape: Sequence[int]) -> list[int]:
    """First voxel of a ``size`` patch centred at ``centre``, moved inside ``shape`` when it would stick out."""
    return [min(max(int(c) - s // 2, 0), n - s) for c, s, n in zip(centre, size, shape)]


class PatchDataset(torch.utils.data.Dataset):
    """Training patches numbered ``start, start+1, ...``: sample n = one class-balanced crop of one case.

    Items are {"image": float16 (2, x, y, z), "label": uint8 (1, x, y, z)}: plain copies of the
    cached arrays (half the bytes of float32 to collate and send to the device); augmentation
    and the cast to float32 happen on the device (:class:`~segrap_nb.training.augment.DeviceAugment`).
    """

    def __init__(
        self, cases: Sequence[dict], cfg: TrainConfig, start: int, length: int, progress: bool = False
    ) -> None:
        self.cases = CaseCache(cases, cfg, progress=progress)
        self.patch = [int(p) for p in cfg.data.patch_size]
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

    def crop_box(self, n: int) -> tuple[int, list[int]]:
        """(case index, first voxel) of sample ``n``: a class drawn by its ratio, then one of its centres."""
        k = self.case_index(n)
        a = self.cases.arrays[k]
        rng = np.random.default_rng(sample_seed(self.seed, n))
        cls = min(int(np.searchsorted(a.cum_probs, rng.random(), side="right")), len(a.cum_probs) - 1)
        while not len(a.centres[cls]):  # only where rounding left the last cumulative step < 1
            cls -= 1
        flat = int(a.centres[cls][rng.integers(len(a.centres[cls]))])
        centre = [int(c) for c in np.unravel_index(flat, a.label.shape[1:])]
        return k, crop_start(centre, self.patch, a.label.shape[1:])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {key: t[0] for key, t in self.batch([i]).items()}

    def batch(self, items: Sequence[int], pin_memory: bool = False) -> dict[str, torch.Tensor]:
        """Items ``items`` cut straight into one batch: image float16 (B, 2, x, y, z), label uint8 (B, 1, x, y, z).

        ``pin_memory``: page-locked buffers, for asynchronous copies to a CUDA device.
        """
        a0 = self.cases.arrays[0]
        b = len(items)
        image = torch.empty((b, a0.image.shape[0], *self.patch), dtype=torch.float16, pin_memory=pin_memory)
        label = torch.empty((b, a0.label.shape[0], *self.patch), dtype=torch.uint8, pin_memory=pin_memory)
        for j, i in enumerate(items):
            k, start = self.crop_box(self.start + int(i))
            a = self.cases.arrays[k]
            box = (slice(None), *(slice(s, s + p) for s, p in zip(start, self.patch)))
            np.copyto(image[j].numpy(), a.image[box])  # numpy copies without holding the GIL
            np.copyto(label[j].numpy(), a.label[box])
        return {"image": image, "label": label}


class PatchLoader:
    """Batches of a :class:`PatchDataset` in order, cut ahead of the training loop by ``workers`` threads.

    Rank ``rank`` of ``world_size`` takes items ``rank, rank + world_size, ...`` (what
    ``DistributedSampler(shuffle=False)`` deals out), ``batch_size`` of them per batch. Threads,
    not processes: a patch is one numpy copy, which runs without the GIL, and the batch needs
    no trip through shared memory (on 2-core machines that trip cost more than the crop).
    ``workers=0`` cuts each batch when it is asked for. Every batch is a fresh tensor, so a
    batch kept by the caller is never overwritten.
    """

    def __init__(
        self,
        patches: PatchDataset,
        batch_size: int,
        workers: int = 0,
        rank: int = 0,
        world_size: int = 1,
        pin_memory: bool = False,
        prefetch: int = 2,
    ) -> None:
        self.patches = patches
        self.batch_size = int(batch_size)
        self.workers = int(workers)
        self.rank, self.world_size = int(rank), int(world_size)
        self.pin_memory = bool(pin_memory)
        self.depth = max(1, int(prefetch) * self.workers)  # batches in flight

    def __len__(self) -> int:
        return len(self.patches) // (self.batch_size * self.world_size)

    def items(self, b: int) -> list[int]:
        """Dataset items of this rank's batch ``b``."""
        return [self.rank + self.world_size * (b * self.batch_size + j) for j in range(self.batch_size)]

    def _cut(self, b: int) -> dict[str, torch.Tensor]:
        return self.patches.batch(self.items(b), self.pin_memory)

    def __iter__(self) -> Generator[dict[str, torch.Tensor], None, None]:
        if self.workers == 0:
            for b in range(len(self)):
                yield self._cut(b)
            return
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="patches")
        try:
            pending = deque(pool.submit(self._cut, b) for b in range(min(self.depth, len(self))))
            for b in range(len(self)):
                batch = pending.popleft().result()
                if b + len(pending) + 1 < len(self):
                    pending.append(pool.submit(self._cut, b + len(pending) + 1))
                yield batch
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class ValDataset(torch.utils.data.Dataset):
    """Whole preprocessed validation cases: {"image": (2, x, y, z) float16 as cached, "label": (1, x, y, z) uint8}."""

    def __init__(self, cases: Sequence[dict], cfg: TrainConfig) -> None:
        self.items = list(cases)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        item = self.items[i]
        return {
            "image": torch.from_numpy(np.load(item["image"])),
            "label": torch.from_numpy(np.load(item["label"])),
            "case_id": item["case_id"],
        }
