"""Predictions of a trained run: a dataset written in the release layout (:func:`predict`), or one new patient.

    predict(run, "build/pred", data, cases=["segrap_0006"])   # or: segrap-nb predict --run RUN --out PRED

For each case it writes, on the case's original voxel grid (same shape and affine as its
``image.nii.gz``: the crop, the resampling and the reorientation are undone):

    PRED/SegRap2023_Training_Set_120cases_OneHot_Labels/Task001/segrap_XXXX.nii.gz   (or Task002)
    PRED/SegRap2023_Training_Set_120cases/segrap_XXXX/<structure>.nii.gz  (45 OARs, or GTVp, GTVnd)

The per-structure masks come from the one-hot map through the official table
(``labels.structure_mask``), so ``SegRapDataset(PRED)`` reads the predictions back like the
release and ``segrap-nb evaluate`` can score them. Every file is written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

from segrap_nb import labels as L
from segrap_nb.config import short_path
from segrap_nb.errors import DataError
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR, SegRapDataset
from segrap_nb.io.fileref import FileRef
from segrap_nb.io.guards import Manifest, check_writable, refuse_overlap, write_errors
from segrap_nb.io.nifti import read_header, write_nifti
from segrap_nb.progress import progress_bar
from segrap_nb.sources import data_root
from segrap_nb.training.checkpoint import Which


def predict(
    run: str | os.PathLike,
    out: str | os.PathLike,
    data: str | os.PathLike | None = None,
    cases: list[str] | None = None,
    which: Which = "best",
    masks: bool = True,
    device=None,
    progress: bool = True,
) -> list[Path]:
    """Predict ``cases`` (default: all with images) of ``data`` with ``run``; return the one-hot files."""
    from segrap_nb.training.device import get_device
    from segrap_nb.training.inference import load_run, predict_case

    out = Path(out).expanduser()
    root = data_root(data)
    refuse_overlap(out, root)  # never write into (or around) the ground truth
    check_writable(out)
    dataset = SegRapDataset(root)
    ids = cases or [c.case_id for c in dataset if c.has_images]
    unknown = [c for c in ids if c not in dataset.case_ids]
    if unknown:
        raise DataError(dataset.root, f"cases not in the dataset: {', '.join(unknown)}")
    device = device or get_device(verbose=progress)
    model, cfg, info = load_run(run, which, device)
    task = cfg.task
    names = list(L.structures(task)) if masks else []
    Manifest(out).claim(  # only files this kit wrote may be replaced
        [f"{ONEHOT_DIR}/Task00{task}/{c}.nii.gz" for c in ids]
        + [f"{IMAGES_DIR}/{c}/{n}.nii.gz" for c in ids for n in names]
    )
    written = []
    if progress:
        print(
            f"predicting {len(ids)} case(s) with {short_path(info['path'])} (step {info['step']}, task {task})"
        )
    for case_id in progress_bar(ids, desc="predict", disable=not progress):
        case = dataset[case_id]
        onehot, meta = predict_case(model, case, cfg, device)
        affine = read_header(case.files["image"]).affine
        if onehot.shape != tuple(meta.original_shape):
            raise RuntimeError(f"{case_id}: prediction shape {onehot.shape} != {meta.original_shape}")
        path = out / ONEHOT_DIR / f"Task00{task}" / f"{case_id}.nii.gz"
        with write_errors(out):
            written.append(write_nifti(path, onehot, affine))
            if masks:
                # One reused buffer filled inside each structure's box: a lookup over the whole map
                # per structure (and a transposing copy per file) took 2 minutes per release-size case.
                for name, mask in L.iter_masks_in_place(onehot, task):
                    write_nifti(out / IMAGES_DIR / case_id / f"{name}.nii.gz", mask, affine)
    return written


def predict_file(
    run: str | os.PathLike,
    ct: str | os.PathLike | FileRef,
    contrast_ct: str | os.PathLike | FileRef,
    out: str | os.PathLike | None = None,
    which: Which = "best",
    device=None,
):
    """Segment one new patient from its two CT files (plain, contrast; paths or zip members).

    Returns the label map as a Volume.

    The map (uint8, the run's task labels) lies on the plain CT's own grid and affine; with
    ``out`` it is also written there as a NIfTI file (atomically).
    """
    from segrap_nb.io.dataset import Case
    from segrap_nb.io.nifti import Volume
    from segrap_nb.training.device import get_device
    from segrap_nb.training.inference import load_run, predict_case

    refs = {
        key: f if isinstance(f, FileRef) else FileRef(Path(f).expanduser())
        for key, f in (("image", ct), ("image_contrast", contrast_ct))
    }
    for ref in refs.values():
        if ref.member is None and not ref.path.is_file():
            raise DataError(ref.path, "no such CT file")
    header = read_header(refs["image"])  # a clear error for a file that is not NIfTI
    device = device or get_device(verbose=False)
    model, cfg, _ = load_run(run, which, device)
    case = Case(case_id="new_case", files=refs)
    onehot, _ = predict_case(model, case, cfg, device)
    sx, sy, sz = (float(s) for s in header.spacing[:3])
    volume = Volume(onehot, header.affine, (sx, sy, sz), str(out or ""))
    if out is not None:
        out = Path(out).expanduser()
        with write_errors(out.parent):
            write_nifti(out, onehot, header.affine)
    return volume
