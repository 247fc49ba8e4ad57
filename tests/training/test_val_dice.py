"""The confusion matrix behind validation DSC: piece by piece, equal to one bincount of the whole volume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segrap_nb.io.counts import PIECE_BYTES
from segrap_nb.training.val_dice import confusion


def _whole_volume(gt: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """The textbook confusion matrix: one bincount of gt * n + pred over every voxel."""
    codes = gt.ravel().astype(np.int64) * n + pred.ravel()
    return np.bincount(codes, minlength=n * n).reshape(n, n)


def _maps(shape: tuple[int, int, int], labelled: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A ground truth with ``labelled`` of its voxels in labels 1..n-1 and a prediction that differs in places."""
    rng = np.random.default_rng(seed)
    gt = np.where(rng.random(shape) < labelled, rng.integers(1, n, shape), 0).astype(np.uint8)
    pred = gt.copy()
    flip = rng.random(shape) < 0.05
    pred[flip] = rng.integers(0, n, int(flip.sum()))
    return gt, pred


@pytest.mark.parametrize("labelled", [0.0, 0.02, 0.6])
def test_confusion_equals_one_bincount(labelled: float) -> None:
    gt, pred = _maps((50, 40, 45), labelled, 55, seed=1)  # 90 000 voxels: a partial last piece
    assert gt.size % PIECE_BYTES
    cm = confusion(gt, pred, 55)
    assert np.array_equal(cm, _whole_volume(gt, pred, 55))
    assert cm.sum() == gt.size


def test_confusion_layouts_and_tensors() -> None:
    gt, pred = _maps((30, 20, 25), 0.1, 3, seed=2)
    expected = _whole_volume(gt, pred, 3)
    # NIfTI arrays are Fortran-ordered; training labels are torch tensors: same counts.
    assert np.array_equal(confusion(np.asfortranarray(gt), np.asfortranarray(pred), 3), expected)
    assert np.array_equal(confusion(np.asfortranarray(gt), pred, 3), expected)
    assert np.array_equal(confusion(torch.from_numpy(gt), pred, 3), expected)


def test_confusion_refuses_bad_input() -> None:
    gt = np.zeros((4, 4, 4), np.uint8)
    with pytest.raises(ValueError, match="different shapes"):
        confusion(gt, np.zeros((4, 4, 5), np.uint8), 3)
    bad = gt.copy()
    bad[0, 0, 0] = 7
    with pytest.raises(ValueError, match="label above 2"):
        confusion(gt, bad, 3)
    wide = gt.astype(np.int64)
    wide[1, 1, 1] = 257  # would be 1 after a silent cast to uint8
    with pytest.raises(ValueError, match=r"label values 0\.\.257 outside 0\.\.255"):
        confusion(wide, gt, 3)
