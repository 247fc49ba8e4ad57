"""The training loss: Dice + cross-entropy, MONAI's ``DiceCELoss`` fused into one forward and one backward.

``DiceCE()(scores, labels)`` equals ``monai.losses.DiceCELoss(to_onehot_y=True, softmax=True,
batch=True)`` (Dice over the whole batch, every class including the background, smoothing
1e-5, both terms weighted 1), value and gradient, to float precision (tests/training/test_loss.py).

Why not MONAI's own: it builds a one-hot copy of the labels (classes x voxels floats), computes
softmax twice, and autograd walks back through a dozen full-size tensors (log-softmax, exp, the
one-hot products, sums, fills, adds). Here the forward is one log-softmax (exponentiated in place)
and the Dice's sums are taken at each voxel's own class by gather/scatter on the label index; the
backward is the analytic gradient with respect to the logits in one expression: cross-entropy
(p - onehot) / N plus the Dice's dL/dp through the softmax Jacobian, p * (g - sum_c p g), with
the one-hot terms added by a scatter at the label. Mixed-precision logits (bfloat16, float16) are
cast to float32 once; the gradient is returned in their dtype. ``dice_ce_loss_autograd`` is the
same loss written with autograd, the reference the benchmark compares against
(benchmarks/bench_training.py, sections 4 and 5).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

#: MONAI's default smoothing of the Dice numerator and denominator.
SMOOTH = 1e-5


def _check(scores: torch.Tensor, labels: torch.Tensor) -> None:
    """Raise ValueError unless scores (B, C, x, y, z) and labels (B, 1, x, y, z) match."""
    if scores.dim() != labels.dim() or labels.shape[1] != 1 or scores.shape[2:] != labels.shape[2:]:
        raise ValueError(f"scores {tuple(scores.shape)} and labels {tuple(labels.shape)} do not match")


def _float(scores: torch.Tensor) -> torch.Tensor:
    """The scores in float32 if they are half precision (the loss is computed in float32), else as is."""
    return scores.float() if scores.dtype in (torch.float16, torch.bfloat16) else scores


def _label_index(target: torch.Tensor, classes: int) -> torch.Tensor:
    """Flat index into a contiguous (B, C, V) tensor of each voxel's label entry; target (B, 1, V)."""
    b, voxels = target.shape[0], target.shape[2]
    batch = torch.arange(b, device=target.device).view(b, 1, 1) * (classes * voxels)
    return batch + target * voxels + torch.arange(voxels, device=target.device)


class _FusedDiceCE(torch.autograd.Function):
    """Forward: the Dice + CE value in one pass over the scores; backward: its analytic gradient."""

    @staticmethod
    def forward(ctx: Any, scores: torch.Tensor, labels: torch.Tensor, smooth: float) -> torch.Tensor:
        """The loss of scores (B, C, ...) against labels (B, 1, ...); saves p (float32) for the gradient."""
        b, classes = scores.shape[:2]
        with torch.autocast(scores.device.type, enabled=False):
            p = torch.log_softmax(_float(scores).reshape(b, classes, -1), dim=1)  # (B, C, V)
            target = labels.reshape(b, 1, -1).long()
            at = _label_index(
                target, classes
            )  # flat index of (b, label, v): take/put, faster than gather/scatter
            log_pt = p.take(at)  # (B, 1, V): log p at each voxel's own class
            cross_entropy = -log_pt.mean()
            p = p.exp_()  # the softmax, in the log-softmax's memory
            flat = target.reshape(-1)
            # Per class c: sum of p_c over the voxels labelled c (true positives), over all voxels,
            # and the number of voxels labelled c. With one-hot labels MONAI's 2TP / (2TP + FP + FN)
            # is 2TP / (sum p_c + count_c).
            p_t = log_pt.exp()  # (B, 1, V): p at each voxel's own class
            true_pos = torch.zeros(classes, dtype=p.dtype, device=p.device).index_add_(
                0, flat, p_t.reshape(-1)
            )
            denominator = p.sum(dim=(0, 2)) + torch.bincount(flat, minlength=classes).to(p.dtype) + smooth
            numerator = 2 * true_pos + smooth
            loss = (1 - numerator / denominator).mean() + cross_entropy
        ctx.save_for_backward(p, p_t, target, at, numerator, denominator)
        ctx.in_dtype, ctx.in_shape = scores.dtype, scores.shape
        return loss

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        """d loss / d scores = p (a_c + 1/N - s_v) + onehot (p_t b_t - 1/N), times grad_out."""
        p, p_t, target, at, numerator, denominator = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None
        classes, voxels = p.shape[1], p.shape[0] * p.shape[2]
        with torch.autocast(p.device.type, enabled=False):
            g = grad_out.to(p.dtype)
            # Dice: dL/dp_cv = a_c + onehot_cv b_c with a_c = (2TP_c + s) / (C D_c^2), b_c = -2 / (C D_c).
            a = numerator / (classes * denominator**2) * g
            b_t = (-2 / (classes * denominator) * g)[target]  # (B, 1, V): b at each voxel's class
            # s_v = sum_c p_cv dL/dp_cv = sum_c p_cv a_c + p_tv b_t (the softmax Jacobian's row sum);
            # matmul reads p in place (an einsum would copy it to a (B, V, C) layout first).
            s = torch.matmul(a.unsqueeze(0), p) + p_t * b_t  # (B, 1, V)
            a_n = a + g / voxels
            # Off the label: p (a_c + g/N - s); at the label the one-hot terms too, computed apart
            # in float and written over (put_), so a half-precision gradient is rounded once.
            at_label = p_t * (a_n[target] - s + b_t) - g / voxels
            grad = torch.sub(a_n.view(1, classes, 1), s).mul_(p)
            grad.put_(at, at_label)
        return grad.reshape(ctx.in_shape).to(ctx.in_dtype), None, None


def dice_ce_loss(scores: torch.Tensor, labels: torch.Tensor, smooth: float = SMOOTH) -> torch.Tensor:
    """Mean cross-entropy + mean over classes of 1 - soft Dice; scores (B, C, x, y, z), labels (B, 1, x, y, z)."""
    _check(scores, labels)
    return _FusedDiceCE.apply(scores, labels, smooth)


def dice_ce_loss_autograd(scores: torch.Tensor, labels: torch.Tensor, smooth: float = SMOOTH) -> torch.Tensor:
    """:func:`dice_ce_loss` written with autograd ops (its gradient derived by autograd): the reference."""
    _check(scores, labels)
    classes = scores.shape[1]
    target = labels[:, 0].long()
    log_p = torch.log_softmax(_float(scores), dim=1)
    cross_entropy = F.nll_loss(log_p, target)
    p = log_p.exp()
    flat = target.reshape(-1)
    true_pos = torch.zeros(classes, dtype=p.dtype, device=p.device).scatter_add(
        0, flat, p.gather(1, target.unsqueeze(1)).reshape(-1)
    )
    predicted = p.sum(dim=[0, *range(2, p.dim())])
    counted = torch.bincount(flat, minlength=classes).to(p.dtype)
    dice = (2 * true_pos + smooth) / (predicted + counted + smooth)
    return (1 - dice).mean() + cross_entropy


class DiceCE(torch.nn.Module):
    """:func:`dice_ce_loss` as a module, a drop-in for MONAI's ``DiceCELoss`` with these settings."""

    def forward(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss of scores (B, C, x, y, z) against integer labels (B, 1, x, y, z)."""
        return dice_ce_loss(scores, labels)
