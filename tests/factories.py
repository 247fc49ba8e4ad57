"""The tiny datasets the tests build, in the official release layout, without the phantom.

Three builders, one writer (:func:`write_release_case`):
* ``tiny``: 24 x 20 x 8 voxels, every one-hot label a 2x2x2 block (loaders, validate, evaluate);
* ``stats``: random label maps with a few labels absent (label statistics);
* ``head``: a small "head" with brain, eyes, lenses, cord and GTVs that a U-Net can learn (training).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from segrap_nb import labels as L
from segrap_nb.grid import spacing_mm
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR
from segrap_nb.io.nifti import write_nifti
from segrap_nb.training.train_config import TrainConfig, load_config


def write_release_case(
    root: Path,
    case_id: str,
    plain: np.ndarray,
    contrast: np.ndarray,
    t1: np.ndarray,
    t2: np.ndarray,
    affine: np.ndarray,
    *,
    masks: bool = True,
    onehot_dir: str = "Task001",
) -> None:
    """One case in the release layout: both CTs, the 47 masks (``masks``) and both one-hot maps."""
    case_dir = root / IMAGES_DIR / case_id
    write_nifti(case_dir / "image.nii.gz", plain, affine)
    write_nifti(case_dir / "image_contrast.nii.gz", contrast, affine)
    if masks:
        for task, arr in ((1, t1), (2, t2)):
            for name, mask in L.onehot_to_masks(arr, task).items():
                write_nifti(case_dir / f"{name}.nii.gz", mask.astype(np.uint8), affine)
    write_nifti(root / ONEHOT_DIR / onehot_dir / f"{case_id}.nii.gz", t1, affine)
    write_nifti(root / ONEHOT_DIR / onehot_dir.replace("1", "2") / f"{case_id}.nii.gz", t2, affine)


# -- tiny ----------------------------------------------------------------------------------------
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
        t1[i : i + 2, j : j + 2, k : k + 2] = lab
    t2 = np.zeros(TINY_SHAPE, np.uint8)
    t2[1:5, 1:4, 1:3] = 1
    t2[10:12, 10:13, 4:6] = 2
    return t1, t2


def write_tiny_case(root: Path, case_id: str, seed: int, onehot_dir: str = "Task001") -> None:
    """Write one tiny case in the release layout under ``root`` (both parts)."""
    t1, t2 = tiny_onehot(seed)
    rng = np.random.default_rng(seed)
    ct = rng.normal(0, 100, TINY_SHAPE).astype(np.int16)
    write_release_case(root, case_id, ct, ct + 50, t1, t2, TINY_AFFINE, onehot_dir=onehot_dir)


def zip_release(root: Path, out: Path) -> None:
    """Pack the two release folders under ``root`` into the two official zips in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for part in (IMAGES_DIR, ONEHOT_DIR):
        with zipfile.ZipFile(out / f"{part}.zip", "w", zipfile.ZIP_STORED) as zf:
            for f in sorted((root / part).rglob("*.nii.gz")):
                zf.write(f, f.relative_to(root).as_posix())


# -- stats ---------------------------------------------------------------------------------------
STATS_SHAPE = (20, 18, 6)
STATS_SPACING = (0.8, 0.75, 3.0)
# Voxel volume (mm³) from the header, which stores the spacing as float32.
STATS_MM3 = float(np.prod(np.asarray(STATS_SPACING, dtype=np.float32).astype(np.float64)))
STATS_CASES = ("segrap_0000", "segrap_0001", "segrap_0002")
STATS_ABSENT = {"segrap_0001": (8, 31), "segrap_0002": (31,)}  # labels missing from some cases


def stats_affine(spacing=STATS_SPACING) -> np.ndarray:
    return np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])


def stats_maps(index: int, case_id: str) -> tuple[np.ndarray, np.ndarray]:
    """A random Task001 map (labels 1..54, some absent) and a Task002 map, fixed seed."""
    rng = np.random.default_rng(index)
    keep = [k for k in range(1, 55) if k not in STATS_ABSENT.get(case_id, ())]
    t1 = np.where(rng.random(STATS_SHAPE) < 0.5, 0, rng.choice(keep, size=STATS_SHAPE)).astype(np.uint8)
    t1.flat[: len(keep)] = keep  # every kept label present at least once
    t2 = np.zeros(STATS_SHAPE, np.uint8)
    t2[2 : 6 + index, 3:9, 1:4] = 1
    t2[12:15, 10:16, 2:5] = 2
    return t1, t2


def write_stats_release(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write the synthetic cases in the release layout; returns case -> (Task001, Task002)."""
    out = {}
    for i, cid in enumerate(STATS_CASES):
        t1, t2 = stats_maps(i, cid)
        out[cid] = (t1, t2)
        plain = np.where(t1 > 0, 10 * t1.astype(np.int16), -1000).astype(np.int16)
        write_release_case(root, cid, plain, plain + 50, t1, t2, stats_affine())
    return out


# -- head ----------------------------------------------------------------------------------------
HEAD_SHAPE = (40, 36, 14)  # (i, j, k)
HEAD_SPACING = (1.5, 1.5, 3.0)
# LPS-style affine like converted DICOM (and the phantom): i -> patient left, j -> posterior.
HEAD_AFFINE = np.array([[-1.5, 0, 0, 30.0], [0, -1.5, 0, 27.0], [0, 0, 3.0, -20.0], [0, 0, 0, 1]])


def _ball(shape, centre, radius_mm, spacing=HEAD_SPACING):
    idx = np.indices(shape, dtype=np.float32)
    d2 = sum(((idx[a] - centre[a]) * spacing[a]) ** 2 for a in range(3))
    return d2 <= radius_mm**2


def head_case(seed: int, shape=HEAD_SHAPE, spacing=HEAD_SPACING):
    """(plain CT int16, contrast CT int16, Task001 map, Task002 map) of a tiny 'head'."""
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(-1, 1, 3)
    c = np.array(shape) / 2 + jitter
    ct = np.full(shape, -1000.0, np.float32)
    body = _ball(shape, c, 26, spacing) | _ball(shape, c + [0, 0, -4], 20, spacing)
    ct[body] = 40
    t1 = np.zeros(shape, np.uint8)
    brain = _ball(shape, c + [0, 2, 1], 14, spacing)
    skull = _ball(shape, c + [0, 2, 1], 17, spacing) & ~brain
    ct[skull] = 1000
    t1[brain] = L.ONEHOT_IDS["Brain"]
    ct[brain] = 30
    for side, dx in (("L", +9), ("R", -9)):  # i grows towards the patient's left
        eye = _ball(shape, c + [dx, -10, 1], 4.5, spacing)
        lens = _ball(shape, c + [dx, -12, 1], 1.6, spacing)
        t1[eye] = L.ONEHOT_IDS[f"Eye_{side}"]
        t1[lens] = L.ONEHOT_IDS[f"Lens_{side}"]
        ct[eye] = 10
        ct[lens] = 90
    cord = _ball(shape, c + [0, 6, -4], 3.5, spacing)
    t1[cord] = L.ONEHOT_IDS["SpinalCord"]
    t2 = np.zeros(shape, np.uint8)
    t2[_ball(shape, c + [4, -2, -3], 3, spacing) & (t1 == 0)] = 1
    t2[_ball(shape, c + [-6, 2, -4], 2.5, spacing) & (t1 == 0)] = 2
    plain = ct + rng.normal(0, 5, shape)
    contrast = plain + 30 * (t2 > 0)
    return plain.astype(np.int16), contrast.astype(np.int16), t1, t2


def write_head_release(root: Path, n: int = 4, affine=HEAD_AFFINE, shape=HEAD_SHAPE) -> Path:
    """n tiny cases (images + both one-hot maps) in the release layout."""
    spacing = spacing_mm(affine)
    for i in range(n):
        cid = f"segrap_{i:04d}"
        plain, contrast, t1, t2 = head_case(i, shape, spacing)
        write_release_case(root, cid, plain, contrast, t1, t2, affine, masks=False)
    return root


# -- masks ---------------------------------------------------------------------------------------
MASKS_SHAPE = (128, 128, 64)  # (i, j, k); one uint8 mask is 1 MiB


def masks_onehot(shape=MASKS_SHAPE) -> np.ndarray:
    """A Task001 map in which every one of the 54 labels is a box (9 x 8 x 4 voxels), all present."""
    t1 = np.zeros(shape, np.uint8)
    slots = [
        (i, j, k)
        for k in range(0, shape[2] - 4, 6)
        for j in range(0, shape[1] - 8, 10)
        for i in range(0, shape[0] - 9, 11)
    ]
    for lab, (i, j, k) in zip(sorted(L.ONEHOT_LABELS), slots):
        t1[i : i + 9, j : j + 8, k : k + 4] = lab
    return t1


def write_masks_case(root: Path, case_id: str = "segrap_0000", shape=MASKS_SHAPE) -> np.ndarray:
    """One case with both CTs and its 47 mask files but no one-hot maps (release layout); returns its Task001 map."""
    t1 = masks_onehot(shape)
    t2 = np.zeros(shape, np.uint8)
    t2[2:12, 70:78, 2:10] = 1
    write_release_case(
        root, case_id, np.zeros(shape, np.int16), np.zeros(shape, np.int16), t1, t2, TINY_AFFINE
    )
    import shutil

    shutil.rmtree(root / ONEHOT_DIR)
    return t1


def tiny_config(**extra) -> TrainConfig:
    """A config that trains in about a second per few steps on the synthetic cases."""
    overrides = {
        "name": "tiny",
        "preprocess.spacing_mm": [3.0, 3.0, 3.0],
        "data.patch_size": [16, 16, 8],
        "data.batch_size": 2,
        "data.val_cases": 1,
        "data.max_samples_per_class": 200,
        "model.features": [4, 8],
        "model.strides": [2],
        "train.steps": 6,
        "train.val_every": 3,
        "train.log_every": 1,
        "train.warmup_steps": 1,
        "train.sw_roi_size": None,
        "train.sw_batch_size": 2,
    }
    overrides.update(extra)
    return load_config("quick", overrides)
