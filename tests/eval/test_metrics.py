"""The kit's DSC / NSD / HD95 against DeepMind's ``surface-distance`` package, the official code.

Test dependency: ``surface-distance`` (PyPI, ``pip install surface-distance``; imported as
``surface_distance``). Version 0.1 still uses ``np.Inf`` and ``np.NaN``, which NumPy 2 removed:
the ``_numpy2_shims`` fixture below puts them back (monkeypatched, undone after each test)
whenever the reference runs.

The reference always runs on the full (uncropped) arrays, so these tests also check that our
bounding-box crops change nothing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from segrap_nb import labels as L
from segrap_nb.eval import metrics as M
from segrap_nb.eval.surfels import surfel_area_table

sd = pytest.importorskip("surface_distance")

# surface-distance 0.1 imports from scipy.ndimage.filters / .morphology (deprecated namespaces).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:surface_distance")


@pytest.fixture(autouse=True)
def _numpy2_shims(monkeypatch: pytest.MonkeyPatch) -> None:
    """surface-distance 0.1 reads np.Inf / np.NaN, gone in NumPy 2: alias them for the test."""
    monkeypatch.setattr(np, "Inf", np.inf, raising=False)
    monkeypatch.setattr(np, "NaN", np.nan, raising=False)


def reference(pred: np.ndarray, gt: np.ndarray, spacing, tol: float) -> tuple[float, float, float]:
    """(DSC, NSD, HD95) by surface-distance on the full arrays, with the challenge's empty rules."""
    if not gt.any() and not pred.any():
        return 1.0, 1.0, 0.0
    dist = sd.compute_surface_distances(gt, pred, spacing)
    return (
        float(sd.compute_dice_coefficient(gt, pred)),
        float(sd.compute_surface_dice_at_tolerance(dist, tol)),
        float(sd.compute_robust_hausdorff(dist, 95)),
    )


def assert_matches(score: M.StructureScore, ref: tuple[float, float, float]) -> None:
    """DSC exactly equal; NSD and HD95 within 1e-6 (inf == inf)."""
    dsc, nsd, hd95 = ref
    assert score.dsc == dsc
    assert score.nsd == pytest.approx(nsd, abs=1e-6)
    if math.isinf(hd95):
        assert math.isinf(score.hd95)
    else:
        assert score.hd95 == pytest.approx(hd95, abs=1e-6)


def blob(rng: np.random.Generator, shape: tuple[int, int, int], border: bool = False) -> np.ndarray:
    """A random lumpy blob: a union of 1-3 ellipsoids (optionally centred on the volume border)."""
    grid = np.ogrid[: shape[0], : shape[1], : shape[2]]
    out = np.zeros(shape, bool)
    for _ in range(int(rng.integers(1, 4))):
        centre = rng.uniform(0, np.array(shape) - 1)
        if border:
            ax = int(rng.integers(0, 3))
            centre[ax] = rng.choice([0, shape[ax] - 1])
        radii = rng.uniform(1.0, np.array(shape) / 3)
        out |= sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) <= 1
    return out


def shifted(mask: np.ndarray, offset) -> np.ndarray:
    """``mask`` moved by ``offset`` voxels, zero-filled (no wrap-around)."""
    out = np.zeros_like(mask)
    src, dst = [], []
    for o, n in zip(offset, mask.shape):
        o = int(o)
        src.append(slice(max(0, -o), n - max(0, o)))
        dst.append(slice(max(0, o), n - max(0, -o)))
    out[tuple(dst)] = mask[tuple(src)]
    return out


def perturb(rng: np.random.Generator, gt: np.ndarray, kind: str) -> np.ndarray:
    """A prediction made from ``gt``: shifted, dilated, eroded, emptied, noisy or identical."""
    if kind == "shift":
        return shifted(gt, rng.integers(-3, 4, 3))
    if kind == "dilate":
        return ndimage.binary_dilation(gt, iterations=int(rng.integers(1, 3)))
    if kind == "erode":  # may empty a thin blob: then exactly one mask is empty
        return ndimage.binary_erosion(gt, iterations=int(rng.integers(1, 3)))
    if kind == "empty":
        return np.zeros_like(gt)
    if kind == "noise":
        flip = rng.random(gt.shape) < 0.02
        near = ndimage.binary_dilation(gt, iterations=2)
        return shifted(gt, rng.integers(-1, 2, 3)) ^ (flip & near)
    return gt.copy()


SPACINGS = [(0.5, 0.5, 3.0), (1.0, 1.0, 1.0), (0.54, 0.54, 3.0231), (3.0, 0.7, 0.5)]
KINDS = ["shift", "dilate", "erode", "empty", "noise", "same"]


# ---------------------------------------------------------------------------------------------
# Hand-checkable cases
# ---------------------------------------------------------------------------------------------


def test_cubes_shifted_by_one_voxel():
    gt = np.zeros((10, 10, 10), bool)
    gt[2:6, 2:6, 2:6] = True  # 4x4x4 = 64 voxels
    pred = shifted(gt, (1, 0, 0))  # overlap 3x4x4 = 48 voxels
    s = M.surface_metrics(pred, gt, (1.0, 1.0, 1.0), 1.0)
    assert s.dsc == 2 * 48 / (64 + 64) == 0.75
    # Every surfel is on the other surface or one face plane (1 mm) away from it.
    assert s.nsd == 1.0
    assert s.hd95 == 1.0
    # 2 mm voxels along the shift: the end faces are now 2 mm apart.
    s2 = M.surface_metrics(pred, gt, (2.0, 1.0, 1.0), 1.0)
    assert s2.dsc == 0.75
    assert s2.hd95 == 2.0
    assert s2.nsd < 1.0
    assert M.surface_metrics(pred, gt, (2.0, 1.0, 1.0), 2.0).nsd == 1.0


def test_single_voxels_apart():
    # One voxel each, 3 voxels apart along axis 0 at 2 mm: the 8 corner surfels of each have
    # equal areas; 4 lie 2 voxels (4 mm) from the other surface, 4 lie 3 voxels (6 mm) away.
    gt = np.zeros((8, 4, 4), bool)
    pred = np.zeros_like(gt)
    gt[1, 1, 1] = True
    pred[4, 1, 1] = True
    spacing = (2.0, 1.0, 1.0)
    assert M.surface_metrics(pred, gt, spacing, 3.9) == M.StructureScore(0.0, 0.0, 6.0)
    assert M.surface_metrics(pred, gt, spacing, 4.0).nsd == 0.5
    assert M.surface_metrics(pred, gt, spacing, 6.0).nsd == 1.0
    assert_matches(M.surface_metrics(pred, gt, spacing, 4.0), reference(pred, gt, spacing, 4.0))


def test_identical_masks():
    gt = blob(np.random.default_rng(1), (30, 30, 10))
    assert M.surface_metrics(gt, gt.copy(), (0.5, 0.5, 3.0), 1.0) == M.StructureScore(1.0, 1.0, 0.0)


def test_empty_rules():
    empty = np.zeros((12, 12, 6), bool)
    one = empty.copy()
    one[3:6, 4:8, 2:4] = True
    assert M.surface_metrics(empty, empty, (1, 1, 1), 1) == M.StructureScore(1.0, 1.0, 0.0)
    for pred, gt in [(empty, one), (one, empty)]:
        s = M.surface_metrics(pred, gt, (1, 1, 1), 1)
        assert s.dsc == 0.0
        assert s.nsd == 0.0
        assert s.hd95 == math.inf
        # The package itself gives NSD 0 and HD95 inf here.
        assert_matches(s, reference(pred, gt, (1, 1, 1), 1.0))


def test_whole_volume_mask():
    # Fills the volume: every face is on the volume border, where both crop paddings are zero.
    full = np.ones((6, 7, 5), bool)
    part = full.copy()
    part[:, :, 4] = False
    for spacing in SPACINGS:
        got = M.surface_metrics(part, full, spacing, 1.0)
        assert_matches(got, reference(part, full, spacing, 1.0))


def test_input_validation():
    a = np.zeros((4, 4, 4), bool)
    with pytest.raises(ValueError):
        M.surface_metrics(a, np.zeros((4, 4, 5), bool), (1, 1, 1), 1)
    with pytest.raises(ValueError):
        M.surface_metrics(a, a, (1, 1), 1)
    with pytest.raises(ValueError):
        M.surface_metrics(a, a, (1, 0, 1), 1)
    with pytest.raises(ValueError):
        M.surface_metrics(a[0], a[0], (1, 1, 1), 1)


# ---------------------------------------------------------------------------------------------
# Randomised comparison with surface-distance on the full arrays
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(24))
def test_random_cases_match_surface_distance(seed: int):
    rng = np.random.default_rng(1000 + seed)
    shape = tuple(int(n) for n in rng.integers([24, 24, 8], [56, 56, 24]))
    for i, kind in enumerate(KINDS):
        spacing = SPACINGS[(seed + i) % len(SPACINGS)]
        gt = blob(rng, shape, border=(i + seed) % 3 == 0)
        pred = perturb(rng, gt, kind)
        if kind == "same" and seed % 2:  # "missing" the other way round: nothing in the gt
            gt, pred = np.zeros_like(gt), pred
        for tol in (1.0, 2.0, 3.0):
            got = M.surface_metrics(pred, gt, spacing, tol)
            assert_matches(got, reference(pred, gt, spacing, tol))


@pytest.mark.parametrize("seed", range(4))
def test_surfel_distances_are_bit_identical(seed: int):
    """Same grid, codes, areas, distance transform and order: the arrays are equal, not close."""
    rng = np.random.default_rng(seed)
    shape = (40, 44, 14)
    gt = blob(rng, shape, border=seed % 2 == 0)
    pred = perturb(rng, gt, KINDS[seed % 3])
    spacing = SPACINGS[seed]
    ours = M.surface_distances(pred, gt, spacing)
    ref = sd.compute_surface_distances(gt, pred, spacing)
    assert ours.keys() == ref.keys()
    for key in ref:
        np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)
    s = M.surface_metrics(pred, gt, spacing, 1.0)
    if gt.any() and pred.any():
        assert s.nsd == sd.compute_surface_dice_at_tolerance(ref, 1.0)
        assert s.hd95 == sd.compute_robust_hausdorff(ref, 95)


def test_surfel_area_table_matches():
    from surface_distance import lookup_tables

    for spacing in SPACINGS:
        np.testing.assert_array_equal(
            surfel_area_table(tuple(float(s) for s in spacing)),
            lookup_tables.create_table_neighbour_code_to_surface_area(spacing),
        )


def test_fortran_ordered_and_non_bool_inputs():
    # nibabel hands out Fortran-ordered arrays; masks may come as uint8.
    rng = np.random.default_rng(7)
    gt = blob(rng, (30, 34, 12), border=True)
    pred = perturb(rng, gt, "noise")
    ref = reference(pred, gt, (0.5, 0.5, 3.0), 1.0)
    pred_f = np.asfortranarray(pred).astype(np.uint8)
    got = M.surface_metrics(pred_f, np.asfortranarray(gt), (0.5, 0.5, 3.0), 1.0)
    assert_matches(got, ref)


# ---------------------------------------------------------------------------------------------
# evaluate_case on tiny one-hot maps
# ---------------------------------------------------------------------------------------------

TINY = (40, 40, 12)
SPACING = (0.9, 0.9, 3.0)


def paint(spec: dict[int, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """uint8 map with each label's ellipsoid (centre, radii in voxels) painted in label order."""
    grid = np.ogrid[: TINY[0], : TINY[1], : TINY[2]]
    out = np.zeros(TINY, np.uint8)
    for lab, (centre, radii) in spec.items():
        out[sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) <= 1] = lab
    return out


def task1_pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(pred, gt) Task 1 maps: Pituitary absent in both, Chiasm only in gt, Thyroid only in pred."""
    rng = np.random.default_rng(seed)
    spec = {
        lab: (rng.uniform(0, np.array(TINY) - 1), rng.uniform([1, 1, 0.6], [7, 7, 3]))
        for lab in L.ONEHOT_LABELS
    }
    gt_spec = {k: v for k, v in spec.items() if k not in (34, 53)}
    pred_spec = {
        k: (c + rng.integers(-2, 3, 3), r * rng.uniform(0.8, 1.25, 3))
        for k, (c, r) in spec.items()
        if k not in (34, 3)
    }
    return paint(pred_spec), paint(gt_spec)


def test_evaluate_case_task1():
    pred, gt = task1_pair(0)
    scores = M.evaluate_case(pred, gt, SPACING, task=1)
    assert list(scores) == list(L.OAR_NAMES)
    assert scores["Pituitary"] == M.StructureScore(1.0, 1.0, 0.0)
    assert scores["Chiasm"].dsc == 0.0
    assert scores["Chiasm"].nsd == 0.0
    assert scores["Thyroid"].dsc == 0.0
    assert scores["Thyroid"].nsd == 0.0
    assert math.isinf(scores["Thyroid"].hd95)
    for name, got in scores.items():
        p, g = L.structure_mask(pred, name, 1), L.structure_mask(gt, name, 1)
        assert_matches(got, reference(p, g, SPACING, L.NSD_TOLERANCE_MM[name]))
    # The official tolerances are used (OralCavity 3 mm, Larynx 2 mm).
    for name in ("OralCavity", "Larynx"):
        p, g = L.structure_mask(pred, name, 1), L.structure_mask(gt, name, 1)
        assert scores[name] == M.surface_metrics(p, g, SPACING, L.NSD_TOLERANCE_MM[name])


def test_evaluate_case_masks_equal_onehot():
    pred, gt = task1_pair(1)
    from_maps = M.evaluate_case(pred, gt, SPACING, task=1)
    pred_masks = {n: np.asfortranarray(m) for n, m in L.onehot_to_masks(pred, 1).items()}
    assert M.evaluate_case(pred_masks, gt, SPACING, task=1) == from_maps
    assert M.evaluate_case(pred_masks, L.onehot_to_masks(gt, 1), SPACING, task=1) == from_maps


def test_evaluate_case_task2():
    rng = np.random.default_rng(3)
    gtvp = (np.array([20.0, 18.0, 6.0]), np.array([8.0, 6.0, 3.0]))
    gtvnd = (np.array([8.0, 30.0, 5.0]), np.array([3.0, 4.0, 2.0]))
    gt = paint({1: gtvp, 2: gtvnd})
    pred = paint({1: (gtvp[0] + rng.integers(-2, 3, 3), gtvp[1] * 1.1)})  # GTVnd missed
    scores = M.evaluate_case(pred, gt, SPACING, task=2)
    assert list(scores) == ["GTVp", "GTVnd"]
    assert scores["GTVnd"].dsc == 0.0
    assert scores["GTVnd"].nsd == 0.0
    assert_matches(scores["GTVp"], reference(pred == 1, gt == 1, SPACING, 1.0))
    # N0 patient: no nodes in the ground truth, none predicted -> a perfect GTVnd.
    no_nodes = M.evaluate_case(pred, np.where(gt == 2, 0, gt).astype(np.uint8), SPACING, task=2)
    assert no_nodes["GTVnd"] == M.StructureScore(1.0, 1.0, 0.0)
    # Masks under the card's spelling (GTVnx) are accepted.
    masks = {"GTVnx": gt == 1, "GTVnd": gt == 2}
    assert M.evaluate_case(pred, masks, SPACING, task=2) == scores


def test_evaluate_case_errors():
    pred, gt = task1_pair(2)
    with pytest.raises(TypeError):
        M.evaluate_case(pred.astype(np.float64), gt, SPACING, task=1)
    with pytest.raises(ValueError):
        M.evaluate_case(pred[:-1], gt, SPACING, task=1)  # shapes differ
    with pytest.raises(ValueError):  # label 3 is not a Task 2 label
        M.evaluate_case(np.full(TINY, 3, np.uint8), np.zeros(TINY, np.uint8), SPACING, task=2)
    with pytest.raises(KeyError):
        M.evaluate_case({"GTVp": gt == 1}, np.zeros(TINY, np.uint8), SPACING, task=2)
    with pytest.raises(ValueError):
        M.evaluate_case(pred, gt, SPACING, task=3)


def test_one_dice_formula_and_one_empty_rule_for_scoring_and_validation():
    assert M.dice(0, 0, 0) == 1.0  # both empty
    assert M.dice(0, 7, 0) == 0.0 and M.dice(0, 0, 7) == 0.0  # exactly one empty
    assert M.dice(3, 4, 4) == 0.75
    from segrap_nb.training.val_dice import dice_per_structure

    rng = np.random.default_rng(3)
    gt = np.zeros((12, 10, 8), np.uint8)
    gt[2:7, 2:6, 1:5] = L.ONEHOT_IDS["Brain"]
    pred = gt.copy()
    pred[rng.random(gt.shape) < 0.2] = 0
    pred[0, 0, 0] = L.OAR_TO_ONEHOT["Eye_L"][0]  # a one-voxel false positive: Eye_L absent in gt
    val = dice_per_structure(gt, pred, 1)
    for name in ("Brain", "Eye_L", "Cochlea_L"):  # overlap, one empty, both empty
        p, g = L.structure_mask(pred, name, 1), L.structure_mask(gt, name, 1)
        score = M.surface_metrics(p, g, (1.0, 1.0, 1.0), 1.0)
        expected = M.dice(int((p & g).sum()), int(p.sum()), int(g.sum()))
        assert val[name] == score.dsc == expected, name
    assert val["Cochlea_L"] == 1.0 and val["Eye_L"] == 0.0 and 0.8 < val["Brain"] < 0.9


def test_label_boxes_equal_find_objects_of_the_whole_map():
    """Boxes found inside the labelled region (copied out or not) are those of the whole map."""
    from scipy import ndimage

    from segrap_nb.grid import label_boxes

    rng = np.random.default_rng(7)
    for trial in range(12):
        shape = tuple(int(n) for n in rng.integers(3, 30, size=3))
        onehot = np.zeros(shape, np.uint8)
        dense = trial % 3 == 0  # labels over most of the map: find_objects runs on the view, no copy
        for label in rng.choice(np.arange(1, 55), size=int(rng.integers(1, 8)), replace=False):
            lo = [int(rng.integers(0, n)) for n in shape]
            hi = [n if dense else int(rng.integers(a + 1, n + 1)) for a, n in zip(lo, shape)]
            onehot[tuple(slice(a, b) for a, b in zip(lo, hi))] = label
        if trial == 1:
            onehot[0, 0, 0], onehot[-1, -1, -1] = 3, 9  # labels on opposite corners
        for arr in (onehot, np.asfortranarray(onehot)):
            assert label_boxes(arr) == ndimage.find_objects(onehot), trial
    assert label_boxes(np.zeros((4, 5, 6), np.uint8)) == []


def test_label_boxes_in_either_memory_order_and_their_union():
    from segrap_nb.grid import label_boxes, union_box

    onehot = np.zeros((9, 7, 5), np.uint8)
    onehot[1:3, 2:5, 0:2] = 10  # Eye_L's two labels (10, 12) in two places
    onehot[6:8, 1:2, 3:5] = 12
    for arr in (onehot, np.asfortranarray(onehot)):
        boxes = label_boxes(arr)
        assert len(boxes) == 12 and boxes[0] is None
        assert boxes[9] == (slice(1, 3), slice(2, 5), slice(0, 2))
        assert boxes[11] == (slice(6, 8), slice(1, 2), slice(3, 5))
        assert union_box(boxes[9], boxes[11]) == (slice(1, 8), slice(1, 5), slice(0, 5))
        assert union_box(None, boxes[9]) == boxes[9] and union_box(None, None) is None
