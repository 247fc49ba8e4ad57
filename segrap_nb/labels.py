"""SegRap 2023 label tables and the official one-hot <-> per-structure conversions.

One source of truth: ``data/segrap2023_labels.json`` (read from the organisers' public code).

* Task 1: a uint8 one-hot map with 0 = background and 54 labels. Several of the 45 organs at
  risk (OARs) overlap, so each overlap has its own label and an OAR is the *union* of its
  labels (e.g. ``Eye_L = {10, 12}``: the eye contains the lens).
* Task 2: a uint8 map with 1 = GTVp (primary tumour), 2 = GTVnd (lymph nodes).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from segrap_nb.grid import Box, bbox, label_boxes, union_box
from segrap_nb.reference_data import LABELS_JSON, read_json

_RAW = read_json(LABELS_JSON)

#: Task 1 one-hot labels: id (1..54) -> name.
ONEHOT_LABELS: dict[int, str] = {int(k): v for k, v in _RAW["task001_onehot_labels"].items()}
#: Task 1 one-hot labels: name -> id.
ONEHOT_IDS: dict[str, int] = {v: k for k, v in ONEHOT_LABELS.items()}
#: The 45 OARs in the official channel order of the 4D submission.
OAR_NAMES: tuple[str, ...] = tuple(_RAW["task001_oar_channel_order"])
#: OAR name -> the one-hot labels whose union is that OAR (official table, sorted).
OAR_TO_ONEHOT: dict[str, tuple[int, ...]] = {
    name: tuple(sorted(_RAW["task001_oar_to_onehot_labels"][name])) for name in OAR_NAMES
}
#: Task 2 labels: id -> name.
GTV_LABELS: dict[int, str] = {int(k): v for k, v in _RAW["task002_onehot_labels"].items()}
#: The two tumour volumes in the official order.
GTV_NAMES: tuple[str, ...] = tuple(_RAW["task002_channel_order"])
#: NSD tolerance in mm for every structure of both tasks.
NSD_TOLERANCE_MM: dict[str, float] = {
    **{k: float(v) for k, v in _RAW["task001_nsd_tolerance_mm"].items()},
    **{k: float(v) for k, v in _RAW["task002_nsd_tolerance_mm"].items()},
}

#: Spellings used by the dataset card (and some public code) -> the spellings used here.
ALIASES: dict[str, str] = {
    "PharynxConstr": "PharynxConst",
    "Larynx_PharynxConstr_Overlap": "Larynx_PharynxConst_OverLap",
    "Larynx_PharynxConstr_OverLap": "Larynx_PharynxConst_OverLap",
    "Larynx_PharynxConst_Overlap": "Larynx_PharynxConst_OverLap",
    "IAC_L (Internal Acoustic Canal_L)": "IAC_L",
    "IAC_R (Internal Acoustic Canal_R)": "IAC_R",
    "GTVnx": "GTVp",
}
for _name in ONEHOT_LABELS.values():
    if "OverLap" in _name:
        ALIASES[_name.replace("OverLap", "Overlap")] = _name

# Two organ-group tables, kept side by side because they answer different questions and
# deliberately disagree on "inner ear": tests/test_labels.py checks both against the OARs.

#: Organ groups for *scoring*: the validation DSC reported while training (notebook 04,
#: ``training.val_dice.group_means``), then the GTVs (task 2). Keys are identifiers. ``large``,
#: ``small`` and ``inner_ear`` split the 45 OARs by how hard they are to learn: each OAR is in
#: exactly one of them, and ``inner_ear`` here holds all 12 small ear and temporal-bone
#: structures (middle ear, tympanic cavity and Eustachian tube bone included). ``core6`` are the
#: six large, high-contrast organs the CPU quick mode is expected to learn (DSC >= 0.7).
SCORE_GROUPS: dict[str, tuple[str, ...]] = {
    "core6": ("Brain", "Mandible_L", "Mandible_R", "SpinalCord", "Eye_L", "Eye_R"),
    "large": (
        "Brain",
        "BrainStem",
        "TemporalLobe_L",
        "TemporalLobe_R",
        "Eye_L",
        "Eye_R",
        "OralCavity",
        "Mandible_L",
        "Mandible_R",
        "Submandibular_L",
        "Submandibular_R",
        "Parotid_L",
        "Parotid_R",
        "Mastoid_L",
        "Mastoid_R",
        "SpinalCord",
        "Esophagus",
        "Larynx",
        "PharynxConst",
        "Thyroid",
        "Trachea",
    ),
    "small": (
        "Chiasm",
        "Hippocampus_L",
        "Hippocampus_R",
        "Lens_L",
        "Lens_R",
        "OpticNerve_L",
        "OpticNerve_R",
        "Pituitary",
        "TMjoint_L",
        "TMjoint_R",
        "Larynx_Glottic",
        "Larynx_Supraglot",
    ),
    "inner_ear": (
        "MiddleEar_L",
        "MiddleEar_R",
        "IAC_L",
        "IAC_R",
        "TympanicCavity_L",
        "TympanicCavity_R",
        "VestibulSemi_L",
        "VestibulSemi_R",
        "Cochlea_L",
        "Cochlea_R",
        "ETbone_L",
        "ETbone_R",
    ),
    "gtv": ("GTVp", "GTVnd"),
}

#: Organ groups for *display*: anatomical regions named in words, for the viewer's organ picker
#: and the slice pictures (``viz.colors.resolve_organs``). An organ may be in several groups.
#: ``"inner ear"`` here is the 6 inner-ear structures proper (cochlea, vestibule and
#: semicircular canals, internal acoustic canal); the middle ear is its own group.
DISPLAY_GROUPS: dict[str, tuple[str, ...]] = {
    "brain": (
        "Brain",
        "BrainStem",
        "TemporalLobe_L",
        "TemporalLobe_R",
        "Hippocampus_L",
        "Hippocampus_R",
        "Chiasm",
        "Pituitary",
    ),
    "optic pathway": ("Eye_L", "Eye_R", "Lens_L", "Lens_R", "OpticNerve_L", "OpticNerve_R", "Chiasm"),
    "inner ear": ("Cochlea_L", "Cochlea_R", "VestibulSemi_L", "VestibulSemi_R", "IAC_L", "IAC_R"),
    "middle ear": (
        "MiddleEar_L",
        "MiddleEar_R",
        "TympanicCavity_L",
        "TympanicCavity_R",
        "ETbone_L",
        "ETbone_R",
    ),
    "glands": ("Parotid_L", "Parotid_R", "Submandibular_L", "Submandibular_R", "Thyroid", "Pituitary"),
    "larynx/pharynx": ("Larynx", "Larynx_Glottic", "Larynx_Supraglot", "PharynxConst"),
    "bones and joints": ("Mandible_L", "Mandible_R", "TMjoint_L", "TMjoint_R", "Mastoid_L", "Mastoid_R"),
    "cord, airway and swallowing": (
        "SpinalCord",
        "BrainStem",
        "OralCavity",
        "PharynxConst",
        "Esophagus",
        "Trachea",
    ),
    "tumour (GTV)": ("GTVp", "GTVnd"),
}


def canonical_name(name: str) -> str:
    """Return the code spelling of a label or structure name (accepts the card's spellings)."""
    name = name.strip()
    if name in ONEHOT_IDS or name in OAR_TO_ONEHOT or name in GTV_NAMES:
        return name
    if name in ALIASES:
        return ALIASES[name]
    raise KeyError(f"unknown SegRap label or structure name: {name!r}")


def structures(task: int) -> tuple[str, ...]:
    """The evaluated structures of a task, in official order (45 OARs, or GTVp and GTVnd)."""
    if task == 1:
        return OAR_NAMES
    if task == 2:
        return GTV_NAMES
    raise ValueError(f"task must be 1 or 2, got {task!r}")


def labels_of(structure: str, task: int | None = None) -> tuple[int, ...]:
    """The one-hot label ids whose union is ``structure`` (an OAR or a GTV)."""
    structure = canonical_name(structure)
    if structure in OAR_TO_ONEHOT and task in (None, 1):
        return OAR_TO_ONEHOT[structure]
    if structure in GTV_NAMES and task in (None, 2):
        return (GTV_NAMES.index(structure) + 1,)
    raise KeyError(f"{structure!r} is not a structure of task {task}")


def max_label(task: int) -> int:
    """The largest valid label id of a task's one-hot map (54 or 2)."""
    return len(ONEHOT_LABELS) if task == 1 else len(GTV_LABELS)


def label_names(task: int) -> dict[int, str]:
    """Label id -> name of a task's one-hot map (background excluded)."""
    return dict(ONEHOT_LABELS) if task == 1 else dict(GTV_LABELS)


def _lut(labels: tuple[int, ...]) -> np.ndarray:
    lut = np.zeros(256, dtype=bool)
    lut[list(labels)] = True
    return lut


def structure_mask(onehot: np.ndarray, structure: str, task: int | None = None) -> np.ndarray:
    """Binary (bool) mask of one structure from a uint8 one-hot map, same shape and axis order."""
    if onehot.dtype != np.uint8:
        raise TypeError(f"one-hot map must be uint8, got {onehot.dtype}")
    # A 256-entry lookup table is one gather per voxel: cheaper than np.isin on big volumes.
    return _lut(labels_of(structure, task))[onehot]


def iter_structure_masks(onehot: np.ndarray, task: int = 1) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (name, bool mask) for every structure of a task, one at a time (bounded memory)."""
    for name in structures(task):
        yield name, structure_mask(onehot, name, task)


def structure_box(boxes: list[Box | None], structure: str, task: int | None = None) -> Box | None:
    """A structure's box in a map: the union of its labels' boxes (``label_boxes``' list; None: absent)."""
    box = None
    for label in labels_of(structure, task):
        box = union_box(box, boxes[label - 1] if label <= len(boxes) else None)
    return box


def iter_masks_in_place(onehot: np.ndarray, task: int = 1) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (name, uint8 0/1 mask) of every structure of a task, all in one reused buffer (NIfTI's Fortran order).

    For writing masks one after another at release size: each is filled only inside its
    structure's bounding box (one ``find_objects`` pass finds them all) and cleared before the
    next, so 45 masks cost about one pass over the map, not 45. A mask is valid only until the
    next one is yielded: copy it to keep it.
    """
    boxes = label_boxes(onehot)
    mask = np.zeros(onehot.shape, dtype=np.uint8, order="F")
    for name in structures(task):
        box = structure_box(boxes, name, task)
        if box is not None:
            mask[box] = structure_mask(onehot[box], name, task)
        yield name, mask
        if box is not None:
            mask[box] = 0


def onehot_to_masks(onehot: np.ndarray, task: int = 1) -> dict[str, np.ndarray]:
    """Convert a one-hot map into the binary masks of all structures of the task (official table)."""
    return dict(iter_structure_masks(onehot, task))


def _signatures() -> dict[int, frozenset[str]]:
    """One-hot label -> the set of OARs that contain it."""
    sig: dict[int, set[str]] = {k: set() for k in ONEHOT_LABELS}
    for oar, labels in OAR_TO_ONEHOT.items():
        for lab in labels:
            sig[lab].add(oar)
    return {k: frozenset(v) for k, v in sig.items()}


#: One-hot label -> the OARs it belongs to (e.g. 12 -> {Eye_L, Lens_L}).
LABEL_MEMBERSHIP: dict[int, frozenset[str]] = _signatures()


class ConversionError(ValueError):
    """Masks that no valid one-hot map can represent."""


def masks_to_onehot(masks: Mapping[str, np.ndarray], task: int = 1) -> np.ndarray:
    """Convert per-structure binary masks into the task's uint8 one-hot map (official table).

    Every structure of the task must be present (an empty mask is fine). A voxel's label is the
    one whose set of containing OARs equals the set of masks that cover the voxel; voxels
    covered by a combination no label stands for raise :class:`ConversionError`.
    """
    names = structures(task)
    missing = [n for n in names if n not in masks]
    if missing:
        raise ConversionError(f"missing masks: {', '.join(missing)}")
    shape = np.shape(masks[names[0]])
    for n in names:
        if np.shape(masks[n]) != shape:
            raise ConversionError(f"mask {n} has shape {np.shape(masks[n])}, expected {shape}")
    binary = {n: np.asarray(masks[n]).astype(bool, copy=False) for n in names}
    if task == 2:
        both = binary["GTVp"] & binary["GTVnd"]
        if both.any():
            raise ConversionError(f"GTVp and GTVnd overlap in {int(both.sum())} voxels")
        out = np.zeros(shape, dtype=np.uint8)
        out[binary["GTVp"]] = 1
        out[binary["GTVnd"]] = 2
        return out
    out = _paint_oars(binary, shape)
    # Every covered voxel must come back exactly: check the round trip per structure.
    for n in names:
        back = structure_mask(out, n, task)
        if not np.array_equal(back, binary[n]):
            bad = int(np.count_nonzero(back != binary[n]))
            raise ConversionError(
                f"{bad} voxels of {n} are covered by a combination of masks that no one-hot "
                "label represents (overlaps not in the official table)"
            )
    return out


def _paint_oars(binary: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """The Task 1 one-hot map painted from the 45 bool OAR masks, label by label (not checked)."""
    out = np.zeros(shape, dtype=np.uint8)
    # Paint labels in order of growing membership: a voxel covered by exactly the OARs of label L
    # is painted last by L, since any other label painted there has a strictly smaller set.
    boxes = {n: bbox(binary[n]) for n in OAR_NAMES}
    for lab in sorted(ONEHOT_LABELS, key=lambda k: (len(LABEL_MEMBERSHIP[k]), k)):
        members = sorted(LABEL_MEMBERSHIP[lab])
        if any(boxes[m] is None for m in members):
            continue
        known = [b for b in (boxes[m] for m in members) if b is not None]
        box = tuple(
            slice(max(b[ax].start for b in known), min(b[ax].stop for b in known)) for ax in range(len(shape))
        )
        if any(s.start >= s.stop for s in box):
            continue
        region = np.logical_and.reduce([binary[m][box] for m in members])
        out[box][region] = lab
    return out
