"""Read one side of an evaluation (``--pred`` or ``--gt``) as cropped structures, checking every file.

A case is read as its one-hot map when it has one for the task, else as its per-structure
masks. A map may come in any integer dtype (uint8, uint16, big-endian int16, ...) or as
integer-valued floats, as long as its labels are those of the task; masks count any value > 0
as inside (the organisers' ``mask > 0``). Each mask is cropped to its bounding box as soon as it
is read, so a case of 45 full-size masks never holds more than one full mask in memory.
Every error is a :class:`~segrap_nb.errors.DataError` naming the file and the side.
"""

from __future__ import annotations

import os

import numpy as np

from segrap_nb import labels as L
from segrap_nb.errors import DataError
from segrap_nb.eval.crops import CroppedMask, crop_mask, crop_structures
from segrap_nb.grid import GRID_ATOL_MM, FileGrid
from segrap_nb.io.counts import NiftiStream
from segrap_nb.io.dataset import Case
from segrap_nb.io.fileref import FileRef
from segrap_nb.io.mha import iter_structure_channels
from segrap_nb.io.nifti import Volume, read_nifti

__all__ = ["label_map", "read_structures", "read_structures_4d"]


def _read(ref: FileRef, side: str) -> Volume:
    """read_nifti, with the side named in any error."""
    try:
        return read_nifti(ref)
    except DataError as exc:
        raise DataError(exc.source, f"{side}: {exc.problem}") from None


def label_map(vol: Volume, task: int, side: str) -> np.ndarray:
    """A one-hot map as uint8, from any integer (or integer-valued float) dtype; DataError if its labels are not the task's."""
    arr = vol.array
    top = L.max_label(task)
    what = f"{side} Task00{task} one-hot map"
    if arr.dtype.kind == "b":
        arr = arr.view(np.uint8)
    elif arr.dtype.kind == "f":  # NaN and inf were refused by read_nifti
        fraction = np.flatnonzero(arr.ravel(order="K") != np.round(arr.ravel(order="K")))
        if fraction.size:
            example = float(arr.ravel(order="K")[fraction[0]])
            raise DataError(
                vol.source,
                f"{what} holds non-integer value {example:g} ({fraction.size} voxels); "
                f"labels are whole numbers 0..{top}",
            )
    elif arr.dtype.kind not in "iu":
        raise DataError(vol.source, f"{what} has data type {arr.dtype}; labels must be integers 0..{top}")
    lo, hi = (0, int(arr.max())) if arr.dtype == np.uint8 else (int(arr.min()), int(arr.max()))
    if lo < 0 or hi > top:
        raise DataError(
            vol.source, f"{what} holds label {hi if hi > top else lo}; Task00{task} labels are 0..{top}"
        )
    return arr if arr.dtype == np.uint8 else arr.astype(np.uint8)


def _on_grid(vol: Volume, grid: FileGrid | None, side: str) -> FileGrid:
    """``grid``, after checking that ``vol`` lies on it (None: the volume's own grid)."""
    mine = FileGrid(tuple(vol.shape), vol.affine, vol.source)
    if grid is None:
        return mine
    if side == "--pred":
        problem = grid.mismatch(mine.shape, mine.affine, "the ground truth")
        if problem:
            raise DataError(
                vol.source, f"prediction is on a different grid than the ground truth ({problem})"
            )
    else:
        problem = grid.mismatch(mine.shape, mine.affine)
        if problem:
            raise DataError(
                vol.source, f"{side} mask is on a different grid than another mask of its case ({problem})"
            )
    return grid


def _inside(array: np.ndarray) -> np.ndarray:
    """The organisers' ``mask > 0``: unsigned and bool arrays as they are (nonzero is > 0)."""
    return array if array.dtype.kind in "ub" else array > 0


def read_structures(
    case: Case, task: int, side: str, grid: FileGrid | None = None
) -> tuple[dict[str, CroppedMask], FileGrid]:
    """Every structure of ``task`` in ``case`` as a CroppedMask (official order), and the case's grid.

    ``side`` is ``"--pred"`` or ``"--gt"`` (named in errors). With ``grid`` (the ground truth's),
    every file read must be on it.
    """
    if task in case.onehot:
        vol = _read(case.onehot[task], side)
        grid = _on_grid(vol, grid, side)
        return crop_structures(label_map(vol, task, side), task, side), grid
    names = L.structures(task)
    missing = [n for n in names if n not in case.files]
    if missing:
        raise DataError(
            f"{case.case_id}",
            f"{side}: no Task00{task} one-hot map, and masks missing: "
            f"{', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""),
        )
    out: dict[str, CroppedMask] = {}
    buffer = np.empty(0, dtype=np.uint8)  # every mask is inflated into this one buffer
    for name in names:
        vol, buffer, slabs = _read_mask(case.files[name], side, buffer)
        grid = _on_grid(vol, grid, side)
        out[name] = _crop(vol.array, slabs, f"{side} {name}")
        del vol
    assert grid is not None
    return out, grid


def read_structures_4d(path: str | os.PathLike, task: int, grid: FileGrid) -> dict[str, CroppedMask]:
    """Every structure of ``task`` from a challenge 4D ``.mha`` (channel i = i-th structure), cropped.

    Read one channel at a time (each cropped at once). The file must lie on the ground truth's
    ``grid``: same x, y, z size and spacing (mm). Its origin and direction are not compared:
    the organisers' example writes origin 0 and an identity direction, and the platform
    compares voxel arrays.
    """
    try:
        shape, spacing, channels = iter_structure_channels(path, task)
        problem = None
        if tuple(shape) != tuple(grid.shape):
            problem = f"size {shape} differs from the ground truth's {tuple(grid.shape)}"
        elif not np.allclose(spacing, grid.spacing, atol=GRID_ATOL_MM):
            problem = f"spacing {spacing} mm differs from the ground truth's {grid.spacing} mm"
        if problem:
            raise DataError(path, f"prediction is on a different grid than the ground truth ({problem})")
        names = L.structures(task)
        return {name: crop_mask(channel, f"--pred {name}") for name, channel in zip(names, channels)}
    except DataError as exc:
        raise DataError(exc.source, f"--pred: {exc.problem}") from None


def _read_mask(ref: FileRef, side: str, buffer: np.ndarray) -> tuple[Volume, np.ndarray, slice | None]:
    """A mask file as a Volume viewing ``buffer`` (reused; grown if too small), the buffer, and its k range.

    Plain uint8 masks (the release's) are inflated into the buffer with the header read from the
    same stream, and the range of slices (last axis) holding a nonzero voxel is found while each
    slice is still in cache (``slice(0, 0)``: empty). Other dtypes go through read_nifti (range
    None). Errors name the file and the side.
    """
    try:
        with NiftiStream(ref) as stream:
            info = stream.info
            if len(info.shape) != 3:
                raise DataError(ref, f"expected a 3D volume, header says shape {info.shape}")
            if info.dtype == np.uint8 and info.slope == 1.0 and info.inter == 0.0:
                total = int(np.prod(info.shape))
                if buffer.size < total:
                    buffer = np.empty(total, dtype=np.uint8)
                plane = max(1, info.shape[0] * info.shape[1])  # bytes per slice k (Fortran order)
                hits: list[int] = []
                seen = [0]

                def note(part: np.ndarray) -> None:
                    start = seen[0]
                    seen[0] += part.size
                    if part.max(initial=0):
                        hits.extend((start // plane, (start + part.size - 1) // plane + 1))

                array = stream.read_into(buffer, note)
                spacing = (info.spacing[0], info.spacing[1], info.spacing[2])
                slabs = slice(min(hits), max(hits)) if hits else slice(0, 0)
                return Volume(array, info.affine, spacing, str(ref)), buffer, slabs
    except DataError as exc:
        raise DataError(exc.source, f"{side}: {exc.problem}") from None
    return _read(ref, side), buffer, None


def _crop(array: np.ndarray, slabs: slice | None, what: str) -> CroppedMask:
    """crop_mask of a mask (nonzero = inside), searching its box only in the slices ``slabs`` (None: all)."""
    if slabs is None or array.ndim != 3:
        return crop_mask(_inside(array), what)
    if slabs.start >= slabs.stop:
        return CroppedMask(tuple(array.shape), None, np.zeros((0, 0, 0), bool))
    part = crop_mask(array[:, :, slabs], what)
    if part.box is None:
        return CroppedMask(tuple(array.shape), None, part.crop)
    box = (*part.box[:2], slice(part.box[2].start + slabs.start, part.box[2].stop + slabs.start))
    return CroppedMask(tuple(array.shape), box, part.crop)
