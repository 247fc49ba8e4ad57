"""``segrap-nb evaluate``: the official CSV format, the empty-mask rules, grids, layouts."""

import shutil

import numpy as np
import pandas as pd
import pytest

from segrap_nb import labels as L
from segrap_nb.cli import main
from segrap_nb.eval.evaluate import evaluate
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR
from segrap_nb.io.nifti import read_nifti, write_nifti
from tests.factories import TINY_AFFINE, zip_release


def test_perfect_prediction_scores_one_everywhere(tiny_release, tmp_path, capsys):
    out = tmp_path / "scores"
    assert (
        main(
            [
                "evaluate",
                "--pred",
                str(tiny_release),
                "--gt",
                str(tiny_release),
                "--task",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    official = pd.read_csv(out / "official.csv")
    assert official.columns[0] == "Name"  # order: test_evaluate_dropin
    assert len(official.columns) == 91
    assert set(official.columns[1:46]) == {f"{n}_DSC" for n in L.OAR_NAMES}
    assert sorted(official["Name"]) == ["segrap_0000", "segrap_0001", "segrap_0002"]
    assert (official.drop(columns="Name") == 1.0).all().all()
    per_case = pd.read_csv(out / "per_case.csv")
    assert len(per_case) == 3 * 45
    assert (per_case["hd95"] == 0).all()
    summary = pd.read_csv(out / "summary.csv")
    assert summary["structure"].iloc[-1] == "mean of 45 OARs"
    assert summary["dsc_mean"].iloc[-1] == 1.0
    assert "mean of 45 OARs" in capsys.readouterr().out


def _shift_gtvp(root, case="segrap_0001"):
    f = root / ONEHOT_DIR / "Task002" / f"{case}.nii.gz"
    t2 = read_nifti(f).array.copy()
    gtvp = t2 == 1
    t2[gtvp] = 0
    t2[np.roll(gtvp, 1, axis=0)] = 1  # the 4x3x2 block moves one voxel (0.5 mm) along i
    write_nifti(f, t2, TINY_AFFINE)
    shutil.rmtree(root / IMAGES_DIR)  # predictions as one-hot maps only


def test_shifted_gtv_hand_checked(tiny_copy, tiny_release):
    _shift_gtvp(tiny_copy)
    df = evaluate(tiny_copy, tiny_release, task=2, progress=False)
    row = df[(df.case == "segrap_0001") & (df.structure == "GTVp")].iloc[0]
    assert row.dsc == pytest.approx(2 * 18 / (24 + 24))  # overlap 3x3x2 of two 4x3x2 blocks
    assert row.hd95 == pytest.approx(0.5)  # surfaces move by one 0.5 mm voxel
    assert 0 < row.nsd <= 1
    others = df[(df.case != "segrap_0001") | (df.structure != "GTVp")]
    assert (others.dsc == 1).all()


def test_empty_mask_rules(tiny_copy, tiny_release):
    f = tiny_copy / ONEHOT_DIR / "Task002" / "segrap_0000.nii.gz"
    t2 = read_nifti(f).array.copy()
    t2[t2 == 2] = 0  # the prediction misses GTVnd
    write_nifti(f, t2, TINY_AFFINE)
    g = tiny_copy / ONEHOT_DIR / "Task002" / "segrap_0002.nii.gz"
    write_nifti(g, np.zeros_like(t2), TINY_AFFINE)  # predicts nothing at all
    df = evaluate(tiny_copy, tiny_release, task=2, progress=False).set_index(["case", "structure"])
    assert df.loc[("segrap_0000", "GTVnd"), "dsc"] == 0
    assert df.loc[("segrap_0000", "GTVnd"), "nsd"] == 0
    assert np.isinf(df.loc[("segrap_0000", "GTVnd"), "hd95"])
    assert df.loc[("segrap_0002", "GTVp"), "dsc"] == 0
    # Both empty scores 1: a ground truth without GTVnd (an N0 patient) and an empty prediction.
    gt = tiny_copy.parent / "gt"
    shutil.copytree(tiny_release, gt)
    write_nifti(gt / ONEHOT_DIR / "Task002" / "segrap_0000.nii.gz", t2, TINY_AFFINE)
    shutil.rmtree(gt / IMAGES_DIR)
    df2 = evaluate(tiny_copy, gt, task=2, progress=False).set_index(["case", "structure"])
    assert df2.loc[("segrap_0000", "GTVnd"), "dsc"] == 1
    assert df2.loc[("segrap_0000", "GTVnd"), "nsd"] == 1


def test_masks_zips_and_flat_folders_agree(tiny_copy, tiny_release, tmp_path):
    _shift_gtvp(tiny_copy)
    flat = tmp_path / "flat"
    flat.mkdir()
    for src in (tiny_copy / ONEHOT_DIR / "Task002").glob("*.nii.gz"):
        shutil.copy(src, flat / src.name)
    zips = tmp_path / "zips"
    zip_release(tiny_release, zips)
    a = evaluate(tiny_copy, tiny_release, task=2, progress=False)
    b = evaluate(flat, zips, task=2, progress=False)  # nnU-Net-style predictions vs the zips
    pd.testing.assert_frame_equal(a, b)
    masks_only = tmp_path / "masks"
    shutil.copytree(tiny_release / IMAGES_DIR, masks_only / IMAGES_DIR)
    c = evaluate(masks_only, tiny_release, task=1, workers=2, progress=False)
    assert (c.dsc == 1).all()
    assert len(c) == 135


def test_prediction_on_another_grid_is_an_error(tiny_copy, tiny_release, capsys):
    f = tiny_copy / ONEHOT_DIR / "Task001" / "segrap_0002.nii.gz"
    write_nifti(f, read_nifti(f).array, np.diag([0.6, 0.6, 3.0, 1.0]))
    code = main(
        [
            "evaluate",
            "--pred",
            str(tiny_copy),
            "--gt",
            str(tiny_release),
            "--task",
            "1",
            "--out",
            str(tiny_copy.parent / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("error: ") == 1
    assert "Traceback" not in err
    assert "Task001/segrap_0002.nii.gz: prediction is on a different grid" in err
    assert not (tiny_copy / "out" / "official.csv").exists()


def test_prediction_for_unknown_case_is_an_error(tiny_copy, tiny_release, capsys):
    shutil.copytree(tiny_copy / IMAGES_DIR / "segrap_0000", tiny_copy / IMAGES_DIR / "segrap_0099")
    code = main(
        [
            "evaluate",
            "--pred",
            str(tiny_copy),
            "--gt",
            str(tiny_release),
            "--task",
            "1",
            "--out",
            str(tiny_copy.parent / "out"),
        ]
    )
    assert code == 2
    assert "not in the ground truth: segrap_0099" in capsys.readouterr().err
