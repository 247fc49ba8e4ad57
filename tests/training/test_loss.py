"""The training loss equals MONAI's DiceCELoss (the settings train() used), value and gradient."""

from __future__ import annotations

import pytest
import torch
from monai.losses import DiceCELoss

from segrap_nb.training.loss import DiceCE, dice_ce_loss, dice_ce_loss_autograd


def _batch(dtype: torch.dtype, classes: int = 7, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    scores = (3 * torch.randn(2, classes, 9, 8, 5, generator=g)).to(dtype).requires_grad_()
    labels = torch.randint(0, classes, (2, 1, 9, 8, 5), generator=g)
    labels[labels == 4] = 2  # class 4 absent from the labels, as most organs are from a patch
    return scores, labels


@pytest.mark.parametrize("loss", [DiceCE(), dice_ce_loss_autograd], ids=["fused", "autograd"])
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_value_and_gradient_equal_monai_dice_ce(loss, dtype: torch.dtype, tol: float) -> None:
    monai_loss = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
    for seed in range(3):
        scores, labels = _batch(dtype, seed=seed)
        expected = monai_loss(scores, labels)
        (expected_grad,) = torch.autograd.grad(expected, scores)
        got = loss(scores, labels)
        (grad,) = torch.autograd.grad(got, scores)
        assert float(got.detach()) == pytest.approx(float(expected.detach()), rel=tol, abs=tol)
        assert torch.allclose(grad.double(), expected_grad.double(), rtol=1e-4, atol=tol * 1e-2)


def test_fused_gradient_passes_gradcheck_in_float64() -> None:
    g = torch.Generator().manual_seed(1)
    scores = torch.randn(2, 4, 3, 2, 2, dtype=torch.float64, generator=g).requires_grad_()
    labels = torch.randint(0, 3, (2, 1, 3, 2, 2), generator=g)  # class 3 absent
    assert torch.autograd.gradcheck(lambda s: dice_ce_loss(s, labels) * 1.7, (scores,), eps=1e-6, atol=1e-8)


def test_bfloat16_scores_are_scored_in_float32_and_get_a_bfloat16_gradient() -> None:
    scores32, labels = _batch(torch.float32, classes=55)
    scores = scores32.detach().bfloat16().requires_grad_()
    as_float = scores.detach().float().requires_grad_()  # the same values, in float32
    expected = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)(as_float, labels)
    (expected_grad,) = torch.autograd.grad(expected, as_float)
    (float_grad,) = torch.autograd.grad(dice_ce_loss(as_float, labels), as_float)
    got = dice_ce_loss(scores, labels)
    (grad,) = torch.autograd.grad(got, scores)
    assert got.dtype == torch.float32 and grad.dtype == torch.bfloat16
    assert float(got.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    assert torch.equal(grad, float_grad.bfloat16())  # computed in float32, rounded once
    assert torch.allclose(grad.float(), expected_grad, rtol=1e-2, atol=1e-8)


def test_under_cpu_autocast_the_loss_is_still_float32() -> None:
    scores, labels = _batch(torch.float32)
    expected = dice_ce_loss(scores, labels)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = dice_ce_loss(scores, labels)
    (grad,) = torch.autograd.grad(got, scores)
    (expected_grad,) = torch.autograd.grad(expected, scores)
    assert got.dtype == torch.float32
    assert float(got.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    assert torch.allclose(grad, expected_grad, rtol=1e-5, atol=1e-9)


def test_a_perfect_prediction_costs_almost_nothing_and_a_wrong_one_a_lot() -> None:
    labels = torch.zeros(1, 1, 4, 4, 4, dtype=torch.long)
    labels[0, 0, :2] = 1  # half the voxels class 1, half class 0
    right = torch.nn.functional.one_hot(labels[:, 0], 2).permute(0, 4, 1, 2, 3).float() * 40
    assert float(dice_ce_loss(right, labels)) == pytest.approx(0.0, abs=1e-6)
    wrong = right.flip(1)  # every voxel confidently the other class: Dice 0 and CE 40
    assert float(dice_ce_loss(wrong, labels)) == pytest.approx(1.0 + 40.0, rel=1e-4)


def test_mismatched_shapes_are_a_clear_error() -> None:
    scores, labels = _batch(torch.float32)
    with pytest.raises(ValueError, match=r"scores \(2, 7, 9, 8, 5\) and labels \(2, 1, 9, 8, 4\)"):
        dice_ce_loss(scores, labels[..., :4])
