"""MetaImage (``.mha``) files through SimpleITK: the challenge's input CTs and its 4D output masks.

The SegRap algorithm container reads each CT as one ``.mha`` file and writes ONE 4D ``.mha``
(uint8, values 0/1, compressed): DimSize ``x y z C``, one channel per structure in the official
order (45 OARs for Task 1, GTVp and GTVnd for Task 2), spacing ``(sx, sy, sz, 1)``. As a
numpy array read by SimpleITK that is ``(C, z, y, x)``; the kit's arrays are ``(i, j, k)``
= ``(x, y, z)``, so each channel is the transpose of one ``(z, y, x)`` plane stack.

SimpleITK keeps the file's voxel order (no reorientation) and gives origin and direction in
ITK's LPS world; affines here are the kit's (NIfTI) RAS ones, so x and y change sign between
the two (:func:`affine_from_itk`, :func:`itk_geometry`). The 4D output is written and read
one channel at a time (:mod:`segrap_nb.io.mha_stream`), the rest with SimpleITK. The 4D file carries the CT's origin
and direction in its first three axes (0 and identity on the channel axis): a viewer overlays
it on the CT, and the platform, which compares voxel arrays on the CT's grid, does not care.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segrap_nb import labels as L
from segrap_nb.errors import DataError
from segrap_nb.io.atomic import atomic_path
from segrap_nb.io.mha_stream import iter_channel_pieces, read_header, streamable, write_channel_stack
from segrap_nb.io.nifti import Volume

#: ITK's LPS world and the kit's RAS world differ by the sign of x and y.
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def affine_from_itk(
    spacing: Iterable[float], origin: Iterable[float], direction: Iterable[float]
) -> np.ndarray:
    """RAS voxel -> mm affine (4 x 4) of an ITK image's first three axes (spacing mm, LPS origin/direction)."""
    sp = np.asarray(list(spacing), float)[:3]
    dim = int(round(len(list(direction)) ** 0.5))
    d = np.asarray(list(direction), float).reshape(dim, dim)[:3, :3]
    affine = np.eye(4)
    affine[:3, :3] = _LPS_TO_RAS @ d @ np.diag(sp)
    affine[:3, 3] = _LPS_TO_RAS @ np.asarray(list(origin), float)[:3]
    return affine


def itk_geometry(affine: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """(spacing mm, LPS origin mm, row-major 3 x 3 direction) of a RAS voxel -> mm affine."""
    a = np.asarray(affine, float)
    lps = _LPS_TO_RAS @ a[:3, :3]
    spacing = np.linalg.norm(lps, axis=0)
    direction = lps / spacing
    origin = _LPS_TO_RAS @ a[:3, 3]
    return tuple(spacing.tolist()), tuple(origin.tolist()), tuple(direction.ravel().tolist())


@contextmanager
def _native_output(captured: list[str]) -> Iterator[None]:
    """Capture what SimpleITK's C++ code prints on file descriptors 1 and 2 into ``captured``.

    MetaIO reports why a file is unreadable ("data not read completely ...") on stdout, not in
    the exception (whose reason is often just "Success"): kept for the error message instead of
    cluttering the one-line error a user sees.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as tmp:
        try:
            os.dup2(tmp.fileno(), 1)
            os.dup2(tmp.fileno(), 2)
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            tmp.seek(0)
            captured.append(tmp.read().decode(errors="replace"))


def _reason(exc: BaseException, captured: list[str]) -> str:
    """One line saying why ITK failed: MetaIO's own report if it printed one, else the exception's."""
    lines = [ln.strip().removeprefix("MetaImage: ") for ln in "".join(captured).splitlines() if ln.strip()]
    if lines:
        return " ".join(lines[:2])
    text = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return next((ln for ln in text if ln.startswith("Reason:")), text[-1] if text else type(exc).__name__)


def _reader(path: Path):
    """A SimpleITK MetaImage reader of ``path`` with its header read; DataError if it cannot be."""
    import SimpleITK as sitk

    if not path.is_file():
        raise DataError(path, "no such file")
    reader = sitk.ImageFileReader()
    reader.SetImageIO("MetaImageIO")
    reader.SetFileName(str(path))
    captured: list[str] = []
    try:
        with _native_output(captured):
            reader.ReadImageInformation()
    except RuntimeError as exc:
        raise DataError(path, f"not a readable MetaImage file ({_reason(exc, captured)})") from None
    return reader


def _execute(reader, path: Path):
    """Read the voxels; a truncated or corrupt file is a DataError naming it."""
    captured: list[str] = []
    try:
        with _native_output(captured):
            return reader.Execute()
    except RuntimeError as exc:
        raise DataError(
            path, f"truncated or corrupt MetaImage voxel data ({_reason(exc, captured)})"
        ) from None


def read_mha(path: str | os.PathLike) -> Volume:
    """A 3D ``.mha`` image (e.g. a CT in HU) as a Volume: array (i, j, k), RAS affine, spacing mm."""
    import SimpleITK as sitk

    path = Path(path).expanduser()
    reader = _reader(path)
    if reader.GetDimension() != 3 or reader.GetNumberOfComponents() != 1:
        raise DataError(
            path,
            f"expected a 3D single-component image, found {reader.GetDimension()}D with "
            f"{reader.GetNumberOfComponents()} component(s)",
        )
    image = _execute(reader, path)
    array = sitk.GetArrayFromImage(image).transpose(2, 1, 0)  # (z, y, x) -> (i, j, k), a view
    affine = affine_from_itk(image.GetSpacing(), image.GetOrigin(), image.GetDirection())
    sx, sy, sz = (float(s) for s in image.GetSpacing())
    return Volume(array, affine, (sx, sy, sz), str(path))


def _write_image(image, path: Path) -> Path:
    """Write a SimpleITK image as a compressed ``.mha``, atomically.

    SimpleITK picks the format and the single-file layout from the name's ``.mha`` ending, so
    the image goes to ``<temporary>.mha`` first, which then becomes the atomic helper's
    temporary file (renamed over ``path`` only when everything was written).
    """
    import SimpleITK as sitk

    with atomic_path(path) as tmp:
        staged = tmp.with_name(tmp.name + ".mha")
        try:
            sitk.WriteImage(image, str(staged), useCompression=True)
            os.replace(staged, tmp)
        finally:
            staged.unlink(missing_ok=True)
    return path


def write_mha(path: str | os.PathLike, array: np.ndarray, affine: np.ndarray) -> Path:
    """Write a 3D (i, j, k) array on a RAS ``affine`` as a compressed ``.mha`` (atomically)."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(array).transpose(2, 1, 0)))
    spacing, origin, direction = itk_geometry(affine)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    return _write_image(image, Path(path).expanduser())


def structure_channels(onehot: np.ndarray, task: int) -> np.ndarray:
    """The challenge's channel stack of a one-hot map (i, j, k): uint8 0/1, shape (C, z, y, x)."""
    names = L.structures(task)
    out = np.empty((len(names), *onehot.shape[::-1]), np.uint8)
    for c, (_, mask) in enumerate(L.iter_structure_masks(onehot, task)):
        out[c] = mask.T  # (i, j, k) -> (k, j, i) = (z, y, x)
    return out


def write_structures_mha(path: str | os.PathLike, onehot: np.ndarray, task: int, affine: np.ndarray) -> Path:
    """Write the challenge's 4D output: one uint8 0/1 channel per structure of ``task``, compressed.

    ``onehot`` is the uint8 label map (i, j, k) on the CT's grid, ``affine`` the CT's RAS
    affine. Size ``x y z C``, spacing ``(sx, sy, sz, 1)``; written atomically, one channel at a
    time (:mod:`segrap_nb.io.mha_stream`: a release-size case never holds all 45 in memory).
    """
    spacing, origin, direction = itk_geometry(affine)
    masks = (mask for _, mask in L.iter_masks_in_place(onehot, task))  # each written before the next
    count = len(L.structures(task))
    d = np.asarray(direction).reshape(3, 3)
    return write_channel_stack(Path(path).expanduser(), masks, count, spacing, origin, d)


#: Voxel pieces a channel is inflated in by default: the reused buffer stays in the CPU's cache.
PIECE_BYTES = 1 << 18


def iter_structure_pieces(
    path: str | os.PathLike, task: int, piece_bytes: int = PIECE_BYTES
) -> tuple[tuple[int, int, int], tuple[float, float, float], Iterator[Iterator[tuple[int, np.ndarray]]]]:
    """A challenge 4D ``.mha`` piece by piece: (x, y, z) size, spacing mm, and each channel's pieces.

    Channels come in the official order of ``task``; each is an iterator of (byte offset, uint8
    voxels, x fastest = NIfTI's Fortran order) pieces of at most ``piece_bytes`` (rounded up
    to whole rows of x voxels), in one reused buffer (:func:`segrap_nb.io.mha_stream.iter_channel_pieces`).
    DataError, naming the file, for a file that is not such an image (checked as it is read).
    Values are not checked here (see :func:`iter_structure_channels`).
    """
    path = Path(path).expanduser()
    n = len(L.structures(task))
    try:
        fh = open(path, "rb")  # noqa: SIM115 -- kept open for the channel iterator, which closes it
    except OSError as exc:
        raise DataError(path, f"cannot open ({exc.strerror})") from None
    fields = read_header(fh)
    if not streamable(fields):  # another layout: SimpleITK reads it (and names what is wrong)
        fh.close()
        stack = read_structures_mha(path, task)
        whole = (iter([(0, np.ravel(stack.channel(i), order="F"))]) for i in range(n))
        return stack.shape, stack.spacing, whole
    try:
        size = tuple(int(v) for v in fields["DimSize"].split())
        sx, sy, sz = (float(v) for v in fields["ElementSpacing"].split()[:3])
    except (KeyError, ValueError):
        fh.close()
        raise DataError(path, "MetaImage header without a valid DimSize or ElementSpacing") from None
    if len(size) != 4 or size[3] != n:
        fh.close()
        raise DataError(
            path,
            f"expected a 4D image of size x y z {n} (one channel per Task00{task} structure), "
            f"found size {' '.join(str(s) for s in size)}",
        )
    rows = max(1, -(-piece_bytes // size[0]))
    pieces = iter_channel_pieces(path, fh, fields, rows * size[0])
    return (size[0], size[1], size[2]), (sx, sy, sz), pieces


def iter_structure_channels(
    path: str | os.PathLike, task: int
) -> tuple[tuple[int, int, int], tuple[float, float, float], Iterator[np.ndarray]]:
    """A challenge 4D ``.mha`` channel by channel: (x, y, z) size, spacing mm, and an iterator of
    uint8 0/1 (i, j, k) channels in the official order of ``task`` (one in memory at a time).

    DataError, naming the file, for a file that is not such an image (checked as it is read).
    """
    size, spacing, pieces = iter_structure_pieces(path, task)

    def channels() -> Iterator[np.ndarray]:
        for c, channel in enumerate(pieces):
            flat = np.empty(int(np.prod(size)), np.uint8)
            for start, piece in channel:
                flat[start : start + piece.size] = piece
            top = int(flat.max(initial=0))
            if top > 1:
                raise DataError(
                    Path(path).expanduser(), f"channel {c} holds value {top}; each channel is a 0/1 mask"
                )
            yield flat.reshape(size, order="F")

    return size, spacing, channels()


@dataclass
class StructureChannels:
    """A challenge 4D ``.mha`` in memory: ``array`` (C, z, y, x) uint8 is a view of the kept ``image``."""

    image: Any  # the SimpleITK image that owns the voxels (kept alive for the view)
    array: np.ndarray
    spacing: tuple[float, float, float]  # mm, x y z
    source: str

    @property
    def shape(self) -> tuple[int, int, int]:
        """The grid of one channel, (i, j, k) = (x, y, z) voxels."""
        _, z, y, x = self.array.shape
        return x, y, z

    def channel(self, index: int) -> np.ndarray:
        """Channel ``index`` as a uint8 0/1 array in (i, j, k) order (a view)."""
        return self.array[index].T


def read_structures_mha(path: str | os.PathLike, task: int) -> StructureChannels:
    """A challenge 4D ``.mha``, channel i = the i-th structure of ``task`` (official order).

    DataError, naming the file, unless it is 4D uint8 with one channel per structure of ``task``
    and values 0/1. The voxels are not copied (one 4D array in memory).
    """
    import SimpleITK as sitk

    path = Path(path).expanduser()
    reader = _reader(path)
    size = reader.GetSize()
    n = len(L.structures(task))
    if reader.GetDimension() != 4 or size[3] != n:
        raise DataError(
            path,
            f"expected a 4D image of size x y z {n} (one channel per Task00{task} structure), "
            f"found size {' '.join(str(s) for s in size)}",
        )
    image = _execute(reader, path)
    if image.GetPixelID() != sitk.sitkUInt8:
        raise DataError(path, f"voxel type is {image.GetPixelIDTypeAsString()}; the challenge wants uint8")
    array = sitk.GetArrayViewFromImage(image)  # valid while ``image`` lives: kept in the result
    top = int(array.max(initial=0))
    if top > 1:
        raise DataError(path, f"holds value {top}; each channel is a 0/1 mask")
    sx, sy, sz = (float(s) for s in image.GetSpacing()[:3])
    return StructureChannels(image, array, (sx, sy, sz), str(path))
