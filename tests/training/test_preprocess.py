"""Resampling a CT a slab of slices at a time: torch's trilinear on the whole array, to float32 rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from segrap_nb.training.preprocess import SLAB_SLICES, resample


def _whole(array: np.ndarray, shape_out: tuple[int, int, int]) -> np.ndarray:
    """torch's trilinear (align_corners=False) on the whole array as float32: what preprocessing did before."""
    t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None]
    return F.interpolate(t, size=shape_out, mode="trilinear", align_corners=False)[0, 0].numpy()


def _ct(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """A stored CT: int16 HU in the NIfTI's (i, j, k) Fortran order."""
    return np.asfortranarray(np.random.default_rng(seed).integers(-1000, 2000, shape).astype(np.int16))


@pytest.mark.parametrize("shape_out", [(40, 33, 21), (90, 70, 21), (40, 60, 21)])
def test_equals_whole_array_trilinear(shape_out: tuple[int, int, int]) -> None:
    ct = _ct((121, 99, 21))  # 21 slices: two full slabs and a partial one
    assert 21 % SLAB_SLICES
    out = resample(ct, shape_out)
    assert out.dtype == np.float32 and out.shape == shape_out
    # HU up to 2000: float32 steps of 1.2e-4 there; a slab or axis mix-up would be off by tens of HU.
    np.testing.assert_allclose(out, _whole(ct, shape_out), rtol=0, atol=2.5e-4)


def test_bit_identical_on_a_release_like_grid() -> None:
    ct = _ct((301, 257, 40), seed=3)  # 0.5 mm in-plane to 1.5 mm, slices kept
    assert np.array_equal(resample(ct, (100, 86, 40)), _whole(ct, (100, 86, 40)))


def test_reoriented_views_and_new_slice_count() -> None:
    ct = _ct((64, 48, 20), seed=1)
    view = ct[::-1, :, ::-1].transpose(1, 0, 2)  # what to_ras hands over: flips and a permutation
    np.testing.assert_allclose(resample(view, (20, 30, 20)), _whole(view, (20, 30, 20)), rtol=0, atol=2.5e-4)
    # Another slice spacing: the slices are resampled after the plane, the same up to float rounding.
    np.testing.assert_allclose(resample(ct, (30, 20, 33)), _whole(ct, (30, 20, 33)), rtol=1e-6, atol=1e-3)
