"""Shared fixtures: a tiny dataset in the official release layout, built without the phantom."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from segrap_nb import labels as L
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR
from segrap_nb.io.nifti import write_nifti

TINY_SHAPE = (24, 20, 8)
TINY_AFFINE = np.diag([0.5, 0.5, 3.0, 1.0])


def tiny_onehot(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A (Task001, Task002) pair of uint8 maps in which every label occupies a 2x2x2 block."""
    rng = np.random.default_rng(seed)
    t1 = np.zeros(TINY_SHAPE, np.uint8)
    slots = [(i, j, k) for k in range(0, 8, 2) for j in range(0, 20, 4) for i in range(0, 24, 4)]
    order = rng.permutation(len(slots))[: len(L.ONEHOT_LABELS)]
    for lab, slot in zip(L.ONEHOT_LABELS, order):
        i, j, k = slots[slot]
        t1[i:i + 2, j:j + 2, k:k + 2] = lab
    t2 = np.zeros(TINY_SHAPE, np.uint8)
    t2[1:5, 1:4, 1:3] = 1
    t2[10:12, 10:13, 4:6] = 2
    return t1, t2


def write_tiny_case(root: Path, case_id: str, seed: int, onehot_dir: str = "Task001") -> None:
    """Write one tiny case in the release layout under ``root`` (both parts)."""
    t1, t2 = tiny_onehot(seed)
    rng = np.random.default_rng(seed)
    case_dir = root / IMAGES_DIR / case_id
    ct = rng.normal(0, 100, TINY_SHAPE).astype(np.int16)
    write_nifti(case_dir / "image.nii.gz", ct, TINY_AFFINE)
    write_nifti(case_dir / "image_contrast.nii.gz", ct + 50, TINY_AFFINE)
    for name, mask in L.onehot_to_masks(t1, 1).items():
        write_nifti(case_dir / f"{name}.nii.gz", mask.astype(np.uint8), TINY_AFFINE)
    for name, mask in L.onehot_to_masks(t2, 2).items():
        write_nifti(case_dir / f"{name}.nii.gz", mask.astype(np.uint8), TINY_AFFINE)
    t2_dir = onehot_dir.replace("1", "2")
    write_nifti(root / ONEHOT_DIR / onehot_dir / f"{case_id}.nii.gz", t1, TINY_AFFINE)
    write_nifti(root / ONEHOT_DIR / t2_dir / f"{case_id}.nii.gz", t2, TINY_AFFINE)


def zip_release(root: Path, out: Path) -> None:
    """Pack the two release folders under ``root`` into the two official zips in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for part in (IMAGES_DIR, ONEHOT_DIR):
        with zipfile.ZipFile(out / f"{part}.zip", "w", zipfile.ZIP_STORED) as zf:
            for f in sorted((root / part).rglob("*.nii.gz")):
                zf.write(f, f.relative_to(root).as_posix())


@pytest.fixture(scope="session")
def tiny_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three tiny cases in the extracted release layout (read-only: copy before corrupting)."""
    root = tmp_path_factory.mktemp("tiny_release")
    for n in range(3):
        write_tiny_case(root, f"segrap_{n:04d}", seed=n)
    return root


@pytest.fixture
def tiny_copy(tiny_release: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the tiny release."""
    dst = tmp_path / "data"
    shutil.copytree(tiny_release, dst)
    return dst
