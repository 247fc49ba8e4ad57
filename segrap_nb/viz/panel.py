"""One slice panel: CT grey levels (a window in HU), a crop in mm, coloured masks filled and outlined.

The building blocks of :mod:`segrap_nb.viz.slices` and :mod:`segrap_nb.viz.prediction`; planes
come from :mod:`segrap_nb.viz.render` (row 0 at the top, extent in mm).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from segrap_nb import labels as L
from segrap_nb.grid import bbox
from segrap_nb.viz.colors import ORGAN_GROUPS
from segrap_nb.viz.render import WINDOW_PRESETS, apply_window, compose_overlay

_BONE_ORGANS = set(ORGAN_GROUPS["inner ear"] + ORGAN_GROUPS["middle ear"] + ORGAN_GROUPS["bones and joints"])
_BRAIN_ORGANS = set(ORGAN_GROUPS["brain"]) - {"Pituitary"}

#: A CT window: a preset name of ``WINDOW_PRESETS``, or (width, level) in HU.
Window = str | tuple[float, float]


def auto_window(organ: str) -> tuple[float, float]:
    """A sensible (width, level) in HU to look at an organ: bone, brain or soft tissue."""
    if organ in _BONE_ORGANS:
        return WINDOW_PRESETS["bone"]
    if organ in _BRAIN_ORGANS:
        return WINDOW_PRESETS["brain"]
    return WINDOW_PRESETS["soft tissue"]


def window_of(window: Window, organ: str | None) -> tuple[float, float]:
    """(width, level) in HU of a preset name, a pair, or ``"auto"`` (:func:`auto_window` of ``organ``)."""
    if window == "auto":
        return auto_window(organ) if organ else WINDOW_PRESETS["soft tissue"]
    return WINDOW_PRESETS[window] if isinstance(window, str) else window


def grey_levels(plane_values: np.ndarray, window: Window | None) -> np.ndarray:
    """uint8 grey levels of a plane: a CT window (name or (width, level) in HU), or None to
    stretch the 1st..99th percentile of the plane (for normalised arrays, e.g. the cache's)."""
    if window is None:
        lo, hi = np.percentile(plane_values, (1, 99)) if plane_values.size else (0.0, 1.0)
        width = float(hi - lo) or 1.0
        return apply_window(plane_values.astype(np.float32), width, float(lo) + width / 2)
    width, level = WINDOW_PRESETS[window] if isinstance(window, str) else window
    return apply_window(plane_values, float(width), float(level))


def crop_box(
    centre: tuple[float, float], size_mm: float, spacing: tuple[float, float], shape: tuple[int, int]
) -> tuple[slice, slice]:
    """Row/col slices of a size_mm square around a (row, col) pixel, clamped to the image."""
    out = []
    for c, d, n in zip(centre, spacing, shape):
        half = max(int(round(size_mm / 2 / d)), 1)
        lo = int(min(max(round(c) - half, 0), max(n - 2 * half, 0)))
        out.append(slice(lo, min(lo + 2 * half, n)))
    return out[0], out[1]


def mask_crop(
    mask: np.ndarray, spacing: tuple[float, float], min_mm: float, grow: float
) -> tuple[tuple[float, float], float]:
    """(centre (row, col) pixel, side in mm) of a square crop around a 2D mask's box: ``grow``
    times its longer side in mm, at least ``min_mm``."""
    rows, cols = np.nonzero(mask)
    dr, dc = spacing
    centre = ((rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2)
    return centre, max(min_mm, grow * max((np.ptp(rows) + 1) * dr, (np.ptp(cols) + 1) * dc))


def draw_panel(
    ax: Any,
    grey: np.ndarray,
    masks: Sequence[tuple[np.ndarray, tuple[float, ...]]],
    box: tuple[slice, slice],
    spacing: tuple[float, float],
    opacity: float,
    contour: bool = True,
) -> None:
    """Draw a cropped grey plane with coloured masks (fill + contour), extent in mm."""
    rs, cs = box
    dr, dc = spacing
    extent = (cs.start * dc, cs.stop * dc, rs.stop * dr, rs.start * dr)
    crop = grey[rs, cs]
    lab = np.zeros(crop.shape, np.uint8)
    lut = np.zeros((256, 4), np.float32)
    for n, (mask, rgb) in enumerate(masks, start=1):
        lab[mask[rs, cs]] = n
        lut[n, :3] = np.asarray(rgb[:3]) * 255.0
        lut[n, 3] = 1.0
    ax.imshow(compose_overlay(crop, lab, lut, opacity), extent=extent, interpolation="nearest")
    if contour:
        for mask, rgb in masks:
            _outline(ax, mask[rs, cs], rgb, extent)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def _outline(ax: Any, mask: np.ndarray, rgb: tuple[float, ...], extent: tuple[float, ...]) -> None:
    """Contour of a cropped 2D mask in its colour (nothing for an empty or one-pixel-wide crop)."""
    if mask.any() and min(mask.shape) > 1:
        ax.contour(
            mask.astype(np.float32),
            levels=[0.5],
            colors=[rgb[:3]],
            linewidths=0.8,
            extent=extent,
            origin="upper",
        )


def richest_slice(lab: np.ndarray, organs: Iterable[str], task: int, axis: int, default: int) -> int:
    """Stored index along ``axis`` of the slice showing the most of ``organs`` (then the most
    voxels of them, then the one nearest their centroid); ``default`` when none is present."""
    lab = lab if lab.dtype == np.uint8 else lab.astype(np.uint8)
    ids = {name: list(L.labels_of(name, task)) for name in organs}
    every = sorted({k for v in ids.values() for k in v})
    lut = np.zeros(256, bool)
    lut[every] = True
    box = bbox(lut[lab])
    if box is None:
        return default
    crop = lab[box]
    others = tuple(a for a in range(3) if a != axis)
    kinds = np.zeros(crop.shape[axis], np.int64)
    for labs in ids.values():
        kinds += np.isin(crop, labs).any(axis=others)
    voxels = lut[crop].sum(axis=others)
    centre = float(np.average(np.arange(len(voxels)), weights=voxels))
    best = max(range(len(kinds)), key=lambda k: (kinds[k], voxels[k], -abs(k - centre)))
    return int(box[axis].start + best)
