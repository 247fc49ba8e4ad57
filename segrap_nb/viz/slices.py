"""Static slice figures for print and exported HTML: one slice with its organs, two panels of an
organ's overlaps, a zoom on small organs, an organ montage.

Every one works on the LPS-reoriented volume (see :mod:`segrap_nb.viz.render`) and draws the
kit's one picture convention: the radiological view (axial: anterior up, the patient's left on
the screen's right; coronal and sagittal: superior up) with its side letters, true proportions
(extent in mm), the fixed organ colours of :mod:`segrap_nb.viz.colors` with a legend of the
organs shown, the slice index and a scale bar (:mod:`segrap_nb.viz.annotate`). Arrays in any
orientation are accepted (the release's LPS NIfTI, the training cache's RAS arrays): the affine
says where each axis points (:func:`segrap_nb.viz.render.volume_parts`). Prediction vs ground
truth is in :mod:`segrap_nb.viz.prediction` (also importable from here).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from segrap_nb import labels as L
from segrap_nb.io.nifti import Volume
from segrap_nb.viz._style import DPI, FN_COLOR, FP_COLOR, TP_COLOR, figure, organ_legend
from segrap_nb.viz.annotate import decorate, legend_beside, phantom_title, slice_title
from segrap_nb.viz.colors import color_of, label_lut, label_owner, resolve_organs
from segrap_nb.viz.panel import (
    Window,
    auto_window,
    crop_box,
    draw_panel,
    grey_levels,
    mask_crop,
    richest_slice,
    window_of,
)
from segrap_nb.viz.prediction import plot_prediction_vs_truth
from segrap_nb.viz.render import (
    PLANE_AXIS,
    PLANES,
    LPSVolume,
    Plane,
    apply_window,
    compose_overlay,
    extract_plane,
    label_centroid,
    label_slice_counts,
    plane_extent,
    plane_spacing,
    reorient_lps,
    volume_parts,
)

__all__ = [
    "FN_COLOR",
    "FP_COLOR",
    "TP_COLOR",
    "SliceShown",
    "auto_window",
    "decorate",
    "organ_montage",
    "phantom_title",
    "plot_overlap",
    "plot_prediction_vs_truth",
    "plot_zoom",
    "show_slice",
]


@dataclass
class SliceShown:
    """What :func:`show_slice` drew: the plane, its slice (stored and LPS index) and organs."""

    plane: Plane
    index: int
    lps_index: int
    n_slices: int
    organs: tuple[str, ...]


def _image_and_labels(
    image: Volume | np.ndarray, labels: Volume | np.ndarray | None, **where: Any
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(CT, labels or None, voxel -> mm affine) on one grid; ``where``: affine, spacing, axcodes."""
    ct, aff, _ = volume_parts(image, where["affine"], spacing=where["spacing"], axcodes=where["axcodes"])
    if ct.ndim != 3:
        raise ValueError(f"expected a 3D image, got shape {ct.shape}")
    if labels is None:
        return ct, None, aff
    lab = volume_parts(labels, aff).array
    if lab.shape != ct.shape:
        raise ValueError(f"labels {lab.shape} and image {ct.shape} differ in shape")
    return ct, lab, aff


def _pick_slice(
    ct: LPSVolume, lab: np.ndarray | None, plane: Plane, index: int | None, zoom: Any, task: int
) -> tuple[int, int, int, list[int]]:
    """(stored index, LPS index, slices, zoom label ids) of the slice to show: ``index``, else
    the middle, else with ``zoom`` the slice showing the most of those organs."""
    src, flipped = ct.stored_axis(PLANE_AXIS[plane])
    n = ct.array.shape[PLANE_AXIS[plane]]
    zoom_ids: list[int] = []
    if zoom is not None:
        if lab is None:
            raise ValueError("zoom= needs labels")
        zoom_ids = sorted({k for o in resolve_organs(zoom) for k in L.labels_of(o, task)})
    if index is None:
        index = n // 2
        if zoom_ids and lab is not None:
            index = richest_slice(lab, resolve_organs(zoom), task, src, index)
    if not 0 <= index < n:
        raise IndexError(f"{plane} index {index} outside 0..{n - 1} (stored axis {src})")
    return index, (n - 1 - index if flipped else index), n, zoom_ids


def _overlay(
    grey: np.ndarray, lab_plane: np.ndarray | None, selection: tuple[str, ...], task: int, opacity: float
) -> tuple[np.ndarray, tuple[str, ...]]:
    """(RGB image, organs of ``selection`` present in the plane) of a grey plane and its labels."""
    if lab_plane is None:
        return compose_overlay(grey, None, None), ()
    owner = label_owner(selection, task)
    present = {int(k) for k in np.unique(lab_plane) if k}
    found = {owner[k] for k in present if k in owner}
    shown = tuple(o for o in selection if o in found)
    return compose_overlay(grey, lab_plane, label_lut(selection, task), opacity), shown


def _show_rgb(ax: Any, rgb: np.ndarray, extent: tuple[float, float, float, float]) -> None:
    """An RGB plane at its extent in mm, true proportions, no ticks, black around it."""
    ax.imshow(rgb, extent=extent, interpolation="nearest")
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("black")


def _zoom_to(ax: Any, hit: np.ndarray, spacing: tuple[float, float], extent: Any, margin_mm: float) -> None:
    """Limit the axes to the box of ``hit`` (a 2D mask) plus ``margin_mm``, inside ``extent``."""
    if not hit.any():
        return
    dr, dc = spacing
    rows, cols = np.nonzero(hit)
    ax.set_xlim(
        max(cols.min() * dc - margin_mm, extent[0]), min((cols.max() + 1) * dc + margin_mm, extent[1])
    )
    ax.set_ylim(
        min((rows.max() + 1) * dr + margin_mm, extent[2]), max(rows.min() * dr - margin_mm, extent[3])
    )


def _label_plane(
    lab: np.ndarray | None, affine: np.ndarray, plane: Plane, lps_index: int
) -> np.ndarray | None:
    """The uint8 label plane (display order) at an LPS index; None without labels."""
    if lab is None:
        return None
    lab_plane = extract_plane(reorient_lps(lab, affine).array, plane, lps_index)
    return np.ascontiguousarray(lab_plane).astype(np.uint8, copy=False)


def show_slice(
    ax: Any,
    image: Volume | np.ndarray,
    labels: Volume | np.ndarray | None = None,
    *,
    affine: np.ndarray | None = None,
    spacing: tuple[float, float, float] | None = None,
    axcodes: str | None = None,
    plane: Plane = "axial",
    index: int | None = None,
    window: Window | None = "soft tissue",
    task: int = 1,
    organs: str | Iterable[str] = "all",
    opacity: float = 0.45,
    zoom: str | Iterable[str] | None = None,
    margin_mm: float = 10.0,
    legend: bool = True,
    letters: bool = True,
    scale_bar: bool = True,
    title: str | None = None,
    phantom: bool = False,
    fontsize: float = 8.0,
) -> SliceShown:
    """Draw one CT slice with its organs on ``ax`` in the kit's picture convention.

    ``image``/``labels``: a ``Volume``, or arrays with ``affine`` (voxel -> mm; the training
    cache's ``entry.meta.affine``) or ``axcodes`` (``"RAS"``, ``"LPS"``, ...) and ``spacing``
    (mm). ``index`` counts along the *stored* array axis that the plane holds fixed (default:
    the middle; with ``zoom``, the slice through those organs' centroid). ``window``: a preset
    name, (width, level) in HU, or None to stretch the plane's 1st..99th percentile (normalised
    arrays). ``organs`` limits the colours to a structure, group or list (one-hot labels in the
    fixed colours of :mod:`segrap_nb.viz.colors`; task 2: GTVp, GTVnd). ``zoom`` crops the view
    to the box of those organs in this slice plus ``margin_mm``. Draws the side letters, the
    slice index, a scale bar and, outside the axes on the right, a legend of the organs shown.
    """
    if plane not in PLANE_AXIS:
        raise ValueError(f"plane must be one of {PLANES}, got {plane!r}")
    ct, lab, aff = _image_and_labels(image, labels, affine=affine, spacing=spacing, axcodes=axcodes)
    ct_lps = reorient_lps(ct, aff)
    selection = resolve_organs("tumour (GTV)" if task == 2 and organs == "all" else organs)
    index, lps_index, n, zoom_ids = _pick_slice(ct_lps, lab, plane, index, zoom, task)
    grey = grey_levels(extract_plane(ct_lps.array, plane, lps_index), window)
    lab_plane = _label_plane(lab, aff, plane, lps_index)
    rgb, shown = _overlay(grey, lab_plane, selection, task, opacity)
    extent = plane_extent(ct_lps.array.shape, ct_lps.spacing, plane)
    _show_rgb(ax, rgb, extent)
    if zoom_ids and lab_plane is not None:
        _zoom_to(ax, np.isin(lab_plane, zoom_ids), plane_spacing(ct_lps.spacing, plane), extent, margin_mm)
    decorate(ax, plane, index=index, n_slices=n, letters=letters, scale_bar=scale_bar, fontsize=fontsize)
    if legend and shown:
        legend_beside(ax, shown, fontsize - 1)
    slice_title(ax, title, phantom, fontsize + 1)
    return SliceShown(plane, int(index), int(lps_index), int(n), shown)


def _outline_in_white_halo(ax: Any, mask: np.ndarray, affine: np.ndarray, lps_index: int) -> None:
    """Black outline (white halo: seen on bone and on air) of an axial mask slice, in mm."""
    from matplotlib import patheffects

    lps = reorient_lps(mask, affine)
    plane = extract_plane(lps.array, "axial", lps_index)
    dr, dc = plane_spacing(lps.spacing, "axial")
    rows, cols = (np.arange(n) + 0.5 for n in plane.shape)
    lines = ax.contour(
        cols * dc, rows * dr, plane.astype(float), levels=[0.5], colors="black", linewidths=1.4
    )
    lines.set_path_effects([patheffects.withStroke(linewidth=3.2, foreground="white")])


def plot_overlap(
    image: Volume | np.ndarray,
    labels: Volume | np.ndarray,
    outer: str,
    inner: Iterable[str],
    *,
    affine: np.ndarray | None = None,
    index: int | None = None,
    window: Window | None = "bone",
    margin_mm: float = 8.0,
    panel_inches: float = 3.2,
    title: str | None = None,
    phantom: bool = False,
) -> Any:
    """One axial slice twice: ``outer`` alone, then the ``inner`` structures with ``outer`` outlined.

    Shows on a single slice which structures lie inside an organ and which stick out of it (an
    overlap, not containment). ``index`` (stored slice index; default: the slice showing the most
    of the structures) and the crop (their box plus ``margin_mm``) are the same in both panels.
    """
    inner = list(inner)
    ct, lab, aff = _image_and_labels(image, labels, affine=affine, spacing=None, axcodes=None)
    lab = np.zeros(ct.shape, np.uint8) if lab is None else lab  # labels are required: never None
    lab = lab if lab.dtype == np.uint8 else lab.astype(np.uint8)
    src, _ = reorient_lps(ct, aff).stored_axis(PLANE_AXIS["axial"])
    if index is None:
        index = richest_slice(lab, [outer, *inner], 1, src, ct.shape[src] // 2)
    fig = figure(2 * panel_inches + 1.9, panel_inches + 0.7)
    axes = fig.subplots(1, 2)
    common: dict[str, Any] = dict(
        affine=aff, index=index, window=window, zoom=[outer, *inner], margin_mm=margin_mm, legend=False
    )
    show_slice(axes[0], ct, lab, organs=[outer], title=f"{outer} alone", **common)
    shown = show_slice(axes[1], ct, lab, organs=inner, title=f"the others, {outer} outlined", **common)
    _outline_in_white_halo(axes[1], L.structure_mask(lab, outer), aff, shown.lps_index)
    organ_legend(fig, [outer, *shown.organs], loc="center right", fontsize=7, title="drawn here")
    fig.suptitle(
        phantom_title(title or f"{outer} and the structures it overlaps: one axial slice", phantom),
        fontsize=9,
    )
    fig.subplots_adjust(left=0.01, right=1 - 1.8 / fig.get_figwidth(), bottom=0.02, top=0.85, wspace=0.06)
    return fig


def _side_groups(names: tuple[str, ...]) -> list[list[str]]:
    """Organs split by side, the patient's right first (unsided organs in each); all if no side."""
    sides = [[n for n in names if n.endswith("_R")], [n for n in names if n.endswith("_L")]]
    middle = [n for n in names if not n.endswith(("_L", "_R"))]
    return [g + middle for g in sides if g] or [list(names)]


def _side_title(plane: str, group: list[str]) -> str:
    """Panel title of a zoom: the plane, and the patient's side of a sided group."""
    side = "right" if group[0].endswith("_R") else "left" if group[0].endswith("_L") else ""
    return f"{plane}, patient's {side}" if side else plane


def plot_zoom(
    image: Volume | np.ndarray,
    labels: Volume | np.ndarray,
    organs: str | Iterable[str] = "inner ear",
    *,
    affine: np.ndarray | None = None,
    planes: Iterable[Plane] = ("axial", "coronal"),
    window: Window | None = "bone",
    task: int = 1,
    margin_mm: float = 12.0,
    opacity: float = 0.5,
    panel_inches: float = 2.8,
    title: str | None = None,
    phantom: bool = False,
) -> Any:
    """A zoom on small organs: each plane through their centroid, cropped around them.

    Organs with a side (``_L``/``_R``, e.g. the inner ear) are shown one side per column,
    the patient's right in the left column as on the screen. One legend for the figure.
    """
    names = resolve_organs(organs)
    groups = _side_groups(names)
    planes = tuple(planes)
    fig = figure(panel_inches * len(groups) + 1.8, panel_inches * len(planes) + 0.5)
    axes = np.atleast_2d(fig.subplots(len(planes), len(groups), squeeze=False))
    seen: list[str] = []
    common: dict[str, Any] = dict(
        affine=affine, window=window, task=task, margin_mm=margin_mm, opacity=opacity
    )
    for r, plane in enumerate(planes):
        for c, group in enumerate(groups):
            got = show_slice(
                axes[r, c], image, labels, plane=plane, organs=group, zoom=group, legend=False, **common
            )
            seen += [o for o in got.organs if o not in seen]
            axes[r, c].set_title(_side_title(plane, group), fontsize=9)
    if seen:
        organ_legend(fig, [o for o in names if o in seen], loc="center right", fontsize=8)
    what = organs if isinstance(organs, str) else ", ".join(names)
    fig.suptitle(phantom_title(title or f"zoom on the {what}", phantom), fontsize=10)
    right, top = 1 - 1.7 / fig.get_figwidth(), 1 - 0.55 / fig.get_figheight()
    fig.subplots_adjust(left=0.02, right=right, bottom=0.02, top=top, wspace=0.05, hspace=0.15)
    return fig


def _nearest_slice_with(
    lab_lps: np.ndarray, lut: np.ndarray, plane: Plane, index: int
) -> tuple[int, np.ndarray]:
    """(LPS index, 2D mask) of the slice nearest ``index`` that holds the organ: the centroid of
    a curved organ may miss it."""
    n_sl = lab_lps.shape[PLANE_AXIS[plane]]
    for off in sorted(range(-n_sl, n_sl), key=abs):
        k = index + off
        if 0 <= k < n_sl:
            mask = lut[extract_plane(lab_lps, plane, k)]
            if mask.any():
                return k, mask
    raise ValueError(f"no {plane} slice holds the organ")


def _absent_tile(ax: Any) -> None:
    """A tile that says the organ is absent from the case."""
    ax.text(0.5, 0.5, "absent", ha="center", va="center", fontsize=8, color="0.4", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _montage_tile(ax: Any, name: str, vols: tuple[Any, ...], plane: Plane, **kw: Any) -> None:
    """One montage tile: ``name`` at its centroid slice, cropped around it, filled and outlined.

    ``vols``: (stored labels, their slice counts, CT in LPS, labels in LPS); ``kw``: task,
    window, min_tile_mm, opacity.
    """
    lab, counts, ct_lps, lab_lps = vols
    ids = L.labels_of(name, kw["task"])
    com = label_centroid(lab, ids, counts)
    ax.set_title(name, fontsize=7, pad=2)
    if com is None:
        _absent_tile(ax)
        return
    lut = np.zeros(256, bool)
    lut[list(ids)] = True
    index = lab_lps.to_lps_index(com, lab.shape)[PLANE_AXIS[plane]]
    index, mask = _nearest_slice_with(lab_lps.array, lut, plane, index)
    spacing = plane_spacing(ct_lps.spacing, plane)
    centre, size = mask_crop(mask, spacing, kw["min_tile_mm"], 1.4)
    grey = apply_window(extract_plane(ct_lps.array, plane, index), *window_of(kw["window"], name))
    box = crop_box(centre, size, spacing, grey.shape)
    draw_panel(ax, grey, [(mask, color_of(name, 1.0))], box, spacing, kw["opacity"])
    decorate(ax, plane, index=index, fontsize=6.5)


def organ_montage(
    image: Volume | np.ndarray,
    onehot: Volume | np.ndarray,
    organs: str | Iterable[str] = "all",
    *,
    affine: np.ndarray | None = None,
    task: int = 1,
    plane: Plane = "axial",
    window: Window = "auto",
    ncols: int = 9,
    min_tile_mm: float = 30.0,
    tile_inches: float = 1.45,
    opacity: float = 0.35,
    dpi: int = DPI,
    title: str | None = None,
    phantom: bool = False,
) -> Any:
    """One tile per organ at its centroid slice, cropped around it, mask filled and outlined.

    ``window="auto"`` picks a bone window for the ear and bone organs, a brain window for the
    brain, soft tissue otherwise. Organs absent from the case get an empty "absent" tile.
    Each tile has the side letters, its slice index (LPS) and a scale bar.
    """
    ct, aff, _ = volume_parts(image, affine)
    lab = volume_parts(onehot, aff).array
    if lab.shape != ct.shape:
        raise ValueError(f"label map {lab.shape} and image {ct.shape} differ in shape")
    lab = lab if lab.dtype == np.uint8 else lab.astype(np.uint8)
    vols = (lab, label_slice_counts(lab), reorient_lps(ct, aff), reorient_lps(lab, aff))
    names = resolve_organs(organs)
    nrows = -(-len(names) // ncols)
    height = tile_inches * nrows * 1.12 + 0.3  # inches; 0.3 for the title
    fig = figure(tile_inches * ncols, height, dpi=dpi)
    tile: dict[str, Any] = dict(task=task, window=window, min_tile_mm=min_tile_mm, opacity=opacity)
    for n, name in enumerate(names):
        _montage_tile(fig.add_subplot(nrows, ncols, n + 1), name, vols, plane, **tile)
    fig.suptitle(
        phantom_title(title or f"{len(names)} organs, {plane} slice through each centroid", phantom),
        fontsize=9,
        y=1 - 0.05 / height,
        va="top",
    )
    fig.subplots_adjust(left=0.005, right=0.995, bottom=0.005, top=1 - 0.5 / height, wspace=0.04, hspace=0.22)
    return fig
