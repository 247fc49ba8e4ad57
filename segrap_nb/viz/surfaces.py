"""3D surfaces of chosen organs: marching cubes in physical mm, drawn with matplotlib's mplot3d.

No browser-side viewer is involved, so the figures appear in exported HTML, PDF and print.
Each organ mask is cropped to its bounding box, lightly smoothed and resampled to nearly
isotropic voxels (SegRap slices are 3 mm thick, pixels 0.5 mm: without this the surfaces
are staircases), then meshed with ``skimage.measure.marching_cubes``. Vertices are mapped to
the scanner's world coordinates with the NIfTI affine (RAS+: x towards the patient's right,
y anterior, z superior, in mm).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy import ndimage

from segrap_nb import labels as L
from segrap_nb.grid import bbox, spacing_mm
from segrap_nb.io.nifti import Volume
from segrap_nb.viz._style import DPI, figure, organ_legend, phantom_title
from segrap_nb.viz.colors import color_of, resolve_organs
from segrap_nb.viz.render import volume_parts


def organ_mesh(
    mask: np.ndarray,
    affine: np.ndarray,
    *,
    smooth_mm: float = 0.8,
    resolution_mm: float | None = None,
    max_samples: int = 90,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Triangle mesh of a binary mask: (vertices (N, 3) in world mm, faces (M, 3)); None if empty.

    ``resolution_mm`` is the voxel size the mask is resampled to before meshing (default: the
    finest spacing, coarsened so that the longest side of the organ has about ``max_samples``
    samples, which bounds the triangle count for big organs like the brain).
    """
    from skimage.measure import marching_cubes

    found = bbox(np.asarray(mask).astype(bool, copy=False))
    if found is None:
        return None
    spacing = np.asarray(spacing_mm(affine))
    pad = 2
    box = tuple(slice(max(s.start - pad, 0), min(s.stop + pad, n)) for s, n in zip(found, mask.shape))
    crop = np.zeros(tuple(s.stop - s.start + 2 * pad for s in box), dtype=np.float32)
    inner = tuple(slice(pad, pad + s.stop - s.start) for s in box)
    crop[inner] = np.asarray(mask[box], dtype=np.float32)  # zero border: closed surfaces
    if smooth_mm > 0:
        crop = ndimage.gaussian_filter(crop, sigma=smooth_mm / spacing, mode="constant")
    extent_mm = np.array(crop.shape) * spacing
    res = resolution_mm or max(float(spacing.min()), float(extent_mm.max()) / max_samples)
    zoom = np.maximum(spacing / res, 1e-3)
    fine = ndimage.zoom(crop, zoom, order=1, grid_mode=False)
    if fine.max() < 0.5:  # a one-voxel speck smoothed away: mesh the unsmoothed crop instead
        fine = ndimage.zoom((crop > 0).astype(np.float32), zoom, order=0, grid_mode=False)
        if fine.max() < 0.5:
            return None
    verts, faces, _normals, _values = marching_cubes(fine, level=0.5)
    # Output index -> input index (zoom maps corner to corner) -> stored voxel index -> world mm.
    scale = (np.array(crop.shape) - 1) / np.maximum(np.array(fine.shape) - 1, 1)
    ijk = verts * scale + np.array([s.start for s in box]) - pad
    world = ijk @ np.asarray(affine, float)[:3, :3].T + np.asarray(affine, float)[:3, 3]
    return world.astype(np.float32), faces.astype(np.int32)


def _shaded(rgb: tuple[float, ...], tris: np.ndarray, light=(0.4, 0.8, 0.6)) -> np.ndarray:
    """Per-face RGB with simple Lambert shading (normals from the triangle corners)."""
    n = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    lvec = np.asarray(light, float) / np.linalg.norm(light)
    shade = 0.45 + 0.55 * np.abs(n @ lvec)
    return np.clip(np.asarray(rgb)[None, :3] * shade[:, None], 0, 1)


#: Up to this many organs the legend sits inside the 3D axes; more go beside it, in columns.
LEGEND_INSIDE = 12


def _alpha_of(name: str, names: tuple[str, ...], task: int, alpha: float | dict[str, float] | None) -> float:
    """Opacity of one organ's surface: given, per organ, or 0.3 around another shown organ, else 0.9."""
    if isinstance(alpha, dict):
        return alpha.get(name, 0.9)
    if alpha is not None:
        return float(alpha)
    inner = set(L.labels_of(name, task))
    contains = any(o != name and set(L.labels_of(o, task)) < inner for o in names)
    return 0.3 if contains else 0.9


def _add_surfaces(
    ax: Any, arr: np.ndarray, affine: np.ndarray, names: tuple[str, ...], **kw: Any
) -> list[str]:
    """Add each organ's shaded surface to a 3D axes and fit equal-mm limits around them all;
    the names of the organs absent from ``arr`` are returned (``kw``: task, alpha, smooth_mm)."""
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    lows, highs, absent = [], [], []
    for name in names:
        mesh = organ_mesh(L.structure_mask(arr, name, kw["task"]), affine, smooth_mm=kw["smooth_mm"])
        if mesh is None:
            absent.append(name)
            continue
        verts, faces = mesh
        tris = verts[faces]
        a = _alpha_of(name, names, kw["task"], kw["alpha"])
        shade = _shaded(color_of(name, 1.0), tris)
        ax.add_collection3d(Poly3DCollection(tris, facecolors=shade, edgecolors="none", alpha=a))
        lows.append(verts.min(axis=0))
        highs.append(verts.max(axis=0))
    if lows:
        lo, hi = np.min(lows, axis=0), np.max(highs, axis=0)
        centre, ranges = (lo + hi) / 2, np.maximum(hi - lo, 2.0) * 1.05
        for setter, c, r in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre, ranges):
            setter(c - r / 2, c + r / 2)
        ax.set_box_aspect(tuple(ranges), zoom=1.0)  # equal mm on all three axes
    return absent


def _world_axes(ax: Any, elev: float, azim: float) -> None:
    """Label the 3D axes in world mm (RAS+), four ticks each, and set the view angles (degrees)."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("x (mm) → right", fontsize=8)
    ax.set_ylabel("y (mm) → anterior", fontsize=8)
    ax.set_zlabel("z (mm) → superior", fontsize=8)
    ax.tick_params(labelsize=6, pad=0)
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(4))
    ax.view_init(elev=elev, azim=azim)


def _surface_legend(fig: Any, ax: Any, shown: list[str], made_figure: bool) -> None:
    """Legend inside the 3D axes up to :data:`LEGEND_INSIDE` organs, else beside it in columns
    of at most 16 names (on a figure made here, the axes keep the left part)."""
    if len(shown) <= LEGEND_INSIDE:
        organ_legend(ax, shown, loc="upper left")
        return
    columns = -(-len(shown) // 16)
    if made_figure:
        fig.subplots_adjust(left=0.0, right=0.55)
        organ_legend(fig, shown, loc="center right", ncol=columns, fontsize=6)
    else:
        organ_legend(ax, shown, loc="upper left", bbox_to_anchor=(1.08, 1.0), ncol=columns, fontsize=6)


def plot_surfaces(
    onehot: Volume | np.ndarray,
    organs: str | Iterable[str] = "inner ear",
    *,
    affine: np.ndarray | None = None,
    task: int | None = None,
    ax: Any = None,
    alpha: float | dict[str, float] | None = None,
    elev: float = 25.0,
    azim: float = 120.0,
    smooth_mm: float = 0.8,
    figsize: tuple[float, float] = (6.0, 5.0),
    dpi: int = DPI,
    title: str | None = None,
    legend: bool = True,
    phantom: bool = False,
) -> Any:
    """Matplotlib figure with the 3D surfaces of the chosen organs (names or a group), in mm.

    ``onehot`` is the uint8 one-hot map (a ``Volume``, or an array with ``affine``). Organs
    absent from the case are listed in the title. ``alpha`` defaults to 0.3 for an organ that
    contains another shown organ (the middle ear around the cochlea, the eye around the lens)
    and 0.9 otherwise. ``phantom=True`` tags the title. Returns the figure.
    """
    arr, aff, _ = volume_parts(onehot, affine)
    arr = arr if arr.dtype == np.uint8 else arr.astype(np.uint8)
    names = resolve_organs(organs)
    if task is None:
        task = 2 if all(n in L.GTV_NAMES for n in names) else 1
    made_figure = ax is None
    fig = figure(*figsize, dpi=dpi) if made_figure else ax.figure
    if made_figure:
        ax = fig.add_subplot(projection="3d")
    absent = _add_surfaces(ax, arr, aff, names, task=task, alpha=alpha, smooth_mm=smooth_mm)
    shown = [n for n in names if n not in absent]
    _world_axes(ax, elev, azim)
    text = title if title is not None else (organs if isinstance(organs, str) else "organs")
    if absent:
        text += f"\n(absent: {', '.join(absent)})"
    ax.set_title(phantom_title(text, phantom), fontsize=9)
    if legend and shown:
        _surface_legend(fig, ax, shown, made_figure)
    return fig
