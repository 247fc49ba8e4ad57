"""``segrap-nb evaluate`` as a drop-in for the organisers' scripts: masks, label maps, official.csv.

The organisers (``Eval/SegRap_Task00{1,2}_DSC_NSD_Eval.py``) read 45 separate mask files per
case, score each structure on its own with DeepMind's ``surface-distance`` code, and write one
CSV row per case. These tests hold the kit to that: overlapping predicted masks are scored, per
structure, to the number the reference package gives; label maps of any integer dtype are read;
and ``official.csv`` is byte for byte the file their script writes.
"""

from __future__ import annotations

import gzip
import os
import shutil
from collections import OrderedDict
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from segrap_nb import labels as L
from segrap_nb.cli import main
from segrap_nb.errors import DataError
from segrap_nb.eval.evaluate import evaluate, official_table, write_csv_atomic
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR
from segrap_nb.io.nifti import read_nifti, write_nifti
from tests.factories import TINY_AFFINE, TINY_SHAPE

sd = pytest.importorskip("surface_distance")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:surface_distance")

SPACING = (0.5, 0.5, 3.0)  # TINY_AFFINE's voxel size in mm
CASES = ("segrap_0000", "segrap_0001", "segrap_0002")


@pytest.fixture(autouse=True)
def _numpy2_shims(monkeypatch: pytest.MonkeyPatch) -> None:
    """surface-distance 0.1 reads np.Inf / np.NaN, gone in NumPy 2: alias them for the test."""
    monkeypatch.setattr(np, "Inf", np.inf, raising=False)
    monkeypatch.setattr(np, "NaN", np.nan, raising=False)


def reference(pred: np.ndarray, gt: np.ndarray, tol: float) -> tuple[float, float, float]:
    """(DSC, NSD, HD95) of two full-volume masks by surface-distance, with the challenge's empty rules."""
    if not gt.any() and not pred.any():
        return 1.0, 1.0, 0.0
    dist = sd.compute_surface_distances(gt, pred, SPACING)
    return (
        float(sd.compute_dice_coefficient(gt, pred)),
        float(sd.compute_surface_dice_at_tolerance(dist, tol)),
        float(sd.compute_robust_hausdorff(dist, 95)),
    )


def _mask(path: Path) -> np.ndarray:
    return read_nifti(path).array > 0


# -- overlapping masks (item 12) and the masks path (item 13) -----------------------------------
def test_overlapping_masks_score_per_structure_like_surface_distance(tiny_release, tmp_path):
    pred = tmp_path / "submission"  # the organisers' layout: one folder per case, 45 masks each
    for case in CASES:
        shutil.copytree(
            tiny_release / IMAGES_DIR / case, pred / case, ignore=shutil.ignore_patterns("image*", "GTV*")
        )
    # A model that predicts each organ on its own: Parotid_L grown into Submandibular_L (no
    # one-hot label is both), Brain and Eye_R moved by a voxel, Chiasm missed.
    d = pred / "segrap_0000"
    grown = ndimage.binary_dilation(_mask(d / "Parotid_L.nii.gz")) | _mask(d / "Submandibular_L.nii.gz")
    write_nifti(d / "Parotid_L.nii.gz", grown.astype(np.uint8), TINY_AFFINE)
    for name in ("Brain", "Eye_R"):
        write_nifti(
            d / f"{name}.nii.gz", np.roll(_mask(d / f"{name}.nii.gz"), 1, 0).astype(np.uint8), TINY_AFFINE
        )
    write_nifti(d / "Chiasm.nii.gz", np.zeros(TINY_SHAPE, np.uint8), TINY_AFFINE)
    with pytest.raises(L.ConversionError):  # no one-hot map can hold this prediction
        L.masks_to_onehot({n: _mask(d / f"{n}.nii.gz") for n in L.OAR_NAMES}, 1)

    assert (
        main(
            [
                "evaluate",
                "--pred",
                str(pred),
                "--gt",
                str(tiny_release),
                "--task",
                "1",
                "--out",
                str(tmp_path / "scores"),
            ]
        )
        == 0
    )
    df = evaluate(pred, tiny_release, task=1, progress=False)
    assert len(df) == 3 * 45
    for row in df.itertuples():
        p = _mask(pred / row.case / f"{row.structure}.nii.gz")
        g = _mask(tiny_release / IMAGES_DIR / row.case / f"{row.structure}.nii.gz")
        got = (row.dsc, row.nsd, row.hd95)
        assert got == reference(p, g, L.NSD_TOLERANCE_MM[row.structure]), (row.case, row.structure)
        assert (row.pred_voxels, row.gt_voxels) == (p.sum(), g.sum())
    parotid = df[(df.case == "segrap_0000") & (df.structure == "Parotid_L")].iloc[0]
    assert parotid.dsc < 1  # the overlap is scored, not refused
    assert parotid.nsd < 1


def test_masks_only_prediction_scores_as_its_one_hot_map(tiny_release, tmp_path):
    maps, masks = tmp_path / "maps", tmp_path / "masks"
    for case in CASES:  # every label moved by one voxel: a prediction a one-hot map can hold
        moved = np.roll(read_nifti(tiny_release / ONEHOT_DIR / "Task001" / f"{case}.nii.gz").array, 1, 1)
        write_nifti(maps / ONEHOT_DIR / "Task001" / f"{case}.nii.gz", moved, TINY_AFFINE)
        for name, m in L.onehot_to_masks(moved, 1).items():
            write_nifti(masks / case / f"{name}.nii.gz", m.view(np.uint8), TINY_AFFINE)
    from_maps = evaluate(maps, tiny_release, task=1, progress=False)
    assert from_maps.dsc.min() < 1
    pd.testing.assert_frame_equal(evaluate(masks, tiny_release, task=1, progress=False), from_maps)


# -- label maps of any integer dtype; bad maps named with their side (item 8) -------------------
def _write(path: Path, array: np.ndarray, big_endian: bool = False) -> None:
    """Save with nibabel in the array's dtype; big-endian: header and voxels byte-swapped by hand."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(array, TINY_AFFINE)
    img.set_data_dtype(array.dtype)
    if not big_endian:
        nib.save(img, str(path))
        return
    header = img.header.as_byteswapped(">")
    header["vox_offset"] = 352
    with gzip.open(path, "wb") as fh:
        fh.write(
            header.binaryblock + b"\0" * 4 + array.astype(array.dtype.newbyteorder(">")).tobytes(order="F")
        )


def _maps_only(release: Path, root: Path, dtype: str = "uint8") -> Path:
    """A prediction of one-hot maps only (``dtype``, ``>`` for big-endian): the release's maps moved one voxel."""
    for case in CASES:
        arr = np.roll(read_nifti(release / ONEHOT_DIR / "Task001" / f"{case}.nii.gz").array, 1, 0)
        _write(
            root / ONEHOT_DIR / "Task001" / f"{case}.nii.gz",
            arr.astype(dtype),
            big_endian=dtype.startswith(">"),
        )
    return root


@pytest.mark.parametrize("dtype", ["uint16", "int32", "float32", ">i2"])
def test_label_maps_of_any_integer_dtype_score_as_uint8(tiny_release, tmp_path, dtype):
    pred = _maps_only(tiny_release, tmp_path / "pred", dtype)
    stored = nib.load(str(pred / ONEHOT_DIR / "Task001" / "segrap_0001.nii.gz")).header.get_data_dtype()
    assert stored == np.dtype(dtype)  # e.g. big-endian int16 really is big-endian on disk
    expected = evaluate(_maps_only(tiny_release, tmp_path / "ref"), tiny_release, task=1, progress=False)
    assert expected.dsc.min() < 1
    pd.testing.assert_frame_equal(evaluate(pred, tiny_release, task=1, progress=False), expected)


def _evaluate_cli(pred: Path, gt: Path, out: Path, capsys) -> tuple[int, str]:
    code = main(["evaluate", "--pred", str(pred), "--gt", str(gt), "--task", "1", "--out", str(out)])
    return code, capsys.readouterr().err.strip()


def test_bad_label_maps_are_named_with_their_side(tiny_release, tmp_path, capsys):
    tiny = tiny_release
    gt = tmp_path / "gt"
    shutil.copytree(tiny / ONEHOT_DIR, gt / ONEHOT_DIR)
    bad = gt / ONEHOT_DIR / "Task001" / "segrap_0001.nii.gz"
    arr = read_nifti(bad).array.copy()
    arr[3, 3, 3] = 200
    write_nifti(bad, arr, TINY_AFFINE)
    pred = _maps_only(tiny, tmp_path / "pred")
    code, err = _evaluate_cli(pred, gt, tmp_path / "out", capsys)
    assert code == 2
    assert err.count("error: ") == 1
    assert "Traceback" not in err
    assert f"{bad}: --gt Task001 one-hot map holds label 200; Task001 labels are 0..54" in err
    # The same map as a prediction is blamed on --pred.
    code, err = _evaluate_cli(gt, tiny, tmp_path / "out", capsys)
    assert code == 2
    assert f"{bad}: --pred Task001 one-hot map holds label 200" in err
    with pytest.raises(DataError, match="--pred Task001 one-hot map holds label 200"):  # from a worker too
        evaluate(gt, tiny, task=1, workers=2, progress=False)
    # Floats must be whole numbers; NaN is refused with the file and the side.
    f = pred / ONEHOT_DIR / "Task001" / "segrap_0002.nii.gz"
    half = read_nifti(f).array.astype(np.float32)
    half[5, 5, 5] = 0.5
    _write(f, half)
    code, err = _evaluate_cli(pred, tiny, tmp_path / "out", capsys)
    assert code == 2
    assert f"{f}: --pred Task001 one-hot map holds non-integer value 0.5 (1 voxels)" in err
    half[5, 5, 5] = np.nan
    _write(f, half)
    code, err = _evaluate_cli(pred, tiny, tmp_path / "out", capsys)
    assert code == 2
    assert f"{f}: --pred: 1 voxels are NaN or infinite" in err
    assert not (tmp_path / "out" / "official.csv").exists()


# -- official.csv, byte for byte (item 14) ------------------------------------------------------
#: The organisers' Task 1 column order (their tolerance table in SegRap_Task001_DSC_NSD_Eval.py).
ORGANISERS_TASK1 = [
    "Brain",
    "BrainStem",
    "Chiasm",
    "Cochlea_L",
    "Cochlea_R",
    "Esophagus",
    "ETbone_L",
    "ETbone_R",
    "Eye_L",
    "Eye_R",
    "Hippocampus_L",
    "Hippocampus_R",
    "IAC_L",
    "IAC_R",
    "Larynx",
    "Larynx_Glottic",
    "Larynx_Supraglot",
    "Lens_L",
    "Lens_R",
    "Mandible_L",
    "Mandible_R",
    "Mastoid_L",
    "Mastoid_R",
    "MiddleEar_L",
    "MiddleEar_R",
    "OpticNerve_L",
    "OpticNerve_R",
    "OralCavity",
    "Parotid_L",
    "Parotid_R",
    "PharynxConst",
    "Pituitary",
    "SpinalCord",
    "Submandibular_L",
    "Submandibular_R",
    "TemporalLobe_L",
    "TemporalLobe_R",
    "Thyroid",
    "Trachea",
    "TympanicCavity_L",
    "TMjoint_L",
    "TMjoint_R",
    "TympanicCavity_R",
    "VestibulSemi_L",
    "VestibulSemi_R",
]


def test_task1_header_is_the_organisers(tiny_release, tmp_path):
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
                str(tmp_path),
            ]
        )
        == 0
    )
    header = (tmp_path / "official.csv").read_text().splitlines()[0].split(",")
    assert header == ["Name"] + [f"{n}_DSC" for n in ORGANISERS_TASK1] + [
        f"{n}_NSD" for n in ORGANISERS_TASK1
    ]
    assert list(L.OAR_NAMES) != ORGANISERS_TASK1  # not the 4D channel order


def test_official_values_are_rounded_as_the_organisers(tmp_path):
    rows = [  # (case, structure, dsc, nsd, gt_voxels)
        ("segrap_0007", "GTVp", 0.00625, 0.00625, 160),  # Python round 0.0063, NumPy round 0.0062
        ("segrap_0007", "GTVnd", 1.0, 1.0, 0),  # absent in truth and prediction: the integer 1
        ("segrap_0003", "GTVp", 0.83, 0.85675, 900),
        ("segrap_0003", "GTVnd", 0.0, 0.0, 0),  # absent in truth, predicted: the integer 0
        ("segrap_0005", "GTVp", 1.0, 1.0, 5),
        ("segrap_0005", "GTVnd", 1.0, 1.0, 0),
    ]
    per_case = pd.DataFrame(rows, columns=["case", "structure", "dsc", "nsd", "gt_voxels"])
    table = official_table(per_case, task=2, order=["segrap_0007", "segrap_0003", "segrap_0005"])
    path = write_csv_atomic(table, tmp_path / "official.csv")
    assert path.read_text() == (
        "Name,GTVp_DSC,GTVnd_DSC,GTVp_NSD,GTVnd_NSD\n"
        "segrap_0007,0.0063,1,0.0062,1\n"
        "segrap_0003,0.83,0,0.8568,0\n"
        "segrap_0005,1.0,1,1.0,1\n"
    )
    assert round(0.00625, 4) == 0.0063  # the two rules
    assert round(np.float64(0.00625), 4) == 0.0062


def organisers_task2_csv(submission: Path, truth: Path, out: Path) -> None:
    """The organisers' Task 2 script, step for step (SimpleITK reading swapped for nibabel's
    (i, j, k) arrays and zooms; medpy's ``dc`` inlined as it runs under the NumPy 1.x of 2023,
    where ``count_nonzero`` returns a Python int)."""
    tolerance = OrderedDict({"GTVp": 1, "GTVnd": 1})
    result: OrderedDict[str, list] = OrderedDict(Name=[])
    for lesion in tolerance:
        result[f"{lesion}_DSC"] = []
    for lesion in tolerance:
        result[f"{lesion}_NSD"] = []
    for patient in os.listdir(submission):
        result["Name"].append(patient)
        for lesion in sorted(tolerance):
            res = np.asanyarray(nib.load(str(submission / patient / f"{lesion}.nii.gz")).dataobj) > 0
            img = nib.load(str(truth / patient / f"{lesion}.nii.gz"))
            ref, spacing = np.asanyarray(img.dataobj) > 0, img.header.get_zooms()[:3]
            if np.sum(ref) == 0 and np.sum(res) == 0:
                dsc = nsd = 1
            elif np.sum(ref) == 0 and np.sum(res) > 0:
                dsc = nsd = 0
            else:
                inter, n1, n2 = (int(np.count_nonzero(x)) for x in (res & ref, res, ref))
                dsc = 2.0 * inter / float(n1 + n2)
                nsd = sd.compute_surface_dice_at_tolerance(
                    sd.compute_surface_distances(ref, res, spacing), tolerance[lesion]
                )
            result[f"{lesion}_DSC"].append(round(dsc, 4))
            result[f"{lesion}_NSD"].append(round(nsd, 4))
    pd.DataFrame(result).to_csv(out, index=False)


def _block(i: slice, j: slice, k: slice) -> np.ndarray:
    out = np.zeros(TINY_SHAPE, bool)
    out[i, j, k] = True
    return out


def test_official_csv_is_the_organisers_file_byte_for_byte(tmp_path):
    gt_root, sub = tmp_path / "gt", tmp_path / "submission"
    gtvp = _block(slice(0, 4), slice(0, 5), slice(0, 8))  # 160 voxels
    far = _block(slice(10, 14), slice(0, 5), slice(0, 8))
    far[13, 4, 7], far[0, 0, 0] = False, True  # 160 voxels, one shared: DSC = 2/320 = 0.00625
    node = _block(slice(20, 22), slice(15, 17), slice(2, 4))
    empty = np.zeros(TINY_SHAPE, bool)
    preds = {
        "segrap_0002": (np.roll(gtvp, 1, 0), node),
        "segrap_0000": (far, empty),
        "segrap_0001": (gtvp, empty),
    }
    for case, (p_gtvp, p_gtvnd) in preds.items():  # N0 patients: no GTVnd in the truth
        for name, truth, pred in (("GTVp", gtvp, p_gtvp), ("GTVnd", empty, p_gtvnd)):
            write_nifti(gt_root / IMAGES_DIR / case / f"{name}.nii.gz", truth.view(np.uint8), TINY_AFFINE)
            write_nifti(sub / case / f"{name}.nii.gz", pred.view(np.uint8), TINY_AFFINE)
        write_nifti(gt_root / ONEHOT_DIR / "Task002" / f"{case}.nii.gz", gtvp.view(np.uint8), TINY_AFFINE)
    organisers_task2_csv(sub, gt_root / IMAGES_DIR, tmp_path / "theirs.csv")
    assert (
        main(
            [
                "evaluate",
                "--pred",
                str(sub),
                "--gt",
                str(gt_root),
                "--task",
                "2",
                "--out",
                str(tmp_path / "ours"),
            ]
        )
        == 0
    )
    ours = (tmp_path / "ours" / "official.csv").read_bytes()
    assert ours == (tmp_path / "theirs.csv").read_bytes()
    lines = ours.decode().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == os.listdir(sub)  # their row order
    assert "segrap_0000,0.0063,1," in ours.decode()
