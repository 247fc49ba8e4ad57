"""Solutions of notebook 06's exercises (``reveal(answers_06.<name>)`` prints one)."""

from __future__ import annotations

import os

from segrap_nb import labels as L


def output_array_shape(path: str | os.PathLike) -> tuple[int, ...]:
    """Exercise 1: the numpy shape SimpleITK gives for a 4D output file: (channels, z, y, x)."""
    import SimpleITK as sitk

    image = sitk.ReadImage(str(path))
    return tuple(sitk.GetArrayViewFromImage(image).shape)


def channel_of(structure: str, task: int = 1) -> int:
    """Exercise 2: the output channel (0-based) of a structure: its place in the official order."""
    return list(L.structures(task)).index(L.canonical_name(structure))


def output_megabytes(size_xyz: tuple[int, int, int], channels: int) -> float:
    """Exercise 3: memory (MB, 10^6 bytes) of a 4D uint8 output of ``size_xyz`` voxels and ``channels`` channels."""
    x, y, z = size_xyz
    return x * y * z * channels / 1e6
