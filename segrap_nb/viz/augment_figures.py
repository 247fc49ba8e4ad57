"""Before/after pictures of the training augmentation: rotation, scaling, flip, intensity.

The augmenter is passed in (``segrap_nb.training.augment.DeviceAugment``: the code that training
runs), so the pictures show exactly what a training patch goes through. Its random parameters
are replaced by fixed, visible ones: each panel applies one transformation alone.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from segrap_nb.viz._style import BLUE, ORANGE, figure, phantom_title


def _variants(augment: Any, rotate_deg: float, zoom: float, intensity: tuple[float, float]) -> dict[str, Any]:
    """Fixed augmentation parameters per panel title, made from one draw of ``augment``."""
    base = augment.draw(1)  # the parameter record of this augmenter, then made deterministic
    none = dataclasses.replace(
        base,
        flip=torch.tensor([False]),
        scale=torch.ones(1),
        shift=torch.zeros(1),
        affine=torch.tensor([False]),
        angles=torch.zeros(1, 3, dtype=torch.float64),
        zoom=torch.ones(1, 3, dtype=torch.float64),
    )
    scale, shift = intensity
    return {
        "original patch": none,
        f"rotated {rotate_deg:g}° in the axial plane": dataclasses.replace(
            none,
            affine=torch.tensor([True]),
            angles=torch.tensor([[0.0, 0.0, math.radians(rotate_deg)]], dtype=torch.float64),
        ),
        f"scaled: anatomy × {1 / zoom:.2f}": dataclasses.replace(
            none, affine=torch.tensor([True]), zoom=torch.full((1, 3), zoom, dtype=torch.float64)
        ),
        "flipped left-right, _L/_R swapped": dataclasses.replace(none, flip=torch.tensor([True])),
        f"intensity × {scale:g}, {shift:+g}": dataclasses.replace(
            none, scale=torch.tensor([scale]), shift=torch.tensor([shift])
        ),
    }


def augmentation_examples(
    augment: Any,
    image: torch.Tensor,
    label: torch.Tensor,
    *,
    spacing_mm: tuple[float, float, float],
    index: int | None = None,
    rotate_deg: float = 10.0,
    zoom: float = 1.15,
    intensity: tuple[float, float] = (1.1, 0.1),
    task: int = 1,
    phantom: bool = False,
) -> Figure:
    """One training patch (``image`` (C, x, y, z) z-scored, ``label`` (1, x, y, z); RAS axes,
    ``spacing_mm``) before and after each augmentation of ``augment``, axial slice ``index``.
    ``zoom`` > 1 samples the patch with a longer step, so the anatomy looks smaller.

    All CT panels share one grey window (the original's 1st..99th percentile of channel 0), so
    the intensity change shows; a last panel compares the value histograms before and after it.
    """
    from segrap_nb.viz.colors import legend_handles
    from segrap_nb.viz.slices import show_slice

    variants = _variants(augment, rotate_deg, zoom, intensity)
    k = image.shape[-1] // 2 if index is None else int(index)
    lo, hi = np.percentile(image[0, :, :, k].float().numpy(), [1, 99])
    window = (float(hi - lo), float(hi + lo) / 2)
    fig = figure(12.0, 8.4)
    axes = fig.subplots(2, 3).ravel()
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    shown: list[str] = []
    for ax, (title, params) in zip(axes, variants.items()):
        img, lab = augment.apply(image[None], label[None], params)
        img0, lab0 = img[0, 0].cpu().numpy(), lab[0, 0].cpu().numpy().astype(np.uint8)
        out[title] = (img0, lab0)
        got = show_slice(
            ax, img0, lab0, axcodes="RAS", spacing=spacing_mm, index=k, window=window, task=task,
            legend=False, title=title, fontsize=7.5,
        )  # fmt: skip
        shown += [o for o in got.organs if o not in shown]
    before = out["original patch"][0]
    after = next(v[0] for t, v in out.items() if t.startswith("intensity"))
    ax = axes[-1]
    bins = np.linspace(min(before.min(), after.min()), max(before.max(), after.max()), 60)
    ax.hist(before.ravel(), bins=bins, color=BLUE, alpha=0.6, label="original")
    ax.hist(
        after.ravel(),
        bins=bins,
        color=ORANGE,
        alpha=0.6,
        label=f"intensity × {intensity[0]:g}, {intensity[1]:+g}",
    )
    ax.set_yscale("log")
    ax.set(xlabel="CT value (standard deviations of the body)", ylabel="voxels")
    ax.set_title("patch values before and after the intensity change", fontsize=8)
    ax.legend(fontsize=7)
    fig.suptitle(
        phantom_title(f"one training patch, axial slice {k}: each panel one augmentation", phantom),
        fontsize=10,
    )
    fig.legend(handles=legend_handles(shown), loc="lower center", ncol=8, fontsize=7.5, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
