"""Read one side of an evaluation (``--pred`` or ``--gt``) as cropped structures, checking every file.

A case is read as its one-hot map when it has one for the task, else as its per-structure
masks. A map may come in any integer dtype (uint8, uint16, big-endian int16, ...) or as
integer-valued floats, as long as its labels are those of the task; masks count any value > 0
as inside (the organisers' ``mask > 0``). A uint8 mask or map, and each channel of a challenge
4D ``.mha``, is cut to the box of its nonzero voxels while it is inflated (:func:`_stream_box`),
so a case never holds a full-size volume in memory, only the rows its structures occupy.
Every error is a :class:`~segrap_nb.errors.DataError` naming the file and the side.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import numpy as np

from segrap_nb import labels as L
from segrap_nb.errors import DataError
from segrap_nb.eval.crops import CroppedMask, crop_mask, crop_structures
from segrap_nb.grid import GRID_ATOL_MM, Box, FileGrid
from segrap_nb.io.counts import NiftiStream
from segrap_nb.io.dataset import Case
from segrap_nb.io.fileref import FileRef
from segrap_nb.io.mha import iter_structure_pieces
from segrap_nb.io.nifti import NiftiInfo, Volume, read_nifti

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
        return _read_map(case.onehot[task], task, side, grid)
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
        shape, spacing, channels = iter_structure_pieces(path, task, STREAM_BYTES)
        problem = None
        if tuple(shape) != tuple(grid.shape):
            problem = f"size {shape} differs from the ground truth's {tuple(grid.shape)}"
        elif not np.allclose(spacing, grid.spacing, atol=GRID_ATOL_MM):
            problem = f"spacing {spacing} mm differs from the ground truth's {grid.spacing} mm"
        if problem:
            raise DataError(path, f"prediction is on a different grid than the ground truth ({problem})")
        out = {}
        for c, (name, pieces) in enumerate(zip(L.structures(task), channels)):
            box, inside = _stream_box(shape, pieces)
            top = int(inside.max(initial=0))  # the whole channel's: it is zero outside the box
            if top > 1:
                raise DataError(path, f"channel {c} holds value {top}; each channel is a 0/1 mask")
            out[name] = CroppedMask(tuple(shape), box, inside.view(bool))
        return out
    except DataError as exc:
        raise DataError(exc.source, f"--pred: {exc.problem}") from None


#: Bytes of a mask inflated at a time: the reused buffer stays in the CPU's cache.
STREAM_BYTES = 1 << 18


def _plain_uint8(info: NiftiInfo) -> bool:
    """Whether a file's voxels are its stored uint8 bytes (no scaling): the release's masks and maps."""
    return len(info.shape) == 3 and info.dtype == np.uint8 and info.slope == 1.0 and info.inter == 0.0


def _streamed(ref: FileRef, side: str) -> tuple[NiftiInfo, tuple[Box | None, np.ndarray] | None]:
    """A file's header and, when its voxels are plain uint8, their box and the volume inside it.

    One pass over the file (:func:`_stream_box`); None for other files, which the caller reads
    whole. Errors name the file and the side.
    """
    try:
        with NiftiStream(ref) as stream:
            info = stream.info
            return info, (_stream_box(info.shape, _row_chunks(stream)) if _plain_uint8(info) else None)
    except DataError as exc:
        raise DataError(exc.source, f"{side}: {exc.problem}") from None


def _read_map(
    ref: FileRef, task: int, side: str, grid: FileGrid | None
) -> tuple[dict[str, CroppedMask], FileGrid]:
    """A one-hot map's structures as CroppedMasks, and its grid (checked against ``grid`` if given).

    A plain uint8 map is streamed (:func:`_streamed`): only the box of its labels is kept, and
    the structures are cut from it. Other dtypes are read whole (:func:`label_map`).
    """
    info, streamed = _streamed(ref, side)
    if streamed is None:
        vol = _read(ref, side)
        grid = _on_grid(vol, grid, side)
        return crop_structures(label_map(vol, task, side), task, side), grid
    shape = tuple(int(n) for n in info.shape)
    grid = _grid_check(FileGrid(shape, info.affine, str(ref)), grid, side)
    box, inside = streamed
    if box is None:
        return {n: CroppedMask(shape, None, np.zeros((0, 0, 0), bool)) for n in L.structures(task)}, grid
    spacing = (float(info.spacing[0]), float(info.spacing[1]), float(info.spacing[2]))
    labels = label_map(Volume(inside, info.affine, spacing, str(ref)), task, side)
    parts = crop_structures(labels, task, side)
    return {name: _shifted(part, box, shape) for name, part in parts.items()}, grid


def _read_mask(ref: FileRef, side: str, grid: FileGrid | None, what: str) -> tuple[CroppedMask, FileGrid]:
    """A mask file cropped to its bounding box, after checking that it lies on ``grid`` (None: its own).

    Plain uint8 masks (the release's) are cropped while they stream in (:func:`_streamed`), with
    the header read from the same stream; other files go through read_nifti (any value > 0 is
    inside; not 3D: an error). Errors name the file and the side.
    """
    info, streamed = _streamed(ref, side)
    if streamed is None:
        vol = _read(ref, side)
        grid = _on_grid(vol, grid, side)
        return crop_mask(_inside(vol.array), what), grid
    shape = tuple(int(n) for n in info.shape)
    box, inside = streamed
    mask = CroppedMask(shape, box, np.not_equal(inside, 0))
    return mask, _grid_check(FileGrid(shape, info.affine, str(ref)), grid, side)


def _stream_box(
    shape: tuple[int, ...], chunks: Iterable[tuple[int, np.ndarray]]
) -> tuple[Box | None, np.ndarray]:
    """The box of a uint8 volume's nonzero voxels, and the volume inside it (Fortran order), in one pass.

    ``chunks`` are (byte offset, bytes) of the volume in Fortran order, each made of whole rows
    (``shape[0]`` voxels), e.g. ``NiftiStream.chunks(n, align=shape[0])``.

    Written by hand for speed and memory: a mask or a one-hot map is mostly zeros, and inflating
    it whole into one large buffer took about 1.4x the inflate time of a small buffer that stays
    in cache. The volume is inflated a few hundred rows (fixed j, k; i runs) at a time: a chunk
    that is all zero is only checked, and of the others only the rows holding a nonzero voxel
    are kept. Their rows and columns give the box; the kept rows then fill it.
    """
    n0, n1, _ = (int(n) for n in shape)
    rows: list[np.ndarray] = []  # global row numbers (j + n1 * k) of the kept rows, per chunk
    kept: list[np.ndarray] = []  # the kept rows themselves, per chunk
    i0, i1 = n0, 0
    for start, chunk in chunks:
        if not chunk.max(initial=0):
            continue
        block = chunk.reshape(-1, n0)
        hit = np.flatnonzero(block.max(axis=1))
        kept.append(block[hit])  # a copy: the chunk's buffer is reused
        rows.append(hit + start // n0)
        cols = np.flatnonzero(kept[-1].max(axis=0))
        i0, i1 = min(i0, int(cols[0])), max(i1, int(cols[-1]) + 1)
    if not kept:
        return None, np.zeros((0, 0, 0), np.uint8)
    every = np.concatenate(rows)
    j, k = every % n1, every // n1
    box = (slice(i0, i1), slice(int(j.min()), int(j.max()) + 1), slice(int(k[0]), int(k[-1]) + 1))
    out = np.zeros(tuple(b.stop - b.start for b in box), np.uint8, order="F")
    by_row = out.T  # (k, j, i) view in C order: one kept row is one out.T[k, j, :]
    done = 0
    for block in kept:
        sl = slice(done, done + len(block))
        by_row[k[sl] - box[2].start, j[sl] - box[1].start] = block[:, i0:i1]
        done += len(block)
    return box, out


def _row_chunks(stream: NiftiStream) -> Iterator[tuple[int, np.ndarray]]:
    """A NIfTI stream's voxel bytes in chunks of whole rows, about STREAM_BYTES long."""
    n0 = int(stream.info.shape[0])
    return stream.chunks(max(1, STREAM_BYTES // n0) * n0, align=n0)


def _shifted(part: CroppedMask, outer: Box, shape: tuple[int, ...]) -> CroppedMask:
    """A CroppedMask found inside the box ``outer``, as one of the whole volume of ``shape`` voxels."""
    if part.box is None:
        return CroppedMask(shape, None, part.crop)
    box = tuple(slice(b.start + o.start, b.stop + o.start) for b, o in zip(part.box, outer))
    return CroppedMask(shape, box, part.crop)
