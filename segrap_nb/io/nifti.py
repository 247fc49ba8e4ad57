"""Fast, careful NIfTI-1/2 reading and atomic writing for ``.nii.gz`` files (on disk or in a zip).

Arrays come back in **NIfTI voxel index order (i, j, k)**, exactly as nibabel returns them,
with the stored dtype kept (int16 HU for SegRap CTs, uint8 for masks and one-hot maps).
``spacing`` is in mm, in the same axis order. For SegRap, k is the 3 mm slice axis; read the
orientation from the affine (``axis_codes``) rather than assuming it.

Why not just ``nibabel.load(...).get_fdata()``? It inflates the gzip stream with the standard
library (the slowest decoder) and returns float64 (4x the memory of an int16 CT). Here the
header is parsed by nibabel, and the voxel data are inflated by ISA-L (python-isal, about 2x
faster than zlib) straight into the final array, with no intermediate copies.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import nibabel as nib
import numpy as np

try:  # ISA-L is the fastest gzip decoder on PyPI; fall back to the standard library.
    from isal import igzip as _gzip
    from isal.igzip import READ_BUFFER_SIZE as _READ_BUFFER_SIZE
    from isal.isal_zlib import _GzipReader

    GZIP_BACKEND = "isal"
except ImportError:  # pragma: no cover - exercised only without python-isal
    import gzip as _gzip  # type: ignore[no-redef]

    _GzipReader = None  # type: ignore[assignment,misc]
    GZIP_BACKEND = "zlib"

from segrap_nb.errors import DataError
from segrap_nb.io.atomic import atomic_open
from segrap_nb.io.fileref import FileRef

_HEADER_BYTES = 540 + 4
#: Bytes inflated per read call (bounds the gzip reader's own temporary copy).
READ_CHUNK_BYTES = 1 << 20  # a NIfTI-2 header plus the extension flag; NIfTI-1 needs 348 + 4


@dataclass
class NiftiInfo:
    """Header facts of a NIfTI file: shape (voxels), spacing (mm), affine (voxel -> mm), dtype."""

    source: str
    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    affine: np.ndarray
    dtype: np.dtype
    slope: float
    inter: float
    offset: int
    header: nib.Nifti1Header


@dataclass
class Volume:
    """A 3D image or mask: ``array`` in (i, j, k) order, ``affine`` voxel -> mm, ``spacing`` mm."""

    array: np.ndarray
    affine: np.ndarray
    spacing: tuple[float, float, float]
    source: str = ""

    @property
    def shape(self) -> tuple[int, ...]:
        """Array shape in voxels, (i, j, k)."""
        return self.array.shape

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm³."""
        return float(np.prod(self.spacing))

    @property
    def axis_codes(self) -> tuple[str, ...]:
        """Anatomical direction each array axis points to, e.g. ('L', 'P', 'S'), from the affine."""
        return nib.aff2axcodes(self.affine)


@contextmanager
def open_stream(ref: FileRef) -> Iterator[IO[bytes]]:
    """The decompressed byte stream of a .nii.gz (or the raw stream of a .nii); closes both."""
    with ref.open() as raw:
        if not ref.name.endswith(".gz"):
            yield raw
            return
        if _GzipReader is not None:
            # ISA-L's own reader (what igzip.GzipFile wraps in a BufferedReader): its readinto
            # inflates straight into the caller's buffer, with no intermediate bytes object.
            reader = _GzipReader(raw, _READ_BUFFER_SIZE)  # type: ignore[arg-type]
            try:
                yield reader  # type: ignore[misc]  # a raw binary stream
            finally:
                reader.close()
            return
        with _gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            yield stream  # type: ignore[misc]  # a GzipFile is a binary stream


def _parse_header(ref: FileRef, first: bytes) -> NiftiInfo:
    """Parse a NIfTI-1 or NIfTI-2 header from the first decompressed bytes of a file."""
    if len(first) < 348:
        raise DataError(ref, f"not a NIfTI file: only {len(first)} bytes")
    klass: type[nib.Nifti1Header]
    # sizeof_hdr is 348 (NIfTI-1) or 540 (NIfTI-2) in the file's byte order, which may be either.
    sizes = {int.from_bytes(first[:4], "little"), int.from_bytes(first[:4], "big")}
    if 348 in sizes:
        klass = nib.Nifti1Header
    elif 540 in sizes:
        klass = nib.Nifti2Header
    else:
        raise DataError(ref, "not a NIfTI file (bad header size field)")
    try:
        hdr = klass.from_fileobj(io.BytesIO(first), check=True)
    except Exception as exc:  # nibabel raises several types for a bad header
        raise DataError(ref, f"not a valid NIfTI header ({exc})") from None
    if bytes(hdr["magic"]).rstrip(b"\x00") not in (b"n+1", b"n+2", b"ni1", b"ni2"):
        raise DataError(ref, "not a NIfTI file (bad magic)")
    shape = tuple(int(s) for s in hdr.get_data_shape())
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    zooms = tuple(float(z) for z in hdr.get_zooms()[: len(shape)])
    slope, inter = hdr.get_slope_inter()
    offset = int(hdr["vox_offset"]) or (352 if klass is nib.Nifti1Header else 544)
    return NiftiInfo(
        source=str(ref),
        shape=shape,
        spacing=zooms,
        affine=hdr.get_best_affine(),
        dtype=hdr.get_data_dtype(),
        slope=1.0 if slope is None or not np.isfinite(slope) else float(slope),
        inter=0.0 if inter is None or not np.isfinite(inter) else float(inter),
        offset=offset,
        header=hdr,
    )


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def decode_error(ref: FileRef, exc: BaseException) -> DataError:
    """Turn a low-level decoding error into a one-line message naming the file."""
    if isinstance(exc, DataError):
        return exc
    if isinstance(exc, EOFError):
        return DataError(ref, "truncated gzip stream (file ended early: incomplete download?)")
    if isinstance(exc, FileNotFoundError):
        return DataError(ref, "file not found")
    if isinstance(exc, (OSError, zlib.error)) or type(exc).__name__ in {"BadGzipFile", "IsalError"}:
        return DataError(ref, f"not a readable gzip file ({exc})")
    return DataError(ref, f"cannot read ({type(exc).__name__}: {exc})")


def read_header(ref: FileRef | str | os.PathLike) -> NiftiInfo:
    """Read only the header (shape, spacing in mm, affine, dtype); no voxel data is decoded."""
    ref = FileRef.of(ref)
    try:
        with open_stream(ref) as stream:
            first = _read_exact(stream, _HEADER_BYTES)
    except Exception as exc:
        raise decode_error(ref, exc) from None
    return _parse_header(ref, first)


def read_nifti(ref: FileRef | str | os.PathLike, *, check_finite: bool = True) -> Volume:
    """Read a NIfTI volume: stored dtype kept (float32 if the header scales), (i, j, k) order.

    Raises :class:`DataError` naming the file for a truncated gzip, a file that is not NIfTI,
    a data block shorter than the header says, or NaN/inf voxels in a float image.
    """
    ref = FileRef.of(ref)
    try:
        with open_stream(ref) as stream:
            first = _read_exact(stream, _HEADER_BYTES)
            info = _parse_header(ref, first)
            if len(info.shape) != 3:
                raise DataError(ref, f"expected a 3D volume, header says shape {info.shape}")
            count = int(np.prod(info.shape))
            out = np.empty(count, dtype=info.dtype)
            view = out.view(np.uint8).data
            pre = first[info.offset :]
            if info.offset > len(first):  # extensions: skip them
                _read_exact(stream, info.offset - len(first))
                pre = b""
            n = min(len(pre), view.nbytes)
            view[:n] = pre[:n]
            # Decompress into the output buffer a slice at a time: the gzip reader copies through
            # a temporary as large as the request, so asking for the whole volume at once would
            # hold it twice (2x the peak memory of every read, measured with tracemalloc).
            while n < view.nbytes:
                end = min(n + READ_CHUNK_BYTES, view.nbytes)
                got = stream.readinto(view[n:end])  # type: ignore[attr-defined]  # all our streams have it
                if not got:
                    break
                n += got
            if n < view.nbytes:
                raise DataError(ref, f"data block too short: {n} of {view.nbytes} bytes (truncated file?)")
    except Exception as exc:
        raise decode_error(ref, exc) from None
    array = out.reshape(info.shape, order="F")
    if not array.dtype.isnative:  # a big-endian file: same values, in this machine's byte order
        array = array.astype(array.dtype.newbyteorder("="))
    if info.slope != 1.0 or info.inter != 0.0:
        array = array.astype(np.float32) * np.float32(info.slope) + np.float32(info.inter)
    if check_finite and array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise DataError(ref, f"{bad} voxels are NaN or infinite")
    return Volume(
        array=array,
        affine=info.affine,
        spacing=(info.spacing[0], info.spacing[1], info.spacing[2]),
        source=str(ref),
    )


def nifti_bytes_header(array: np.ndarray, affine: np.ndarray) -> bytes:
    """The 352-byte NIfTI-1 header (with an empty extension flag) for an array and affine in mm."""
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(array.dtype)
    hdr.set_data_shape(array.shape)
    hdr.set_qform(affine, code=1)
    hdr.set_sform(affine, code=1)
    hdr.set_xyzt_units("mm", "sec")
    hdr["vox_offset"] = 352
    hdr.set_slope_inter(1.0, 0.0)
    return hdr.binaryblock + b"\x00" * 4


def encode_nifti(
    out: IO[bytes], array: np.ndarray, affine: np.ndarray, *, gz: bool = True, compresslevel: int = 1
) -> None:
    """Write ``array`` ((i, j, k) order, stored dtype kept) as NIfTI-1 bytes to an open stream."""
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.view(np.uint8)
    data = np.asfortranarray(array)
    header = nifti_bytes_header(data, np.asarray(affine, dtype=float))
    payload = data.ravel(order="F").view(np.uint8).data
    if not gz:
        out.write(header)
        out.write(payload)
        return
    # mtime=0 and no file name in the gzip header: equal arrays always give equal bytes.
    with _gzip.GzipFile(filename="", fileobj=out, mode="wb", compresslevel=compresslevel, mtime=0) as f:
        f.write(header)
        f.write(payload)


def write_nifti(
    path: str | os.PathLike, array: np.ndarray, affine: np.ndarray, *, compresslevel: int = 1
) -> Path:
    """Write ``array`` ((i, j, k) order, stored dtype kept) as .nii.gz atomically (temp + rename)."""
    path = Path(path)
    with atomic_open(path, "wb") as raw:
        encode_nifti(raw, array, affine, gz=path.name.endswith(".gz"), compresslevel=compresslevel)
    return path
