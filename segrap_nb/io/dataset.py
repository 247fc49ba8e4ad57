"""Find SegRap cases in any official layout: extracted folders, the two release zips, or both.

The release (see the dataset card) is two zips::

    SegRap2023_Training_Set_120cases/segrap_0000/{image,image_contrast,<OAR>,GTVp,GTVnd}.nii.gz
    SegRap2023_Training_Set_120cases_OneHot_Labels/Task001/segrap_0000.nii.gz   (or task001/)
    SegRap2023_Training_Set_120cases_OneHot_Labels/Task002/segrap_0000.nii.gz   (or task002/)

``SegRapDataset(root)`` accepts a folder holding either or both parts (extracted or as the
.zip files, read in place), one of those zips, or a flat folder of ``segrap_XXXX.nii.gz``
label maps (nnU-Net predictions) with ``flat_task=1|2``.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segrap_nb import labels as L
from segrap_nb.errors import DataError
from segrap_nb.io.fileref import FileRef
from segrap_nb.io.nifti import NiftiInfo, Volume, read_header, read_nifti
from segrap_nb.io.onehot_stream import onehot_from_mask_files

IMAGES_DIR = "SegRap2023_Training_Set_120cases"
ONEHOT_DIR = "SegRap2023_Training_Set_120cases_OneHot_Labels"
IMAGE_KEYS = ("image", "image_contrast")

_CASE_FILE = re.compile(r"(?:^|/)(segrap_\d+)/([^/]+)\.nii\.gz$")
_ONEHOT_FILE = re.compile(r"(?:^|/)[Tt]ask00([12])/(segrap_\d+)\.nii\.gz$")
_FLAT_FILE = re.compile(r"^(segrap_\d+)\.nii\.gz$")


@dataclass
class Case:
    """One patient: references to its files (nothing is read until you ask)."""

    case_id: str
    files: dict[str, FileRef] = field(default_factory=dict)  # image keys, OAR and GTV names
    onehot: dict[int, FileRef] = field(default_factory=dict)  # task -> one-hot map

    def __repr__(self) -> str:
        return (
            f"Case({self.case_id!r}: images={[k for k in IMAGE_KEYS if k in self.files]}, "
            f"masks={sum(1 for k in self.files if k not in IMAGE_KEYS)}, "
            f"onehot tasks={sorted(self.onehot)})"
        )

    @property
    def has_images(self) -> bool:
        """True when the plain CT is present."""
        return "image" in self.files

    def mask_names(self) -> list[str]:
        """Names of the per-structure mask files present (OARs then GTVs, official order)."""
        order = list(L.OAR_NAMES) + list(L.GTV_NAMES)
        return [n for n in order if n in self.files]

    def image(self, contrast: bool = False) -> Volume:
        """The plain (or contrast-enhanced) CT in HU, int16, (i, j, k) order, spacing in mm."""
        key = "image_contrast" if contrast else "image"
        if key not in self.files:
            raise DataError(f"{self.case_id}/{key}.nii.gz", "missing from the dataset")
        return read_nifti(self.files[key])

    def image_header(self, contrast: bool = False) -> NiftiInfo:
        """Header only (shape, spacing mm, affine) of the plain or contrast CT."""
        key = "image_contrast" if contrast else "image"
        if key not in self.files:
            raise DataError(f"{self.case_id}/{key}.nii.gz", "missing from the dataset")
        return read_header(self.files[key])

    def mask(self, structure: str) -> Volume:
        """Binary uint8 mask of one OAR or GTV: its own file, else derived from the one-hot map."""
        name = L.canonical_name(structure)
        if name in self.files:
            return read_nifti(self.files[name])
        task = 2 if name in L.GTV_NAMES else 1
        if task in self.onehot:
            vol = self.onehot_map(task)
            arr = L.structure_mask(vol.array, name, task).view(np.uint8)
            return Volume(arr, vol.affine, vol.spacing, f"{vol.source} (as {name})")
        raise DataError(f"{self.case_id}/{name}.nii.gz", "mask missing (and no one-hot map)")

    def onehot_map(self, task: int = 1) -> Volume:
        """The uint8 one-hot map of a task; built from the separate masks if its file is missing."""
        if task in self.onehot:
            return read_nifti(self.onehot[task])
        names = L.structures(task)
        missing = [n for n in names if n not in self.files]
        if missing:
            raise DataError(
                f"{self.case_id} Task00{task}",
                f"no one-hot map, and masks missing to build it: {', '.join(missing[:5])}",
            )
        # Streamed one mask at a time into one uint8 map: 45 full-size masks never sit in memory.
        refs = {n: self.files[n] for n in names}
        arr, first = onehot_from_mask_files(refs, task, f"{self.case_id} masks")
        spacing = (first.spacing[0], first.spacing[1], first.spacing[2])
        return Volume(arr, first.affine, spacing, f"{self.case_id} masks -> Task00{task}")


class SegRapDataset:
    """The cases found under a root (folder or zip), sorted by case id; index by id or position."""

    def __init__(self, root: str | os.PathLike, flat_task: int | None = None) -> None:
        self.root = Path(root)
        if not self.root.exists():
            raise DataError(self.root, "dataset path does not exist")
        self.sources: list[str] = []
        self._cases: dict[str, Case] = {}
        if self.root.is_file():
            self._add_zip(self.root)
        else:
            self._add_tree(self.root, flat_task)
        if not self._cases:
            raise DataError(
                self.root,
                f"no SegRap cases found (expected {IMAGES_DIR}/segrap_XXXX/ or "
                f"{ONEHOT_DIR}/Task001/, extracted or as .zip)",
            )

    # -- discovery -------------------------------------------------------------------------
    def _case(self, case_id: str) -> Case:
        return self._cases.setdefault(case_id, Case(case_id))

    def _add(self, rel: str, ref: FileRef, flat_task: int | None = None) -> None:
        m = _ONEHOT_FILE.search(rel)
        if m:
            self._case(m.group(2)).onehot.setdefault(int(m.group(1)), ref)
            return
        m = _CASE_FILE.search(rel)
        if m:
            case_id, stem = m.groups()
            try:
                key = stem if stem in IMAGE_KEYS else L.canonical_name(stem)
            except KeyError:
                return  # not a SegRap structure (e.g. a user's extra file): ignore
            self._case(case_id).files.setdefault(key, ref)
            return
        if flat_task is not None:
            m = _FLAT_FILE.match(rel)
            if m:
                self._case(m.group(1)).onehot.setdefault(flat_task, ref)

    def _add_tree(self, root: Path, flat_task: int | None) -> None:
        zips = []
        seen: set[str] = set()  # real folders already scanned: linked folders are followed once
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            real = os.path.realpath(dirpath)
            if real in seen:  # a link loop, or a second link to the same folder
                dirnames[:] = []
                continue
            seen.add(real)
            dirnames.sort()
            for fn in sorted(filenames):
                full = Path(dirpath) / fn
                rel = full.relative_to(root).as_posix()
                if fn.endswith(".nii.gz"):
                    self._add(rel, FileRef(full), flat_task if "/" not in rel else None)
                elif fn.lower().endswith(".zip") and fn.startswith("SegRap"):
                    zips.append(full)
        if self._cases:
            self.sources.append(str(root))
        for z in zips:  # extracted files win over the same files inside a zip
            self._add_zip(z)

    def _add_zip(self, path: Path) -> None:
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile as exc:
            raise DataError(path, f"not a readable zip file ({exc})") from None
        for name in names:
            if name.endswith(".nii.gz") and not name.startswith("__MACOSX"):
                self._add(name, FileRef(path, name))
        self.sources.append(str(path))

    # -- access ----------------------------------------------------------------------------
    @property
    def case_ids(self) -> list[str]:
        """Case ids, sorted (``segrap_0000`` ...)."""
        return sorted(self._cases)

    def __len__(self) -> int:
        return len(self._cases)

    def __iter__(self) -> Iterator[Case]:
        return (self._cases[c] for c in self.case_ids)

    def __getitem__(self, key: str | int) -> Case:
        if isinstance(key, int):
            return self._cases[self.case_ids[key]]
        if key not in self._cases:
            raise KeyError(f"{key!r} not in dataset {self.root} ({len(self)} cases)")
        return self._cases[key]

    def __repr__(self) -> str:
        return f"SegRapDataset({str(self.root)!r}, {len(self)} cases)"
