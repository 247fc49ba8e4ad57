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
from segrap_nb.io.counts import PIECE_BYTES, NiftiStream, add_counts
from segrap_nb.io.dataset import IMAGE_KEYS, Case, SegRapDataset
from segrap_nb.io.fileref import FileRef
from segrap_nb.io.nifti import Volume, read_nifti
from segrap_nb.parallel import run_in_order

#: Bytes inflated at a time (one reused buffer); scanned in pieces of ``PIECE_BYTES`` (cache-sized).
SCAN_BYTES = 1 << 20


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


def _opened(ref: FileRef) -> NiftiStream:
    """A NiftiStream whose header is checked as :func:`read_nifti` checks it (3D)."""
    stream = NiftiStream(ref)
    if len(stream.info.shape) != 3:
        stream.close()
        raise DataError(ref, f"expected a 3D volume, header says shape {stream.info.shape}")
    return stream


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
    """Decode both CTs (streamed: never held): dtype, and the contrast CT on the plain CT's grid."""
    grid: FileGrid | None = None
    for key in IMAGE_KEYS:
        if key not in case.files:
            continue
        ref = case.files[key]
        try:
            with _opened(ref) as stream:  # decoded to the end in chunks, never held whole
                info = stream.info
                if info.dtype.kind != "f":
                    for _ in stream.chunks(SCAN_BYTES):
                        pass
        except DataError as exc:
            report.error(exc.source, exc.problem)
            continue
        # NaN/inf must be found in a float CT: read_nifti checks every voxel (a rare layout).
        if info.dtype.kind == "f" and _read(report, case, key) is None:
            continue
        scaled = info.slope != 1.0 or info.inter != 0.0
        kind = "f" if scaled else info.dtype.kind  # read_nifti gives float32 for a scaled file
        if kind not in "iuf":
            dtype = np.dtype(np.float32) if scaled else info.dtype.newbyteorder("=")
            report.error(str(ref), f"unexpected dtype {dtype} for a CT")
        if grid is None:
            grid = FileGrid(tuple(info.shape), info.affine, f"{key}.nii.gz")
        elif problem := grid.mismatch(info.shape, info.affine):
            report.error(str(ref), problem)
    return grid


def _label_counts(arr: np.ndarray, top: int) -> np.ndarray:
    """Voxels of every value 0..top of a uint8 map (int64): no int64 copy of the map."""
    counts = np.zeros(256, dtype=np.int64)
    add_counts(counts, arr)
    return counts[: top + 1]


def _read_map(
    report: CaseReport, ref: FileRef, buffer: np.ndarray
) -> tuple[Volume | None, np.ndarray | None, np.ndarray]:
    """A one-hot map, for a plain uint8 map its label counts taken while it is inflated (in cache), and the buffer.

    A plain uint8 map is inflated into ``buffer`` (reused for the case's second map: the pages
    of a fresh 131 MB array cost more than counting it; grown if too small).
    """
    try:
        with _opened(ref) as stream:
            info = stream.info
            if info.dtype == np.uint8 and info.slope == 1.0 and info.inter == 0.0:
                counts = np.zeros(256, dtype=np.int64)
                if buffer.size < int(np.prod(info.shape)):
                    buffer = np.empty(int(np.prod(info.shape)), dtype=np.uint8)
                array = stream.read_into(buffer, lambda part: add_counts(counts, part))
                spacing = (info.spacing[0], info.spacing[1], info.spacing[2])
                return Volume(array, info.affine, spacing, str(ref)), counts, buffer
    except DataError as exc:
        report.error(exc.source, exc.problem)
        return None, None, buffer
    vol = read_nifti_reported(report, ref)
    return vol, None, buffer


def read_nifti_reported(report: CaseReport, ref: FileRef) -> Volume | None:
    """read_nifti, its DataError recorded in the report (None then)."""
    try:
        return read_nifti(ref)
    except DataError as exc:
        report.error(exc.source, exc.problem)
        return None


def _check_map(
    report: CaseReport, case: Case, grid: FileGrid | None, task: int, buffer: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray] | None, np.ndarray]:
    """Read the task's one-hot map: integer labels in range, on the CT's grid; (map and label counts, or None; the buffer)."""
    if task not in case.onehot:
        return None, buffer
    top = L.max_label(task)
    vol, counted, buffer = _read_map(report, case.onehot[task], buffer)
    if vol is None:
        return None, buffer
    if vol.array.dtype.kind not in "iu":
        report.error(vol.source, f"one-hot map has dtype {vol.array.dtype}, expected integers")
        return None, buffer
    if counted is not None:  # counted while inflated: no further pass over 131 M voxels
        vmin, vmax = 0, int(np.flatnonzero(counted).max(initial=0))
    else:
        vmin, vmax = int(vol.array.min()), int(vol.array.max())
    if vmin < 0 or vmax > top:
        report.error(vol.source, f"label values {vmin}..{vmax} out of range 0..{top}")
        return None, buffer
    if grid is not None and (problem := grid.mismatch(vol.shape, vol.affine)):
        report.error(vol.source, problem)
        return None, buffer
    arr = vol.array.astype(np.uint8, copy=False)
    counts = counted[: top + 1] if counted is not None else _label_counts(arr, top)
    absent = sorted(set(range(1, top + 1)) - set(np.flatnonzero(counts).tolist()))
    if absent:
        names = ", ".join(f"{k} {L.label_names(task)[k]}" for k in absent)
        report.info(vol.source, f"labels absent from this case: {names}")
    return (arr, counts), buffer


@dataclass
class _MaskScan:
    """What one streamed pass over a mask file found: its values, voxels inside, and those the map agrees on."""

    values: set[int] = field(default_factory=set)
    inside: int = 0
    agreed: int = 0


def _scan_mask(stream: NiftiStream, against: np.ndarray | None, lut: np.ndarray) -> _MaskScan:
    """One pass over a mask file: values present, voxels > 0, and how many of them ``lut[against]`` holds."""
    info = stream.info
    if not (info.dtype == np.uint8 and info.slope == 1.0 and info.inter == 0.0):
        arr = read_nifti(stream.ref).array  # not plain uint8: read it whole (rare)
        inside = arr.astype(bool)
        agreed = 0 if against is None else int(np.count_nonzero(lut[against] & inside))
        return _MaskScan(set(np.unique(arr).tolist()), int(np.count_nonzero(inside)), agreed)
    scan = _MaskScan()
    flat = None if against is None else against.ravel(order="F")  # the file's voxel order
    for start, chunk in stream.chunks(SCAN_BYTES):
        if not chunk.max(initial=0):
            continue
        for lo in range(0, chunk.size, PIECE_BYTES):  # voxel indices only where the mask is
            piece = chunk[lo : lo + PIECE_BYTES]
            top = int(piece.max(initial=0))
            if not top:
                continue
            scan.values.update(np.unique(piece).tolist() if top > 1 else (1,))
            where = np.flatnonzero(piece)
            scan.inside += where.size
            if flat is not None:
                scan.agreed += int(np.count_nonzero(lut[flat[start + lo : start + lo + piece.size][where]]))
    if scan.inside < int(np.prod(info.shape)):  # some voxel is 0
        scan.values.add(0)
    return scan


def _check_masks(
    report: CaseReport,
    case: Case,
    grid: FileGrid | None,
    task: int,
    checked: tuple[np.ndarray, np.ndarray] | None,
) -> None:
    """Decode each mask of ``task`` once (streamed): binary, on the CT's grid, equal to its one-hot labels (``checked``: the map and its counts), empty or not."""
    for name in L.OAR_NAMES if task == 1 else L.GTV_NAMES:
        if name not in case.files:
            continue
        ref = case.files[name]
        labels = L.labels_of(name, task)
        lut = np.zeros(256, dtype=bool)
        lut[list(labels)] = True
        try:
            with _opened(ref) as stream:  # header and voxels from one pass: decoded once
                info = stream.info
                on_grid = grid is None or not grid.mismatch(info.shape, info.affine)
                fits = checked is not None and on_grid and checked[0].shape == info.shape
                scan = _scan_mask(stream, checked[0] if fits and checked else None, lut)
        except DataError as exc:
            report.error(exc.source, exc.problem)
            continue
        if grid is not None and (problem := grid.mismatch(info.shape, info.affine)):
            report.error(str(ref), problem)
            continue
        values = sorted(scan.values)
        if not set(values) <= {0, 1}:
            report.error(str(ref), f"mask is not binary (values {values[:6]})")
            continue
        if scan.inside == 0:
            report.info(str(ref), f"empty mask: no voxel of {name} in this case")
        if checked is None:
            continue
        if checked[0].shape != info.shape:
            report.error(str(ref), f"shape {info.shape} differs from the one-hot map's")
            continue
        expected = int(checked[1][list(labels)].sum())  # voxels of the structure in the map
        diff = scan.inside + expected - 2 * scan.agreed  # |mask XOR map|: the voxels they disagree on
        if diff:
            labs = "+".join(str(k) for k in labels)
            report.error(str(ref), f"differs from one-hot labels {labs} of Task00{task} in {diff} voxels")


def check_case(case: Case, expect_images: bool, expect_onehot: bool) -> CaseReport:
    """Run every check on one case (decodes each file once; only one one-hot map is held whole at a time)."""
    report = CaseReport(case.case_id)
    _check_presence(report, case, expect_images, expect_onehot)
    grid = _check_images(report, case)
    buffer = np.empty(0, dtype=np.uint8)  # both maps are inflated into it, one after the other
    for task in (1, 2):
        checked, buffer = _check_map(report, case, grid, task, buffer)
        _check_masks(report, case, grid, task, checked)
        del checked  # the buffer now holds the next map
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
