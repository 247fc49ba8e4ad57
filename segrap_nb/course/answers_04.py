"""Solutions of notebook 04's exercises (training), kept out of the notebook.

Each function computes the expected answer from the notebook's own objects; the notebook's
solution cell calls it and checks the student's answer. ``reveal(answers_04.<function>)`` prints
a function's source for a student who is stuck.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np


def voxel_reduction(stored_shape: Sequence[int], training_shape: Sequence[int]) -> float:
    """Exercise 1: voxels of the stored CT divided by voxels after resampling and body crop.

    ``stored_shape`` is ``dataset[0].image_header().shape``, ``training_shape`` is
    ``entries[0].meta.shape`` (both in voxels).
    """
    return float(np.prod(stored_shape) / np.prod(training_shape))


def background_patch_probability(num_classes: int) -> float:
    """Exercise 2: chance that a class-balanced patch is centred on background, equal class ratios.

    The sampler draws the class first, each of ``num_classes`` (background included) equally likely.
    """
    return 1.0 / num_classes


def patch_coverage(
    steps: int, batch_size: int, patch_size: Sequence[int], training_shapes: Iterable[Sequence[int]]
) -> float:
    """Exercise 3: how many times, on average, each training voxel was inside a training patch.

    Voxels seen = steps x batch x voxels per patch; divided by the voxels of all training cases
    (their shapes on the training grid, ``e.meta.shape`` of ``train_entries``).
    """
    seen = steps * batch_size * float(np.prod(patch_size))
    return seen / float(sum(np.prod(shape) for shape in training_shapes))


def nnunet_output_channels(dataset_folder: str | os.PathLike) -> int:
    """Exercise 4: output channels of an nnU-Net network for an exported dataset folder.

    nnU-Net trains one output channel per label value of ``dataset.json``, background included.
    """
    meta = json.loads((Path(dataset_folder) / "dataset.json").read_text())
    return len(meta["labels"])
