"""Static slice figures for print and exported HTML: one slice with its organs, a zoom on small
organs, an organ montage, and prediction vs ground truth.

Every one works on the LPS-reoriented volume (see :mod:`segrap_nb.viz.render`) and draws the
kit's one picture convention: the radiological view (axial: anterior up, the patient's left on
the screen's right; coronal and sagittal: superior up) with its side letters, true proportions
(extent in mm), the fixed organ colours of :mod:`segrap_nb.viz.colors` with a legend of the
organs shown, the slice index and a scale bar. Arrays in any orientation are accepted (the
release's LPS NIfTI, the training cache's RAS arrays): the affine says where each axis points.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from segrap_nb import labels as L
from segrap_nb.grid import bbox
from segrap_nb.io.nifti import Volume
from segrap_nb.viz._style import (
    ANNOTATION_COLOR,
    DPI,
    FN_COLOR,
    FP_COLOR,
    TP_COLOR,
    error_legend,
    organ_legend,
    phantom_title,
)
from segrap_nb.viz.colors import ORGAN_GROUPS, color_of, label_lut, label_owner, resolve_organs
from segrap_nb.viz.render import (
    PLANE_AXIS,
    PLANE_DIRECTIONS,
    PLANES,
    WINDOW_PRESETS,
    Plane,
    apply_window,
    compose_overlay,
    extract_plane,
    label_centroid,
    label_slice_counts,
    plane_extent,
    plane_spacing,
    reorient_lps,
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


_BONE_ORGANS = set(ORGAN_GROUPS["inner ear"] + ORGAN_GROUPS["middle ear"] + ORGAN_GROUPS["bones and joints"])
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


def _crop_box(
    centre: tuple[float, float], size_mm: float, spacing: tuple[float, float], shape: tuple[int, int]
) -> tuple[slice, slice]:
    """Row/col slices of a size_mm square around a (row, col) pixel, clamped to the image."""
    out = []
    for c, d, n in zip(centre, spacing, shape):
        half = max(int(round(size_mm / 2 / d)), 1)
        lo = int(min(max(round(c) - half, 0), max(n - 2 * half, 0)))
        out.append(slice(lo, min(lo + 2 * half, n)))
    return out[0], out[1]


def _show(
    ax: Any,
    grey: np.ndarray,
    masks: list[tuple[np.ndarray, tuple[float, ...]]],
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
            m = mask[rs, cs]
            if m.any() and min(m.shape) > 1:
                ax.contour(
                    m.astype(np.float32),
                    levels=[0.5],
                    colors=[rgb[:3]],
                    linewidths=0.8,
                    extent=extent,
                    origin="upper",
                )
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def _nice_length(span_mm: float) -> float:
    """A round scale-bar length (1, 2, 5 x 10^n mm) of at most a quarter of ``span_mm``."""
    target = max(span_mm / 4.0, 1e-3)
    power = 10.0 ** np.floor(np.log10(target))
    return float(max(m * power for m in (1.0, 2.0, 5.0) if m * power <= target))


def decorate(
    ax: Any,
    plane: Plane,
    *,
    index: int | None = None,
    n_slices: int | None = None,
    letters: bool = True,
    scale_bar: bool = True,
    fontsize: float = 8.0,
    color: str = ANNOTATION_COLOR,
) -> None:
    """Side letters (R/L, A/P, S/I), slice index (top left, "index/last") and a scale bar.

    The axes must show a plane of :mod:`segrap_nb.viz.render` with its extent in mm (x to the
    right, y downwards); call it after setting the final limits (the bar is a quarter of the
    visible width at most, rounded to 1, 2 or 5 x 10^n mm).
    """
    from matplotlib.patheffects import withStroke
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    halo = [withStroke(linewidth=2, foreground="black")]
    kw = dict(color=color, fontsize=fontsize, transform=ax.transAxes, fontweight="bold", path_effects=halo)
    if letters:
        top, bottom, left, right = PLANE_DIRECTIONS[plane]
        ax.text(0.5, 0.985, top, ha="center", va="top", **kw)
        ax.text(0.5, 0.015, bottom, ha="center", va="bottom", **kw)
        ax.text(0.015, 0.5, left, ha="left", va="center", **kw)
        ax.text(0.985, 0.5, right, ha="right", va="center", **kw)
    if index is not None:
        where = f"{index}" + (f"/{n_slices - 1}" if n_slices else "")  # short: beside a letter
        ax.text(
            0.015,
            0.985,
            where,
            ha="left",
            va="top",
            **{**kw, "fontsize": fontsize - 1, "fontweight": "normal"},
        )
    if scale_bar:
        x0, x1 = ax.get_xlim()
        y0, y1 = ax.get_ylim()
        length = _nice_length(abs(x1 - x0))
        label = f"{length:g} mm"
        bar = AnchoredSizeBar(
            ax.transData,
            length,
            label,
            "lower right",
            pad=0.3,
            color=color,
            frameon=False,
            size_vertical=abs(y1 - y0) / 150,
            fontproperties={"size": fontsize - 1},
        )
        bar.txt_label._text.set_path_effects(halo)
        ax.add_artist(bar)


def _affine_of(
    vol: Volume | np.ndarray, affine: Any, spacing: Any, axcodes: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """(array, voxel -> mm affine) of a Volume, or of an array with its affine or axis codes."""
    if isinstance(vol, Volume):
        return vol.array, np.asarray(vol.affine if affine is None else affine, float)
    arr = np.asarray(vol)
    if affine is not None:
        return arr, np.asarray(affine, float)
    if axcodes is None:
        raise ValueError(
            "a plain array needs affine= (voxel -> mm, e.g. a cache entry's "
            "meta.affine) or axcodes= (e.g. 'RAS') and spacing=; or pass a Volume"
        )
    world = {"R": (0, 1.0), "L": (0, -1.0), "A": (1, 1.0), "P": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}
    codes = str(axcodes).upper()
    if len(codes) != 3 or any(c not in world for c in codes) or {world[c][0] for c in codes} != {0, 1, 2}:
        raise ValueError(f"axcodes must name one of R/L, A/P, S/I per axis, got {axcodes!r}")
    sizes = tuple(spacing) if spacing is not None else (1.0, 1.0, 1.0)
    aff = np.zeros((4, 4))
    aff[3, 3] = 1.0
    for col, (code, size) in enumerate(zip(codes, sizes)):
        row, sign = world[code]
        aff[row, col] = sign * float(size)
    return arr, aff


def _grey(plane_values: np.ndarray, window: str | tuple[float, float] | None) -> np.ndarray:
    """uint8 grey levels of a plane: a CT window (name or (width, level) in HU), or None to
    stretch the 1st..99th percentile of the plane (for normalised arrays, e.g. the cache's)."""
    if window is None:
        lo, hi = np.percentile(plane_values, (1, 99)) if plane_values.size else (0.0, 1.0)
        width = float(hi - lo) or 1.0
        return apply_window(plane_values.astype(np.float32), width, float(lo) + width / 2)
    width, level = WINDOW_PRESETS[window] if isinstance(window, str) else window
    return apply_window(plane_values, float(width), float(level))


def _richest_slice(lab: np.ndarray, organs: Iterable[str], task: int, axis: int, default: int) -> int:
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


@dataclass
class SliceShown:
    """What :func:`show_slice` drew: the plane, its slice (stored and LPS index) and organs."""

    plane: Plane
    index: int
    lps_index: int
    n_slices: int
    organs: tuple[str, ...]


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
    window: str | tuple[float, float] | None = "soft tissue",
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
    ct, aff = _affine_of(image, affine, spacing, axcodes)
    if ct.ndim != 3:
        raise ValueError(f"expected a 3D image, got shape {ct.shape}")
    lab = None
    if labels is not None:
        lab, _ = _affine_of(labels, aff, None, None)
        if lab.shape != ct.shape:
            raise ValueError(f"labels {lab.shape} and image {ct.shape} differ in shape")
    ct_lps = reorient_lps(ct, aff)
    axis = PLANE_AXIS[plane]
    src, flipped = ct_lps.stored_axis(axis)
    n = ct.shape[src]
    if task == 2 and organs == "all":
        organs = "tumour (GTV)"
    shown_sel = resolve_organs(organs)
    zoom_ids: list[int] = []
    if zoom is not None:
        if lab is None:
            raise ValueError("zoom= needs labels")
        zoom_ids = sorted({k for o in resolve_organs(zoom) for k in L.labels_of(o, task)})
    if index is None:
        index = n // 2
        if zoom_ids and lab is not None:
            index = _richest_slice(lab, resolve_organs(zoom), task, src, index)
    if not 0 <= index < n:
        raise IndexError(f"{plane} index {index} outside 0..{n - 1} (stored axis {src})")
    lps_index = n - 1 - index if flipped else index
    grey = _grey(extract_plane(ct_lps.array, plane, lps_index), window)
    shown: tuple[str, ...] = ()
    lab_plane = None
    if lab is not None:
        lab_plane = extract_plane(reorient_lps(lab, aff).array, plane, lps_index)
        lab_plane = np.ascontiguousarray(lab_plane).astype(np.uint8, copy=False)
        owner = label_owner(shown_sel, task)
        present = {int(k) for k in np.unique(lab_plane) if k}
        found = {owner[k] for k in present if k in owner}
        shown = tuple(o for o in shown_sel if o in found)
        rgb = compose_overlay(grey, lab_plane, label_lut(shown_sel, task), opacity)
    else:
        rgb = compose_overlay(grey, None, None)
    extent = plane_extent(ct_lps.array.shape, ct_lps.spacing, plane)
    ax.imshow(rgb, extent=extent, interpolation="nearest")
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("black")
    if zoom_ids and lab_plane is not None:
        hit = np.isin(lab_plane, zoom_ids)
        if hit.any():
            dr, dc = plane_spacing(ct_lps.spacing, plane)
            rows, cols = np.nonzero(hit)
            ax.set_xlim(
                max(cols.min() * dc - margin_mm, extent[0]), min((cols.max() + 1) * dc + margin_mm, extent[1])
            )
            ax.set_ylim(
                min((rows.max() + 1) * dr + margin_mm, extent[2]), max(rows.min() * dr - margin_mm, extent[3])
            )
    decorate(ax, plane, index=index, n_slices=n, letters=letters, scale_bar=scale_bar, fontsize=fontsize)
    if legend and shown:
        organ_legend(
            ax,
            shown,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            ncol=1 if len(shown) <= 16 else 2,
            fontsize=fontsize - 1,
        )
    if title is not None or phantom:
        ax.set_title(phantom_title(title or "", phantom), fontsize=fontsize + 1)
    return SliceShown(plane, int(index), int(lps_index), int(n), shown)


def plot_overlap(
    image: Volume | np.ndarray,
    labels: Volume | np.ndarray,
    outer: str,
    inner: Iterable[str],
    *,
    affine: np.ndarray | None = None,
    index: int | None = None,
    window: str | tuple[float, float] | None = "bone",
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
    from matplotlib.figure import Figure

    inner = list(inner)
    ct, aff = _affine_of(image, affine, None, None)
    lab, _ = _affine_of(labels, aff, None, None)
    lab = lab if lab.dtype == np.uint8 else lab.astype(np.uint8)
    src, _ = reorient_lps(ct, aff).stored_axis(PLANE_AXIS["axial"])
    if index is None:
        index = _richest_slice(lab, [outer, *inner], 1, src, ct.shape[src] // 2)
    fig = Figure(figsize=(2 * panel_inches + 1.9, panel_inches + 0.7), dpi=DPI, facecolor="white")
    axes = fig.subplots(1, 2)
    common: dict[str, Any] = dict(
        index=index, window=window, zoom=[outer, *inner], margin_mm=margin_mm, phantom=False
    )
    show_slice(axes[0], ct, lab, affine=aff, organs=[outer], title=f"{outer} alone", legend=False, **common)
    shown = show_slice(
        axes[1],
        ct,
        lab,
        affine=aff,
        organs=inner,
        title=f"the others, {outer} outlined",
        legend=False,
        **common,
    )
    lps = reorient_lps(L.structure_mask(lab, outer), aff)
    plane = extract_plane(lps.array, "axial", shown.lps_index)
    dr, dc = plane_spacing(lps.spacing, "axial")
    rows, cols = (np.arange(n) + 0.5 for n in plane.shape)
    from matplotlib import patheffects

    halo = [patheffects.withStroke(linewidth=3.2, foreground="white")]  # seen on bone and on air
    lines = axes[1].contour(
        cols * dc, rows * dr, plane.astype(float), levels=[0.5], colors="black", linewidths=1.4
    )
    lines.set_path_effects(halo)
    organ_legend(fig, [outer, *shown.organs], loc="center right", fontsize=7, title="drawn here")
    fig.suptitle(
        phantom_title(title or f"{outer} and the structures it overlaps: one axial slice", phantom),
        fontsize=9,
    )
    fig.subplots_adjust(left=0.01, right=1 - 1.8 / fig.get_figwidth(), bottom=0.02, top=0.85, wspace=0.06)
    return fig


def plot_zoom(
    image: Volume | np.ndarray,
    labels: Volume | np.ndarray,
    organs: str | Iterable[str] = "inner ear",
    *,
    affine: np.ndarray | None = None,
    planes: Iterable[Plane] = ("axial", "coronal"),
    window: str | tuple[float, float] | None = "bone",
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
    from matplotlib.figure import Figure

    names = resolve_organs(organs)
    sides = [[n for n in names if n.endswith("_R")], [n for n in names if n.endswith("_L")]]
    middle = [n for n in names if not n.endswith(("_L", "_R"))]
    groups = [g + middle for g in sides if g] or [list(names)]
    planes = tuple(planes)
    fig = Figure(
        figsize=(panel_inches * len(groups) + 1.8, panel_inches * len(planes) + 0.5),
        dpi=DPI,
        facecolor="white",
    )
    axes = np.atleast_2d(fig.subplots(len(planes), len(groups), squeeze=False))
    seen: list[str] = []
    for r, plane in enumerate(planes):
        for c, group in enumerate(groups):
            got = show_slice(
                axes[r, c],
                image,
                labels,
                affine=affine,
                plane=plane,
                window=window,
                task=task,
                organs=group,
                zoom=group,
                margin_mm=margin_mm,
                opacity=opacity,
                legend=False,
            )
            seen += [o for o in got.organs if o not in seen]
            side = "right" if group[0].endswith("_R") else "left" if group[0].endswith("_L") else ""
            axes[r, c].set_title(f"{plane}, patient's {side}" if side else plane, fontsize=9)
    if seen:
        organ_legend(fig, [o for o in names if o in seen], loc="center right", fontsize=8)
    what = organs if isinstance(organs, str) else ", ".join(names)
    fig.suptitle(phantom_title(title or f"zoom on the {what}", phantom), fontsize=10)
    fig.subplots_adjust(
        left=0.02,
        right=1 - 1.7 / fig.get_figwidth(),
        bottom=0.02,
        top=1 - 0.55 / fig.get_figheight(),
        wspace=0.05,
        hspace=0.15,
    )
    return fig


def organ_montage(
    image: Volume | np.ndarray,
    onehot: Volume | np.ndarray,
    organs: str | Iterable[str] = "all",
    *,
    affine: np.ndarray | None = None,
    task: int = 1,
    plane: Plane = "axial",
    window: str | tuple[float, float] = "auto",
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
            ax.text(
                0.5, 0.5, "absent", ha="center", va="center", fontsize=8, color="0.4", transform=ax.transAxes
            )
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
        decorate(ax, plane, index=index, fontsize=6.5)
    fig.suptitle(
        phantom_title(title or f"{len(names)} organs, {plane} slice through each centroid", phantom),
        fontsize=9,
        y=1 - 0.05 / height,
        va="top",
    )
    fig.subplots_adjust(left=0.005, right=0.995, bottom=0.005, top=1 - 0.5 / height, wspace=0.04, hspace=0.22)
    return fig


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
    window: str | tuple[float, float] = "auto",
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
    from matplotlib.figure import Figure

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
    boxes = [b for b in (bbox(p_mask), bbox(g_mask)) if b is not None]
    box = (
        tuple(slice(min(b[a].start for b in boxes), max(b[a].stop for b in boxes)) for a in range(3))
        if boxes
        else None
    )
    pc = p_mask[box] if box else np.zeros((0, 0, 0), bool)
    gc = g_mask[box] if box else np.zeros((0, 0, 0), bool)
    n_p, n_g, both = int(pc.sum()), int(gc.sum()), int(np.count_nonzero(pc & gc))
    if index is None:
        index = ct_lps.array.shape[axis] // 2
        if box:
            src, flipped = ct_lps.stored_axis(axis)
            others = tuple(a for a in range(3) if a != src)
            errors = np.count_nonzero(pc ^ gc, axis=others)
            if not errors.any():
                errors = np.count_nonzero(pc | gc, axis=others)
            per_slice = np.zeros(ct.shape[src], np.int64)
            per_slice[box[src]] = errors
            index = int(np.argmax(per_slice[::-1] if flipped else per_slice))
    dr, dc = plane_spacing(ct_lps.spacing, plane)
    gp, pp = extract_plane(g_lps, plane, index), extract_plane(p_lps, plane, index)
    grey = apply_window(
        extract_plane(ct_lps.array, plane, index),
        *_window_of(window, label if isinstance(label, str) else None),
    )
    union = gp | pp
    if crop_mm == 0 or (crop_mm is None and not union.any()):
        box = (slice(0, grey.shape[0]), slice(0, grey.shape[1]))
    else:
        rows, cols = (
            np.nonzero(union)
            if union.any()
            else (np.array([grey.shape[0] // 2]), np.array([grey.shape[1] // 2]))
        )
        centre = ((rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2)
        size = crop_mm or max(40.0, 1.5 * max((np.ptp(rows) + 1) * dr, (np.ptp(cols) + 1) * dc))
        box = _crop_box(centre, size, (dr, dc), grey.shape)
    single = (
        structure_or_labels
        if isinstance(structure_or_labels, str) and structure_or_labels in L.OAR_TO_ONEHOT
        else None
    )
    colour = color_of(single, 1.0) if single else (1.0, 0.85, 0.0)
    fig = Figure(figsize=(panel_inches * 3, panel_inches * 1.25), dpi=dpi)
    axes = fig.subplots(1, 3)
    n_slices = ct_lps.array.shape[axis]
    _show(axes[0], grey, [(gp, colour)], box, (dr, dc), opacity)
    axes[0].set_title("ground truth", fontsize=9)
    _show(axes[1], grey, [(pp, colour)], box, (dr, dc), opacity)
    axes[1].set_title("prediction", fontsize=9)
    _show(
        axes[2],
        grey,
        [(gp & pp, TP_COLOR), (pp & ~gp, FP_COLOR), (gp & ~pp, FN_COLOR)],
        box,
        (dr, dc),
        max(opacity, 0.6),
        contour=False,
    )
    axes[2].set_title("difference", fontsize=9)
    for ax in axes:
        decorate(ax, plane, index=index, n_slices=n_slices)
    vox = float(np.prod(ct_lps.spacing))
    fp, fn = n_p - both, n_g - both
    dsc = 1.0 if n_p + n_g == 0 else 2.0 * both / (n_p + n_g)
    below = dict(loc="upper center", bbox_to_anchor=(0.5, -0.01), fontsize=7, frameon=False)
    if single:
        organ_legend(axes[0], [single], **below)
    else:
        from matplotlib.patches import Patch

        axes[0].legend(handles=[Patch(color=colour, label=label)], **below)
    error_legend(axes[2], ncol=3, handlelength=1.0, columnspacing=0.8, **below)
    numbers = (
        f"\n3D Dice {dsc:.3f}   FP {fp} voxels ({fp * vox / 1000:.3f} cm³)"
        f"   FN {fn} voxels ({fn * vox / 1000:.3f} cm³)"
    )
    fig.suptitle(
        phantom_title(title or f"{label}: {plane} slice {index}", phantom) + (numbers if counts else ""),
        fontsize=9,
    )
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.1, top=0.8, wspace=0.04)
    return fig
