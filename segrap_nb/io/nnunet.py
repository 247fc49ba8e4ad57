"""``segrap-nb export-nnunet DATA --out RAW --task 1|2``: a SegRap dataset as an nnU-Net v2 raw dataset.

Writes ``RAW/Dataset651_SegRapTask1/`` (Task 1, the 54 one-hot labels) or
``RAW/Dataset652_SegRapTask2/`` (Task 2, GTVp and GTVnd) in nnU-Net v2's raw layout::

    imagesTr/segrap_0000_0000.nii.gz   plain CT          (channel 0)
    imagesTr/segrap_0000_0001.nii.gz   contrast CT       (channel 1)
    labelsTr/segrap_0000.nii.gz        the task's uint8 one-hot map
    dataset.json                       channels, labels, numTraining, file ending

Both CTs are input channels, as in the organisers' nnU-Net baseline. Nothing is re-encoded:
an extracted file is hard-linked into the export (symlinked across file systems, copied only
when neither works), and a member of a release zip is streamed out byte for byte (it is
already the ``.nii.gz`` file). Only a one-hot map missing from the release is built from the
separate masks and written. Every file lands atomically (temporary name, then rename), so an
interrupted export never leaves a half-written file, and running the export again replaces
what changed and skips what is already identical.

Hard links share the data with the release: nnU-Net only ever reads its raw folder, but do
not edit the exported files in place.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np
from tqdm.auto import tqdm

from segrap_nb import labels as L
from segrap_nb.io.atomic import atomic_open
from segrap_nb.io.dataset import Case, SegRapDataset
from segrap_nb.errors import DataError
from segrap_nb.io.fileref import FileRef
from segrap_nb.io.nifti import read_header, write_nifti

#: nnU-Net dataset id used when none is given, per task.
DEFAULT_IDS: dict[int, int] = {1: 651, 2: 652}
#: Dataset name (after ``DatasetXXX_``) used when none is given, per task.
DEFAULT_NAMES: dict[int, str] = {1: "SegRapTask1", 2: "SegRapTask2"}
#: Image files of a case, in nnU-Net channel order: Case.files key -> channel index.
CHANNELS: dict[str, int] = {"image": 0, "image_contrast": 1}
FILE_ENDING = ".nii.gz"
#: Shapes must agree exactly; spacings (mm) within this tolerance, as nnU-Net's own check.
SPACING_TOL_MM = 1e-3

#: Ways a file gets into the export, in the order the summary lists them.
_HOW = ("unchanged", "hard-linked", "symlinked", "copied", "streamed from zip", "built from masks")
_EXPORTED = re.compile(r"^segrap_\d+(?:_\d{4})?\.nii\.gz$")


def dataset_dirname(task: int, dataset_id: int | None = None, name: str | None = None) -> str:
    """Folder name nnU-Net expects, e.g. ``Dataset651_SegRapTask1``."""
    task = _check_task(task)
    dataset_id = DEFAULT_IDS[task] if dataset_id is None else int(dataset_id)
    if not 1 <= dataset_id <= 999:
        raise ValueError(f"nnU-Net dataset ids are 1..999, got {dataset_id}")
    name = DEFAULT_NAMES[task] if name is None else name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        raise ValueError(f"dataset name {name!r}: use letters, digits, '-' and '_' only")
    return f"Dataset{dataset_id:03d}_{name}"


def dataset_json(task: int, num_training: int, name: str = "") -> dict:
    """The ``dataset.json`` of an export: channels, every label name -> value, case count."""
    task = _check_task(task)
    table = L.ONEHOT_LABELS if task == 1 else L.GTV_LABELS
    return {
        # nnU-Net picks the intensity normalisation from the channel *name*: "CT" (exactly,
        # case-insensitive) selects CT normalisation (clip to the foreground's 0.5-99.5
        # percentiles, then z-score with the foreground mean and std), computed per channel.
        # Both channels are CTs, so both are named "CT"; any other name would fall back to a
        # per-image z-score.
        "channel_names": {str(ch): "CT" for ch in CHANNELS.values()},
        "labels": {"background": 0, **{n: int(v) for v, n in sorted(table.items())}},
        "numTraining": int(num_training),
        "file_ending": FILE_ENDING,
        "name": name,
        "description": (
            f"SegRap 2023 Task {task} "
            + ("(54 one-hot OAR labels)" if task == 1 else "(GTVp and GTVnd)")
            + "; channel 0 = plain CT, channel 1 = contrast-enhanced CT. Exported by segrap-nb."
        ),
        "reference": "SegRap 2023 challenge, Luo et al., arXiv 2312.09576",
    }


def export_nnunet(
    data_root: str | os.PathLike,
    out_raw: str | os.PathLike,
    task: int,
    dataset_id: int | None = None,
    name: str | None = None,
    progress: bool = True,
) -> Path:
    """Export every case of ``data_root`` to ``out_raw/DatasetXXX_<name>/``; returns that folder.

    ``dataset_id`` defaults to 651 for Task 1 and 652 for Task 2; ``name`` to SegRapTask1/2.
    Prints a one-line summary when ``progress`` is true.
    """
    folder, counts = _export(data_root, out_raw, task, dataset_id, name, progress)
    if progress:
        print(f"export-nnunet: {folder}: {summary(counts)}")
    return folder


def summary(counts: Counter) -> str:
    """One line: cases exported and how each file got there (linked, streamed, written...)."""
    how = ", ".join(f"{counts[k]} {k}" for k in _HOW if counts[k])
    removed = f"; removed {counts['removed']} stale files" if counts["removed"] else ""
    return f"{counts['cases']} cases ({how}){removed}"


def _check_task(task: int) -> int:
    if int(task) not in (1, 2):
        raise ValueError(f"task must be 1 or 2, got {task!r}")
    return int(task)


def _export(
    data_root: str | os.PathLike,
    out_raw: str | os.PathLike,
    task: int,
    dataset_id: int | None,
    name: str | None,
    progress: bool,
) -> tuple[Path, Counter]:
    """Do the export; returns the dataset folder and counts per way of placing a file."""
    task = _check_task(task)
    dirname = dataset_dirname(task, dataset_id, name)
    ds = SegRapDataset(data_root)
    cases = list(ds)
    no_images = [c.case_id for c in cases if not all(k in c.files for k in CHANNELS)]
    if len(no_images) == len(cases):
        raise DataError(ds.root, "no case has both CTs (image, image_contrast): nothing to export")
    if no_images:
        raise DataError(f"{ds.root} {no_images[0]}",
                        f"plain or contrast CT missing in {len(no_images)} case(s): "
                        f"{', '.join(no_images[:5])}")
    folder = Path(out_raw).expanduser() / dirname
    images_dir, labels_dir = folder / "imagesTr", folder / "labelsTr"
    images_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)

    counts: Counter = Counter()
    wanted: set[Path] = set()
    for case in tqdm(cases, desc=f"export {dirname}", unit="case", disable=not progress):
        ct_shape = _check_grids(case, task)
        for key, channel in CHANNELS.items():
            dst = images_dir / f"{case.case_id}_{channel:04d}{FILE_ENDING}"
            counts[place_file(case.files[key], dst)] += 1
            wanted.add(dst)
        dst = labels_dir / f"{case.case_id}{FILE_ENDING}"
        if task in case.onehot:
            counts[place_file(case.onehot[task], dst)] += 1
        else:  # no one-hot map in the release: build it from the separate masks
            vol = case.onehot_map(task)
            if tuple(vol.shape) != ct_shape:
                raise DataError(vol.source, f"shape {tuple(vol.shape)} differs from the CT's {ct_shape}")
            write_nifti(dst, vol.array.astype(np.uint8, copy=False), vol.affine)
            counts["built from masks"] += 1
        wanted.add(dst)
        counts["cases"] += 1

    # Files of an earlier export of more cases would break nnU-Net's numTraining check.
    for sub in (images_dir, labels_dir):
        for entry in sub.iterdir():
            if _EXPORTED.match(entry.name) and entry not in wanted:
                entry.unlink()
                counts["removed"] += 1
    _write_json(folder / "dataset.json", dataset_json(task, len(cases), dirname))
    return folder, counts


def _check_grids(case: Case, task: int) -> tuple[int, ...]:
    """Both CTs and the label map must share one voxel grid (shape, spacing mm); the CT's shape."""
    ref = read_header(case.files["image"])
    others = [case.files["image_contrast"]]
    if task in case.onehot:
        others.append(case.onehot[task])
    for fref in others:
        info = read_header(fref)
        if tuple(info.shape) != tuple(ref.shape):
            raise DataError(fref, f"shape {tuple(info.shape)} differs from the CT's {tuple(ref.shape)}")
        if not np.allclose(info.spacing[:3], ref.spacing[:3], atol=SPACING_TOL_MM):
            raise DataError(
                fref, f"spacing {tuple(info.spacing)} mm differs from the CT's {tuple(ref.spacing)} mm"
            )
    return tuple(ref.shape)


def place_file(src: FileRef, dst: Path) -> str:
    """Put ``src``'s bytes at ``dst`` atomically, linking when possible; returns how it was done.

    A file on disk is hard-linked (symlinked across file systems, copied if neither works); a zip
    member is streamed out unchanged. ``"unchanged"`` when ``dst`` already has the same content.
    """
    if src.member is None:
        path = Path(src.path)
        if not path.is_file():
            raise DataError(src, "file not found")
        if dst.exists() and os.path.samefile(path, dst):
            return "unchanged"
        for how, make in (("hard-linked", os.link), ("symlinked", _symlink)):
            tmp = _temp_name(dst)
            try:
                make(path, tmp)
            except OSError:
                continue
            _replace(tmp, dst)
            return how
        _atomic_copy(src.open, dst, src)
        return "copied"
    if dst.is_file() and _same_as_member(src, dst):
        return "unchanged"
    _atomic_copy(src.open, dst, src)
    return "streamed from zip"


def _symlink(src: Path, tmp: Path) -> None:
    os.symlink(src.resolve(), tmp)


def _temp_name(dst: Path) -> Path:
    """An unused hidden name beside ``dst`` (nnU-Net ignores it: it does not end in .nii.gz)."""
    fd, name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    os.close(fd)
    os.unlink(name)  # links cannot overwrite: free the name, keep it unique to this process
    return Path(name)


def _replace(tmp: Path, dst: Path) -> None:
    try:
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _atomic_copy(opener: Callable[[], BinaryIO], dst: Path, src: FileRef) -> None:
    """Stream the raw bytes from ``opener()`` to a temporary file, then rename it to ``dst``."""
    with atomic_open(dst, "wb") as out:
        try:
            with opener() as stream:
                shutil.copyfileobj(stream, out, 1 << 20)
        except (OSError, zipfile.BadZipFile, zlib.error) as exc:
            raise DataError(src, f"cannot read ({exc})") from None


def _same_as_member(src: FileRef, dst: Path) -> bool:
    """True when ``dst`` holds exactly the zip member's bytes (same size and CRC-32)."""
    with zipfile.ZipFile(src.path) as archive:
        info = archive.getinfo(src.member)
    if dst.stat().st_size != info.file_size:
        return False
    crc = 0
    with dst.open("rb") as f:
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc == info.CRC


def _write_json(path: Path, data: dict) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segrap-nb export-nnunet``."""
    parser.add_argument("data", help="dataset folder or zip (release layout)")
    parser.add_argument("--out", required=True, metavar="RAW",
                        help="nnU-Net raw folder (what $nnUNet_raw points to)")
    parser.add_argument("--task", type=int, choices=(1, 2), required=True,
                        help="1 = the 54 one-hot OAR labels, 2 = GTVp and GTVnd")
    parser.add_argument("--id", type=int, default=None, dest="dataset_id", metavar="ID",
                        help="nnU-Net dataset id, 1..999 (default 651 for task 1, 652 for task 2)")
    parser.add_argument("--name", default=None,
                        help="dataset name after DatasetXXX_ (default SegRapTask1 / SegRapTask2)")


def run(args: argparse.Namespace) -> int:
    """Export, print where it went and the next nnU-Net command; exit status 0."""
    try:
        dataset_dirname(args.task, args.dataset_id, args.name)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    folder, counts = _export(args.data, args.out, args.task, args.dataset_id, args.name,
                             progress=sys.stderr.isatty())
    print(f"wrote {folder}: {summary(counts)}")
    dataset_id = DEFAULT_IDS[args.task] if args.dataset_id is None else args.dataset_id
    print(f"next: export nnUNet_raw={Path(args.out).expanduser().resolve()} (and "
          f"nnUNet_preprocessed, nnUNet_results), then "
          f"nnUNetv2_plan_and_preprocess -d {dataset_id} --verify_dataset_integrity")
    return 0
