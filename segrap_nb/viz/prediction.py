"""Prediction vs ground truth on one slice: truth, prediction, and their difference side by side.

Counts and Dice come from the kit's one formula (:func:`segrap_nb.eval.metrics.dice`), counted
inside the union of the two masks' boxes (:func:`segrap_nb.grid.union_box`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from segrap_nb import labels as L
from segrap_nb.eval.metrics import dice
from segrap_nb.grid import Box, bbox, union_box
from segrap_nb.io.nifti import Volume
from segrap_nb.viz._style import DPI, FN_COLOR, FP_COLOR, TP_COLOR, error_legend, figure, organ_legend
from segrap_nb.viz.annotate import decorate, phantom_title
from segrap_nb.viz.colors import color_of, resolve_organs
from segrap_nb.viz.panel import Window, crop_box, draw_panel, mask_crop, window_of
from segrap_nb.viz.render import (
    PLANE_AXIS,
    LPSVolume,
    Plane,
    apply_window,
    extract_plane,
    plane_spacing,
    reorient_lps,
    volume_parts,
)

__all__ = ["plot_prediction_vs_truth"]


def _selection_mask(
    onehot: np.ndarray, selection: str | int | Iterable[Any], task: int | None
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


@dataclass
class _Comparison:
    """A prediction and its truth as masks of one selection, with their voxel counts."""

    ct: LPSVolume
    affine: np.ndarray  # voxel -> mm of the stored arrays
    pred: np.ndarray  # stored (i, j, k) masks
    truth: np.ndarray
    label: str
    box: Box | None  # union of the two masks' boxes; None when both are empty
    n_pred: int
    n_truth: int
    n_both: int


def _compare(
    image: Volume | np.ndarray,
    pred_onehot: Volume | np.ndarray,
    gt_onehot: Volume | np.ndarray,
    selection: str | int | Iterable[Any],
    affine: np.ndarray | None,
    task: int | None,
) -> _Comparison:
    """Masks of ``selection`` in the prediction and the truth, and their counts in the union box."""
    ct, aff, _ = volume_parts(image, affine)
    pred, gt = volume_parts(pred_onehot, aff).array, volume_parts(gt_onehot, aff).array
    for name, arr in (("prediction", pred), ("ground truth", gt)):
        if arr.shape != ct.shape:
            raise ValueError(f"{name} {arr.shape} and image {ct.shape} differ in shape")
    p_mask, label = _selection_mask(pred, selection, task)
    g_mask, _ = _selection_mask(gt, selection, task)
    # Count inside the union of the two bounding boxes only: fast on a full-size volume, and
    # independent of the arrays' memory layouts (a C-order prediction vs an F-order NIfTI).
    box = union_box(bbox(p_mask), bbox(g_mask))
    pc = p_mask[box] if box else np.zeros((0, 0, 0), bool)
    gc = g_mask[box] if box else np.zeros((0, 0, 0), bool)
    counts = int(pc.sum()), int(gc.sum()), int(np.count_nonzero(pc & gc))
    return _Comparison(reorient_lps(ct, aff), aff, p_mask, g_mask, label, box, *counts)


def _worst_slice(cmp: _Comparison, axis: int) -> int:
    """LPS index along ``axis`` of the slice with the most errors (or of the structure when
    there are none; the middle slice when both masks are empty)."""
    if cmp.box is None:
        return cmp.ct.array.shape[axis] // 2
    src, flipped = cmp.ct.stored_axis(axis)
    others = tuple(a for a in range(3) if a != src)
    pc, gc = cmp.pred[cmp.box], cmp.truth[cmp.box]
    errors = np.count_nonzero(pc ^ gc, axis=others)
    if not errors.any():
        errors = np.count_nonzero(pc | gc, axis=others)
    per_slice = np.zeros(cmp.pred.shape[src], np.int64)
    per_slice[cmp.box[src]] = errors
    return int(np.argmax(per_slice[::-1] if flipped else per_slice))


def _field_of_view(
    union: np.ndarray, spacing: tuple[float, float], crop_mm: float | None
) -> tuple[slice, slice]:
    """Crop of the panels: the whole plane (``crop_mm`` 0, or nothing to fit), else a square of
    ``crop_mm`` (default: 1.5 x the structure, at least 40 mm) around the structure."""
    shape = union.shape
    if crop_mm == 0 or (crop_mm is None and not union.any()):
        return (slice(0, shape[0]), slice(0, shape[1]))
    if not union.any():
        union = np.zeros(shape, bool)
        union[shape[0] // 2, shape[1] // 2] = True
    centre, size = mask_crop(union, spacing, 40.0, 1.5)
    return crop_box(centre, crop_mm or size, spacing, shape)


def _draw_panels(axes: Any, grey: np.ndarray, gp: np.ndarray, pp: np.ndarray, colour: Any, **kw: Any) -> None:
    """Truth, prediction and difference panels (``kw``: box, spacing, opacity, plane, index, n_slices)."""
    box, spacing, opacity = kw["box"], kw["spacing"], kw["opacity"]
    draw_panel(axes[0], grey, [(gp, colour)], box, spacing, opacity)
    axes[0].set_title("ground truth", fontsize=9)
    draw_panel(axes[1], grey, [(pp, colour)], box, spacing, opacity)
    axes[1].set_title("prediction", fontsize=9)
    errors = [(gp & pp, TP_COLOR), (pp & ~gp, FP_COLOR), (gp & ~pp, FN_COLOR)]
    draw_panel(axes[2], grey, errors, box, spacing, max(opacity, 0.6), contour=False)
    axes[2].set_title("difference", fontsize=9)
    for ax in axes:
        decorate(ax, kw["plane"], index=kw["index"], n_slices=kw["n_slices"])


def _legends(axes: Any, single: str | None, colour: Any, label: str) -> None:
    """The structure's legend under the first panel, the error colours' under the third."""
    below = dict(loc="upper center", bbox_to_anchor=(0.5, -0.01), fontsize=7, frameon=False)
    if single:
        organ_legend(axes[0], [single], **below)
    else:
        from matplotlib.patches import Patch

        axes[0].legend(handles=[Patch(color=colour, label=label)], **below)
    error_legend(axes[2], ncol=3, handlelength=1.0, columnspacing=0.8, **below)


def _numbers(cmp: _Comparison) -> str:
    """The title's second line: 3D Dice, false positives and negatives in voxels and cm³."""
    vox = float(np.prod(cmp.ct.spacing))
    fp, fn = cmp.n_pred - cmp.n_both, cmp.n_truth - cmp.n_both
    dsc = dice(cmp.n_both, cmp.n_pred, cmp.n_truth)
    return (
        f"\n3D Dice {dsc:.3f}   FP {fp} voxels ({fp * vox / 1000:.3f} cm³)"
        f"   FN {fn} voxels ({fn * vox / 1000:.3f} cm³)"
    )


def plot_prediction_vs_truth(
    image_volume: Volume | np.ndarray,
    pred_onehot: Volume | np.ndarray,
    gt_onehot: Volume | np.ndarray,
    structure_or_labels: str | int | Iterable[Any],
    *,
    affine: np.ndarray | None = None,
    task: int | None = None,
    plane: Plane = "axial",
    index: int | None = None,
    window: Window = "auto",
    crop_mm: float | None = None,
    opacity: float = 0.45,
    panel_inches: float = 3.0,
    dpi: int = DPI,
    title: str | None = None,
    phantom: bool = False,
    counts: bool = True,
) -> Any:
    """Ground truth, prediction, and their difference side by side on one slice.

    ``structure_or_labels``: a structure name (``"Parotid_L"``), a group (``"optic pathway"``),
    a list of names, or a list of one-hot label ids. The third panel colours agreement green,
    false positives (predicted, not in the truth) magenta and false negatives (missed) blue.
    ``index`` (slice along the plane's LPS axis) defaults to the slice with the most errors;
    ``crop_mm`` (default: fit the structure; 0: whole plane) sets the square field of view.
    Returns the figure; its title gives the voxel counts and the 3D Dice (``counts=False``: the
    name and slice only, e.g. when the counts are an exercise's answer). Each panel has the
    side letters, the slice index and a scale bar; a single structure is named in a legend.
    """
    cmp = _compare(image_volume, pred_onehot, gt_onehot, structure_or_labels, affine, task)
    axis = PLANE_AXIS[plane]
    index = _worst_slice(cmp, axis) if index is None else index
    spacing = plane_spacing(cmp.ct.spacing, plane)
    gp = extract_plane(reorient_lps(cmp.truth, cmp.affine).array, plane, index)
    pp = extract_plane(reorient_lps(cmp.pred, cmp.affine).array, plane, index)
    grey = apply_window(extract_plane(cmp.ct.array, plane, index), *window_of(window, cmp.label))
    sel = structure_or_labels
    single = sel if isinstance(sel, str) and sel in L.OAR_TO_ONEHOT else None
    colour = color_of(single, 1.0) if single else (1.0, 0.85, 0.0)
    fig = figure(panel_inches * 3, panel_inches * 1.25, dpi=dpi)
    axes = fig.subplots(1, 3)
    box = _field_of_view(gp | pp, spacing, crop_mm)
    where = dict(plane=plane, index=index, n_slices=cmp.ct.array.shape[axis])
    _draw_panels(axes, grey, gp, pp, colour, box=box, spacing=spacing, opacity=opacity, **where)
    _legends(axes, single, colour, cmp.label)
    name = phantom_title(title or f"{cmp.label}: {plane} slice {index}", phantom)
    fig.suptitle(name + (_numbers(cmp) if counts else ""), fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.1, top=0.8, wspace=0.04)
    return fig
