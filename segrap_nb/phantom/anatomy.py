"""Synthetic head-and-neck anatomy for the phantom: shapes in patient mm, painted in order.

Coordinates are **patient LPS in mm**: ``x`` grows towards the patient's *left*, ``y`` towards
*posterior*, ``z`` towards *superior* (the DICOM convention). The origin is on the midline at
about the level of the external ear canals. Every structure is an ellipsoid, a capsule (tube
with round ends), a ``ZTube`` (an elliptic cross-section that changes with ``z``), or a boolean
combination of these, so the same anatomy can be drawn on any voxel grid.

:func:`build_anatomy` draws one random patient (sizes, positions, tumour, nodes) and returns the
ordered list of paint operations; :func:`rasterize` paints them on a grid, each shape evaluated
on its own bounding box only. Label painting follows the official 54-label table: an operation
that paints a structure over a region of another structure writes the overlap label
(e.g. the hippocampus painted over the temporal lobe writes label 6), so the one-hot map is
consistent with the 45 OAR masks by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from segrap_nb import labels as L

# --------------------------------------------------------------------------------------------
# Tissue classes: id -> (name, HU on the plain CT, contrast group). The contrast CT adds the
# case's enhancement of the group (0 for brain, fat, bone, air...).
# --------------------------------------------------------------------------------------------
TISSUES: dict[int, tuple[str, float, str]] = {}


def _tissue(tid: int, name: str, hu: float, group: str = "none") -> int:
    TISSUES[tid] = (name, hu, group)
    return tid


AIR = _tissue(0, "air", -1000)
FAT = _tissue(1, "fat", -100)
MUSCLE = _tissue(2, "muscle / soft tissue", 45, "muscle")
GREY = _tissue(3, "grey matter", 38)
WHITE = _tissue(4, "white matter", 28)
CSF = _tissue(5, "CSF", 8)
BONE = _tissue(6, "cortical bone", 1150)
SPONGY = _tissue(7, "cancellous bone", 380)
TEETH = _tissue(8, "teeth", 2200)
VITREOUS = _tissue(9, "vitreous", 12)
LENS = _tissue(10, "lens", 95)
NERVE = _tissue(11, "nerve", 33)
PAROTID = _tissue(12, "parotid gland", 0, "gland")
SUBMAND = _tissue(13, "submandibular gland", 38, "gland")
THYROID = _tissue(14, "thyroid", 95, "thyroid")
CARTILAGE = _tissue(15, "cartilage", 220)
ARTERY = _tissue(16, "artery", 42, "artery")
VEIN = _tissue(17, "vein", 40, "vein")
TUMOUR = _tissue(18, "primary tumour", 52, "tumour")
NODE = _tissue(19, "lymph node", 45, "node")
NECROSIS = _tissue(20, "necrotic core", 22)
LUNG = _tissue(21, "lung", -840)
DISC = _tissue(22, "intervertebral disc", 85)
AIRCELL = _tissue(23, "mastoid air cells", -650)
OTIC = _tissue(24, "otic capsule bone", 1500)
FLUID = _tissue(25, "labyrinth fluid", 15)
PITUITARY = _tissue(26, "pituitary", 48, "pituitary")
TONGUE = _tissue(27, "tongue", 62, "muscle")
LARYNX = _tissue(28, "laryngeal soft tissue", 38, "muscle")
TYMPANUM = _tissue(29, "middle-ear air", -850)
CORD = _tissue(30, "spinal cord", 33)
COUCH = _tissue(31, "couch (carbon fibre)", 250)

#: Contrast group -> (low, high) enhancement in HU drawn per case (the contrast CT adds it).
ENHANCEMENT_HU: dict[str, tuple[float, float]] = {
    "none": (0.0, 0.0),
    "muscle": (5.0, 12.0),
    "gland": (20.0, 35.0),
    "thyroid": (40.0, 70.0),
    "artery": (150.0, 200.0),
    "vein": (100.0, 150.0),
    "tumour": (100.0, 140.0),
    "node": (80.0, 120.0),
    "pituitary": (40.0, 60.0),
}

ID = L.ONEHOT_IDS  # label name -> one-hot id (1..54)

#: One-hot labels sometimes absent in the release (dataset card "Cases" column / 120) and the
#: label their voxels become when a case lacks them.
ABSENT_FALLBACK: dict[int, tuple[float, int]] = {
    ID["Hippocampus_L"]: (119 / 120, ID["Brain"]),
    ID["Hippocampus_R"]: (117 / 120, ID["Brain"]),
    ID["VestibulSemi_L"]: (119 / 120, 0),
    ID["VestibulSemi_R"]: (118 / 120, 0),
    ID["MiddleEar_ETbone_OverLap_L"]: (115 / 120, ID["ETbone_L"]),
    ID["MiddleEar_ETbone_OverLap_R"]: (97 / 120, ID["ETbone_R"]),
}

#: Fraction of cases without lymph-node GTV (N0 patients).
N0_FRACTION = 0.1


# --------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------
_INF = 1e9


class Shape:
    """A solid in patient mm: ``bounds()`` (lo, hi corners) and ``inside(x, y, z)`` (bool)."""

    lo: np.ndarray
    hi: np.ndarray

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Bool array (broadcast of x (n,1,1), y (1,m,1), z (1,1,p)) of points inside, mm."""
        raise NotImplementedError

    def __and__(self, other: "Shape") -> "Shape":
        return Intersect(self, other)

    def __or__(self, other: "Shape") -> "Shape":
        return Union(self, other)

    def __sub__(self, other: "Shape") -> "Shape":
        return Diff(self, other)


def _rotation(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """Rotation matrix (degrees): yaw about z, then pitch about x, then roll about y."""
    a, b, c = (math.radians(v) for v in (yaw, pitch, roll))
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    ry = np.array([[math.cos(c), 0, math.sin(c)], [0, 1, 0], [-math.sin(c), 0, math.cos(c)]])
    return rz @ rx @ ry


class Ellipsoid(Shape):
    """Ellipsoid with centre ``c`` and semi-axes ``r`` (mm); ``rot`` columns = its axes."""

    def __init__(self, c: Sequence[float], r: Sequence[float], rot: np.ndarray | None = None):
        self.c = np.asarray(c, float)
        self.r = np.maximum(np.asarray(r, float), 1e-3)
        self.rot = None if rot is None or np.allclose(rot, np.eye(3)) else np.asarray(rot, float)
        if self.rot is None:
            half = self.r
        else:
            half = np.sqrt(((self.rot * self.r[None, :]) ** 2).sum(axis=1))
        self.lo, self.hi = self.c - half, self.c + half

    @property
    def volume_mm3(self) -> float:
        """Analytic volume in mm³."""
        return 4.0 / 3.0 * math.pi * float(np.prod(self.r))

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

    def __init__(self, a: Sequence[float], b: Sequence[float], r: float):
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

    def __init__(self, z, cx, cy, a, b):
        n = len(z)
        arr = [np.broadcast_to(np.asarray(v, float), (n,)).copy() for v in (z, cx, cy, a, b)]
        order = np.argsort(arr[0], kind="stable")
        self.z, self.cx, self.cy, self.a, self.b = (v[order] for v in arr)
        self.lo = np.array([(self.cx - self.a).min(), (self.cy - self.b).min(), self.z[0]])
        self.hi = np.array([(self.cx + self.a).max(), (self.cy + self.b).max(), self.z[-1]])

    def inside(self, x, y, z):
        zz = z.reshape(-1)
        valid = (zz >= self.z[0]) & (zz <= self.z[-1])
        cx, cy, a, b = (np.interp(zz, self.z, v).reshape(z.shape) for v in
                        (self.cx, self.cy, self.a, self.b))
        a, b = np.maximum(a, 1e-3), np.maximum(b, 1e-3)
        return (((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1.0) & valid.reshape(z.shape)


class Slab(Shape):
    """All points with ``lo <= coordinate[axis] <= hi`` (mm); unbounded along the other axes."""

    def __init__(self, axis: int, lo: float = -_INF, hi: float = _INF):
        self.axis, self.vlo, self.vhi = axis, float(lo), float(hi)
        self.lo = np.full(3, -_INF)
        self.hi = np.full(3, _INF)
        self.lo[axis], self.hi[axis] = self.vlo, self.vhi

    def inside(self, x, y, z):
        v = (x, y, z)[self.axis]
        return (v >= self.vlo) & (v <= self.vhi)


class Cells(Shape):
    """Periodic air-cell pattern (unbounded): product of sines above a threshold."""

    def __init__(self, period: Sequence[float], phase: Sequence[float], threshold: float):
        self.period, self.phase = np.asarray(period, float), np.asarray(phase, float)
        self.threshold = threshold
        self.lo, self.hi = np.full(3, -_INF), np.full(3, _INF)

    def inside(self, x, y, z):
        p = self.period
        s = (np.sin(2 * np.pi * x / p[0] + self.phase[0])
             * np.sin(2 * np.pi * y / p[1] + self.phase[1])
             * np.sin(2 * np.pi * z / p[2] + self.phase[2]))
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


# --------------------------------------------------------------------------------------------
# Paint operations
# --------------------------------------------------------------------------------------------
@dataclass
class Op:
    """Paint ``shape``: tissue class, one-hot label (with overlap rules) and/or a Task002 label.

    ``label`` is written over any existing label, except that an existing label found in
    ``overlap`` is replaced by ``overlap[existing]`` instead. ``where`` / ``where_tissue``
    restrict painting to voxels whose current label / tissue is in the set.
    """

    shape: Shape
    tissue: int | None = None
    label: int | None = None
    overlap: dict[int, int] | None = None
    where: frozenset[int] | None = None
    where_tissue: frozenset[int] | None = None
    gtv: int | None = None
    name: str = ""

    def label_lut(self) -> np.ndarray | None:
        """256-entry table: existing label -> painted label (None when labels are untouched)."""
        if self.label is None:
            return None
        lut = np.full(256, self.label, dtype=np.uint8)
        for old, new in (self.overlap or {}).items():
            lut[old] = new
        return lut


@dataclass
class Anatomy:
    """One synthetic patient: ordered paint operations plus per-case imaging parameters."""

    ops: list[Op]
    vertex_z: float  # top of the head, mm (patient z)
    centre_xy: tuple[float, float]  # centre of the head-and-neck in the axial plane, mm
    enhancement: dict[str, float]  # contrast group -> HU added on the contrast CT
    noise_hu: float  # standard deviation of the Gaussian noise, HU
    absent: dict[int, int] = field(default_factory=dict)  # one-hot label -> its fallback label
    n_nodes: int = 0


# --------------------------------------------------------------------------------------------
# The patient model
# --------------------------------------------------------------------------------------------
NECK_TOP = -40.0  # z (mm) below which the neck-length factor applies


class _Patient:
    """Random global transform (size, neck length, position) and per-organ jitter."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.s = float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1))  # overall size
        self.neck = float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.12))  # neck length
        self.t = np.array([rng.normal(0, 3.0), rng.normal(0, 3.0), 0.0])

    def zmap(self, z):
        """Patient-model z (mm) -> this patient's z (mm)."""
        z = np.asarray(z, float)
        below = NECK_TOP + (z - NECK_TOP) * self.neck
        return self.s * np.where(z >= NECK_TOP, z, below) + self.t[2]

    def p(self, x, y, z, sd: float = 0.0) -> np.ndarray:
        """A model point (mm) placed in this patient, with isotropic jitter ``sd`` mm."""
        j = self.rng.normal(0.0, sd, 3) if sd else np.zeros(3)
        return np.array([self.s * x + self.t[0] + j[0], self.s * y + self.t[1] + j[1],
                         float(self.zmap(z)) + j[2]])

    def r(self, rx, ry, rz, sd: float = 0.07, z: float = 0.0) -> np.ndarray:
        """Model semi-axes (mm) scaled to this patient, times a lognormal organ-size factor."""
        f = math.exp(self.rng.normal(0.0, sd) - 1.5 * sd * sd) if sd else 1.0  # E[f^3] = 1
        zf = self.neck if z < NECK_TOP else 1.0
        return np.array([rx, ry, rz * zf]) * self.s * f

    def tube(self, z, cx, cy, a, b, sd: float = 0.0) -> ZTube:
        """ZTube from model control points; ``sd`` = lognormal jitter of the cross-section."""
        f = math.exp(self.rng.normal(0.0, sd) - sd * sd) if sd else 1.0  # E[f^2] = 1
        z = np.asarray(z, float)
        cx = np.broadcast_to(np.asarray(cx, float), z.shape)
        cy = np.broadcast_to(np.asarray(cy, float), z.shape)
        return ZTube(self.zmap(z), self.s * cx + self.t[0], self.s * cy + self.t[1],
                     self.s * f * np.asarray(a, float), self.s * f * np.asarray(b, float))


def _cord_y(z):
    """Model y (mm) of the spinal cord centre at model height z (cervical lordosis)."""
    return np.interp(z, [-600, -250, -160, -100, -60, -38, 20], [60, 50, 40, 34, 32, 26, 14])


def _airway_y(z):
    """Model y (mm) of the trachea centre at model height z."""
    return np.interp(z, [-600, -280, -128], [-5, -10, -21])


def build_anatomy(rng: np.random.Generator) -> Anatomy:
    """Draw one synthetic head-and-neck patient: ordered paint operations in patient LPS mm."""
    P = _Patient(rng)
    ops: list[Op] = []

    def add(shape: Shape, tissue=None, label=None, **kw) -> None:
        ops.append(Op(shape, tissue, label, **kw))

    sides = (("L", 1.0), ("R", -1.0))
    brain_family = frozenset({ID["Brain"], ID["BrainStem"], ID["Chiasm"], ID["TemporalLobe_L"],
                              ID["TemporalLobe_R"], ID["Hippocampus_L"], ID["Hippocampus_R"],
                              ID["TemporalLobe_Hippocampus_OverLap_L"],
                              ID["TemporalLobe_Hippocampus_OverLap_R"]})
    bottom = -600.0

    # ---- body outline: fat, then a muscle core 6 mm inside ----------------------------------
    zs = [22, 0, -20, -45, -65, -85, -100, -130, -155, -175, -200, -260, bottom]
    cy = [5, 2, -2, -2, 2, 10, 14, 16, 18, 22, 26, 30, 30]
    ax = [76, 75, 71, 64, 58, 54, 54, 56, 62, 105, 160, 175, 178]
    by = [96, 95, 93, 90, 82, 68, 62, 60, 62, 80, 96, 105, 107]
    fb = math.exp(rng.normal(0, 0.04))  # body habitus (fat)
    ax_b = [a * (fb if z < -60 else 1.0) for a, z in zip(ax, zs)]
    by_b = [b * (fb if z < -60 else 1.0) for b, z in zip(by, zs)]
    cran = P.r(76, 96, 88, sd=0)
    cran_c = P.p(0, 5, 22)
    nose = Ellipsoid(P.p(0, -95, -12), P.r(10, 14, 21, sd=0.08))
    body = Union(Ellipsoid(cran_c, cran), P.tube(zs, 0, cy, ax_b, by_b), nose,
                 *[Ellipsoid(P.p(sg * 76, 10, -8), P.r(5, 13, 24, sd=0.05)) for _, sg in sides])
    add(body, FAT, name="body")
    core = Union(Ellipsoid(cran_c, cran - 5), P.tube(zs, 0, cy, np.array(ax_b) - 6,
                                                      np.array(by_b) - 6),
                 Ellipsoid(nose.c, nose.r - 2))
    add(core, MUSCLE, name="body core")
    # lungs and clavicles (only in long fields of view)
    for _, sg in sides:
        add(Ellipsoid(P.p(sg * 72, 40, -335), P.r(56, 72, 145, sd=0.04)), LUNG, name="lung")
        add(Capsule(P.p(sg * 15, -30, -176), P.p(sg * 115, 15, -166), 8 * P.s), BONE,
            name="clavicle")

    # ---- skull ------------------------------------------------------------------------------
    skull = Ellipsoid(P.p(0, 6, 30), P.r(70, 91, 76, sd=0))
    add(skull & Slab(2, lo=float(P.zmap(-30))), BONE, name="skull")
    add(Ellipsoid(P.p(0, -55, -29), P.r(38, 34, 9, sd=0.04)), BONE, name="maxilla")
    add(Ellipsoid(P.p(0, -80, 32), P.r(12, 5, 8, sd=0.15)), AIR, name="frontal sinus")

    # ---- brain --------------------------------------------------------------------------------
    cerebrum = Ellipsoid(P.p(0, 8, 42, 1.0), P.r(62, 84, 56, sd=0.035))
    add(cerebrum, GREY, ID["Brain"], name="cerebrum")
    add(Ellipsoid(P.p(0, 42, -9, 1.0), P.r(48, 30, 21, sd=0.05)), GREY, ID["Brain"],
        name="cerebellum")
    for sd_, sg in sides:
        add(Ellipsoid(P.p(sg * 40, -10, 20, 1.0), P.r(22, 37, 29, sd=0.05)), GREY,
            ID[f"TemporalLobe_{sd_}"], name=f"temporal lobe {sd_}")
    add(Ellipsoid(cerebrum.c + P.s * np.array([0, 0, 4]), cerebrum.r * [0.74, 0.78, 0.7]), WHITE,
        where=frozenset({ID["Brain"]}), name="white matter")
    for _, sg in sides:
        add(Ellipsoid(P.p(sg * 9, 4, 46, 1.0), P.r(6, 24, 11, sd=0.12)), CSF,
            where=frozenset({ID["Brain"]}), name="lateral ventricle")
    for sd_, sg in sides:
        tl, tlh = ID[f"TemporalLobe_{sd_}"], ID[f"TemporalLobe_Hippocampus_OverLap_{sd_}"]
        add(Ellipsoid(P.p(sg * 29, -6, 6, 1.0), P.r(6.6, 21, 7.2, sd=0.08),
                      _rotation(yaw=sg * 12)), GREY, ID[f"Hippocampus_{sd_}"],
            overlap={tl: tlh, tlh: tlh}, where=brain_family, name=f"hippocampus {sd_}")
    add(P.tube([-38, 14], 0, [24, 12], [13.5, 14.5], [12.5, 13.5], sd=0.05), WHITE,
        ID["BrainStem"], name="brainstem")

    # ---- skull base: soft tissue below it, sphenoid, clivus, petrous bones, sella ------------
    add(Ellipsoid(P.p(0, -15, -48), P.r(58, 48, 36, sd=0)), MUSCLE, where=frozenset({0}),
        name="deep face soft tissue")
    for _, sg in sides:
        add(Capsule(P.p(sg * 48, -52, -14), P.p(sg * 62, -12, -10), 3.5 * P.s), BONE, 0,
            name="zygomatic arch")
    add(Ellipsoid(P.p(0, -14, -10), P.r(15, 16, 12, sd=0.05)), BONE, 0, name="sphenoid")
    add(Ellipsoid(P.p(0, -20, -12), P.r(11, 11, 8, sd=0.1)), AIR, 0, name="sphenoid sinus")
    add(Capsule(P.p(0, -10, -14), P.p(0, 4, -38), 6 * P.s), BONE, 0, name="clivus")
    for _, sg in sides:
        add(Ellipsoid(P.p(sg * 37, 8, -11), P.r(10, 25, 8, sd=0.03), _rotation(yaw=-sg * 40)),
            OTIC, 0, name="petrous bone")
    add(Ellipsoid(P.p(0, -12, 9, 0.8), P.r(11, 6, 4.2, sd=0.1)), NERVE, ID["Chiasm"],
        name="chiasm")
    add(Ellipsoid(P.p(0, -8, 0, 0.8), P.r(5.5, 4.5, 2.8, sd=0.12)), PITUITARY, ID["Pituitary"],
        name="pituitary")

    # ---- face: nasal cavity, sinuses, orbits, eyes, optic nerves ---------------------------
    add(Ellipsoid(P.p(0, -66, -10), P.r(13, 26, 20, sd=0.05)), AIR, 0, name="nasal cavity")
    add(Ellipsoid(P.p(0, -66, -10), P.r(13, 26, 20, sd=0)) & Slab(0, P.t[0] - 0.8, P.t[0] + 0.8),
        BONE, 0, name="nasal septum")
    for _, sg in sides:
        add(Ellipsoid(P.p(sg * 30, -50, -19, 1.0), P.r(13, 16, 13, sd=0.08)), AIR, 0,
            name="maxillary sinus")
    for sd_, sg in sides:
        eye_c = P.p(sg * 32, -70, 4, 1.0)
        add(Ellipsoid(P.p(sg * 30, -55, 4, 1.0), P.r(17, 26, 16, sd=0.04)), FAT, 0,
            name=f"orbit {sd_}")
        chi_end = P.p(sg * 10, -17, 8, 0.5)
        add(Capsule(chi_end, eye_c + P.s * np.array([-sg * 4, 12, 0]), 2.5 * P.s
                    * math.exp(rng.normal(0, 0.06))), NERVE, ID[f"OpticNerve_{sd_}"],
            name=f"optic nerve {sd_}")
        r_eye = 13.6 * P.s * math.exp(rng.normal(0, 0.035))
        add(Ellipsoid(eye_c, [r_eye] * 3), VITREOUS, ID[f"Eye_{sd_}"], name=f"eye {sd_}")
        r_lens = P.r(5.0, 2.6, 5.0, sd=0.1)
        lens_c = eye_c + np.array([0, -(r_eye - r_lens[1] - 1.2), 0])
        add(Ellipsoid(lens_c, r_lens), LENS, ID[f"Lens_{sd_}"], name=f"lens {sd_}")

    # ---- ears ---------------------------------------------------------------------------------
    for sd_, sg in sides:
        e = lambda x, y, z: P.p(sg * x, y, z)  # noqa: E731 - ear complex shares no jitter
        shift = rng.normal(0, 1.0, 3)
        E = lambda x, y, z: e(x, y, z) + shift  # noqa: E731
        add(Capsule(E(50, 2, -10), e(82, 2, -8), 3.5 * P.s), AIR, 0, name="ear canal")
        mast = Ellipsoid(E(46, 28, -8), P.r(14, 14, 18, sd=0.15))
        add(mast, BONE, ID[f"Mastoid_{sd_}"], name=f"mastoid {sd_}")
        add(mast & Cells([6, 6, 7], rng.uniform(0, 6.3, 3), 0.05), AIRCELL, name="air cells")
        me = ID[f"MiddleEar_{sd_}"]
        fam = {ID[f"{n}_{sd_}"] for n in ("MiddleEar", "IAC", "MiddleEar_TympanicCavity_OverLap",
                                          "MiddleEar_VestibulSemi_OverLap", "Cochlea",
                                          "MiddleEar_ETbone_OverLap")}
        add(Ellipsoid(E(44, 2, -10), P.r(6.5, 7.5, 5.6, sd=0.08)), OTIC, me,
            name=f"middle ear {sd_}")
        tym = ID[f"MiddleEar_TympanicCavity_OverLap_{sd_}"]
        add(Ellipsoid(E(48.5, 0.5, -10), P.r(3.8, 6.6, 6.0, sd=0.08)), TYMPANUM,
            ID[f"TympanicCavity_{sd_}"], overlap={f: tym for f in fam}, name="tympanic cavity")
        ves = ID[f"MiddleEar_VestibulSemi_OverLap_{sd_}"]
        add(Ellipsoid(E(47, 6, -7.5), P.r(3.2, 3.6, 4.0, sd=0.08)), FLUID,
            ID[f"VestibulSemi_{sd_}"], overlap={f: ves for f in fam}, name="vestibule")
        et = ID[f"MiddleEar_ETbone_OverLap_{sd_}"]
        start = -1.0 if sd_ == "L" else -3.7  # the right overlap is smaller (card: 0.02 vs 0.05)
        add(Capsule(E(47, start, -11), E(36, -19, -17), 1.9 * P.s * math.exp(rng.normal(0, 0.06))),
            TYMPANUM, ID[f"ETbone_{sd_}"], overlap={f: et for f in fam}, name="ET bone")
        add(Ellipsoid(E(41, -2, -12), P.r(3.5, 3.5, 3.3, sd=0.08)), FLUID, ID[f"Cochlea_{sd_}"],
            name="cochlea")
        add(Capsule(E(30, 6, -8), E(40, 4, -9), 2.3 * P.s * math.exp(rng.normal(0, 0.06))), CSF,
            ID[f"IAC_{sd_}"], name="IAC")
        add(Ellipsoid(P.p(sg * 50, -16, -12, 1.0), P.r(8, 8, 11, sd=0.1)), SPONGY,
            ID[f"TMjoint_{sd_}"], name=f"TM joint {sd_}")

    # ---- oral cavity, glands, mandible, teeth -----------------------------------------------
    add(Ellipsoid(P.p(0, -52, -52, 1.0), P.r(38, 45, 24.5, sd=0.05)), TONGUE, ID["OralCavity"],
        name="oral cavity")
    add(Ellipsoid(P.p(0, -42, -37), P.r(20, 30, 2.5, sd=0.1)), AIR, name="oral air")
    for sd_, sg in sides:
        add(Ellipsoid(P.p(sg * 50, 16, -37, 1.0), P.r(16, 19.5, 29, sd=0.08)), PAROTID,
            ID[f"Parotid_{sd_}"], name=f"parotid {sd_}")
        add(Ellipsoid(P.p(sg * 30, -14, -88, 1.0), P.r(11, 14, 15, sd=0.08)), SUBMAND,
            ID[f"Submandibular_{sd_}"], name=f"submandibular {sd_}")
    mf = math.exp(rng.normal(0, 0.05))
    zt = [-80, -46]
    outer = P.tube(zt, 0, 10, 48 * mf, 85 * mf)
    inner = P.tube(zt, 0, 10, 38 * mf, 75 * mf)
    arch = Diff(outer, inner) & Slab(1, hi=P.t[1] + 10 * P.s)
    for sd_, sg in sides:
        half = Slab(0, lo=P.t[0]) if sg > 0 else Slab(0, hi=P.t[0] - 1e-6)
        ramus = P.tube([-62, -22], sg * 46, 4, 4.5 * mf, 13 * mf)
        add(Union(arch & half, ramus), BONE, ID[f"Mandible_{sd_}"], name=f"mandible {sd_}")
    for z0, z1 in ((-46, -40), (-40, -34)):
        t_out = P.tube([z0, z1], 0, 10, 46 * mf, 83 * mf)
        t_in = P.tube([z0, z1], 0, 10, 39 * mf, 76 * mf)
        add(Diff(t_out, t_in) & Slab(1, hi=P.t[1]), TEETH, 0, name="teeth")

    # ---- spine ----------------------------------------------------------------------------------
    z = -45.0
    levels = []
    while z > bottom:
        h = 16.0 if z > -180 else 20.0
        levels.append((z - h, z))
        z -= h + 5.0
    canal = lambda zz: P.tube(zz, 0, _cord_y(np.asarray(zz)), 10, 8.5)  # noqa: E731
    zall = np.array([bottom, -250, -160, -100, -60, -36])
    add(P.tube(zall, 0, _cord_y(zall) - 24, 15, 11.5), DISC, name="discs")
    for z0, z1 in levels:
        zz = np.array([z0, z1])
        cyv = _cord_y(zz)
        body_r = (15, 11.5) if z1 > -180 else (18, 14)
        add(P.tube(zz, 0, cyv - 24, *body_r), SPONGY, name="vertebral body")
        ring = Diff(P.tube(zz, 0, cyv, 18, 15), canal(zz))
        add(Union(ring, P.tube(zz, 0, cyv + 20, 4, 11),
                  *[P.tube(zz, sg * 22, cyv - 6, 8, 5) for _, sg in sides]), BONE, name="arch")
    za = np.array([-38.0, -31.0])
    add(Diff(P.tube(za, 0, _cord_y(za) - 4, 22, 21), P.tube(za, 0, _cord_y(za) - 6, 15, 14)), BONE,
        name="atlas")
    add(Capsule(P.p(0, _cord_y(-50) - 17, -50), P.p(0, _cord_y(-32) - 15, -32), 5 * P.s), SPONGY,
        name="dens")
    add(canal(np.array([bottom, -250, -160, -100, -60, -34])), CSF, 0, name="spinal canal")
    zc = np.array([bottom, -250, -160, -100, -60, -38])
    add(P.tube(zc, 0, _cord_y(zc), 7.5, 5.4, sd=0.05), CORD, ID["SpinalCord"], name="spinal cord")

    # ---- pharynx, larynx, trachea, oesophagus, thyroid --------------------------------------
    add(Ellipsoid(P.p(0, -30, -18), P.r(12, 10, 10, sd=0.1)), AIR, name="nasopharynx")
    zp = np.array([-92, -70, -28])
    add(P.tube(zp, 0, _cord_y(zp) - 53, 12, 5.5), AIR, name="oropharynx")
    zpc = np.array([-130, -100, -60, -35])
    add(P.tube(zpc, 0, _cord_y(zpc) - 44, 17, 4.5, sd=0.06), MUSCLE, ID["PharynxConst"],
        overlap={ID["Larynx"]: ID["Larynx_PharynxConst_OverLap"]},
        where=frozenset({0, ID["Larynx"]}), name="pharyngeal constrictor")
    lx = rng.normal(0, 0.05)
    zl = [-128, -92]
    add(P.tube(zl, 0, -25, 21 * math.exp(lx), 22 * math.exp(lx)), LARYNX, ID["Larynx"],
        where=frozenset({0, ID["PharynxConst"]}),
        overlap={ID["PharynxConst"]: ID["Larynx_PharynxConst_OverLap"]}, name="larynx")
    add(P.tube([-110, -92], 0, -28, 11, 12, sd=0.08), LARYNX, ID["Larynx_Supraglot"],
        where=frozenset({ID["Larynx"]}), name="supraglottis")
    add(P.tube([-121, -110], 0, -27, 12.5, 14.5, sd=0.08), LARYNX, ID["Larynx_Glottic"],
        where=frozenset({ID["Larynx"]}), name="glottis")
    add(P.tube([-128, -117, -114, -95], 0, -27, [6, 4, 1.5, 6], [9, 8, 7, 9]), AIR,
        name="laryngeal lumen")
    add(Diff(P.tube([-118, -95], 0, -25, 21 * math.exp(lx), 22 * math.exp(lx)),
             P.tube([-118, -95], 0, -25, 18.5 * math.exp(lx), 19.5 * math.exp(lx)))
        & Slab(1, hi=P.t[1] - 20 * P.s), CARTILAGE, name="thyroid cartilage")
    add(Diff(P.tube([-128, -118], 0, -24, 13, 13), P.tube([-128, -118], 0, -24, 10.5, 10.5)),
        CARTILAGE, name="cricoid")
    add(Diff(P.tube([-90, -86], 0, -20, 20, 22), P.tube([-90, -86], 0, -20, 17, 19))
        & Slab(1, hi=P.t[1] - 25 * P.s), BONE, name="hyoid")
    zt = np.array([bottom, -280, -128])
    tr = rng.normal(0, 0.06)
    add(P.tube(zt, 0, _airway_y(zt), 10 * math.exp(tr), 9 * math.exp(tr)), LARYNX, ID["Trachea"],
        name="trachea")
    add(P.tube(zt, 0, _airway_y(zt), 8.5 * math.exp(tr), 7.5 * math.exp(tr)), AIR,
        name="tracheal lumen")
    ze = np.array([bottom, -250, -160, -128])
    add(P.tube(ze, 4, _cord_y(ze) - 24 - 11.5 - 5.2, 8, 5.2, sd=0.07), MUSCLE, ID["Esophagus"],
        name="oesophagus")
    th = math.exp(rng.normal(0, 0.1) - 0.015)
    thy = Union(*[Ellipsoid(P.p(sg * 18, -22, -140, 1.0), P.r(9.5, 9.5, 22.5, sd=0.06) * th)
                  for _, sg in sides], Ellipsoid(P.p(0, -33, -134), P.r(10, 3, 5, sd=0)))
    add(thy, THYROID, ID["Thyroid"], where=frozenset({0}), name="thyroid")

    # ---- neck fat planes and muscles around the visceral column ------------------------------
    zn = np.array([-160, -125, -95, -70])
    add(P.tube(zn, 0, [-6, -6, -3, 0], [42, 40, 40, 36], [30, 30, 30, 27]), FAT,
        where=frozenset({0}), where_tissue=frozenset({MUSCLE}), name="neck fat")
    for _, sg in sides:
        add(Capsule(P.p(sg * 46, 24, -36), P.p(sg * 18, -32, -160), 7.5 * P.s), MUSCLE,
            where=frozenset({0}), name="sternocleidomastoid")
        zl = np.array([-160, -100, -60])
        add(P.tube(zl, sg * 9, _cord_y(zl) - 24 - 11.5 - 2.5, 6, 3), MUSCLE, where=frozenset({0}),
            name="longus colli")

    # ---- tumour and lymph nodes (Task002), then vessels --------------------------------------
    soft = frozenset({0, ID["PharynxConst"]})
    v_p = 81_000.0 * math.exp(rng.normal(0, 0.55) - 0.55**2 / 2) * 1.62  # mm³, before clipping
    shape_p = _blob(rng, P.p(0, -28, -16, 3.0), v_p, spread=(1.1, 1.0, 1.15))
    add(shape_p, TUMOUR, gtv=1, where=soft, name="GTVp")
    nodes = 0
    if rng.random() >= N0_FRACTION:
        nodes = int(rng.integers(1, 5))
        side_of = rng.choice([1.0, -1.0]) if rng.random() < 0.6 else None
        total = 28_000.0 / (1 - N0_FRACTION) * math.exp(rng.normal(0, 0.6) - 0.18) * 1.6
        weights = rng.dirichlet(np.ones(nodes) * 2.0)
        for w in weights:
            sg = side_of if side_of is not None else rng.choice([1.0, -1.0])
            c = P.p(sg * rng.uniform(34, 42), rng.uniform(0, 16), rng.uniform(-110, -55), 1.0)
            v = total * w
            add(_blob(rng, c, v, spread=(0.9, 0.9, 1.3), lobes=1), NODE, gtv=2,
                where=frozenset({0}), where_tissue=frozenset({FAT, MUSCLE, NODE}), name="GTVnd")
            if v > 12_000:
                rad = (3 * v / (4 * math.pi)) ** (1 / 3) * 0.45
                add(Ellipsoid(c, [rad] * 3), NECROSIS, where=frozenset({0}),
                    where_tissue=frozenset({NODE}), name="necrosis")
    free = frozenset({0})
    vt = frozenset({FAT, MUSCLE, LUNG})
    for _, sg in sides:
        zv = np.array([bottom, -95])
        add(P.tube(zv, sg * 25, [-5, -8], 4, 4), ARTERY, where=free, where_tissue=vt,
            name="common carotid")
        zi = np.array([-95, -60, -22])
        add(P.tube(zi, sg * np.array([25, 24, 22]), [-8, 0, 8], 3, 3), ARTERY, where=free,
            where_tissue=vt | {BONE, OTIC}, name="internal carotid")
        add(P.tube([-95, -50], sg * 30, -16, 2.5, 2.5), ARTERY, where=free, where_tissue=vt,
            name="external carotid")
        zj = np.array([bottom, -200, -100, -25])
        add(P.tube(zj, sg * np.array([35, 35, 36, 38]), [-2, -2, 2, 16], [6, 6, 6, 4],
                   [6, 6, 6, 4]), VEIN, where=free, where_tissue=vt, name="internal jugular")
        zva = np.array([-200, -40])
        add(P.tube(zva, sg * 21, _cord_y(zva) - 8, 2, 2), ARTERY, where=free,
            where_tissue=vt | {BONE, SPONGY}, name="vertebral artery")

    # the scanner couch under the patient (seen only in full-size fields of view)
    couch_y = 148.0 + rng.uniform(0, 4)
    add(Slab(1, couch_y, couch_y + 3) & Slab(0, -230, 230), COUCH,
        where_tissue=frozenset({AIR}), name="couch")

    enhancement = {g: float(rng.uniform(*rng_range)) for g, rng_range in ENHANCEMENT_HU.items()}
    absent = {lab: fb for lab, (p, fb) in ABSENT_FALLBACK.items() if rng.random() >= p}
    return Anatomy(
        ops=ops,
        vertex_z=float(cran_c[2] + cran[2]),
        centre_xy=(float(P.t[0]), float(P.t[1] + 5 * P.s)),
        enhancement=enhancement,
        noise_hu=float(rng.uniform(10.0, 20.0)),
        absent=absent,
        n_nodes=nodes,
    )


def _blob(rng: np.random.Generator, c: np.ndarray, volume_mm3: float,
          spread=(1.0, 1.0, 1.0), lobes: int = 2) -> Shape:
    """An irregular lesion of about ``volume_mm3``: a main ellipsoid plus smaller lobes."""
    frac = 0.75 if lobes else 1.0
    aspect = np.asarray(spread) * np.exp(rng.normal(0, 0.12, 3))
    aspect /= np.prod(aspect) ** (1 / 3)
    r = (3 * volume_mm3 * frac / (4 * math.pi)) ** (1 / 3) * aspect
    parts: list[Shape] = [Ellipsoid(c, r, _rotation(yaw=rng.uniform(-30, 30)))]
    for _ in range(lobes):
        d = rng.normal(0, 1, 3)
        d /= np.linalg.norm(d)
        rl = (3 * volume_mm3 * 0.25 / lobes / (4 * math.pi)) ** (1 / 3) * 1.3
        parts.append(Ellipsoid(c + d * r * 0.8, [rl] * 3))
    return Union(*parts) if len(parts) > 1 else parts[0]


# --------------------------------------------------------------------------------------------
# Rasterisation
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Grid:
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
            i0 = max(0, math.ceil((max(lo[a], -_INF) - o) / s - 1e-9))
            i1 = min(n, math.floor((min(hi[a], _INF) - o) / s + 1e-9) + 1)
            if i1 <= i0:
                return None
            out.append(slice(i0, i1))
        return tuple(out)  # type: ignore[return-value]


def rasterize(anatomy: Anatomy, grid: Grid, chunk_voxels: int = 1_000_000
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paint an anatomy on a grid: (Task001, Task002, tissue) maps, uint8, (i, j, k), F order.

    Each shape is evaluated only on its bounding box, in slabs of at most ``chunk_voxels``.
    """
    lab = np.zeros(grid.shape, np.uint8, order="F")
    gtv = np.zeros(grid.shape, np.uint8, order="F")
    tis = np.zeros(grid.shape, np.uint8, order="F")
    for op in anatomy.ops:
        box = grid.box(op.shape.lo, op.shape.hi)
        if box is None:
            continue
        bi, bj, bk = box
        x = grid.axis(0, bi.start, bi.stop)[:, None, None]
        y = grid.axis(1, bj.start, bj.stop)[None, :, None]
        lut = op.label_lut()
        where = None
        if op.where is not None:
            where = np.zeros(256, bool)
            where[list(op.where)] = True
        wt = None
        if op.where_tissue is not None:
            wt = np.zeros(256, bool)
            wt[list(op.where_tissue)] = True
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
    if anatomy.absent:
        table = np.arange(256, dtype=np.uint8)
        for old, new in anatomy.absent.items():
            table[old] = new
        lab[...] = table[lab]
    return lab, gtv, tis
