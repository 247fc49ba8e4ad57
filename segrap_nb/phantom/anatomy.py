"""Synthetic head-and-neck anatomy for the phantom: shapes in patient mm, painted in order.

Coordinates are **patient LPS in mm**: ``x`` grows towards the patient's *left*, ``y`` towards
*posterior*, ``z`` towards *superior* (the DICOM convention). The origin is on the midline at
about the level of the external ear canals. Every structure is an ellipsoid, a capsule (tube
with round ends), a ``ZTube`` (an elliptic cross-section that changes with ``z``), or a boolean
combination of these, so the same anatomy can be drawn on any voxel grid.

:func:`build_anatomy` draws one random patient (sizes, positions, tumour, nodes) and returns the
ordered list of paint operations, one builder per region (body, skull, brain, ...);
:func:`segrap_nb.phantom.raster.rasterize` paints them on a grid, each shape evaluated on its
own bounding box only. The shapes are in :mod:`segrap_nb.phantom.shapes`. Label painting follows the official 54-label table: an operation
that paints a structure over a region of another structure writes the overlap label
(e.g. the hippocampus painted over the temporal lobe writes label 6), so the one-hot map is
consistent with the 45 OAR masks by construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from segrap_nb import labels as L
from segrap_nb.phantom.shapes import (
    Capsule,
    Cells,
    Diff,
    Ellipsoid,
    Shape,
    Slab,
    Union,
    ZTube,
    rotation,
)

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

#: Mean GTVnd volume (mm³) the node sizes are drawn around (dataset card: 28 cm³ on average); the
#: factor makes up for the parts of each node clipped away where it meets bone or another organ.
GTVND_MEAN_MM3 = 28_000.0 * 1.6
#: N0 patients (no nodal disease, an empty GTVnd file): the card lists a GTVnd file in 120 of 120
#: training cases, but the challenge paper reports 10 N0 patients among the 120. The phantom makes
#: every ``N0_EVERY``-th case N0, starting at ``N0_FIRST``: 10 of 120 cases, case 6 of 8.
N0_EVERY = 12
N0_FIRST = 6

#: The two sides: (label suffix, sign of patient x). Patient left is +x in LPS.
SIDES = (("L", 1.0), ("R", -1.0))
#: Lowest model height drawn (mm): below any field of view.
BOTTOM_Z = -600.0
#: ``add(shape, tissue, label, **Op fields)``: append one paint operation.
_Add = Callable[..., None]


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
        self.scale = float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1))  # overall size
        self.neck = float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.12))  # neck length
        self.shift = np.array([rng.normal(0, 3.0), rng.normal(0, 3.0), 0.0])

    def zmap(self, z):
        """Patient-model z (mm) -> this patient's z (mm)."""
        z = np.asarray(z, float)
        below = NECK_TOP + (z - NECK_TOP) * self.neck
        return self.scale * np.where(z >= NECK_TOP, z, below) + self.shift[2]

    def point(self, x, y, z, sd: float = 0.0) -> np.ndarray:
        """A model point (mm) placed in this patient, with isotropic jitter ``sd`` mm."""
        j = self.rng.normal(0.0, sd, 3) if sd else np.zeros(3)
        return np.array(
            [
                self.scale * x + self.shift[0] + j[0],
                self.scale * y + self.shift[1] + j[1],
                float(self.zmap(z)) + j[2],
            ]
        )

    def radii(self, rx, ry, rz, sd: float = 0.07, z: float = 0.0) -> np.ndarray:
        """Model semi-axes (mm) scaled to this patient, times a lognormal organ-size factor."""
        f = math.exp(self.rng.normal(0.0, sd) - 1.5 * sd * sd) if sd else 1.0  # E[f^3] = 1
        zf = self.neck if z < NECK_TOP else 1.0
        return np.array([rx, ry, rz * zf]) * self.scale * f

    def tube(self, z, cx, cy, a, b, sd: float = 0.0) -> ZTube:
        """ZTube from model control points; ``sd`` = lognormal jitter of the cross-section."""
        f = math.exp(self.rng.normal(0.0, sd) - sd * sd) if sd else 1.0  # E[f^2] = 1
        z = np.asarray(z, float)
        cx = np.broadcast_to(np.asarray(cx, float), z.shape)
        cy = np.broadcast_to(np.asarray(cy, float), z.shape)
        return ZTube(
            self.zmap(z),
            self.scale * cx + self.shift[0],
            self.scale * cy + self.shift[1],
            self.scale * f * np.asarray(a, float),
            self.scale * f * np.asarray(b, float),
        )


def _cord_y(z):
    """Model y (mm) of the spinal cord centre at model height z (cervical lordosis)."""
    return np.interp(z, [-600, -250, -160, -100, -60, -38, 20], [60, 50, 40, 34, 32, 26, 14])


def _airway_y(z):
    """Model y (mm) of the trachea centre at model height z."""
    return np.interp(z, [-600, -280, -128], [-5, -10, -21])


def _paint_body(patient: _Patient, rng: np.random.Generator, add: _Add) -> tuple[np.ndarray, np.ndarray]:
    """Body outline (fat, a muscle core 6 mm inside), lungs and clavicles; returns the cranium."""
    zs = [22, 0, -20, -45, -65, -85, -100, -130, -155, -175, -200, -260, BOTTOM_Z]
    cy = [5, 2, -2, -2, 2, 10, 14, 16, 18, 22, 26, 30, 30]
    ax = [76, 75, 71, 64, 58, 54, 54, 56, 62, 105, 160, 175, 178]
    by = [96, 95, 93, 90, 82, 68, 62, 60, 62, 80, 96, 105, 107]
    habitus = math.exp(rng.normal(0, 0.04))  # body habitus (fat)
    ax_b = [a * (habitus if z < -60 else 1.0) for a, z in zip(ax, zs)]
    by_b = [b * (habitus if z < -60 else 1.0) for b, z in zip(by, zs)]
    cran = patient.radii(76, 96, 88, sd=0)
    cran_c = patient.point(0, 5, 22)
    nose = Ellipsoid(patient.point(0, -95, -12), patient.radii(10, 14, 21, sd=0.08))
    body = Union(
        Ellipsoid(cran_c, cran),
        patient.tube(zs, 0, cy, ax_b, by_b),
        nose,
        *[
            Ellipsoid(patient.point(sign * 76, 10, -8), patient.radii(5, 13, 24, sd=0.05))
            for _, sign in SIDES
        ],
    )
    add(body, FAT, name="body")
    core = Union(
        Ellipsoid(cran_c, cran - 5),
        patient.tube(zs, 0, cy, np.array(ax_b) - 6, np.array(by_b) - 6),
        Ellipsoid(nose.c, nose.r - 2),
    )
    add(core, MUSCLE, name="body core")
    # lungs and clavicles (only in long fields of view)
    for _, sign in SIDES:
        add(
            Ellipsoid(patient.point(sign * 72, 40, -335), patient.radii(56, 72, 145, sd=0.04)),
            LUNG,
            name="lung",
        )
        add(
            Capsule(
                patient.point(sign * 15, -30, -176), patient.point(sign * 115, 15, -166), 8 * patient.scale
            ),
            BONE,
            name="clavicle",
        )
    return cran_c, cran


def _paint_skull(patient: _Patient, rng: np.random.Generator, add: _Add) -> None:
    """Skull vault, maxilla, frontal sinus."""
    skull = Ellipsoid(patient.point(0, 6, 30), patient.radii(70, 91, 76, sd=0))
    add(skull & Slab(2, lo=float(patient.zmap(-30))), BONE, name="skull")
    add(Ellipsoid(patient.point(0, -55, -29), patient.radii(38, 34, 9, sd=0.04)), BONE, name="maxilla")
    add(Ellipsoid(patient.point(0, -80, 32), patient.radii(12, 5, 8, sd=0.15)), AIR, name="frontal sinus")


#: Labels the hippocampi may be painted over (and nothing else).
_BRAIN_FAMILY = frozenset(
    ID[name]
    for name in (
        "Brain",
        "BrainStem",
        "Chiasm",
        "TemporalLobe_L",
        "TemporalLobe_R",
        "Hippocampus_L",
        "Hippocampus_R",
        "TemporalLobe_Hippocampus_OverLap_L",
        "TemporalLobe_Hippocampus_OverLap_R",
    )
)


def _paint_brain(patient: _Patient, rng: np.random.Generator, add: _Add) -> None:
    """Cerebrum, cerebellum, temporal lobes, white matter, ventricles, hippocampi, brainstem."""
    cerebrum = Ellipsoid(patient.point(0, 8, 42, 1.0), patient.radii(62, 84, 56, sd=0.035))
    add(cerebrum, GREY, ID["Brain"], name="cerebrum")
    add(
        Ellipsoid(patient.point(0, 42, -9, 1.0), patient.radii(48, 30, 21, sd=0.05)),
        GREY,
        ID["Brain"],
        name="cerebellum",
    )
    for side, sign in SIDES:
        add(
            Ellipsoid(patient.point(sign * 40, -10, 20, 1.0), patient.radii(22, 37, 29, sd=0.05)),
            GREY,
            ID[f"TemporalLobe_{side}"],
            name=f"temporal lobe {side}",
        )
    add(
        Ellipsoid(cerebrum.c + patient.scale * np.array([0, 0, 4]), cerebrum.r * [0.74, 0.78, 0.7]),
        WHITE,
        where=frozenset({ID["Brain"]}),
        name="white matter",
    )
    for _, sign in SIDES:
        add(
            Ellipsoid(patient.point(sign * 9, 4, 46, 1.0), patient.radii(6, 24, 11, sd=0.12)),
            CSF,
            where=frozenset({ID["Brain"]}),
            name="lateral ventricle",
        )
    for side, sign in SIDES:
        tl, tlh = ID[f"TemporalLobe_{side}"], ID[f"TemporalLobe_Hippocampus_OverLap_{side}"]
        add(
            Ellipsoid(
                patient.point(sign * 29, -6, 6, 1.0),
                patient.radii(6.6, 21, 7.2, sd=0.08),
                rotation(yaw=sign * 12),
            ),
            GREY,
            ID[f"Hippocampus_{side}"],
            overlap={tl: tlh, tlh: tlh},
            where=_BRAIN_FAMILY,
            name=f"hippocampus {side}",
        )
    add(
        patient.tube([-38, 14], 0, [24, 12], [13.5, 14.5], [12.5, 13.5], sd=0.05),
        WHITE,
        ID["BrainStem"],
        name="brainstem",
    )


def _paint_skull_base(patient: _Patient, rng: np.random.Generator, add: _Add) -> None:
    """Soft tissue below the skull base, sphenoid, clivus, petrous bones, chiasm, pituitary."""
    add(
        Ellipsoid(patient.point(0, -15, -48), patient.radii(58, 48, 36, sd=0)),
        MUSCLE,
        where=frozenset({0}),
        name="deep face soft tissue",
    )
    for _, sign in SIDES:
        add(
            Capsule(
                patient.point(sign * 48, -52, -14), patient.point(sign * 62, -12, -10), 3.5 * patient.scale
            ),
            BONE,
            0,
            name="zygomatic arch",
        )
    add(Ellipsoid(patient.point(0, -14, -10), patient.radii(15, 16, 12, sd=0.05)), BONE, 0, name="sphenoid")
    add(
        Ellipsoid(patient.point(0, -20, -12), patient.radii(11, 11, 8, sd=0.1)), AIR, 0, name="sphenoid sinus"
    )
    add(
        Capsule(patient.point(0, -10, -14), patient.point(0, 4, -38), 6 * patient.scale),
        BONE,
        0,
        name="clivus",
    )
    for _, sign in SIDES:
        add(
            Ellipsoid(
                patient.point(sign * 37, 8, -11), patient.radii(10, 25, 8, sd=0.03), rotation(yaw=-sign * 40)
            ),
            OTIC,
            0,
            name="petrous bone",
        )
    add(
        Ellipsoid(patient.point(0, -12, 9, 0.8), patient.radii(11, 6, 4.2, sd=0.1)),
        NERVE,
        ID["Chiasm"],
        name="chiasm",
    )
    add(
        Ellipsoid(patient.point(0, -8, 0, 0.8), patient.radii(5.5, 4.5, 2.8, sd=0.12)),
        PITUITARY,
        ID["Pituitary"],
        name="pituitary",
    )


def _paint_face(patient: _Patient, rng: np.random.Generator, add: _Add) -> None:
    """Nasal cavity, sinuses, orbits, eyes, lenses and optic nerves."""
    add(
        Ellipsoid(patient.point(0, -66, -10), patient.radii(13, 26, 20, sd=0.05)), AIR, 0, name="nasal cavity"
    )
    add(
        Ellipsoid(patient.point(0, -66, -10), patient.radii(13, 26, 20, sd=0))
        & Slab(0, patient.shift[0] - 0.8, patient.shift[0] + 0.8),
        BONE,
        0,
        name="nasal septum",
    )
    for _, sign in SIDES:
        add(
            Ellipsoid(patient.point(sign * 30, -50, -19, 1.0), patient.radii(13, 16, 13, sd=0.08)),
            AIR,
            0,
            name="maxillary sinus",
        )
    for side, sign in SIDES:
        eye_c = patient.point(sign * 32, -70, 4, 1.0)
        add(
            Ellipsoid(patient.point(sign * 30, -55, 4, 1.0), patient.radii(17, 26, 16, sd=0.04)),
            FAT,
            0,
            name=f"orbit {side}",
        )
        chi_end = patient.point(sign * 10, -17, 8, 0.5)
        add(
            Capsule(
                chi_end,
                eye_c + patient.scale * np.array([-sign * 4, 12, 0]),
                2.5 * patient.scale * math.exp(rng.normal(0, 0.06)),
            ),
            NERVE,
            ID[f"OpticNerve_{side}"],
            name=f"optic nerve {side}",
        )
        r_eye = 13.6 * patient.scale * math.exp(rng.normal(0, 0.035))
        add(Ellipsoid(eye_c, [r_eye] * 3), VITREOUS, ID[f"Eye_{side}"], name=f"eye {side}")
        r_lens = patient.radii(5.0, 2.6, 5.0, sd=0.1)
        lens_c = eye_c + np.array([0, -(r_eye - r_lens[1] - 1.2), 0])
        add(Ellipsoid(lens_c, r_lens), LENS, ID[f"Lens_{side}"], name=f"lens {side}")


def _paint_ears(patient: _Patient, rng: np.random.Generator, add: _Add) -> None:
    """Ear canals, mastoids and the inner/middle-ear structures with their overlap labels, TM joints."""
    for side, sign in SIDES:
        _paint_ear(patient, rng, add, side, sign)


def _paint_ear(patient: _Patient, rng: np.random.Generator, add: _Add, side: str, sign: float) -> None:
    """One side's ear complex (``side`` L or R, ``sign`` of its patient x), moved as one piece."""
    shift = rng.normal(0, 1.0, 3)  # the whole ear complex moves together

    def fixed(x: float, y: float, z: float) -> np.ndarray:
        return patient.point(sign * x, y, z)

    def moved(x: float, y: float, z: float) -> np.ndarray:
        return patient.point(sign * x, y, z) + shift

    add(Capsule(moved(50, 2, -10), fixed(82, 2, -8), 3.5 * patient.scale), AIR, 0, name="ear canal")
    mast = Ellipsoid(moved(46, 28, -8), patient.radii(14, 14, 18, sd=0.15))
    add(mast, BONE, ID[f"Mastoid_{side}"], name=f"mastoid {side}")
    add(mast & Cells([6, 6, 7], rng.uniform(0, 6.3, 3), 0.05), AIRCELL, name="air cells")
    _paint_middle_ear(patient, rng, add, side, moved)
    add(
        Ellipsoid(moved(41, -2, -12), patient.radii(3.5, 3.5, 3.3, sd=0.08)),
        FLUID,
        ID[f"Cochlea_{side}"],
        name="cochlea",
    )
    add(
        Capsule(moved(30, 6, -8), moved(40, 4, -9), 2.3 * patient.scale * math.exp(rng.normal(0, 0.06))),
        CSF,
        ID[f"IAC_{side}"],
        name="IAC",
    )
    add(
        Ellipsoid(patient.point(sign * 50, -16, -12, 1.0), patient.radii(8, 8, 11, sd=0.1)),
        SPONGY,
        ID[f"TMjoint_{side}"],
        name=f"TM joint {side}",
    )


def _paint_middle_ear(
    patient: _Patient,
    rng: np.random.Generator,
    add: _Add,
    side: str,
    moved: Callable[[float, float, float], np.ndarray],
) -> None:
    """The middle ear and the structures overlapping it (tympanic cavity, vestibule, ET bone), one side.

    ``moved(x, y, z)`` places a point of the side's ear complex (patient mm, before the mirror).
    """
    me = ID[f"MiddleEar_{side}"]
    fam = {
        ID[f"{n}_{side}"]
        for n in (
            "MiddleEar",
            "IAC",
            "MiddleEar_TympanicCavity_OverLap",
            "MiddleEar_VestibulSemi_OverLap",
            "Cochlea",
            "MiddleEar_ETbone_OverLap",
        )
    }
    add(
        Ellipsoid(moved(44, 2, -10), patient.radii(6.5, 7.5, 5.6, sd=0.08)),
        OTIC,
        me,
        name=f"middle ear {side}",
    )
    tym = ID[f"MiddleEar_TympanicCavity_OverLap_{side}"]
    add(
        Ellipsoid(moved(48.5, 0.5, -10), patient.radii(3.8, 6.6, 6.0, sd=0.08)),
        TYMPANUM,
        ID[f"TympanicCavity_{side}"],
        overlap={f: tym for f in fam},
        name="tympanic cavity",
    )
    ves = ID[f"MiddleEar_VestibulSemi_OverLap_{side}"]
    add(
        Ellipsoid(moved(47, 6, -7.5), patient.radii(3.2, 3.6, 4.0, sd=0.08)),
        FLUID,
        ID[f"VestibulSemi_{side}"],
        overlap={f: ves for f in fam},
        name="vestibule",
    )
    et = ID[f"MiddleEar_ETbone_OverLap_{side}"]
    start = -1.0 if side == "L" else -3.7  # the right overlap is smaller (card: 0.02 vs 0.05)
    add(
        Capsule(
            moved(47, start, -11),
            moved(36, -19, -17),
            1.9 * patient.scale * math.exp(rng.normal(0, 0.06)),
        ),
        TYMPANUM,
        ID[f"ETbone_{side}"],
        overlap={f: et for f in fam},
        name="ET bone",
    )


def _paint_mouth(patient: _Patient, rng: np.random.Generator, add: _Add) -> None:
    """Oral cavity, parotid and submandibular glands, mandible halves, teeth."""
    add(
        Ellipsoid(patient.point(0, -52, -52, 1.0), patient.radii(38, 45, 24.5, sd=0.05)),
        TONGUE,
        ID["OralCavity"],
        name="oral cavity",
    )
    add(Ellipsoid(patient.point(0, -42, -37), patient.radii(20, 30, 2.5, sd=0.1)), AIR, name="oral air")
    for side, sign in SIDES:
        add(
            Ellipsoid(patient.point(sign * 50, 16, -37, 1.0), patient.radii(16, 19.5, 29, sd=0.08)),
            PAROTID,
            ID[f"Parotid_{side}"],
            name=f"parotid {side}",
        )
        add(
            Ellipsoid(patient.point(sign * 30, -14, -88, 1.0), patient.radii(11, 14, 15, sd=0.08)),
            SUBMAND,
            ID[f"Submandibular_{side}"],
            name=f"submandibular {side}",
        )
    mf = math.exp(rng.normal(0, 0.05))
    zt = [-80, -46]
    outer = patient.tube(zt, 0, 10, 48 * mf, 85 * mf)
    inner = patient.tube(zt, 0, 10, 38 * mf, 75 * mf)
    arch = Diff(outer, inner) & Slab(1, hi=patient.shift[1] + 10 * patient.scale)
    for side, sign in SIDES:
        half = Slab(0, lo=patient.shift[0]) if sign > 0 else Slab(0, hi=patient.shift[0] - 1e-6)
        ramus = patient.tube([-62, -22], sign * 46, 4, 4.5 * mf, 13 * mf)
        add(Union(arch & half, ramus), BONE, ID[f"Mandible_{side}"], name=f"mandible {side}")
    for z0, z1 in ((-46, -40), (-40, -34)):
        t_out = patient.tube([z0, z1], 0, 10, 46 * mf, 83 * mf)
        t_in = patient.tube([z0, z1], 0, 10, 39 * mf, 76 * mf)
        add(Diff(t_out, t_in) & Slab(1, hi=patient.shift[1]), TEETH, 0, name="teeth")


def _paint_spine(patient: _Patient, rng: np.random.Generator, add: _Add) -> None:
    """Vertebrae, discs, atlas and dens, spinal canal and cord."""
    z = -45.0
    levels = []
    while z > BOTTOM_Z:
        h = 16.0 if z > -180 else 20.0
        levels.append((z - h, z))
        z -= h + 5.0

    def canal(zz: np.ndarray) -> ZTube:
        return patient.tube(zz, 0, _cord_y(np.asarray(zz)), 10, 8.5)

    zall = np.array([BOTTOM_Z, -250, -160, -100, -60, -36])
    add(patient.tube(zall, 0, _cord_y(zall) - 24, 15, 11.5), DISC, name="discs")
    for z0, z1 in levels:
        zz = np.array([z0, z1])
        cyv = _cord_y(zz)
        body_r = (15, 11.5) if z1 > -180 else (18, 14)
        add(patient.tube(zz, 0, cyv - 24, *body_r), SPONGY, name="vertebral body")
        ring = Diff(patient.tube(zz, 0, cyv, 18, 15), canal(zz))
        add(
            Union(
                ring,
                patient.tube(zz, 0, cyv + 20, 4, 11),
                *[patient.tube(zz, sign * 22, cyv - 6, 8, 5) for _, sign in SIDES],
            ),
            BONE,
            name="arch",
        )
    za = np.array([-38.0, -31.0])
    add(
        Diff(patient.tube(za, 0, _cord_y(za) - 4, 22, 21), patient.tube(za, 0, _cord_y(za) - 6, 15, 14)),
        BONE,
        name="atlas",
    )
    add(
        Capsule(
            patient.point(0, _cord_y(-50) - 17, -50),
            patient.point(0, _cord_y(-32) - 15, -32),
            5 * patient.scale,
        ),
        SPONGY,
        name="dens",
    )
    add(canal(np.array([BOTTOM_Z, -250, -160, -100, -60, -34])), CSF, 0, name="spinal canal")
    zc = np.array([BOTTOM_Z, -250, -160, -100, -60, -38])
    add(patient.tube(zc, 0, _cord_y(zc), 7.5, 5.4, sd=0.05), CORD, ID["SpinalCord"], name="spinal cord")


def _paint_airway(patient: _Patient, rng: np.random.Generator, add: _Add) -> None:
    """Pharynx, constrictor, larynx and its parts, trachea, oesophagus, thyroid."""
    _paint_pharynx_larynx(patient, rng, add)
    _paint_lower_neck_organs(patient, rng, add)


def _paint_pharynx_larynx(patient: _Patient, rng: np.random.Generator, add: _Add) -> None:
    """Naso- and oropharynx, the constrictor, the larynx with its parts, cartilages and hyoid."""
    add(Ellipsoid(patient.point(0, -30, -18), patient.radii(12, 10, 10, sd=0.1)), AIR, name="nasopharynx")
    zp = np.array([-92, -70, -28])
    add(patient.tube(zp, 0, _cord_y(zp) - 53, 12, 5.5), AIR, name="oropharynx")
    zpc = np.array([-130, -100, -60, -35])
    add(
        patient.tube(zpc, 0, _cord_y(zpc) - 44, 17, 4.5, sd=0.06),
        MUSCLE,
        ID["PharynxConst"],
        overlap={ID["Larynx"]: ID["Larynx_PharynxConst_OverLap"]},
        where=frozenset({0, ID["Larynx"]}),
        name="pharyngeal constrictor",
    )
    lx = rng.normal(0, 0.05)
    zl = [-128, -92]
    add(
        patient.tube(zl, 0, -25, 21 * math.exp(lx), 22 * math.exp(lx)),
        LARYNX,
        ID["Larynx"],
        where=frozenset({0, ID["PharynxConst"]}),
        overlap={ID["PharynxConst"]: ID["Larynx_PharynxConst_OverLap"]},
        name="larynx",
    )
    add(
        patient.tube([-110, -92], 0, -28, 11, 12, sd=0.08),
        LARYNX,
        ID["Larynx_Supraglot"],
        where=frozenset({ID["Larynx"]}),
        name="supraglottis",
    )
    add(
        patient.tube([-121, -110], 0, -27, 12.5, 14.5, sd=0.08),
        LARYNX,
        ID["Larynx_Glottic"],
        where=frozenset({ID["Larynx"]}),
        name="glottis",
    )
    add(
        patient.tube([-128, -117, -114, -95], 0, -27, [6, 4, 1.5, 6], [9, 8, 7, 9]),
        AIR,
        name="laryngeal lumen",
    )
    _paint_laryngeal_cartilages(patient, lx, add)


def _paint_laryngeal_cartilages(patient: _Patient, lx: float, add: _Add) -> None:
    """Thyroid cartilage (around the larynx, whose log size factor is ``lx``), cricoid, hyoid."""
    add(
        Diff(
            patient.tube([-118, -95], 0, -25, 21 * math.exp(lx), 22 * math.exp(lx)),
            patient.tube([-118, -95], 0, -25, 18.5 * math.exp(lx), 19.5 * math.exp(lx)),
        )
        & Slab(1, hi=patient.shift[1] - 20 * patient.scale),
        CARTILAGE,
        name="thyroid cartilage",
    )
    add(
        Diff(patient.tube([-128, -118], 0, -24, 13, 13), patient.tube([-128, -118], 0, -24, 10.5, 10.5)),
        CARTILAGE,
        name="cricoid",
    )
    add(
        Diff(patient.tube([-90, -86], 0, -20, 20, 22), patient.tube([-90, -86], 0, -20, 17, 19))
        & Slab(1, hi=patient.shift[1] - 25 * patient.scale),
        BONE,
        name="hyoid",
    )


def _paint_lower_neck_organs(patient: _Patient, rng: np.random.Generator, add: _Add) -> None:
    """Trachea and its lumen, oesophagus, thyroid (random draws after the larynx's, in this order)."""
    zt = np.array([BOTTOM_Z, -280, -128])
    tr = rng.normal(0, 0.06)
    add(
        patient.tube(zt, 0, _airway_y(zt), 10 * math.exp(tr), 9 * math.exp(tr)),
        LARYNX,
        ID["Trachea"],
        name="trachea",
    )
    add(
        patient.tube(zt, 0, _airway_y(zt), 8.5 * math.exp(tr), 7.5 * math.exp(tr)), AIR, name="tracheal lumen"
    )
    ze = np.array([BOTTOM_Z, -250, -160, -128])
    add(
        patient.tube(ze, 4, _cord_y(ze) - 24 - 11.5 - 5.2, 8, 5.2, sd=0.07),
        MUSCLE,
        ID["Esophagus"],
        name="oesophagus",
    )
    th = math.exp(rng.normal(0, 0.1) - 0.015)
    thy = Union(
        *[
            Ellipsoid(patient.point(sign * 18, -22, -140, 1.0), patient.radii(9.5, 9.5, 22.5, sd=0.06) * th)
            for _, sign in SIDES
        ],
        Ellipsoid(patient.point(0, -33, -134), patient.radii(10, 3, 5, sd=0)),
    )
    add(thy, THYROID, ID["Thyroid"], where=frozenset({0}), name="thyroid")


def _paint_neck(patient: _Patient, rng: np.random.Generator, add: _Add) -> None:
    """Neck fat planes and muscles around the visceral column."""
    zn = np.array([-160, -125, -95, -70])
    add(
        patient.tube(zn, 0, [-6, -6, -3, 0], [42, 40, 40, 36], [30, 30, 30, 27]),
        FAT,
        where=frozenset({0}),
        where_tissue=frozenset({MUSCLE}),
        name="neck fat",
    )
    for _, sign in SIDES:
        add(
            Capsule(
                patient.point(sign * 46, 24, -36), patient.point(sign * 18, -32, -160), 7.5 * patient.scale
            ),
            MUSCLE,
            where=frozenset({0}),
            name="sternocleidomastoid",
        )
        zl = np.array([-160, -100, -60])
        add(
            patient.tube(zl, sign * 9, _cord_y(zl) - 24 - 11.5 - 2.5, 6, 3),
            MUSCLE,
            where=frozenset({0}),
            name="longus colli",
        )


def _paint_tumours_and_vessels(patient: _Patient, rng: np.random.Generator, add: _Add) -> int:
    """Primary tumour (GTVp), lymph nodes (GTVnd), then the neck vessels; returns the node count."""
    soft = frozenset({0, ID["PharynxConst"]})
    v_p = 81_000.0 * math.exp(rng.normal(0, 0.55) - 0.55**2 / 2) * 1.62  # mm³, before clipping
    shape_p = _blob(rng, patient.point(0, -28, -16, 3.0), v_p, spread=(1.1, 1.0, 1.15))
    add(shape_p, TUMOUR, gtv=1, where=soft, name="GTVp")
    rng.random()  # a draw kept from older versions, so that the other draws stay where they were
    nodes = int(rng.integers(1, 5))  # drawn in every case (N0 cases drop them in build_anatomy)
    side_of = rng.choice([1.0, -1.0]) if rng.random() < 0.6 else None
    total = GTVND_MEAN_MM3 * math.exp(rng.normal(0, 0.6) - 0.18)
    weights = rng.dirichlet(np.ones(nodes) * 2.0)
    for w in weights:
        sign = side_of if side_of is not None else rng.choice([1.0, -1.0])
        c = patient.point(sign * rng.uniform(34, 42), rng.uniform(0, 16), rng.uniform(-110, -55), 1.0)
        v = total * w
        add(
            _blob(rng, c, v, spread=(0.9, 0.9, 1.3), lobes=1),
            NODE,
            gtv=2,
            where=frozenset({0}),
            where_tissue=frozenset({FAT, MUSCLE, NODE}),
            name="GTVnd",
        )
        if v > 12_000:
            rad = (3 * v / (4 * math.pi)) ** (1 / 3) * 0.45
            add(
                Ellipsoid(c, [rad] * 3),
                NECROSIS,
                where=frozenset({0}),
                where_tissue=frozenset({NODE}),
                name="necrosis",
            )
    _paint_neck_vessels(patient, add)
    return nodes


def _paint_neck_vessels(patient: _Patient, add: _Add) -> None:
    """Carotid arteries (common, internal, external), internal jugular veins, vertebral arteries."""
    free = frozenset({0})
    vt = frozenset({FAT, MUSCLE, LUNG})
    for _, sign in SIDES:
        zv = np.array([BOTTOM_Z, -95])
        add(
            patient.tube(zv, sign * 25, [-5, -8], 4, 4),
            ARTERY,
            where=free,
            where_tissue=vt,
            name="common carotid",
        )
        zi = np.array([-95, -60, -22])
        add(
            patient.tube(zi, sign * np.array([25, 24, 22]), [-8, 0, 8], 3, 3),
            ARTERY,
            where=free,
            where_tissue=vt | {BONE, OTIC},
            name="internal carotid",
        )
        add(
            patient.tube([-95, -50], sign * 30, -16, 2.5, 2.5),
            ARTERY,
            where=free,
            where_tissue=vt,
            name="external carotid",
        )
        zj = np.array([BOTTOM_Z, -200, -100, -25])
        add(
            patient.tube(zj, sign * np.array([35, 35, 36, 38]), [-2, -2, 2, 16], [6, 6, 6, 4], [6, 6, 6, 4]),
            VEIN,
            where=free,
            where_tissue=vt,
            name="internal jugular",
        )
        zva = np.array([-200, -40])
        add(
            patient.tube(zva, sign * 21, _cord_y(zva) - 8, 2, 2),
            ARTERY,
            where=free,
            where_tissue=vt | {BONE, SPONGY},
            name="vertebral artery",
        )


def is_n0(index: int) -> bool:
    """Whether phantom case ``index`` is an N0 patient (no lymph-node GTV: an all-zero GTVnd)."""
    return index % N0_EVERY == N0_FIRST


def build_anatomy(rng: np.random.Generator, nodal: bool = True) -> Anatomy:
    """Draw one synthetic head-and-neck patient: ordered paint operations in patient LPS mm.

    The regions are painted in a fixed order (later operations paint over earlier ones), and
    every random draw happens in that order, so a seed always gives the same patient. With
    ``nodal=False`` (an N0 patient) the lymph nodes are drawn but not painted: the same draws,
    the same OAR labels and GTVp, an empty GTVnd.
    """
    patient = _Patient(rng)
    ops: list[Op] = []

    def add(shape: Shape, tissue: int | None = None, label: int | None = None, **kw: Any) -> None:
        ops.append(Op(shape, tissue, label, **kw))

    cran_c, cran = _paint_body(patient, rng, add)
    _paint_skull(patient, rng, add)
    _paint_brain(patient, rng, add)
    _paint_skull_base(patient, rng, add)
    _paint_face(patient, rng, add)
    _paint_ears(patient, rng, add)
    _paint_mouth(patient, rng, add)
    _paint_spine(patient, rng, add)
    _paint_airway(patient, rng, add)
    _paint_neck(patient, rng, add)
    nodes = _paint_tumours_and_vessels(patient, rng, add)
    if not nodal:  # no label is painted by a node, so dropping them leaves every OAR voxel as it is
        ops = [op for op in ops if op.gtv != 2 and op.name != "necrosis"]
        nodes = 0

    # the scanner couch under the patient (seen only in full-size fields of view)
    couch_y = 148.0 + rng.uniform(0, 4)
    add(
        Slab(1, couch_y, couch_y + 3) & Slab(0, -230, 230), COUCH, where_tissue=frozenset({AIR}), name="couch"
    )

    enhancement = {g: float(rng.uniform(*rng_range)) for g, rng_range in ENHANCEMENT_HU.items()}
    absent = {lab: fb for lab, (p, fb) in ABSENT_FALLBACK.items() if rng.random() >= p}
    return Anatomy(
        ops=ops,
        vertex_z=float(cran_c[2] + cran[2]),
        enhancement=enhancement,
        noise_hu=float(rng.uniform(10.0, 20.0)),
        absent=absent,
        n_nodes=nodes,
    )


def _blob(
    rng: np.random.Generator, c: np.ndarray, volume_mm3: float, spread=(1.0, 1.0, 1.0), lobes: int = 2
) -> Shape:
    """An irregular lesion of about ``volume_mm3``: a main ellipsoid plus smaller lobes."""
    frac = 0.75 if lobes else 1.0
    aspect = np.asarray(spread) * np.exp(rng.normal(0, 0.12, 3))
    aspect /= np.prod(aspect) ** (1 / 3)
    r = (3 * volume_mm3 * frac / (4 * math.pi)) ** (1 / 3) * aspect
    parts: list[Shape] = [Ellipsoid(c, r, rotation(yaw=rng.uniform(-30, 30)))]
    for _ in range(lobes):
        d = rng.normal(0, 1, 3)
        d /= np.linalg.norm(d)
        rl = (3 * volume_mm3 * 0.25 / lobes / (4 * math.pi)) ** (1 / 3) * 1.3
        parts.append(Ellipsoid(c + d * r * 0.8, [rl] * 3))
    return Union(*parts) if len(parts) > 1 else parts[0]
