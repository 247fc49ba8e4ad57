"""Reading and writing NIfTI: same numbers as nibabel, clear errors for bad files."""

import gzip
import os

import nibabel as nib
import numpy as np
import pytest

from segrap_nb.errors import DataError
from segrap_nb.io.fileref import FileRef
from segrap_nb.io.nifti import read_header, read_nifti, write_nifti

AFFINE = np.array([[-0.54, 0, 0, 120.0], [0, -0.54, 0, 130.0], [0, 0, 3.0, -400.0], [0, 0, 0, 1]])


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32])
def test_round_trip_matches_nibabel(tmp_path, dtype):
    rng = np.random.default_rng(0)
    arr = (rng.normal(0, 300, (17, 13, 5))).astype(dtype)
    path = write_nifti(tmp_path / "x.nii.gz", arr, AFFINE)
    vol = read_nifti(path)
    ref = nib.load(path)
    assert vol.array.dtype == dtype
    assert vol.shape == (17, 13, 5)
    assert np.array_equal(vol.array, np.asanyarray(ref.dataobj))
    assert np.allclose(vol.affine, ref.affine)
    assert np.allclose(vol.affine, AFFINE, atol=1e-5)
    assert vol.spacing == pytest.approx((0.54, 0.54, 3.0), abs=1e-6)
    assert vol.voxel_volume_mm3 == pytest.approx(0.54 * 0.54 * 3.0, rel=1e-5)
    assert vol.axis_codes == ("L", "P", "S")


def test_reads_files_written_by_nibabel_with_scaling(tmp_path):
    arr = np.arange(60, dtype=np.int16).reshape(5, 4, 3)
    img = nib.Nifti1Image(arr, AFFINE)
    img.header.set_slope_inter(2.0, -1000.0)
    nib.save(img, tmp_path / "scaled.nii.gz")
    vol = read_nifti(tmp_path / "scaled.nii.gz")
    assert vol.array.dtype == np.float32
    assert np.allclose(vol.array, arr * 2.0 - 1000.0)
    nib.save(nib.Nifti1Image(arr, AFFINE), tmp_path / "plain.nii")  # uncompressed works too
    assert np.array_equal(read_nifti(tmp_path / "plain.nii").array, arr)


def test_header_only(tmp_path):
    path = write_nifti(tmp_path / "h.nii.gz", np.zeros((30, 20, 7), np.int16), AFFINE)
    info = read_header(path)
    assert info.shape == (30, 20, 7)
    assert info.dtype == np.int16
    assert info.spacing == pytest.approx((0.54, 0.54, 3.0), abs=1e-6)


def test_write_is_atomic_and_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.nii.gz"
    with pytest.raises(Exception):  # noqa: B017 - whatever the encoder raises, no file may remain
        write_nifti(target, np.zeros((4, 4, 4), dtype=object), AFFINE)
    assert not target.exists()
    assert os.listdir(tmp_path) == []


def test_truncated_gzip_is_named(tmp_path):
    path = write_nifti(tmp_path / "image.nii.gz", np.ones((64, 64, 16), np.int16), AFFINE)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as err:
        read_nifti(path)
    assert str(err.value).startswith(str(path) + ": ")
    assert "truncated" in str(err.value)


def test_not_a_nifti_file(tmp_path):
    bad = tmp_path / "Brain.nii.gz"
    with gzip.open(bad, "wb") as fh:
        fh.write(b"this is not a NIfTI header" * 40)
    with pytest.raises(DataError, match=r"Brain\.nii\.gz: not a NIfTI file"):
        read_nifti(bad)
    notgz = tmp_path / "Eye_L.nii.gz"
    notgz.write_bytes(b"plain text, not gzip at all")
    with pytest.raises(DataError, match=r"Eye_L\.nii\.gz: not a readable gzip file"):
        read_nifti(notgz)


def test_missing_file_and_zip_member(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_nifti(tmp_path / "nope.nii.gz")
    import zipfile

    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("x/readme.txt", "hi")
    with pytest.raises(DataError, match=r"a\.zip!x/image\.nii\.gz: member missing"):
        read_nifti(FileRef(z, "x/image.nii.gz"))


def test_nan_in_a_float_image_is_refused(tmp_path):
    arr = np.zeros((4, 4, 4), np.float32)
    arr[1, 2, 3] = np.nan
    path = write_nifti(tmp_path / "image.nii.gz", arr, AFFINE)
    with pytest.raises(DataError, match=r"image\.nii\.gz: 1 voxels are NaN"):
        read_nifti(path)


@pytest.mark.parametrize("klass", [nib.Nifti1Image, nib.Nifti2Image])
@pytest.mark.parametrize("endianness", ["<", ">"])
@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32])
def test_both_byte_orders_and_nifti_versions(tmp_path, klass, endianness, dtype):
    arr = (np.arange(60).reshape(5, 4, 3) * (1 if dtype == np.uint8 else -7)).astype(dtype)
    header = klass.header_class(endianness=endianness)
    header.set_data_dtype(dtype)
    img = klass(arr, AFFINE, header=header)
    path = tmp_path / f"v{klass.__name__[5]}{'be' if endianness == '>' else 'le'}.nii.gz"
    nib.save(img, path)
    with gzip.open(path) as fh:  # the file really is in the byte order asked for
        assert int.from_bytes(fh.read(4), "big" if endianness == ">" else "little") in (348, 540)
    vol = read_nifti(path)
    assert vol.array.dtype == np.dtype(dtype)
    assert vol.array.dtype.isnative
    assert np.array_equal(vol.array, arr)
    assert np.array_equal(vol.array, np.asanyarray(nib.load(path).dataobj))
    assert np.allclose(vol.affine, AFFINE, atol=1e-5)
    assert read_header(path).shape == (5, 4, 3)


def test_nifti_stream_reads_header_and_voxels_in_one_pass(tmp_path):
    from segrap_nb.io.counts import NiftiStream

    rng = np.random.default_rng(0)
    arr = rng.integers(-1000, 1000, (30, 20, 7)).astype(np.int16)
    path = tmp_path / "ct.nii.gz"
    write_nifti(path, arr, np.diag([0.5, 0.5, 3.0, 1.0]))
    with NiftiStream(path) as stream:
        assert stream.info.shape == (30, 20, 7)
        got = b"".join(chunk.tobytes() for _, chunk in stream.chunks(1000))  # chunks cut through voxels
    assert np.array_equal(np.frombuffer(got, np.int16).reshape(arr.shape, order="F"), arr)
    with NiftiStream(path) as stream:
        buffer = np.empty(5, np.uint8)  # too small: grown
        assert np.array_equal(stream.read_into(buffer), arr)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DataError, match="ct.nii.gz: truncated gzip stream"):
        with NiftiStream(path) as stream:
            for _ in stream.chunks():
                pass
