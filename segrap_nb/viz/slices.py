"""Static figures for print and exported HTML: an organ montage, and prediction vs ground truth.

Both work on the LPS-reoriented volume (see :mod:`segrap_nb.viz.render`) and show the planes in
the radiological convention at their true proportions (extent in mm).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from segrap_nb import labels as L
from segrap_nb.viz.colors import ORGAN_GROUPS, color_of, resolve_organs
from segrap_nb.io.nifti import Volume
from segrap_nb.viz.render import (
    PLANE_AXIS,
    WINDOW_PRESETS,
    apply_window,
    compose_overlay,
    extract_plane,
    label_centroid,
    label_slice_counts,
    mask_bbox,
    plane_spacing,
    reorient_lps,
)

#: Colours of the comparison panel (RGB 0..1): agreement, false positive, false negative.
TP_COLOR = (0.0, 0.75, 0.0)
FP_COLOR = (1.0, 0.1, 0.6)
FN_COLOR = (0.1, 0.55, 1.0)

_BONE_ORGANS = set(ORGAN_GROUPS["inner ear"] + ORGAN_GROUPS["middle ear"]
                   + ORGAN_GROUPS["bones and joints"])
_BRAIN_ORGANS = set(ORGAN_GROUPS["brain"]) - {"Pituitary"}


def auto_window(organ: str) -> tuple[float, float]:
    """A sensible (width, level) in HU to look at an organ: bone, brain or soft tissue."""
    if organ in _BONE_ORGANS:
        return WINDOW_PRESETS["bone"]
    if organ in _BRAIN_ORGANS:
        return WINDOW_PRESETS["brain"]
    return WINDOW_PRESETS["soft tissue"]


def _parts(vol: Volume | np.ndarray, affine: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(vol, Volume):
        return vol.array, (vol.affine if affine is None else affine)
    if affine is None:
        raise ValueError("plain arrays need affine= (voxel -> mm); or pass Volume objects")
    return np.asarray(vol), np.asarray(affine, float)


def _window_of(window: str | tuple[float, float], organ: str | None) -> tuple[float, float]:
    if window == "auto":
        return auto_window(organ) if organ else WINDOW_PRESETS["soft tissue"]
    return WINDOW_PRESETS[window] if isinstance(window, str) else window


def _crop_box(centre: tuple[float, float], size_mm: float, spacing: tuple[float, float],
              shape: tuple[int, int]) -> tuple[slice, slice]:
    """Row/col slices of a size_mm square around a (row, col) pixel, clamped to the image."""
    out = []
    for c, d, n in zip(centre, spacing, shape):
        half = max(int(round(size_mm / 2 / d)), 1)
        lo = int(min(max(round(c) - half, 0), max(n - 2 * half, 0)))
        out.append(slice(lo, min(lo + 2 * half, n)))
    return out[0], out[1]


def _show(ax: Any, grey: np.ndarray, masks: list[tuple[np.ndarray, tuple[float, ...]]],
          box: tuple[slice, slice], spacing: tuple[float, float], opacity: float,
          contour: bool = True) -> None:
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
            m = mask[rs, cs]
            if m.any() and min(m.shape) > 1:
                ax.contour(m.astype(np.float32), levels=[0.5], colors=[rgb[:3]], linewidths=0.8,
                           extent=extent, origin="upper")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def organ_montage(
    image: Volume | np.ndarray,
    onehot: Volume | np.ndarray,
    organs: str | Iterable[str] = "all",
    *,
    affine: np.ndarray | None = None,
    task: int = 1,
    plane: str = "axial",
    window: str | tuple[float, float] = "auto",
    ncols: int = 9,
    min_tile_mm: float = 30.0,
    tile_inches: float = 1.45,
    opacity: float = 0.35,
    dpi: int = 80,
    title: str | None = None,
) -> Any:
    """One tile per organ at its centroid slice, cropped around it, mask filled and outlined.

    ``window="auto"`` picks a bone window for the ear and bone organs, a brain window for the
    brain, soft tissue otherwise. Organs absent from the case get an empty "absent" tile.
    """
    from matplotlib.figure import Figure

    ct, aff = _parts(image, affine)
    lab, _ = _parts(onehot, aff)
    if lab.shape != ct.shape:
        raise ValueError(f"label map {lab.shape} and image {ct.shape} differ in shape")
    lab = lab if lab.dtype == np.uint8 else lab.astype(np.uint8)
    ct_lps = reorient_lps(ct, aff)
    lab_lps = reorient_lps(lab, aff)
    counts = label_slice_counts(lab)
    names = resolve_organs(organs)
    nrows = -(-len(names) // ncols)
    height = tile_inches * nrows * 1.12 + 0.3  # inches; 0.3 for the title
    fig = Figure(figsize=(tile_inches * ncols, height), dpi=dpi, facecolor="white")
    dr, dc = plane_spacing(ct_lps.spacing, plane)
    for n, name in enumerate(names):
        ax = fig.add_subplot(nrows, ncols, n + 1)
        ids = L.labels_of(name, task)
        com = label_centroid(lab, ids, counts)
        ax.set_title(name, fontsize=7, pad=2)
        if com is None:
            ax.text(0.5, 0.5, "absent", ha="center", va="center", fontsize=8, color="0.4",
                    transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        where = lab_lps.to_lps_index(com, lab.shape)
        lut = np.zeros(256, bool)
        lut[list(ids)] = True
        axis, n_sl = PLANE_AXIS[plane], lab_lps.array.shape[PLANE_AXIS[plane]]
        index = where[axis]
        # The centroid of a curved organ may miss it: use the nearest slice that holds it.
        for off in sorted(range(-n_sl, n_sl), key=abs):
            k = index + off
            if 0 <= k < n_sl:
                mask = lut[extract_plane(lab_lps.array, plane, k)]
                if mask.any():
                    index = k
                    break
        rows, cols = np.nonzero(mask)
        size = max(min_tile_mm, 1.4 * max((np.ptp(rows) + 1) * dr, (np.ptp(cols) + 1) * dc))
        centre = ((rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2)
        grey = apply_window(extract_plane(ct_lps.array, plane, index), *_window_of(window, name))
        box = _crop_box(centre, size, (dr, dc), grey.shape)
        _show(ax, grey, [(mask, color_of(name, 1.0))], box, (dr, dc), opacity)
        ax.text(0.02, 0.02, f"{plane[0]}{index}", color="yellow", fontsize=6,
                transform=ax.transAxes, va="bottom")
    fig.suptitle(title or f"{len(names)} organs, {plane} slice through each centroid",
                 fontsize=9, y=1 - 0.05 / height, va="top")
    fig.subplots_adjust(left=0.005, right=0.995, bottom=0.005, top=1 - 0.5 / height,
                        wspace=0.04, hspace=0.22)
    return fig


def _selection_mask(onehot: np.ndarray, selection: str | int | Iterable[Any], task: int | None
                    ) -> tuple[np.ndarray, str]:
    """Bool mask of a structure, a group, a list of structures, or a list of label ids."""
    if onehot.dtype != np.uint8:
        onehot = onehot.astype(np.uint8)
    if isinstance(selection, (int, np.integer)):
        selection = [int(selection)]
    if isinstance(selection, str):
        names = resolve_organs(selection)
    else:
        items = list(selection)
        if all(isinstance(i, (int, np.integer)) for i in items):
            lut = np.zeros(256, bool)
            lut[[int(i) for i in items]] = True
            return lut[onehot], "labels " + ", ".join(str(int(i)) for i in items)
        names = resolve_organs(items)
    lut = np.zeros(256, bool)
    for name in names:
        t = task if task is not None else (2 if name in L.GTV_NAMES else 1)
        lut[list(L.labels_of(name, t))] = True
    label = selection if isinstance(selection, str) else ", ".join(names)
    return lut[onehot], label


def plot_prediction_vs_truth(
    image_volume: Volume | np.ndarray,
    pred_onehot: Volume | np.ndarray,
    gt_onehot: Volume | np.ndarray,
    structure_or_labels: str | int | Iterable[Any],
    *,
    affine: np.ndarray | None = None,
    task: int | None = None,
    plane: str = "axial",
    index: int | None = None,
    window: str | tuple[float, float] = "auto",
    crop_mm: float | None = None,
    opacity: float = 0.45,
    panel_inches: float = 3.0,
    dpi: int = 80,
    title: str | None = None,
) -> Any:
    """Ground truth, prediction, and their difference side by side on one slice.

    ``structure_or_labels``: a structure name (``"Parotid_L"``), a group (``"optic pathway"``),
    a list of names, or a list of one-hot label ids. The third panel colours agreement green,
    false positives (predicted, not in the truth) magenta and false negatives (missed) blue.
    ``index`` (slice along the plane's LPS axis) defaults to the slice with the most errors;
    ``crop_mm`` (default: fit the structure; 0: whole plane) sets the square field of view.
    Returns the figure; its title gives the voxel counts and the 3D Dice.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    ct, aff = _parts(image_volume, affine)
    pred, _ = _parts(pred_onehot, aff)
    gt, _ = _parts(gt_onehot, aff)
    for name, arr in (("prediction", pred), ("ground truth", gt)):
        if arr.shape != ct.shape:
            raise ValueError(f"{name} {arr.shape} and image {ct.shape} differ in shape")
    p_mask, label = _selection_mask(pred, structure_or_labels, task)
    g_mask, _ = _selection_mask(gt, structure_or_labels, task)
    ct_lps = reorient_lps(ct, aff)
    p_lps = reorient_lps(p_mask, aff).array
    g_lps = reorient_lps(g_mask, aff).array
    axis = PLANE_AXIS[plane]
    # Count inside the union of the two bounding boxes only: fast on a full-size volume, and
    # independent of the arrays' memory layouts (a C-order prediction vs an F-order NIfTI).
    boxes = [b for b in (mask_bbox(p_mask), mask_bbox(g_mask)) if b is not None]
    box = tuple(slice(min(b[a].start for b in boxes), max(b[a].stop for b in boxes))
                for a in range(3)) if boxes else None
    pc = p_mask[box] if box else np.zeros((0, 0, 0), bool)
    gc = g_mask[box] if box else np.zeros((0, 0, 0), bool)
    n_p, n_g, both = int(pc.sum()), int(gc.sum()), int(np.count_nonzero(pc & gc))
    if index is None:
        index = ct_lps.array.shape[axis] // 2
        if box:
            src, flipped = ct_lps.stored_axis(axis)
            others = tuple(a for a in range(3) if a != src)
            counts = np.count_nonzero(pc ^ gc, axis=others)
            if not counts.any():
                counts = np.count_nonzero(pc | gc, axis=others)
            per_slice = np.zeros(ct.shape[src], np.int64)
            per_slice[box[src]] = counts
            index = int(np.argmax(per_slice[::-1] if flipped else per_slice))
    dr, dc = plane_spacing(ct_lps.spacing, plane)
    gp, pp = extract_plane(g_lps, plane, index), extract_plane(p_lps, plane, index)
    grey = apply_window(extract_plane(ct_lps.array, plane, index),
                        *_window_of(window, label if isinstance(label, str) else None))
    union = gp | pp
    if crop_mm == 0 or (crop_mm is None and not union.any()):
        box = (slice(0, grey.shape[0]), slice(0, grey.shape[1]))
    else:
        rows, cols = np.nonzero(union) if union.any() else (np.array([grey.shape[0] // 2]),
                                                             np.array([grey.shape[1] // 2]))
        centre = ((rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2)
        size = crop_mm or max(40.0, 1.5 * max((np.ptp(rows) + 1) * dr, (np.ptp(cols) + 1) * dc))
        box = _crop_box(centre, size, (dr, dc), grey.shape)
    single = isinstance(structure_or_labels, str) and structure_or_labels in L.OAR_TO_ONEHOT
    colour = color_of(structure_or_labels, 1.0) if single else (1.0, 0.85, 0.0)
    fig = Figure(figsize=(panel_inches * 3, panel_inches * 1.12), dpi=dpi)
    axes = fig.subplots(1, 3)
    _show(axes[0], grey, [(gp, colour)], box, (dr, dc), opacity)
    axes[0].set_title("ground truth", fontsize=9)
    _show(axes[1], grey, [(pp, colour)], box, (dr, dc), opacity)
    axes[1].set_title("prediction", fontsize=9)
    _show(axes[2], grey, [(gp & pp, TP_COLOR), (pp & ~gp, FP_COLOR), (gp & ~pp, FN_COLOR)],
          box, (dr, dc), max(opacity, 0.6), contour=False)
    axes[2].set_title("difference", fontsize=9)
    vox = float(np.prod(ct_lps.spacing))
    fp, fn = n_p - both, n_g - both
    dsc = 1.0 if n_p + n_g == 0 else 2.0 * both / (n_p + n_g)
    axes[2].legend(handles=[Patch(color=TP_COLOR, label="both"),
                            Patch(color=FP_COLOR, label="false positive"),
                            Patch(color=FN_COLOR, label="false negative")],
                   loc="lower right", fontsize=6, framealpha=0.7)
    fig.suptitle(
        (title or f"{label}: {plane} slice {index}")
        + f"\n3D Dice {dsc:.3f}   FP {fp} voxels ({fp * vox / 1000:.3f} cm³)"
        f"   FN {fn} voxels ({fn * vox / 1000:.3f} cm³)",
        fontsize=9,
    )
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.8, wspace=0.04)
    return fig

