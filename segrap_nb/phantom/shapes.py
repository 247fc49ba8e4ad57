"""Solids in patient mm for the phantom: ellipsoids, capsules, z-tubes, slabs and their combinations.

Coordinates are patient LPS in mm (``x`` to the patient's left, ``y`` posterior, ``z``
superior). Each shape knows its bounding box (``lo``, ``hi``) and which points lie inside it,
so it can be drawn on any voxel grid (:mod:`segrap_nb.phantom.raster`).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

#: Stands for an unbounded side of a slab, mm.
INF = 1e9


class Shape:
    """A solid in patient mm: ``bounds()`` (lo, hi corners) and ``inside(x, y, z)`` (bool)."""

    lo: np.ndarray
    hi: np.ndarray

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Bool array (broadcast of x (n,1,1), y (1,m,1), z (1,1,p)) of points inside, mm."""
        raise NotImplementedError

    def __and__(self, other: Shape) -> Shape:
        return Intersect(self, other)

    def __or__(self, other: Shape) -> Shape:
        return Union(self, other)

    def __sub__(self, other: Shape) -> Shape:
        return Diff(self, other)


def rotation(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """Rotation matrix (degrees): yaw about z, then pitch about x, then roll about y."""
    a, b, c = (math.radians(v) for v in (yaw, pitch, roll))
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    ry = np.array([[math.cos(c), 0, math.sin(c)], [0, 1, 0], [-math.sin(c), 0, math.cos(c)]])
    return rz @ rx @ ry


class Ellipsoid(Shape):
    """Ellipsoid with centre ``c`` and semi-axes ``r`` (mm); ``rot`` columns = its axes."""

    def __init__(self, c: ArrayLike, r: ArrayLike, rot: np.ndarray | None = None):
        self.c = np.asarray(c, float)
        self.r = np.maximum(np.asarray(r, float), 1e-3)
        self.rot = None if rot is None or np.allclose(rot, np.eye(3)) else np.asarray(rot, float)
        if self.rot is None:
            half = self.r
        else:
            half = np.sqrt(((self.rot * self.r[None, :]) ** 2).sum(axis=1))
        self.lo, self.hi = self.c - half, self.c + half

    def inside(self, x, y, z):
        dx, dy, dz = x - self.c[0], y - self.c[1], z - self.c[2]
        if self.rot is None:
            return (dx / self.r[0]) ** 2 + (dy / self.r[1]) ** 2 + (dz / self.r[2]) ** 2 <= 1.0
        q = 0.0
        for j in range(3):
            u = self.rot[0, j] * dx + self.rot[1, j] * dy + self.rot[2, j] * dz
            q = q + (u / self.r[j]) ** 2
        return q <= 1.0


class Capsule(Shape):
    """Tube of radius ``r`` (mm) around the segment a-b, with round ends."""

    def __init__(self, a: ArrayLike, b: ArrayLike, r: float):
        self.a, self.b, self.r = np.asarray(a, float), np.asarray(b, float), float(r)
        self.lo = np.minimum(self.a, self.b) - self.r
        self.hi = np.maximum(self.a, self.b) + self.r

    def inside(self, x, y, z):
        d = self.b - self.a
        dd = float(d @ d) or 1e-9
        px, py, pz = x - self.a[0], y - self.a[1], z - self.a[2]
        t = np.clip((px * d[0] + py * d[1] + pz * d[2]) / dd, 0.0, 1.0)
        return (px - t * d[0]) ** 2 + (py - t * d[1]) ** 2 + (pz - t * d[2]) ** 2 <= self.r**2


class ZTube(Shape):
    """Elliptic cross-section (centre cx, cy; semi-axes a, b in mm) interpolated along z."""

    def __init__(self, z: ArrayLike, cx: ArrayLike, cy: ArrayLike, a: ArrayLike, b: ArrayLike):
        n = np.asarray(z).size
        arr = [np.broadcast_to(np.asarray(v, float), (n,)).copy() for v in (z, cx, cy, a, b)]
        order = np.argsort(arr[0], kind="stable")
        self.z, self.cx, self.cy, self.a, self.b = (v[order] for v in arr)
        self.lo = np.array([(self.cx - self.a).min(), (self.cy - self.b).min(), self.z[0]])
        self.hi = np.array([(self.cx + self.a).max(), (self.cy + self.b).max(), self.z[-1]])

    def inside(self, x, y, z):
        zz = z.reshape(-1)
        valid = (zz >= self.z[0]) & (zz <= self.z[-1])
        cx, cy, a, b = (np.interp(zz, self.z, v).reshape(z.shape) for v in (self.cx, self.cy, self.a, self.b))
        a, b = np.maximum(a, 1e-3), np.maximum(b, 1e-3)
        return (((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1.0) & valid.reshape(z.shape)


class Slab(Shape):
    """All points with ``lo <= coordinate[axis] <= hi`` (mm); unbounded along the other axes."""

    def __init__(self, axis: int, lo: float = -INF, hi: float = INF):
        self.axis, self.vlo, self.vhi = axis, float(lo), float(hi)
        self.lo = np.full(3, -INF)
        self.hi = np.full(3, INF)
        self.lo[axis], self.hi[axis] = self.vlo, self.vhi

    def inside(self, x, y, z):
        v = (x, y, z)[self.axis]
        return (v >= self.vlo) & (v <= self.vhi)


class Cells(Shape):
    """Periodic air-cell pattern (unbounded): product of sines above a threshold."""

    def __init__(self, period: ArrayLike, phase: ArrayLike, threshold: float):
        self.period, self.phase = np.asarray(period, float), np.asarray(phase, float)
        self.threshold = threshold
        self.lo, self.hi = np.full(3, -INF), np.full(3, INF)

    def inside(self, x, y, z):
        p = self.period
        s = (
            np.sin(2 * np.pi * x / p[0] + self.phase[0])
            * np.sin(2 * np.pi * y / p[1] + self.phase[1])
            * np.sin(2 * np.pi * z / p[2] + self.phase[2])
        )
        return s > self.threshold


class Intersect(Shape):
    """Points inside every one of the shapes."""

    def __init__(self, *parts: Shape):
        self.parts = parts
        self.lo = np.max([p.lo for p in parts], axis=0)
        self.hi = np.min([p.hi for p in parts], axis=0)

    def inside(self, x, y, z):
        out = self.parts[0].inside(x, y, z)
        for p in self.parts[1:]:
            out = out & p.inside(x, y, z)
        return out


class Union(Shape):
    """Points inside any of the shapes."""

    def __init__(self, *parts: Shape):
        self.parts = parts
        self.lo = np.min([p.lo for p in parts], axis=0)
        self.hi = np.max([p.hi for p in parts], axis=0)

    def inside(self, x, y, z):
        out = self.parts[0].inside(x, y, z)
        for p in self.parts[1:]:
            out = out | p.inside(x, y, z)
        return out


class Diff(Shape):
    """Points inside ``a`` but not inside ``b``."""

    def __init__(self, a: Shape, b: Shape):
        self.a, self.b = a, b
        self.lo, self.hi = a.lo, a.hi

    def inside(self, x, y, z):
        return self.a.inside(x, y, z) & ~self.b.inside(x, y, z)
