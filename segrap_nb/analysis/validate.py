"""``segrap-nb validate DATA``: check every case of a dataset, one line per problem.

Checks, per case: files present and readable (every gzip stream decoded to the end), every
mask and one-hot map on the CT's grid (shape and affine), masks binary, one-hot values in
range, and each separate mask equal to its union of one-hot labels (the official table).
A label absent from a case is reported as information, not as an error (the real release
lacks e.g. the Hippocampus in a few cases).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from segrap_nb import labels as L
from segrap_nb.errors import DataError
from segrap_nb.grid import FileGrid
from segrap_nb.io.dataset import IMAGE_KEYS, Case, SegRapDataset
from segrap_nb.io.nifti import Volume, read_nifti
from segrap_nb.parallel import run_in_order


@dataclass
class Finding:
    """One problem (``error``) or remark (``info``) about a file: ``<path>: <message>``."""

    level: str  # "error" or "info"
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class CaseReport:
    """All findings for one case."""

    case_id: str
    findings: list[Finding] = field(default_factory=list)

    def error(self, path: object, message: str) -> None:
        """Record an error about ``path``."""
        self.findings.append(Finding("error", str(path), message))

    def info(self, path: object, message: str) -> None:
        """Record a remark about ``path``."""
        self.findings.append(Finding("info", str(path), message))

    @property
    def errors(self) -> list[Finding]:
        """The errors only."""
        return [f for f in self.findings if f.level == "error"]


def _read(report: CaseReport, case: Case, key: str, task: int | None = None) -> Volume | None:
    ref = case.onehot[task] if task else case.files[key]
    try:
        return read_nifti(ref)
    except DataError as exc:
        report.error(exc.source, exc.problem)
        return None


def _check_presence(report: CaseReport, case: Case, expect_images: bool, expect_onehot: bool) -> None:
    """Report every expected file that the case lacks."""
    cid = case.case_id
    if expect_images:
        for key in (*IMAGE_KEYS, *L.OAR_NAMES, *L.GTV_NAMES):
            if key not in case.files:
                report.error(f"{cid}/{key}.nii.gz", "missing")
    if expect_onehot:
        for task in (1, 2):
            if task not in case.onehot:
                report.error(f"{cid} Task00{task}/{cid}.nii.gz", "missing one-hot map")


def _check_images(report: CaseReport, case: Case) -> FileGrid | None:
    """Read both CTs: dtype, and the contrast CT on the plain CT's grid; returns that grid."""
    grid: FileGrid | None = None
    for key in IMAGE_KEYS:
        if key not in case.files:
            continue
        vol = _read(report, case, key)
        if vol is None:
            continue
        if vol.array.dtype.kind not in "iuf":
            report.error(vol.source, f"unexpected dtype {vol.array.dtype} for a CT")
        if grid is None:
            grid = FileGrid(tuple(vol.shape), vol.affine, f"{key}.nii.gz")
        elif problem := grid.mismatch(vol.shape, vol.affine):
            report.error(vol.source, problem)
    return grid


def _check_maps(report: CaseReport, case: Case, grid: FileGrid | None) -> dict[int, np.ndarray]:
    """Read the one-hot maps: integer labels in range, on the CT's grid; returns the good ones."""
    maps: dict[int, np.ndarray] = {}
    for task in (1, 2):
        if task not in case.onehot:
            continue
        vol = _read(report, case, "", task)
        if vol is None:
            continue
        top = L.max_label(task)
        if vol.array.dtype.kind not in "iu":
            report.error(vol.source, f"one-hot map has dtype {vol.array.dtype}, expected integers")
            continue
        vmax, vmin = int(vol.array.max()), int(vol.array.min())
        if vmin < 0 or vmax > top:
            report.error(vol.source, f"label values {vmin}..{vmax} out of range 0..{top}")
            continue
        if grid is not None and (problem := grid.mismatch(vol.shape, vol.affine)):
            report.error(vol.source, problem)
            continue
        arr = vol.array.astype(np.uint8, copy=False)
        present = np.flatnonzero(np.bincount(arr.ravel(), minlength=top + 1))
        absent = sorted(set(range(1, top + 1)) - set(present.tolist()))
        if absent:
            names = ", ".join(f"{k} {L.label_names(task)[k]}" for k in absent)
            report.info(vol.source, f"labels absent from this case: {names}")
        maps[task] = arr
    return maps


def _check_masks(report: CaseReport, case: Case, grid: FileGrid | None, maps: dict[int, np.ndarray]) -> None:
    """Read each mask: binary, on the CT's grid, equal to its one-hot labels (official table)."""
    for name in (*L.OAR_NAMES, *L.GTV_NAMES):
        if name not in case.files:
            continue
        vol = _read(report, case, name)
        if vol is None:
            continue
        if grid is not None and (problem := grid.mismatch(vol.shape, vol.affine)):
            report.error(vol.source, problem)
            continue
        values = np.unique(vol.array)
        if not np.isin(values, (0, 1)).all():
            report.error(vol.source, f"mask is not binary (values {values[:6].tolist()})")
            continue
        task = 2 if name in L.GTV_NAMES else 1
        if task not in maps:
            continue
        if maps[task].shape != vol.shape:
            report.error(vol.source, f"shape {vol.shape} differs from the one-hot map's")
            continue
        expected = L.structure_mask(maps[task], name, task)
        diff = int(np.count_nonzero(expected != vol.array.astype(bool)))
        if diff:
            labs = "+".join(str(k) for k in L.labels_of(name, task))
            report.error(vol.source, f"differs from one-hot labels {labs} of Task00{task} in {diff} voxels")


def check_case(case: Case, expect_images: bool, expect_onehot: bool) -> CaseReport:
    """Run every check on one case (reads each file once; one file in memory besides the maps)."""
    report = CaseReport(case.case_id)
    _check_presence(report, case, expect_images, expect_onehot)
    grid = _check_images(report, case)
    maps = _check_maps(report, case, grid)
    _check_masks(report, case, grid, maps)
    return report


def _check_one(args: tuple[Case, bool, bool]) -> CaseReport:
    return check_case(*args)


def validate_dataset(root: str, workers: int = 1, progress: bool = True) -> list[CaseReport]:
    """Validate every case under ``root``; returns one report per case, in case order."""
    ds = SegRapDataset(root)
    expect_images = any(c.files for c in ds)
    expect_onehot = any(c.onehot for c in ds)
    jobs = [(c, expect_images, expect_onehot) for c in ds]
    return run_in_order(_check_one, jobs, workers, desc="validate", progress=progress)
