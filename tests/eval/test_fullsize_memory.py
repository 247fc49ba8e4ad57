"""Memory on release-size cases, guarded without timing: per-structure work holds about one mask.

tracemalloc sees numpy's buffers, so the peak traced memory of building a one-hot map from 45
mask files, or of scoring a masks-only prediction, is measured against the size of one mask.
Holding all 45 masks at once (what the issue found: 11.9 GB on a full-size case) would be ~45x.
"""

from __future__ import annotations

import shutil
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from segrap_nb import labels as L
from segrap_nb.errors import DataError
from segrap_nb.eval import reading
from segrap_nb.eval.crops import crop_mask, crop_structures
from segrap_nb.eval.evaluate import evaluate
from segrap_nb.io.dataset import IMAGES_DIR, SegRapDataset
from segrap_nb.io.nifti import read_nifti, write_nifti
from tests.factories import MASKS_SHAPE, TINY_AFFINE, write_masks_case

MASK_BYTES = int(np.prod(MASKS_SHAPE))  # one uint8 mask


@pytest.fixture(scope="module")
def masks_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A case of 47 mask files (no one-hot maps) and the Task001 map they were made from."""
    root = tmp_path_factory.mktemp("masks_case")
    t1 = write_masks_case(root)
    return root, t1


def traced_peak(fn: Callable[[], object]) -> int:
    """Peak traced memory (bytes) of one call of ``fn``, after a first untraced call (imports, caches)."""
    fn()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_onehot_map_from_masks_is_exact(masks_case):
    root, t1 = masks_case
    case = SegRapDataset(root)[0]
    built = case.onehot_map(1)
    assert built.array.dtype == np.uint8
    assert np.array_equal(built.array, t1)
    assert built.spacing == pytest.approx(tuple(np.diag(TINY_AFFINE)[:3]))
    t2 = case.onehot_map(2).array
    assert np.array_equal(t2 == 1, read_nifti(root / IMAGES_DIR / "segrap_0000" / "GTVp.nii.gz").array > 0)
    assert np.array_equal(L.masks_to_onehot(L.onehot_to_masks(t1), 1), built.array)


def test_onehot_map_from_masks_peaks_near_one_mask(masks_case):
    case = SegRapDataset(masks_case[0])[0]
    peak = traced_peak(lambda: case.onehot_map(1))
    # The map itself (1 mask), a chunk of a mask file and the crop-size temporaries: under 4.
    # Reading the 45 masks first, as before, peaked at ~47 masks.
    assert peak < 4 * MASK_BYTES, f"peak {peak / MASK_BYTES:.1f} masks"


def test_masks_only_evaluate_peaks_near_one_mask(masks_case):
    root = masks_case[0]
    peak = traced_peak(lambda: evaluate(root, root, task=1, progress=False))
    assert peak < 4 * MASK_BYTES, f"peak {peak / MASK_BYTES:.1f} masks"


@pytest.mark.parametrize("piece_bytes", [100, 1000, 1 << 18])
def test_streamed_masks_are_cropped_exactly(masks_case, tmp_path, monkeypatch, piece_bytes):
    root = _copy(masks_case[0], tmp_path)
    d = root / IMAGES_DIR / "segrap_0000"
    brain = np.zeros(MASKS_SHAPE, np.uint8)
    brain[5:100, 3:120, :] = 1  # every slice: every piece of the file
    write_nifti(d / "Brain.nii.gz", brain, TINY_AFFINE)
    last = np.zeros(MASKS_SHAPE, np.uint8)
    last[127, 127, 63] = 1  # the file's very last voxel
    write_nifti(d / "Chiasm.nii.gz", last, TINY_AFFINE)
    write_nifti(d / "Lens_L.nii.gz", np.zeros(MASKS_SHAPE, np.uint8), TINY_AFFINE)
    # Pieces of one row (100 bytes: less than a row), of rows that split slices (1000 bytes), and
    # the kit's own size.
    monkeypatch.setattr(reading, "STREAM_BYTES", piece_bytes)
    got, _ = reading.read_structures(SegRapDataset(root)[0], 1, "--pred")
    for name in L.OAR_NAMES:
        want = crop_mask(read_nifti(d / f"{name}.nii.gz").array, name)
        assert got[name].box == want.box, name
        assert np.array_equal(got[name].crop, want.crop), name
    assert got["Lens_L"].box is None and got["Chiasm"].voxels == 1


@pytest.mark.parametrize("piece_bytes", [100, 1000, 1 << 18])
def test_streamed_maps_are_cut_exactly(masks_case, tmp_path, monkeypatch, piece_bytes):
    """A one-hot map read as it streams gives every structure exactly as the whole map does."""
    t1 = masks_case[1].copy()
    t1[0, 0, 0], t1[-1, -1, -1] = 1, 54  # the file's first and last voxels: Brain, Trachea
    flat = tmp_path / "flat"
    flat.mkdir()
    write_nifti(flat / "segrap_0000.nii.gz", t1, TINY_AFFINE)
    write_nifti(flat / "segrap_0001.nii.gz", np.zeros(MASKS_SHAPE, np.uint8), TINY_AFFINE)
    monkeypatch.setattr(reading, "STREAM_BYTES", piece_bytes)
    ds = SegRapDataset(flat, flat_task=1)
    got, grid = reading.read_structures(ds["segrap_0000"], 1, "--pred")
    want = crop_structures(t1, 1)
    assert grid.shape == MASKS_SHAPE
    for name in L.OAR_NAMES:
        assert got[name].shape == MASKS_SHAPE and got[name].box == want[name].box, name
        assert np.array_equal(got[name].crop, want[name].crop), name
    empty, _ = reading.read_structures(ds["segrap_0001"], 1, "--pred")
    assert all(m.box is None and m.voxels == 0 for m in empty.values())
    t1[60, 60, 30] = 55  # not a Task001 label
    write_nifti(flat / "segrap_0000.nii.gz", t1, TINY_AFFINE)
    with pytest.raises(DataError, match=r"segrap_0000.nii.gz: --pred Task001 one-hot map holds label 55"):
        reading.read_structures(SegRapDataset(flat, flat_task=1)["segrap_0000"], 1, "--pred")


@pytest.mark.parametrize("piece_bytes", [100, 1000, 1 << 18])
def test_streamed_4d_mha_is_cut_exactly(masks_case, tmp_path, monkeypatch, piece_bytes):
    """A challenge 4D .mha read piece by piece gives every structure exactly as its map does."""
    from segrap_nb.grid import FileGrid
    from segrap_nb.io.mha import write_structures_mha

    t1 = masks_case[1].copy()
    t1[0, 0, 0], t1[-1, -1, -1] = 1, 54  # the first and last voxels of the Brain and Trachea channels
    path = write_structures_mha(tmp_path / "pred.mha", t1, 1, TINY_AFFINE)
    monkeypatch.setattr(reading, "STREAM_BYTES", piece_bytes)
    got = reading.read_structures_4d(path, 1, FileGrid(MASKS_SHAPE, TINY_AFFINE, "gt"))
    want = crop_structures(t1, 1)
    for name in L.OAR_NAMES:
        assert got[name].box == want[name].box, name
        assert np.array_equal(got[name].crop, want[name].crop), name


def _copy(root: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(root, dst)
    return dst


def test_overlap_no_label_stands_for_is_refused(masks_case, tmp_path):
    root = _copy(masks_case[0], tmp_path)
    d = root / IMAGES_DIR / "segrap_0000"
    brain = read_nifti(d / "Brain.nii.gz").array
    parotid = read_nifti(d / "Parotid_L.nii.gz").array
    write_nifti(d / "Parotid_L.nii.gz", parotid | brain, TINY_AFFINE)  # no label is Brain + Parotid_L
    with pytest.raises(DataError, match=r"segrap_0000 masks: \d+ voxels are covered by a combination"):
        SegRapDataset(root)[0].onehot_map(1)
    gtvp = read_nifti(d / "GTVp.nii.gz").array
    write_nifti(d / "GTVnd.nii.gz", gtvp, TINY_AFFINE)
    with pytest.raises(DataError, match=f"GTVp and GTVnd overlap in {int(gtvp.sum())} voxels"):
        SegRapDataset(root)[0].onehot_map(2)


def test_mask_on_another_grid_is_named(masks_case, tmp_path):
    root = _copy(masks_case[0], tmp_path)
    d = root / IMAGES_DIR / "segrap_0000"
    write_nifti(d / "Eye_L.nii.gz", np.zeros((4, 4, 4), np.uint8), TINY_AFFINE)
    with pytest.raises(DataError, match=r"Eye_L.nii.gz: mask is on another grid than Brain: shape"):
        SegRapDataset(root)[0].onehot_map(1)


def test_evaluate_names_a_mask_that_is_not_3d(masks_case, tmp_path):
    root = _copy(masks_case[0], tmp_path)
    brain = root / IMAGES_DIR / "segrap_0000" / "Brain.nii.gz"
    write_nifti(brain, np.zeros((4, 4, 4, 2), np.uint8), TINY_AFFINE)
    with pytest.raises(
        DataError, match=r"Brain.nii.gz: --gt: expected a 3D volume, header says shape \(4, 4, 4, 2\)"
    ):
        evaluate(root, root, task=1, progress=False)
