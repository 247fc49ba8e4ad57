"""Label counting straight from the gzip stream: voxel counts per label and mask voxel indices.

Hand-written for speed and memory (``nibabel`` + ``np.bincount`` would hold the whole volume and
an int64 copy of it): a uint8 file is inflated chunk by chunk into one reused buffer and each
chunk is counted by :func:`add_counts`, which skips the background. Files with another dtype or
with scaling are read whole by :func:`segrap_nb.io.nifti.read_nifti`. Every decoding error names
the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from segrap_nb.errors import DataError
from segrap_nb.io.fileref import FileRef
from segrap_nb.io.nifti import (
    _HEADER_BYTES,
    NiftiInfo,
    _parse_header,
    _read_exact,
    decode_error,
    open_stream,
    read_nifti,
)


def _read_guarded(ref: FileRef, read: Callable[..., Any], *args: Any) -> Any:
    """Call a stream read; decoding errors become a DataError naming the file."""
    try:
        return read(*args)
    except Exception as exc:
        raise decode_error(ref, exc) from None


COUNT_CHUNK_BYTES = 1 << 22

#: Bytes of a label map counted at a time: a piece and its int64 copy stay in the CPU's cache.
PIECE_BYTES = 1 << 16


def add_counts(counts: np.ndarray, part: np.ndarray) -> None:
    """Add the voxel count of every value of the uint8 array ``part`` to ``counts`` (int64, 256 long), in place.

    Written by hand for speed: a head-and-neck label map is mostly background, so a piece that
    is all zero is only checked, and of the others only the nonzero voxels go to ``np.bincount``
    (whose int64 copy then stays small). On the full-size phantom's maps this is about 10x
    faster than ``torch.bincount`` of every voxel (``benchmarks/bench_stats.py``, the floor's
    count against the kit's).
    """
    flat = part.ravel(order="K")  # a view for C- or F-contiguous arrays (no copy)
    background = 0
    for lo in range(0, flat.size, PIECE_BYTES):
        piece = flat[lo : lo + PIECE_BYTES]
        if not piece.max(initial=0):
            background += piece.size
            continue
        inside = piece[piece != 0]
        counts += np.bincount(inside, minlength=256)
        background += piece.size - inside.size
    counts[0] += background


def bincount_uint8(array: np.ndarray) -> np.ndarray:
    """Voxel count of every value of a uint8 array (int64, length max + 1), in one pass (:func:`add_counts`)."""
    counts = np.zeros(256, dtype=np.int64)
    add_counts(counts, array)
    return counts[: int(np.flatnonzero(counts).max(initial=0)) + 1]


def _streamable(info: NiftiInfo) -> bool:
    """True when the voxel bytes are the uint8 values themselves (no scaling)."""
    plain = info.slope == 1.0 and info.inter == 0.0
    return len(info.shape) == 3 and info.dtype == np.uint8 and plain


def iter_voxel_chunks(
    ref: FileRef, info: NiftiInfo, chunk_bytes: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index of the first voxel, uint8 chunk) of a uint8 NIfTI file, in file order.

    Hand-written for speed and memory: the gzip stream is inflated chunk by chunk into one
    reused buffer (the chunk array is overwritten by the next one), so a volume is never held
    whole: 4 MB instead of 132 MB per full-size map, and no fresh pages to touch. Voxels come
    in the file's order, i.e. the Fortran (i fastest) order of the (i, j, k) array.
    """
    return iter_data_chunks(ref, info, chunk_bytes)


def iter_data_chunks(
    ref: FileRef, info: NiftiInfo | None = None, chunk_bytes: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (byte offset, uint8 bytes) of a NIfTI file's voxel data of any dtype, in file order.

    The bytes are inflated into one reused buffer (see :func:`iter_voxel_chunks`); a chunk need
    not end on a voxel boundary for dtypes wider than a byte. Every byte of the data block is
    decoded, so a truncated or corrupt stream raises DataError naming the file. The header is
    parsed from the same stream (``info``, if given, is not read again).
    """
    with NiftiStream(ref) as stream:
        yield from stream.chunks(chunk_bytes)


class NiftiStream:
    """One pass over a NIfTI file: its header (``info``), then its voxel bytes in chunks.

    Reading the header with :func:`read_header` and then the data from a second stream would
    inflate the start of the file twice: for a mask, whose whole gzip stream fits in the
    decoder's first input block, that doubles the decoding time.
    """

    def __init__(self, ref: FileRef | str | os.PathLike) -> None:
        self.ref = FileRef.of(ref)
        self._context = open_stream(self.ref)
        try:
            self._stream = self._context.__enter__()
            first = _read_exact(self._stream, _HEADER_BYTES)
        except Exception as exc:
            self.close()
            raise decode_error(self.ref, exc) from None
        try:
            self.info = _parse_header(self.ref, first)
        except DataError:
            self.close()
            raise
        self._first = first

    def __enter__(self) -> NiftiStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (idempotent)."""
        context, self._context = self._context, None  # type: ignore[assignment]
        if context is not None:
            try:
                context.__exit__(None, None, None)
            except Exception:  # closing a broken stream: the read error was raised already
                pass

    def read_into(self, out: np.ndarray, each: Callable[[np.ndarray], None] | None = None) -> np.ndarray:
        """Inflate the whole data block into ``out`` (a reused uint8 buffer, grown if too small).

        Returns the voxels as an array of the file's dtype and shape ((i, j, k), Fortran order)
        that views ``out``'s memory: reading mask after mask into one buffer spares the page
        faults of a fresh full-size array per file (more than the inflating itself costs).
        ``each`` is called on every newly filled slice of bytes while it is still in cache.
        """
        ref, info = self.ref, self.info
        total = int(np.prod(info.shape)) * info.dtype.itemsize
        if out.size < total:
            out = np.empty(total, dtype=np.uint8)
        view = out.data
        pre = self._first[info.offset :][:total]
        skip = max(0, info.offset - len(self._first))
        while skip:
            got = len(_read_guarded(ref, self._stream.read, min(skip, 1 << 16)))
            if not got:
                break
            skip -= got
        out[: len(pre)] = np.frombuffer(pre, dtype=np.uint8)
        done = len(pre)
        if each is not None and done:
            each(out[:done])
        while done < total:  # 1 MB at a time: the reader's own temporary stays small
            got = _read_guarded(ref, self._stream.readinto, view[done : min(done + (1 << 20), total)])  # type: ignore[attr-defined]
            if not got:
                break
            if each is not None:
                each(out[done : done + got])
            done += got
        if done < total:
            raise DataError(ref, f"data block too short: {done} of {total} bytes (truncated file?)")
        return out[:total].view(info.dtype).reshape(info.shape, order="F")

    def chunks(self, chunk_bytes: int | None = None, align: int = 1) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (byte offset, uint8 bytes) of the data block, inflated into one reused buffer.

        Every chunk but the last is a multiple of ``align`` bytes long (e.g. one row of voxels).
        """
        ref, info = self.ref, self.info
        total = int(np.prod(info.shape)) * info.dtype.itemsize
        size = max(1, min(chunk_bytes or COUNT_CHUNK_BYTES, total))
        pre = self._first[info.offset :][:total]  # data bytes already inflated with the header
        size = min(-(-max(size, len(pre)) // align) * align, total)
        buf = np.empty(size, dtype=np.uint8)
        view = buf.data
        skip = max(0, info.offset - len(self._first))
        while skip:  # extensions beyond the first bytes read
            got = len(_read_guarded(ref, self._stream.read, min(skip, 1 << 16)))
            if not got:
                break
            skip -= got
        buf[: len(pre)] = np.frombuffer(pre, dtype=np.uint8)
        done, filled = 0, len(pre)
        while done < total:
            want = min(size, total - done)
            if filled < want:
                filled += _read_guarded(ref, self._stream.readinto, view[filled:want])  # type: ignore[attr-defined]
            if not filled:
                break
            yield done, buf[:filled]
            done, filled = done + filled, 0
        if done < total:
            raise DataError(ref, f"data block too short: {done} of {total} bytes (truncated file?)")


def count_labels(
    ref: FileRef | str | os.PathLike, chunk_bytes: int | None = None
) -> tuple[np.ndarray, NiftiInfo]:
    """Voxel count of every value (int64, length 256) of a label map file, and its header.

    One pass: :func:`iter_voxel_chunks` inflates the file in chunks and :func:`add_counts`
    counts each chunk. Maps stored with another dtype or with scaling are read whole instead.
    Errors (truncated or corrupt file, values outside 0..255) raise DataError naming the file.
    """
    ref = FileRef.of(ref)
    counts = np.zeros(256, dtype=np.int64)
    with NiftiStream(ref) as stream:  # header and data from one pass over the file
        info = stream.info
        if len(info.shape) != 3:
            raise DataError(ref, f"expected a 3D label map, header says shape {info.shape}")
        if _streamable(info):
            for _, chunk in stream.chunks(chunk_bytes):
                add_counts(counts, chunk)
            return counts, info
    vol = read_nifti(ref)
    part = bincount_uint8(_as_label_map(vol.array, vol.source))
    counts[: len(part)] = part
    return counts, info


def _as_label_map(array: np.ndarray, source: str) -> np.ndarray:
    """The label map as uint8 (no copy when it is uint8 already); bad dtypes raise DataError."""
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind not in "iu":
        raise DataError(source, f"label map has dtype {array.dtype}, expected integers (uint8)")
    lo, hi = int(array.min()), int(array.max())
    if lo < 0 or hi > 255:
        raise DataError(source, f"label values {lo}..{hi} out of range (uint8 labels expected)")
    return array.astype(np.uint8)


def mask_voxels(
    ref: FileRef | str | os.PathLike, chunk_bytes: int | None = None
) -> tuple[np.ndarray, NiftiInfo]:
    """Indices (int64, sorted, Fortran order of (i, j, k)) of a mask file's nonzero voxels."""
    ref = FileRef.of(ref)
    with NiftiStream(ref) as stream:  # header and data from one pass over the file
        info = stream.info
        if len(info.shape) != 3:
            raise DataError(ref, f"expected a 3D mask, header says shape {info.shape}")
        if _streamable(info):
            parts = [
                np.flatnonzero(chunk) + start
                for start, chunk in stream.chunks(chunk_bytes)
                if chunk.max(initial=0)
            ]
            return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)), info
    return np.flatnonzero(read_nifti(ref).array.ravel(order="F")), info
