"""Discovery of cases in every official layout: folders, zips, either part alone, flat maps."""

import shutil

import numpy as np
import pytest

from segrap_nb import labels as L
from segrap_nb.errors import DataError
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR, SegRapDataset
from tests.factories import tiny_onehot, write_tiny_case, zip_release


def _complete(ds, n=3):
    assert ds.case_ids == [f"segrap_{i:04d}" for i in range(n)]
    for case in ds:
        assert case.has_images
        assert sorted(case.onehot) == [1, 2]
        assert case.mask_names() == list(L.OAR_NAMES) + list(L.GTV_NAMES)


def test_extracted_folders(tiny_release):
    ds = SegRapDataset(tiny_release)
    _complete(ds)
    case = ds["segrap_0001"]
    t1, t2 = tiny_onehot(1)
    assert np.array_equal(case.onehot_map(1).array, t1)
    assert np.array_equal(case.onehot_map(2).array, t2)
    ct = case.image()
    assert ct.array.dtype == np.int16
    assert ct.spacing == pytest.approx((0.5, 0.5, 3.0))
    assert np.array_equal(case.image(contrast=True).array, ct.array + 50)
    assert np.array_equal(case.mask("Eye_L").array, ((t1 == 10) | (t1 == 12)).astype(np.uint8))
    assert ds[0].case_id == "segrap_0000"


def test_lowercase_task_folders(tmp_path):
    write_tiny_case(tmp_path, "segrap_0007", seed=7, onehot_dir="task001")
    ds = SegRapDataset(tmp_path)
    assert ds.case_ids == ["segrap_0007"]
    assert sorted(ds[0].onehot) == [1, 2]


def test_straight_from_the_two_zips(tiny_release, tmp_path):
    zip_release(tiny_release, tmp_path)
    ds = SegRapDataset(tmp_path)
    _complete(ds)
    assert all(ref.member for ref in ds[0].files.values())
    t1, _ = tiny_onehot(2)
    assert np.array_equal(ds["segrap_0002"].onehot_map(1).array, t1)
    # One zip on its own, given as the path.
    only = SegRapDataset(tmp_path / f"{ONEHOT_DIR}.zip")
    assert len(only) == 3
    assert not only[0].has_images
    assert sorted(only[0].onehot) == [1, 2]


def test_only_the_image_part_builds_onehot_from_masks(tiny_release, tmp_path):
    shutil.copytree(tiny_release / IMAGES_DIR, tmp_path / IMAGES_DIR)
    ds = SegRapDataset(tmp_path)
    assert len(ds) == 3
    assert ds[0].onehot == {}
    t1, t2 = tiny_onehot(0)
    assert np.array_equal(ds[0].onehot_map(1).array, t1)
    assert np.array_equal(ds[0].onehot_map(2).array, t2)


def test_only_the_onehot_part_derives_masks(tiny_release, tmp_path):
    shutil.copytree(tiny_release / ONEHOT_DIR, tmp_path / ONEHOT_DIR)
    ds = SegRapDataset(tmp_path)
    t1, t2 = tiny_onehot(0)
    assert np.array_equal(ds[0].mask("Larynx").array.astype(bool), np.isin(t1, [48, 49, 50, 51]))
    assert np.array_equal(ds[0].mask("GTVnd").array.astype(bool), t2 == 2)
    with pytest.raises(DataError, match="image.nii.gz: missing"):
        ds[0].image()


def test_flat_folder_of_label_maps(tiny_release, tmp_path):
    for src in (tiny_release / ONEHOT_DIR / "Task002").glob("*.nii.gz"):
        shutil.copy(src, tmp_path / src.name)
    ds = SegRapDataset(tmp_path, flat_task=2)
    assert len(ds) == 3
    assert sorted(ds[0].onehot) == [2]


def test_empty_or_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no SegRap cases found"):
        SegRapDataset(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        SegRapDataset(tmp_path / "nowhere")
    bad = tmp_path / "SegRap2023_Training_Set_120cases.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable zip"):
        SegRapDataset(bad)


def test_missing_mask_without_onehot_is_named(tiny_copy):
    shutil.rmtree(tiny_copy / ONEHOT_DIR)
    (tiny_copy / IMAGES_DIR / "segrap_0000" / "Chiasm.nii.gz").unlink()
    case = SegRapDataset(tiny_copy)["segrap_0000"]
    with pytest.raises(DataError, match="segrap_0000/Chiasm.nii.gz: mask missing"):
        case.mask("Chiasm")
    with pytest.raises(DataError, match="masks missing to build it: Chiasm"):
        case.onehot_map(1)
