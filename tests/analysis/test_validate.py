"""``segrap-nb validate``: clean data passes; each kind of corruption gives one clear line."""

import numpy as np

from segrap_nb.cli import main
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR
from segrap_nb.io.nifti import read_nifti, write_nifti
from tests.factories import TINY_AFFINE, zip_release


def run_validate(path, capsys):
    code = main(["validate", str(path), "--quiet-info"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, out


def test_clean_release_passes(tiny_release, capsys):
    code, out = run_validate(tiny_release, capsys)
    assert code == 0
    assert out == ["checked 3 cases: 3 ok, 0 with errors; 0 errors, 0 information lines"]


def test_clean_zips_pass(tiny_release, tmp_path, capsys):
    zip_release(tiny_release, tmp_path)
    code, out = run_validate(tmp_path, capsys)
    assert code == 0
    assert out[-1].startswith("checked 3 cases: 3 ok")


def test_absent_label_is_information_not_error(tiny_copy, capsys):
    case = tiny_copy / IMAGES_DIR / "segrap_0001"
    onehot = tiny_copy / ONEHOT_DIR / "Task001" / "segrap_0001.nii.gz"
    t1 = read_nifti(onehot).array.copy()
    gone = t1 == 8
    t1[gone] = 1  # label 8 (Hippocampus_L outside the temporal lobe) becomes plain Brain
    write_nifti(onehot, t1, TINY_AFFINE)
    hip = read_nifti(case / "Hippocampus_L.nii.gz").array.copy()
    hip[gone] = 0
    write_nifti(case / "Hippocampus_L.nii.gz", hip, TINY_AFFINE)
    assert main(["validate", str(tiny_copy)]) == 0
    out = capsys.readouterr().out
    assert "segrap_0001.nii.gz: labels absent from this case: 8 Hippocampus_L (info)" in out


def _corrupt_and_check(root, capsys, expected_path_end, expected_text):
    code, out = run_validate(root, capsys)
    assert code == 1
    errors = [line for line in out[:-1]]
    assert len(errors) == 1, errors
    path, _, message = errors[0].partition(": ")
    assert path.endswith(expected_path_end), errors[0]
    assert expected_text in message, errors[0]
    assert out[-1].startswith("checked 3 cases: 2 ok, 1 with errors; 1 errors")


def test_truncated_gzip(tiny_copy, capsys):
    f = tiny_copy / IMAGES_DIR / "segrap_0002" / "Parotid_L.nii.gz"
    f.write_bytes(f.read_bytes()[:-20])
    _corrupt_and_check(tiny_copy, capsys, "segrap_0002/Parotid_L.nii.gz", "truncated")


def test_not_nifti(tiny_copy, capsys):
    f = tiny_copy / IMAGES_DIR / "segrap_0000" / "image_contrast.nii.gz"
    f.write_bytes(b"<html>403 Forbidden</html>")
    _corrupt_and_check(tiny_copy, capsys, "image_contrast.nii.gz", "not a readable gzip file")


def test_missing_mask(tiny_copy, capsys):
    (tiny_copy / IMAGES_DIR / "segrap_0001" / "Cochlea_R.nii.gz").unlink()
    _corrupt_and_check(tiny_copy, capsys, "segrap_0001/Cochlea_R.nii.gz", "missing")


def test_missing_zip_member(tiny_copy, tmp_path, capsys):
    (tiny_copy / ONEHOT_DIR / "Task002" / "segrap_0002.nii.gz").unlink()
    zips = tmp_path / "zips"
    zip_release(tiny_copy, zips)
    _corrupt_and_check(zips, capsys, "Task002/segrap_0002.nii.gz", "missing one-hot map")


def test_shape_mismatch(tiny_copy, capsys):
    f = tiny_copy / IMAGES_DIR / "segrap_0000" / "Thyroid.nii.gz"
    write_nifti(f, np.zeros((24, 20, 9), np.uint8), TINY_AFFINE)
    _corrupt_and_check(tiny_copy, capsys, "Thyroid.nii.gz", "shape (24, 20, 9) differs")


def test_spacing_mismatch(tiny_copy, capsys):
    f = tiny_copy / IMAGES_DIR / "segrap_0000" / "Mandible_L.nii.gz"
    arr = read_nifti(f).array
    write_nifti(f, arr, np.diag([0.5, 0.5, 2.5, 1.0]))
    _corrupt_and_check(
        tiny_copy,
        capsys,
        "Mandible_L.nii.gz",
        "spacing (0.5, 0.5, 2.5) mm differs from image.nii.gz's (0.5, 0.5, 3.0) mm",
    )


def test_origin_mismatch(tiny_copy, capsys):
    f = tiny_copy / IMAGES_DIR / "segrap_0000" / "Mandible_L.nii.gz"
    arr = read_nifti(f).array
    write_nifti(f, arr, np.array([[0.5, 0, 0, 4.0], [0, 0.5, 0, 0], [0, 0, 3.0, 0], [0, 0, 0, 1]]))
    _corrupt_and_check(
        tiny_copy,
        capsys,
        "Mandible_L.nii.gz",
        "position or orientation differs from image.nii.gz's (origin [4.0, 0.0, 0.0] vs",
    )


def test_label_out_of_range(tiny_copy, capsys):
    f = tiny_copy / ONEHOT_DIR / "Task001" / "segrap_0001.nii.gz"
    arr = read_nifti(f).array.copy()
    arr[0, 0, 0] = 60
    write_nifti(f, arr, TINY_AFFINE)
    _corrupt_and_check(tiny_copy, capsys, "Task001/segrap_0001.nii.gz", "out of range 0..54")


def test_non_binary_mask(tiny_copy, capsys):
    f = tiny_copy / IMAGES_DIR / "segrap_0002" / "GTVp.nii.gz"
    arr = read_nifti(f).array.copy()
    arr[arr == 1] = 255
    write_nifti(f, arr, TINY_AFFINE)
    _corrupt_and_check(tiny_copy, capsys, "GTVp.nii.gz", "not binary")


def test_mask_inconsistent_with_onehot(tiny_copy, capsys):
    f = tiny_copy / IMAGES_DIR / "segrap_0001" / "Eye_R.nii.gz"
    arr = read_nifti(f).array.copy()
    arr[23, 19, 7] = 1 - arr[23, 19, 7]
    write_nifti(f, arr, TINY_AFFINE)
    _corrupt_and_check(
        tiny_copy, capsys, "Eye_R.nii.gz", "differs from one-hot labels 11+13 of Task001 in 1 voxels"
    )


def test_nan_in_image(tiny_copy, capsys):
    f = tiny_copy / IMAGES_DIR / "segrap_0000" / "image.nii.gz"
    arr = read_nifti(f).array.astype(np.float32)
    arr[3, 3, 3] = np.nan
    write_nifti(f, arr, TINY_AFFINE)
    _corrupt_and_check(tiny_copy, capsys, "segrap_0000/image.nii.gz", "NaN")


def test_workers_give_the_same_report(tiny_copy, capsys):
    (tiny_copy / IMAGES_DIR / "segrap_0001" / "Cochlea_R.nii.gz").unlink()
    code = main(["validate", str(tiny_copy), "--workers", "2", "--quiet-info"])
    assert code == 1
    assert "Cochlea_R.nii.gz: missing" in capsys.readouterr().out


def test_bad_zip_is_one_line_not_a_traceback(tmp_path, capsys):
    (tmp_path / "SegRap2023_Training_Set_120cases.zip").write_bytes(b"PK\x03\x04 broken")
    code = main(["validate", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1
    assert "not a readable zip file" in err[0]


def test_empty_mask_is_information_not_error(tiny_copy, capsys):
    # A real N0 patient: GTVnd.nii.gz is all zero, and so is label 2 of the Task002 map.
    case = tiny_copy / IMAGES_DIR / "segrap_0002"
    t2_path = tiny_copy / ONEHOT_DIR / "Task002" / "segrap_0002.nii.gz"
    t2 = read_nifti(t2_path).array.copy()
    t2[t2 == 2] = 0
    write_nifti(t2_path, t2, TINY_AFFINE)
    write_nifti(case / "GTVnd.nii.gz", np.zeros_like(t2), TINY_AFFINE)
    assert main(["validate", str(tiny_copy)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any(
        line.endswith("segrap_0002/GTVnd.nii.gz: empty mask: no voxel of GTVnd in this case (info)")
        for line in out
    )
    assert any(
        line.endswith("segrap_0002.nii.gz: labels absent from this case: 2 GTVnd (info)") for line in out
    )
    assert out[-1] == "checked 3 cases: 3 ok, 0 with errors; 0 errors, 2 information lines"


def test_every_file_is_decoded_once(tiny_release, monkeypatch):
    from segrap_nb.analysis.validate import check_case
    from segrap_nb.io.dataset import SegRapDataset
    from segrap_nb.io.fileref import FileRef

    opened: list[str] = []
    original = FileRef.open

    def counting(self):
        opened.append(str(self))
        return original(self)

    monkeypatch.setattr(FileRef, "open", counting)
    case = SegRapDataset(tiny_release)["segrap_0001"]
    assert check_case(case, True, True).findings == []
    assert len(opened) == 2 + 45 + 2 + 2  # two CTs, 47 masks, two maps
    assert len(set(opened)) == len(opened)
