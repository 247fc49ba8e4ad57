"""Structures as cropped masks: each one's tight bounding box and the bool mask inside it (voxels).

Scoring a structure only needs the joint bounding box of its two masks (see
:mod:`segrap_nb.eval.metrics`), so a case's segmentation is turned into one
:class:`CroppedMask` per structure, never into a one-hot map:

* a one-hot map (uint8): the boxes of all labels come from one ``scipy.ndimage.find_objects``
  pass over the map's memory order, and each structure's mask is built (official table) only
  inside the union of its labels' boxes;
* per-structure masks, which may overlap in any way (the organisers' scripts read 45 separate
  mask files and score each one on its own): each mask's box comes from two max-projections in
  memory order (about one pass over the volume), and only the crop is kept, so the full-volume
  mask can be dropped as soon as it is cropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from segrap_nb import labels as L
from segrap_nb.grid import Box, bbox, label_boxes

__all__ = ["CroppedMask", "crop_mask", "crop_structures", "label_boxes"]


@dataclass(frozen=True)
class CroppedMask:
    """A structure's mask as its tight ``box`` in a volume of ``shape`` voxels and the bool ``crop`` inside it.

    ``box`` is None (and ``crop`` an empty array) when the mask is empty.
    """

    shape: tuple[int, ...]
    box: Box | None
    crop: np.ndarray

    @property
    def voxels(self) -> int:
        """Number of voxels inside the mask."""
        return int(np.count_nonzero(self.crop))

    def inside(self, box: Box) -> np.ndarray:
        """The mask as a bool array over ``box``, a box that contains :attr:`box`."""
        if box == self.box:
            return self.crop
        out = np.zeros(tuple(s.stop - s.start for s in box), bool)
        if self.box is not None:
            out[tuple(slice(m.start - b.start, m.stop - b.start) for m, b in zip(self.box, box))] = self.crop
        return out


def crop_mask(mask: np.ndarray | CroppedMask, what: str = "mask") -> CroppedMask:
    """A full-volume 3D mask (nonzero = inside) cropped to its bounding box; a CroppedMask as it is."""
    if isinstance(mask, CroppedMask):
        return mask
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"{what} must be a 3D mask, got shape {mask.shape}")
    box = bbox(mask)
    if box is None:
        return CroppedMask(tuple(mask.shape), None, np.zeros((0, 0, 0), bool))
    return CroppedMask(tuple(mask.shape), box, np.not_equal(mask[box], 0))


def _from_map(onehot: np.ndarray, task: int, what: str) -> dict[str, CroppedMask]:
    """Every structure of a uint8 one-hot map as a CroppedMask (one find_objects pass)."""
    if onehot.ndim != 3:
        raise ValueError(f"{what} must be a 3D one-hot map or a dict of masks, got shape {onehot.shape}")
    if onehot.dtype != np.uint8:
        raise TypeError(
            f"{what} one-hot map must be uint8, got {onehot.dtype} (read labels with "
            "np.asanyarray(img.dataobj), not get_fdata(), or pass a dict of masks)"
        )
    boxes = label_boxes(onehot)
    top = L.max_label(task)
    if len(boxes) > top:
        raise ValueError(f"{what} holds label {len(boxes)}; task {task} labels are 0..{top}")
    out = {}
    for name in L.structures(task):
        box = L.structure_box(boxes, name, task)
        if box is None:
            out[name] = CroppedMask(tuple(onehot.shape), None, np.zeros((0, 0, 0), bool))
        else:
            out[name] = CroppedMask(tuple(onehot.shape), box, L.structure_mask(onehot[box], name, task))
    return out


def crop_structures(
    seg: np.ndarray | Mapping[str, np.ndarray | CroppedMask], task: int, what: str = "segmentation"
) -> dict[str, CroppedMask]:
    """Every structure of ``task`` (official order) as a CroppedMask, from a uint8 one-hot map or masks.

    Masks are a mapping structure name (or alias) -> 3D mask (nonzero = inside) or CroppedMask;
    they may overlap in any way. Every structure of the task must be given, all on one grid.
    """
    if not isinstance(seg, Mapping):
        return _from_map(np.asarray(seg), task, what)
    given = {L.canonical_name(k): v for k, v in seg.items()}
    missing = [n for n in L.structures(task) if n not in given]
    if missing:
        raise KeyError(f"{what} has no mask for: {', '.join(missing)}")
    out = {n: crop_mask(given[n], f"{what}[{n!r}]") for n in L.structures(task)}
    shapes = {m.shape for m in out.values()}
    if len(shapes) != 1:
        raise ValueError(f"{what}'s masks have different shapes: {sorted(shapes)}")
    return out
