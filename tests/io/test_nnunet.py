"""``segrap-nb export-nnunet``: nnU-Net v2 raw layout, links not copies, and nnU-Net's own check."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from segrap_nb import labels as L
from segrap_nb.cli import main
from segrap_nb.errors import DataError
from segrap_nb.eval.evaluate import evaluate
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR, SegRapDataset
from segrap_nb.io.nifti import read_nifti, write_nifti
from segrap_nb.io.nnunet import dataset_dirname, export_nnunet
from tests.factories import TINY_AFFINE, TINY_SHAPE, zip_release

CASES = ["segrap_0000", "segrap_0001", "segrap_0002"]


def exported_names(folder: Path) -> tuple[list[str], list[str]]:
    return (
        sorted(p.name for p in (folder / "imagesTr").iterdir()),
        sorted(p.name for p in (folder / "labelsTr").iterdir()),
    )


def expected_names(cases: list[str]) -> tuple[list[str], list[str]]:
    images = sorted(f"{c}_{ch:04d}.nii.gz" for c in cases for ch in (0, 1))
    return images, [f"{c}.nii.gz" for c in cases]


def test_export_from_folders_links_files_and_writes_dataset_json(tiny_release, tmp_path):
    folder = export_nnunet(tiny_release, tmp_path / "raw", task=1, progress=False)
    assert folder == tmp_path / "raw" / "Dataset651_SegRapTask1"
    assert exported_names(folder) == expected_names(CASES)
    ds = SegRapDataset(tiny_release)
    for case in ds:
        pairs = [
            (case.files["image"], f"imagesTr/{case.case_id}_0000.nii.gz"),
            (case.files["image_contrast"], f"imagesTr/{case.case_id}_0001.nii.gz"),
            (case.onehot[1], f"labelsTr/{case.case_id}.nii.gz"),
        ]
        for src, rel in pairs:  # same file system: hard links, i.e. the very same inode
            assert os.stat(folder / rel).st_ino == os.stat(src.path).st_ino
        assert np.array_equal(
            read_nifti(folder / "labelsTr" / f"{case.case_id}.nii.gz").array, case.onehot_map(1).array
        )
    meta = json.loads((folder / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "CT", "1": "CT"}
    assert meta["numTraining"] == 3
    assert meta["file_ending"] == ".nii.gz"
    assert len(meta["labels"]) == 55
    assert meta["labels"]["background"] == 0
    assert meta["labels"]["Brain"] == 1
    assert meta["labels"]["Chiasm"] == 3
    assert sorted(meta["labels"].values()) == list(range(55))  # nnU-Net wants 0, 1, 2, ...
    assert {v: k for k, v in meta["labels"].items() if v} == L.ONEHOT_LABELS


def test_task2_gets_its_own_default_id_and_two_labels(tiny_release, tmp_path):
    folder = export_nnunet(tiny_release, tmp_path, task=2, progress=False)
    assert folder.name == "Dataset652_SegRapTask2"
    meta = json.loads((folder / "dataset.json").read_text())
    assert meta["labels"] == {"background": 0, "GTVp": 1, "GTVnd": 2}
    case = SegRapDataset(tiny_release)["segrap_0001"]
    lab = read_nifti(folder / "labelsTr" / "segrap_0001.nii.gz")
    assert lab.array.dtype == np.uint8
    assert np.array_equal(lab.array, case.onehot_map(2).array)
    assert sorted(np.unique(lab.array)) == [0, 1, 2]


def test_export_from_zips_streams_members_unchanged(tiny_release, tmp_path):
    zips = tmp_path / "zips"
    zip_release(tiny_release, zips)
    folder = export_nnunet(zips, tmp_path / "raw", task=1, progress=False)
    assert exported_names(folder) == expected_names(CASES)
    src = tiny_release / IMAGES_DIR / "segrap_0002" / "image_contrast.nii.gz"
    dst = folder / "imagesTr" / "segrap_0002_0001.nii.gz"
    assert dst.read_bytes() == src.read_bytes()  # the .nii.gz bytes, not re-encoded
    assert not dst.is_symlink()
    assert os.stat(dst).st_nlink == 1
    label = folder / "labelsTr" / "segrap_0002.nii.gz"
    assert label.read_bytes() == (tiny_release / ONEHOT_DIR / "Task001" / "segrap_0002.nii.gz").read_bytes()
    # Exporting again skips the identical files: same inode and modification time.
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("*.nii.gz")}
    export_nnunet(zips, tmp_path / "raw", task=1, progress=False)
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("*.nii.gz")} == before


def test_rerun_replaces_changed_files_and_removes_stale_cases(tiny_copy, tmp_path):
    raw = tmp_path / "raw"
    folder = export_nnunet(tiny_copy, raw, task=1, progress=False)
    shutil.rmtree(tiny_copy / IMAGES_DIR / "segrap_0002")
    (tiny_copy / ONEHOT_DIR / "Task001" / "segrap_0002.nii.gz").unlink()
    (tiny_copy / ONEHOT_DIR / "Task002" / "segrap_0002.nii.gz").unlink()
    t1 = read_nifti(tiny_copy / ONEHOT_DIR / "Task001" / "segrap_0000.nii.gz").array.copy()
    t1[t1 == 3] = 0  # a corrected label map, rewritten (new inode) in the release
    write_nifti(tiny_copy / ONEHOT_DIR / "Task001" / "segrap_0000.nii.gz", t1, TINY_AFFINE)
    export_nnunet(tiny_copy, raw, task=1, progress=False)
    assert exported_names(folder) == expected_names(CASES[:2])
    assert json.loads((folder / "dataset.json").read_text())["numTraining"] == 2
    assert np.array_equal(read_nifti(folder / "labelsTr" / "segrap_0000.nii.gz").array, t1)
    assert not [p for p in folder.rglob("*") if p.name.endswith(".part")]


def test_missing_onehot_map_is_built_from_the_masks(tiny_copy, tmp_path):
    original = read_nifti(tiny_copy / ONEHOT_DIR / "Task001" / "segrap_0001.nii.gz").array
    shutil.rmtree(tiny_copy / ONEHOT_DIR)
    folder = export_nnunet(tiny_copy, tmp_path, task=1, progress=False)
    label = folder / "labelsTr" / "segrap_0001.nii.gz"
    assert not label.is_symlink()
    assert os.stat(label).st_nlink == 1
    built = read_nifti(label)
    assert built.array.dtype == np.uint8
    assert np.array_equal(built.array, original)
    assert np.allclose(built.affine, TINY_AFFINE)


def test_symlink_across_file_systems_then_copy(tiny_release, tmp_path, monkeypatch):
    def no_hard_link(src, dst):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_hard_link)
    folder = export_nnunet(tiny_release, tmp_path / "a", task=2, progress=False)
    img = folder / "imagesTr" / "segrap_0000_0000.nii.gz"
    assert img.is_symlink()
    assert img.resolve() == (tiny_release / IMAGES_DIR / "segrap_0000" / "image.nii.gz").resolve()

    def no_symlink(src, dst):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "symlink", no_symlink)
    folder = export_nnunet(tiny_release, tmp_path / "b", task=2, progress=False)
    img = folder / "imagesTr" / "segrap_0000_0000.nii.gz"
    assert not img.is_symlink()
    assert os.stat(img).st_nlink == 1
    assert img.read_bytes() == (tiny_release / IMAGES_DIR / "segrap_0000" / "image.nii.gz").read_bytes()


def test_nnunet_prediction_folder_reads_back_as_flat_task(tiny_release, tmp_path):
    folder = export_nnunet(tiny_release, tmp_path / "raw", task=1, progress=False)
    flat = tmp_path / "pred"  # what nnUNetv2_predict writes: flat label maps plus json files
    flat.mkdir()
    for f in (folder / "labelsTr").iterdir():
        shutil.copy(f, flat / f.name)
    shutil.copy(folder / "dataset.json", flat / "dataset.json")
    (flat / "plans.json").write_text("{}")
    ds = SegRapDataset(flat, flat_task=1)
    assert ds.case_ids == CASES
    gt = SegRapDataset(tiny_release)
    for case in ds:
        assert sorted(case.onehot) == [1]
        assert not case.has_images
        assert np.array_equal(case.onehot_map(1).array, gt[case.case_id].onehot_map(1).array)
        assert np.array_equal(case.mask("Eye_L").array, gt[case.case_id].mask("Eye_L").array)
    # ... and `segrap-nb evaluate` scores it as it is: a perfect prediction, DSC = NSD = 1.
    scores = evaluate(flat, tiny_release, 1, progress=False)
    assert sorted(scores["case"].unique()) == CASES
    assert len(scores) == 3 * 45
    assert np.allclose(scores["dsc"], 1.0)
    assert np.allclose(scores["nsd"], 1.0)


def test_grid_mismatch_names_the_file(tiny_copy, tmp_path):
    bad = tiny_copy / IMAGES_DIR / "segrap_0001" / "image_contrast.nii.gz"
    write_nifti(bad, np.zeros(TINY_SHAPE[:2] + (7,), np.int16), TINY_AFFINE)
    with pytest.raises(DataError, match=r"segrap_0001/image_contrast.nii.gz: shape \(24, 20, 7\)"):
        export_nnunet(tiny_copy, tmp_path, task=1, progress=False)


def test_labels_only_dataset_is_refused(tiny_release, tmp_path, capsys):
    code = main(["export-nnunet", str(tiny_release / ONEHOT_DIR), "--out", str(tmp_path), "--task", "1"])
    assert code == 2
    assert "no case has both CTs" in capsys.readouterr().err


def test_cli_with_id_and_name(tiny_release, tmp_path, capsys):
    code = main(
        [
            "export-nnunet",
            str(tiny_release),
            "--out",
            str(tmp_path),
            "--task",
            "2",
            "--id",
            "7",
            "--name",
            "HNtumour",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert (tmp_path / "Dataset007_HNtumour" / "dataset.json").is_file()
    assert "3 cases (9 hard-linked)" in out
    assert "nnUNetv2_plan_and_preprocess -d 7" in out
    assert dataset_dirname(1) == "Dataset651_SegRapTask1"
    with pytest.raises(ValueError):
        dataset_dirname(1, 1000)
    assert main(["export-nnunet", str(tiny_release), "--out", str(tmp_path), "--task", "1", "--id", "0"]) == 2


_NNUNET_CHECK = textwrap.dedent("""
    import json, sys
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity
    from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import (
        DatasetFingerprintExtractor)
    for folder in sys.argv[2:]:
        verify_dataset_integrity(folder, num_processes=1)  # raises on any problem
    fp = DatasetFingerprintExtractor(int(sys.argv[1]), num_processes=1).run()
    print("FINGERPRINT " + json.dumps({"spacings": fp["spacings"],
                                       "shapes": [list(s) for s in fp["shapes_after_crop"]]}))
""")


@pytest.mark.slow
def test_nnunet_accepts_the_export_of_a_phantom(tmp_path):
    pytest.importorskip("nnunetv2")
    phantom = pytest.importorskip("segrap_nb.phantom.writer")
    data = phantom.make_phantom(tmp_path / "data", cases=2, size="quick", progress=False)
    raw = tmp_path / "nnUNet_raw"
    folders = [str(export_nnunet(data, raw, task=t, progress=False)) for t in (1, 2)]
    env = dict(
        os.environ,
        nnUNet_raw=str(raw),
        nnUNet_preprocessed=str(tmp_path / "pre"),
        nnUNet_results=str(tmp_path / "results"),
    )
    proc = subprocess.run(
        [sys.executable, "-c", _NNUNET_CHECK, "651", *folders],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("verify_dataset_integrity Done") == 2
    assert "Error" not in proc.stdout
    assert "Warning" not in proc.stdout
    fp = json.loads(proc.stdout.split("FINGERPRINT ", 1)[1].splitlines()[0])
    # nnU-Net (SimpleITK) lists axes as (z, y, x): the reverse of our (i, j, k) order.
    for n, case in enumerate(SegRapDataset(data)):
        info = case.image_header()
        assert fp["shapes"][n] == list(info.shape[::-1])  # CT is never 0: nothing cropped
        assert np.allclose(fp["spacings"][n], info.spacing[::-1])
