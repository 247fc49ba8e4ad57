"""Label counting: the background-skipping count equals np.bincount on every layout of a map."""

from __future__ import annotations

import numpy as np
import pytest

from segrap_nb.io.counts import PIECE_BYTES, add_counts, bincount_uint8, count_labels
from segrap_nb.io.nifti import write_nifti


def _map(shape: tuple[int, int, int], filled: float, seed: int = 0) -> np.ndarray:
    """A uint8 map whose ``filled`` fraction of voxels holds labels 1..54 (the rest 0), in runs."""
    rng = np.random.default_rng(seed)
    arr = np.zeros(int(np.prod(shape)), dtype=np.uint8)
    starts = rng.choice(arr.size, size=max(1, int(arr.size * filled / 50)), replace=False)
    for start in starts:
        arr[start : start + 50] = rng.integers(1, 55)
    return arr.reshape(shape)


@pytest.mark.parametrize("filled", [0.0, 0.01, 0.5, 1.0])
def test_add_counts_equals_bincount(filled: float) -> None:
    arr = _map((70, 60, 40), filled)  # 168 000 voxels: several pieces, the last one partial
    assert arr.size % PIECE_BYTES
    counts = np.zeros(256, dtype=np.int64)
    add_counts(counts, arr)
    expected = np.bincount(arr.ravel(), minlength=256)
    assert np.array_equal(counts, expected)
    assert counts.sum() == arr.size


def test_add_counts_adds_to_what_is_there() -> None:
    arr = _map((40, 40, 40), 0.2)
    counts = np.zeros(256, dtype=np.int64)
    add_counts(counts, arr)
    add_counts(counts, np.asfortranarray(arr))  # the file's voxel order: still no copy, same counts
    assert np.array_equal(counts, 2 * np.bincount(arr.ravel(), minlength=256))


def test_bincount_uint8_length_is_max_plus_one() -> None:
    arr = np.zeros((8, 8, 8), dtype=np.uint8)
    arr[1, 2, 3] = 7
    got = bincount_uint8(arr)
    assert got.tolist() == [511, 0, 0, 0, 0, 0, 0, 1]
    assert bincount_uint8(np.zeros((0, 4, 4), dtype=np.uint8)).tolist() == [0]


def test_count_labels_streams_the_file(tmp_path) -> None:
    arr = _map((90, 80, 30), 0.05, seed=3)
    path = tmp_path / "map.nii.gz"
    write_nifti(path, arr, np.diag([0.5, 0.5, 3.0, 1.0]))
    counts, info = count_labels(path, chunk_bytes=10_000)  # chunks that split pieces and slices
    assert info.shape == arr.shape
    assert np.array_equal(counts, np.bincount(arr.ravel(), minlength=256))
