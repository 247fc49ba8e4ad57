"""Read one side of an evaluation (``--pred`` or ``--gt``) as cropped structures, checking every file.

A case is read as its one-hot map when it has one for the task, else as its per-structure
masks. A map may come in any integer dtype (uint8, uint16, big-endian int16, ...) or as
integer-valued floats, as long as its labels are those of the task; masks count any value > 0
as inside (the organisers' ``mask > 0``). Each mask is cropped to its bounding box while it is
inflated, so a case of 45 full-size masks never holds a full mask in memory, only the slices one
structure occupies.
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
    return _grid_check(FileGrid(tuple(vol.shape), vol.affine, vol.source), grid, side)


def _grid_check(mine: FileGrid, grid: FileGrid | None, side: str) -> FileGrid:
    """``grid``, after checking that a file's grid ``mine`` is the same (None: ``mine``)."""
    if grid is None:
        return mine
    if side == "--pred":
        problem = grid.mismatch(mine.shape, mine.affine, "the ground truth")
        if problem:
            raise DataError(
                mine.source, f"prediction is on a different grid than the ground truth ({problem})"
            )
    else:
        problem = grid.mismatch(mine.shape, mine.affine)
        if problem:
            raise DataError(
                mine.source, f"{side} mask is on a different grid than another mask of its case ({problem})"
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
    for name in names:
        out[name], grid = _read_mask(case.files[name], side, grid, f"{side} {name}")
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


#: Bytes of a mask inflated at a time: the reused buffer stays in the CPU's cache.
STREAM_BYTES = 1 << 18


def _read_mask(ref: FileRef, side: str, grid: FileGrid | None, what: str) -> tuple[CroppedMask, FileGrid]:
    """A mask file cropped to its bounding box, after checking that it lies on ``grid`` (None: its own).

    Plain uint8 masks (the release's) are cropped while they stream in (:func:`_stream_crop`),
    with the header read from the same stream; other dtypes go through read_nifti (any value
    > 0 is inside). Errors name the file and the side.
    """
    streamed: tuple[CroppedMask, FileGrid] | None = None
    try:
        with NiftiStream(ref) as stream:
            info = stream.info
            if len(info.shape) != 3:
                raise DataError(ref, f"expected a 3D volume, header says shape {info.shape}")
            if info.dtype == np.uint8 and info.slope == 1.0 and info.inter == 0.0:
                streamed = _stream_crop(stream, what), FileGrid(tuple(info.shape), info.affine, str(ref))
    except DataError as exc:
        raise DataError(exc.source, f"{side}: {exc.problem}") from None
    if streamed is not None:
        return streamed[0], _grid_check(streamed[1], grid, side)
    vol = _read(ref, side)
    grid = _on_grid(vol, grid, side)
    return crop_mask(_inside(vol.array), what), grid


def _stream_crop(stream: NiftiStream, what: str) -> CroppedMask:
    """A plain uint8 mask cropped as it is inflated: only the pieces holding a nonzero voxel are kept.

    Written by hand for speed: inflating each 131 MB mask into one large buffer took about 1.4x
    the inflate time of a small buffer that stays in cache. A mask is mostly zeros, so each
    piece is only checked, the nonzero ones are copied out, and only the slices (last axis)
    between the first and the last of them are assembled and cropped.
    """
    shape = tuple(int(n) for n in stream.info.shape)
    plane = max(1, shape[0] * shape[1])  # bytes per slice k (Fortran order)
    kept = [(start, piece.copy()) for start, piece in stream.chunks(STREAM_BYTES) if piece.max(initial=0)]
    if not kept:
        return CroppedMask(shape, None, np.zeros((0, 0, 0), bool))
    k0 = kept[0][0] // plane
    k1 = (kept[-1][0] + kept[-1][1].size - 1) // plane + 1
    slab = np.zeros(plane * (k1 - k0), dtype=np.uint8)
    for start, piece in kept:
        slab[start - k0 * plane : start - k0 * plane + piece.size] = piece
    part = crop_mask(slab.reshape((shape[0], shape[1], k1 - k0), order="F"), what)
    assert part.box is not None  # a kept piece holds a nonzero voxel
    box = (*part.box[:2], slice(part.box[2].start + k0, part.box[2].stop + k0))
    return CroppedMask(shape, box, part.crop)
