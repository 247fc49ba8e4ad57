"""Issue 13, segrap_nb.io.nnunet: the export writes and removes only its own files, checks what it exports, names the full destination.

Split from the former tests/test_safety.py (one numbered case of the issue per test).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from segrap_nb.cli import main
from segrap_nb.errors import DataError
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR
from segrap_nb.io.guards import MANIFEST
from segrap_nb.io.nifti import read_nifti, write_nifti
from segrap_nb.io.nnunet import export_nnunet
from tests.factories import TINY_AFFINE, zip_release
from tests.safety import (
    cli_command,
    final_error_line,
    needs_ns,
    run_on_small_disk,
)


# == 5. export-nnunet and stats write only what they made =====================================
def test_export_keeps_the_users_files_and_refuses_to_replace_them(tiny_release, tmp_path):
    folder = export_nnunet(tiny_release, tmp_path / "raw", task=1, progress=False)
    own = folder / "imagesTr" / "segrap_0099_0000.nii.gz"
    own.write_bytes(b"the user's own case")
    export_nnunet(tiny_release, tmp_path / "raw", task=1, progress=False)
    assert own.read_bytes() == b"the user's own case"  # was deleted as "stale" before
    # A folder the kit did not make, holding a file with a name the export needs: untouched.
    other = tmp_path / "raw2" / folder.name / "labelsTr"
    other.mkdir(parents=True)
    (other / "segrap_0000.nii.gz").write_bytes(b"user labels")
    with pytest.raises(DataError, match="not written by segrap-nb"):
        export_nnunet(tiny_release, tmp_path / "raw2", task=1, progress=False)
    assert (other / "segrap_0000.nii.gz").read_bytes() == b"user labels"
    assert not (other.parent / "imagesTr").exists()


def test_export_removes_only_its_own_stale_files(tiny_copy, tmp_path):
    folder = export_nnunet(tiny_copy, tmp_path / "raw", task=1, progress=False)
    shutil.rmtree(tiny_copy / IMAGES_DIR / "segrap_0002")
    (tiny_copy / ONEHOT_DIR / "Task001" / "segrap_0002.nii.gz").unlink()
    (tiny_copy / ONEHOT_DIR / "Task002" / "segrap_0002.nii.gz").unlink()
    export_nnunet(tiny_copy, tmp_path / "raw", task=1, progress=False)
    assert not (folder / "labelsTr" / "segrap_0002.nii.gz").exists()
    listed = json.loads((folder / MANIFEST).read_text())["files"]
    assert "labelsTr/segrap_0002.nii.gz" not in listed
    assert "labelsTr/segrap_0001.nii.gz" in listed


@needs_ns
def test_full_disk_export_names_the_destination_not_the_source(tiny_release, tmp_path):
    zips = tmp_path / "zips"
    zip_release(tiny_release, zips)
    full = tmp_path / "full"
    res = run_on_small_disk(
        full,
        cli_command("export-nnunet", str(zips), "--out", str(full / "raw"), "--task", "1"),
        size="1m",
        fill_to_kb=16,
    )
    assert res.returncode == 2, res.stderr
    line = final_error_line(res.stderr)
    assert "no space left on the device" in line
    assert str(full / "raw") in line
    assert str(zips) not in line


# == 9. export-nnunet checks what it exports ==================================================
def _corrupt(root: Path, how: str) -> str:
    """Damage case segrap_0001 of ``root`` in one way; returns the file that must be named."""
    case = root / IMAGES_DIR / "segrap_0001"
    t1 = root / ONEHOT_DIR / "Task001" / "segrap_0001.nii.gz"
    ct = read_nifti(case / "image.nii.gz").array
    if how == "truncated":
        data = (case / "image.nii.gz").read_bytes()
        (case / "image.nii.gz").write_bytes(data[: len(data) // 2])
        return str(case / "image.nii.gz")
    if how == "nan":
        bad = ct.astype(np.float32)
        bad[0, 0, 0] = np.nan
        write_nifti(case / "image_contrast.nii.gz", bad, TINY_AFFINE)
        return str(case / "image_contrast.nii.gz")
    if how == "label200":
        m = read_nifti(t1).array.copy()
        m[0, 0, 0] = 200
        write_nifti(t1, m, TINY_AFFINE)
        return str(t1)
    if how == "shifted":
        shifted = TINY_AFFINE.copy()
        shifted[0, 3] += 10.0
        write_nifti(t1, read_nifti(t1).array, shifted)
        return str(t1)
    if how == "4d":
        write_nifti(case / "image.nii.gz", np.stack([ct, ct], axis=-1), TINY_AFFINE)
        return str(case / "image.nii.gz")
    raise ValueError(how)


@pytest.mark.parametrize("how", ["truncated", "nan", "label200", "shifted", "4d"])
def test_export_refuses_corrupt_content_naming_the_file(tiny_copy, tmp_path, capsys, how):
    named = _corrupt(tiny_copy, how)
    code = main(["export-nnunet", str(tiny_copy), "--out", str(tmp_path / "raw"), "--task", "1"])
    line = final_error_line(capsys.readouterr().err)
    assert code == 2, line
    assert line.startswith(f"error: {named}:"), line
    assert not (tmp_path / "raw" / "Dataset651_SegRapTask1" / "imagesTr").exists()
