"""The training loss: Dice + cross-entropy, the value of MONAI's ``DiceCELoss`` in one pass.

``DiceCE()(scores, labels)`` equals ``monai.losses.DiceCELoss(to_onehot_y=True, softmax=True,
batch=True)`` (Dice over the whole batch, every class including the background, smoothing
1e-5, both terms weighted 1), value and gradient, to float precision (tests/test_loss.py).

Why not MONAI's own: it builds a one-hot copy of the labels (classes x voxels floats) and
computes softmax twice, once for the Dice and once as log-softmax for the cross-entropy. Here
one log-softmax serves both terms and the Dice's sums are taken at each voxel's own class, so no
one-hot tensor is made: on the CPU that saves about a third of the loss's time, a tenth of a
quick-mode step (benchmarks/bench_training.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: MONAI's default smoothing of the Dice numerator and denominator.
SMOOTH = 1e-5


def dice_ce_loss(scores: torch.Tensor, labels: torch.Tensor, smooth: float = SMOOTH) -> torch.Tensor:
    """Mean cross-entropy + mean over classes of 1 - soft Dice; scores (B, C, x, y, z), labels (B, 1, x, y, z)."""
    if scores.dim() != labels.dim() or labels.shape[1] != 1 or scores.shape[2:] != labels.shape[2:]:
        raise ValueError(f"scores {tuple(scores.shape)} and labels {tuple(labels.shape)} do not match")
    classes = scores.shape[1]
    target = labels[:, 0].long()
    if scores.dtype in (torch.float16, torch.bfloat16):  # mixed precision: the loss in float32
        scores = scores.float()
    log_p = torch.log_softmax(scores, dim=1)
    cross_entropy = F.nll_loss(log_p, target)
    p = log_p.exp()
    flat = target.reshape(-1)
    # Per class c: sum of p_c over the voxels labelled c (true positives), over all voxels, and
    # the number of voxels labelled c. With one-hot labels MONAI's 2TP / (2TP + FP + FN) is
    # 2TP / (sum p_c + count_c).
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
