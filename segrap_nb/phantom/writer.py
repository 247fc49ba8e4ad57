"""A synthetic SegRap-like dataset (the kit's default data), written in the official release layout.

``segrap-nb phantom OUT --cases N [--size quick|full] [--seed S] [--zip]`` or
:func:`make_phantom` writes, for each case ``segrap_XXXX``::

    SegRap2023_Training_Set_120cases/segrap_XXXX/image.nii.gz, image_contrast.nii.gz (int16 HU),
        the 45 OAR masks, GTVp.nii.gz, GTVnd.nii.gz (uint8 0/1)
    SegRap2023_Training_Set_120cases_OneHot_Labels/Task001/segrap_XXXX.nii.gz (uint8 0..54)
    SegRap2023_Training_Set_120cases_OneHot_Labels/Task002/segrap_XXXX.nii.gz (uint8 0..2)

(or the two release zips with ``--zip``), then ``PHANTOM.txt`` last. The one-hot map is painted
first and the 45 masks are derived from it with the official table, so both agree exactly.

Orientation: the affine maps voxel (i, j, k) to RAS world mm with axis codes ('L', 'P', 'S')
-- i grows towards the patient's left, j posterior, k superior -- as in NIfTI converted from
DICOM. Labels ``_L`` are on the patient's left (negative world x).

Sizes: ``quick`` is a fixed 128 x 156 x 112 grid at 1.5 x 1.5 x 3.0 mm cropped to the head and
neck (2.2 M voxels); ``full`` draws shape and spacing per case from the 120 training cases
(e.g. 1024 x 1024 x 126 at 0.54 x 0.54 x 3.0 mm). The anatomy of a case depends only on the
seed and the case number, not on the size. The same seed always gives the same bytes.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Literal, cast, get_args

import numpy as np
from scipy import ndimage

from segrap_nb import __version__
from segrap_nb import labels as L
from segrap_nb.config import PhantomSpec
from segrap_nb.errors import DataError
from segrap_nb.grid import Box, label_boxes, union_box
from segrap_nb.io.atomic import atomic_open, atomic_paths
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR
from segrap_nb.io.guards import check_writable, write_errors
from segrap_nb.io.nifti import encode_nifti, write_nifti
from segrap_nb.phantom.anatomy import N0_EVERY, N0_FIRST, TISSUES, Anatomy, build_anatomy, is_n0
from segrap_nb.phantom.raster import VoxelGrid, rasterize
from segrap_nb.progress import progress_bar
from segrap_nb.reference_data import train_geometry

#: Phantom sizes: ``quick`` (a fixed small grid) or ``full`` (grids of the real release).
PhantomSize = Literal["quick", "full"]
SIZES: tuple[PhantomSize, ...] = get_args(PhantomSize)
#: Voxel grid of ``--size quick``: shape (i, j, k) and spacing (mm).
QUICK_SHAPE = (128, 156, 112)
QUICK_SPACING = (1.5, 1.5, 3.0)
#: Centre of the quick field of view in the axial plane (patient LPS mm).
QUICK_CENTRE_XY = (0.0, 3.0)
MARKER = "PHANTOM.txt"
#: Most cases one phantom may have.
MAX_CASES = 10000
#: Version of the generator, written into the marker: bumped whenever the same seed would give
#: different files, so that a default phantom cached by an older kit is rebuilt, not reused.
GENERATOR = 3  # 3: N0 cases (anatomy.is_n0) have an all-zero GTVnd
_PARTIAL = ".PHANTOM-in-progress"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass
class PhantomCase:
    """One synthetic case in memory: arrays in (i, j, k) order, affine voxel -> RAS mm."""

    case_id: str
    grid: VoxelGrid
    onehot: np.ndarray  # Task001, uint8 0..54
    gtv: np.ndarray  # Task002, uint8 0..2
    tissue: np.ndarray  # tissue class per voxel (anatomy.TISSUES), uint8
    anatomy: Anatomy
    noise_seed: np.random.SeedSequence
    image: np.ndarray | None = None  # plain CT, int16 HU
    image_contrast: np.ndarray | None = None  # contrast-enhanced CT, int16 HU

    @property
    def affine(self) -> np.ndarray:
        """Voxel -> RAS world (mm) affine, axis codes ('L', 'P', 'S')."""
        return self.grid.affine

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm, (i, j, k)."""
        return self.grid.spacing


def _train_geometry() -> list[tuple[tuple[int, int, int], tuple[float, float, float]]]:
    """The 120 training cases' (shape (i, j, k), spacing mm) from the bundled table (z, y, x)."""
    table = train_geometry()
    sizes = table[["size_x", "size_y", "size_z"]].itertuples(index=False)
    spacings = table[["spacing_x_mm", "spacing_y_mm", "spacing_z_mm"]].itertuples(index=False)
    return [
        ((int(i), int(j), int(k)), (float(si), float(sj), float(sk)))
        for (i, j, k), (si, sj, sk) in zip(sizes, spacings, strict=True)
    ]


def case_grid(anatomy: Anatomy, size: PhantomSize, rng: np.random.Generator) -> VoxelGrid:
    """The voxel grid of a case: the fixed quick grid, or a training case's shape and spacing."""
    if size == "quick":
        shape, spacing = QUICK_SHAPE, QUICK_SPACING
        cx, cy = QUICK_CENTRE_XY
        top = anatomy.vertex_z + rng.uniform(0.0, 6.0)
    elif size == "full":
        shape, spacing = _train_geometry()[int(rng.integers(120))]
        cx, cy = rng.normal(0.0, 4.0), 15.0 + rng.normal(0.0, 4.0)
        top = anatomy.vertex_z + rng.uniform(3.0, 15.0)
    else:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    origin = (
        round(cx - (shape[0] - 1) / 2 * spacing[0], 3),
        round(cy - (shape[1] - 1) / 2 * spacing[1], 3),
        round(top - (shape[2] - 1) * spacing[2], 3),
    )
    return VoxelGrid(tuple(shape), tuple(spacing), origin)  # type: ignore[arg-type]


def _seeds(seed: int, index: int) -> list[np.random.SeedSequence]:
    """Independent streams of a case: anatomy, grid, noise."""
    return np.random.SeedSequence([int(seed), int(index)]).spawn(3)


def phantom_case(index: int, seed: int = 0, size: PhantomSize = "quick", images: bool = True) -> PhantomCase:
    """Generate case ``index`` of the phantom with ``seed`` in memory (CTs in HU if ``images``)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    s_anat, s_grid, s_noise = _seeds(seed, index)
    anatomy = build_anatomy(np.random.default_rng(s_anat), nodal=not is_n0(index))
    grid = case_grid(anatomy, size, np.random.default_rng(s_grid))
    lab, gtv, tis = rasterize(anatomy, grid)
    case = PhantomCase(f"segrap_{index:04d}", grid, lab, gtv, tis, anatomy, s_noise)
    if images:
        rng = np.random.default_rng(s_noise)
        case.image = synthesize_ct(tis, anatomy, rng, contrast=False)
        case.image_contrast = synthesize_ct(tis, anatomy, rng, contrast=True)
    return case


def hu_table(anatomy: Anatomy, contrast: bool) -> np.ndarray:
    """Mean HU per tissue class (256 entries, float32); contrast adds the case's enhancement."""
    table = np.full(256, -1000.0, np.float32)
    for tid, (_, hu, group) in TISSUES.items():
        table[tid] = hu + (anatomy.enhancement.get(group, 0.0) if contrast else 0.0)
    return table


def synthesize_ct(
    tissue: np.ndarray,
    anatomy: Anatomy,
    rng: np.random.Generator,
    contrast: bool,
    chunk_voxels: int = 1_000_000,
) -> np.ndarray:
    """CT in HU (int16, same shape and order as ``tissue``): tissue means plus Gaussian noise."""
    table = hu_table(anatomy, contrast)
    out = np.empty(tissue.shape, np.int16, order="F")
    plane = tissue.shape[0] * tissue.shape[1]
    step = max(1, chunk_voxels // plane)
    sigma = np.float32(anatomy.noise_hu)
    for k0 in range(0, tissue.shape[2], step):
        k1 = min(tissue.shape[2], k0 + step)
        t = tissue[:, :, k0:k1]
        noise = rng.standard_normal(t.shape[::-1], dtype=np.float32).T  # F-ordered like t
        vals = table[t]
        vals += noise * sigma
        np.clip(vals, -1024, 3071, out=vals)
        out[:, :, k0:k1] = np.rint(vals)
    return out


def _oar_boxes(onehot: np.ndarray) -> dict[str, Box | None]:
    """Bounding box (voxel slices) of each of the 45 OARs in a one-hot map, None when empty."""
    found = label_boxes(onehot)
    return {
        name: reduce(union_box, (found[lab - 1] for lab in L.OAR_TO_ONEHOT[name] if lab <= len(found)), None)
        for name in L.OAR_NAMES
    }


def case_files(case: PhantomCase) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (release path, array) for every file of a case; mask arrays are reused buffers.

    CTs are synthesised on the fly (plain first, then contrast) unless already in ``case``.
    """
    folder = f"{IMAGES_DIR}/{case.case_id}"
    rng = np.random.default_rng(case.noise_seed)
    for key, contrast in (("image", False), ("image_contrast", True)):
        arr = getattr(case, key)
        if arr is None:
            arr = synthesize_ct(case.tissue, case.anatomy, rng, contrast)
        yield f"{folder}/{key}.nii.gz", arr
        del arr
    buffer = np.zeros(case.onehot.shape, np.uint8, order="F")
    for name, box in _oar_boxes(case.onehot).items():
        if box is not None:
            buffer[box] = L.structure_mask(case.onehot[box], name, 1)
        yield f"{folder}/{name}.nii.gz", buffer
        if box is not None:
            buffer[box] = 0
    gtv_boxes = ndimage.find_objects(case.gtv, max_label=L.max_label(2))
    for lab, name in L.GTV_LABELS.items():
        box = gtv_boxes[lab - 1]
        if box is not None:
            buffer[box] = L.structure_mask(case.gtv[box], name, 2)
        yield f"{folder}/{name}.nii.gz", buffer
        if box is not None:
            buffer[box] = 0
    yield f"{ONEHOT_DIR}/Task001/{case.case_id}.nii.gz", case.onehot
    yield f"{ONEHOT_DIR}/Task002/{case.case_id}.nii.gz", case.gtv


class _ZipSink:
    """The two release zips, written through :func:`atomic_paths`: both appear, or neither."""

    def __init__(self, out: Path):
        parts = (IMAGES_DIR, ONEHOT_DIR)
        self._files = ExitStack()
        tmps = self._files.enter_context(atomic_paths(out / f"{part}.zip" for part in parts))
        self.zips = {part: zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) for part, tmp in zip(parts, tmps)}

    def put(self, rel: str, array: np.ndarray, affine: np.ndarray) -> None:
        """Add one .nii.gz member (bytes identical to :func:`write_nifti`'s file)."""
        info = zipfile.ZipInfo(rel, date_time=_ZIP_DATE)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o100644 << 16
        with self.zips[rel.split("/", 1)[0]].open(info, "w") as dst:
            encode_nifti(dst, array, affine)

    def close(self, ok: bool) -> None:
        """Close both zips; rename them into place when ``ok``, else (or on any error) delete them."""
        try:
            for zf in self.zips.values():
                zf.close()  # writes the central directory: can fail on a full disk
            if not ok:
                raise _Incomplete
        except BaseException as exc:
            self._files.__exit__(type(exc), exc, exc.__traceback__)  # deletes the temporary files
            if not isinstance(exc, _Incomplete):
                raise
        else:
            self._files.close()  # renames both into place


class _Incomplete(Exception):
    """Raised inside :meth:`_ZipSink.close` to discard the zips of an unfinished phantom."""


def _marker_text(cases: int, size: PhantomSize, seed: int, as_zip: bool) -> str:
    grid = (
        f"{'x'.join(map(str, QUICK_SHAPE))} voxels at "
        f"{'x'.join(map(str, QUICK_SPACING))} mm (i, j, k), head and neck"
        if size == "quick"
        else "shape and spacing per case drawn from the 120 training cases"
    )
    return (
        "SegRap-like synthetic phantom made by segrap-nb -- NOT patient data.\n"
        "Geometric head-and-neck anatomy (ellipsoids, tubes) with the official 54-label\n"
        "one-hot maps, the 45 OAR masks derived from them, GTVp/GTVnd, plain and contrast CT.\n"
        f"N0 cases (all-zero GTVnd): every {N0_EVERY}th from segrap_{N0_FIRST:04d} "
        "(10 of 120, as the paper's N0 count)\n"
        f"segrap_nb version: {__version__}\n"
        f"generator: {GENERATOR}\n"
        f"cases: {cases}\n"
        f"size: {size}\n"
        f"seed: {seed}\n"
        f"layout: {'the two release zips' if as_zip else 'extracted release folders'}\n"
        f"grid: {grid}\n"
        "orientation: affine axis codes L,P,S (i -> patient left, j -> posterior, "
        "k -> superior); world = RAS mm\n"
        f"regenerate: segrap-nb phantom OUT --cases {cases} --size {size} --seed {seed}"
        f"{' --zip' if as_zip else ''}\n"
    )


def marker_fields(root: str | os.PathLike) -> dict[str, str]:
    """The ``key: value`` lines of a phantom's marker file (empty when there is no marker)."""
    try:
        text = (Path(root) / MARKER).read_text()
    except OSError:
        return {}
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def marker_generator(root: str | os.PathLike) -> int | None:
    """The generator version recorded in a phantom's marker (None: no marker, or an older kit)."""
    value = marker_fields(root).get("generator")
    return int(value) if value is not None else None


def marker_settings(root: str | os.PathLike) -> PhantomSpec:
    """The ``cases``, ``size`` and ``seed`` a phantom was made with, read from its marker file.

    Raises :class:`DataError` naming the marker when one of them is missing or not valid.
    """
    fields = marker_fields(root)
    try:
        cases, seed, size = int(fields["cases"]), int(fields["seed"]), fields["size"]
    except (KeyError, ValueError) as exc:
        raise DataError(Path(root) / MARKER, f"no valid cases/size/seed line ({exc})") from None
    if size not in SIZES:
        raise DataError(Path(root) / MARKER, f"size must be one of {SIZES}, got {size!r}")
    return {"cases": cases, "size": cast(PhantomSize, size), "seed": seed}


def _prepare(out: Path) -> None:
    """Make ``out`` ready: refuse real data; clear a previous (complete or partial) phantom."""
    check_writable(out)
    out.mkdir(parents=True, exist_ok=True)
    parts = [out / IMAGES_DIR, out / ONEHOT_DIR, out / f"{IMAGES_DIR}.zip", out / f"{ONEHOT_DIR}.zip"]
    ours = (out / MARKER).exists() or (out / _PARTIAL).exists()
    if not ours and any(p.exists() for p in parts):
        raise DataError(
            out,
            "already holds SegRap data that is not a phantom: refusing to "
            "overwrite it (choose an empty folder)",
        )
    (out / _PARTIAL).write_text("a phantom is being written here\n")
    (out / MARKER).unlink(missing_ok=True)
    for p in parts:
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    for p in [*out.glob("*.zip.part"), *out.glob(".*.zip.*.part")]:  # left by a killed run
        p.unlink()


def make_phantom(
    out: str | os.PathLike,
    cases: int = 8,
    size: PhantomSize = "quick",
    seed: int = 0,
    as_zip: bool = False,
    progress: bool = True,
) -> Path:
    """Write a synthetic SegRap-like dataset (release layout, HU CTs, masks, maps) under ``out``."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    if not 1 <= int(cases) <= MAX_CASES:
        raise ValueError(f"cases must be between 1 and {MAX_CASES}, got {cases!r}")
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    out = Path(out).expanduser()
    _prepare(out)
    try:
        with write_errors(out):
            _write_cases(out, int(cases), size, int(seed), as_zip, progress)
    except DataError:  # disk full or read-only: remove what was written (all or nothing)
        for part in (IMAGES_DIR, ONEHOT_DIR):
            shutil.rmtree(out / part, ignore_errors=True)
        raise
    return out


def _write_cases(out: Path, cases: int, size: PhantomSize, seed: int, as_zip: bool, progress: bool) -> None:
    """Write the cases, then the marker (last: a phantom without its marker is incomplete)."""
    sink = _ZipSink(out) if as_zip else None
    ok = False
    try:
        for index in progress_bar(
            range(int(cases)), desc=f"phantom ({size})", unit="case", disable=not progress
        ):
            case = phantom_case(index, seed, size, images=False)
            for rel, array in case_files(case):
                if sink is not None:
                    sink.put(rel, array, case.affine)
                else:
                    write_nifti(out / rel, array, case.affine)
            del case
        ok = True
    finally:
        if sink is not None:
            sink.close(ok)
    with atomic_open(out / MARKER, "w") as fh:  # last: a phantom without its marker is incomplete
        fh.write(_marker_text(int(cases), size, int(seed), as_zip))
    (out / _PARTIAL).unlink(missing_ok=True)
