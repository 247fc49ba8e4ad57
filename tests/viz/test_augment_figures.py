"""Before/after augmentation pictures: each panel applies one augmentation of the training code."""

from __future__ import annotations

import numpy as np
import torch

from segrap_nb import labels as L
from segrap_nb.training.augment import DeviceAugment
from segrap_nb.training.train_config import load_config
from segrap_nb.viz.augment_figures import _variants, augmentation_examples


def _patch() -> tuple[torch.Tensor, torch.Tensor]:
    """A (2, 16, 16, 8) image and its label: Parotid_L on the low-x half, a bright box in it."""
    image = torch.zeros(2, 16, 16, 8)
    image[:, 2:7, 4:12, 2:6] = 2.0
    label = torch.zeros(1, 16, 16, 8, dtype=torch.uint8)
    label[0, 2:7, 4:12, 2:6] = L.ONEHOT_IDS["Parotid_L"]
    return image, label


def test_each_panel_applies_one_augmentation_of_the_training_code() -> None:
    cfg = load_config("quick", {"data.patch_size": [16, 16, 8]})
    augment = DeviceAugment(cfg)
    image, label = _patch()
    params = _variants(augment, rotate_deg=10.0, zoom=1.15, intensity=(1.1, 0.1))
    out = {t: augment.apply(image[None], label[None], p) for t, p in params.items()}
    original, flipped = out["original patch"], out["flipped left-right, _L/_R swapped"]
    assert torch.equal(original[0], image[None]) and torch.equal(original[1], label[None].long())
    # the flip mirrors x and swaps the label to its twin
    assert (flipped[1] == L.ONEHOT_IDS["Parotid_R"]).sum() == (label == L.ONEHOT_IDS["Parotid_L"]).sum()
    assert torch.equal(flipped[0][0, 0], image[0].flip(0))
    intensity = out["intensity × 1.1, +0.1"][0]
    assert torch.allclose(intensity, image[None] * 1.1 + 0.1)
    rotated = next(v for t, v in out.items() if t.startswith("rotated"))
    assert not torch.equal(rotated[1], label[None].long())  # the labels moved with the image
    assert set(np.unique(rotated[1].numpy())) <= {0, L.ONEHOT_IDS["Parotid_L"]}  # nearest: no new labels
    fig = augmentation_examples(augment, image, label, spacing_mm=(3.0, 3.0, 3.0), index=4)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:5] == list(params)
    assert "before and after the intensity change" in titles[5]
