"""Drawing an anatomy on a voxel grid: the grid (LPS mm) and the painter of label and tissue maps."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from segrap_nb.phantom.anatomy import Anatomy, Op
from segrap_nb.phantom.shapes import INF


@dataclass(frozen=True)
class VoxelGrid:
    """Axis-aligned voxel grid: voxel (i, j, k) centre = origin + (i, j, k) * spacing (LPS mm)."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]

    @property
    def affine(self) -> np.ndarray:
        """NIfTI voxel -> RAS mm affine. Axis codes ('L', 'P', 'S'): i grows to patient left."""
        sx, sy, sz = self.spacing
        ox, oy, oz = self.origin
        return np.array([[-sx, 0, 0, -ox], [0, -sy, 0, -oy], [0, 0, sz, oz], [0, 0, 0, 1.0]])

    def axis(self, a: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """LPS coordinates (mm) of the voxel centres ``start:stop`` along axis ``a``."""
        stop = self.shape[a] if stop is None else stop
        return self.origin[a] + self.spacing[a] * np.arange(start, stop, dtype=np.float64)

    def box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice, slice] | None:
        """Voxel index slices of the voxel centres inside the mm box [lo, hi], or None."""
        out = []
        for a in range(3):
            s, o, n = self.spacing[a], self.origin[a], self.shape[a]
            i0 = max(0, math.ceil((max(lo[a], -INF) - o) / s - 1e-9))
            i1 = min(n, math.floor((min(hi[a], INF) - o) / s + 1e-9) + 1)
            if i1 <= i0:
                return None
            out.append(slice(i0, i1))
        return tuple(out)  # type: ignore[return-value]


def rasterize(
    anatomy: Anatomy, grid: VoxelGrid, chunk_voxels: int = 1_000_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paint an anatomy on a grid: (Task001, Task002, tissue) maps, uint8, (i, j, k), F order.

    Each shape is evaluated only on its bounding box, in slabs of at most ``chunk_voxels``.
    """
    lab = np.zeros(grid.shape, np.uint8, order="F")
    gtv = np.zeros(grid.shape, np.uint8, order="F")
    tis = np.zeros(grid.shape, np.uint8, order="F")
    for op in anatomy.ops:
        _paint(op, grid, (lab, gtv, tis), chunk_voxels)
    if anatomy.absent:
        table = np.arange(256, dtype=np.uint8)
        for old, new in anatomy.absent.items():
            table[old] = new
        lab[...] = table[lab]
    return lab, gtv, tis


def _member_table(values: Iterable[int] | None) -> np.ndarray | None:
    """A 256-entry bool table, True at ``values`` (None for None: no restriction)."""
    if values is None:
        return None
    table = np.zeros(256, bool)
    table[list(values)] = True
    return table


def _paint(
    op: Op, grid: VoxelGrid, maps: tuple[np.ndarray, np.ndarray, np.ndarray], chunk_voxels: int
) -> None:
    """Apply one paint operation to the (label, GTV, tissue) maps, slab by slab inside its box."""
    box = grid.box(op.shape.lo, op.shape.hi)
    if box is None:
        return
    lab, gtv, tis = maps
    bi, bj, bk = box
    x = grid.axis(0, bi.start, bi.stop)[:, None, None]
    y = grid.axis(1, bj.start, bj.stop)[None, :, None]
    lut = op.label_lut()
    where, wt = _member_table(op.where), _member_table(op.where_tissue)
    step = max(1, chunk_voxels // max(1, (bi.stop - bi.start) * (bj.stop - bj.start)))
    for k0 in range(bk.start, bk.stop, step):
        k1 = min(bk.stop, k0 + step)
        z = grid.axis(2, k0, k1)[None, None, :]
        m = op.shape.inside(x, y, z)
        sl = (bi, bj, slice(k0, k1))
        sub = lab[sl]
        if m.shape != sub.shape:  # e.g. a slab: constant along some axes
            m = np.broadcast_to(m, sub.shape).copy()
        if where is not None:
            m &= where[sub]
        if wt is not None:
            m &= wt[tis[sl]]
        if not m.any():
            continue
        if lut is not None:
            sub[m] = lut[sub[m]]
        if op.tissue is not None:
            tis[sl][m] = op.tissue
        if op.gtv is not None:
            gtv[sl][m] = op.gtv
