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

Every case is read and checked first (3D, complete, finite CTs; one voxel grid; labels in
range), so a corrupt dataset stops with the file's name before anything is written. The export
replaces or removes only files it wrote itself, listed in ``.segrap-nb-manifest.json`` in the
dataset folder; any other file there is left alone, and one with a name the export needs
stops it. It refuses an output folder that overlaps the dataset.

Hard links share the data with the release: nnU-Net only ever reads its raw folder, but do
not edit the exported files in place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from segrap_nb import labels as L
from segrap_nb.errors import DataError
from segrap_nb.grid import grid_mismatch
from segrap_nb.io.atomic import atomic_open
from segrap_nb.io.counts import NiftiStream
from segrap_nb.io.dataset import Case, SegRapDataset
from segrap_nb.io.fileref import FileRef
from segrap_nb.io.guards import (
    Manifest,
    check_writable,
    disk_error,
    is_disk_error,
    refuse_overlap,
    write_errors,
)
from segrap_nb.io.nifti import read_nifti, write_nifti
from segrap_nb.progress import progress_bar

#: nnU-Net dataset id used when none is given, per task.
DEFAULT_IDS: dict[int, int] = {1: 651, 2: 652}
#: Dataset name (after ``DatasetXXX_``) used when none is given, per task.
DEFAULT_NAMES: dict[int, str] = {1: "SegRapTask1", 2: "SegRapTask2"}
#: Image files of a case, in nnU-Net channel order: Case.files key -> channel index.
CHANNELS: dict[str, int] = {"image": 0, "image_contrast": 1}
FILE_ENDING = ".nii.gz"

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
    folder, counts = export_counted(data_root, out_raw, task, dataset_id, name, progress)
    if progress:
        print(f"export-nnunet: {folder}: {summary(counts)}")
    return folder


def summary(counts: Counter) -> str:
    """One line: cases exported and how each file got there (linked, streamed, written...)."""
    how = ", ".join(f"{counts[k]} {k}" for k in _HOW if counts[k])
    removed = f"; removed {counts['removed']} stale files" if counts["removed"] else ""
    kept = (
        f"; kept {counts['kept']} files segrap-nb did not write (they count for nnU-Net)"
        if counts["kept"]
        else ""
    )
    return f"{counts['cases']} cases ({how}){removed}{kept}"


def _check_task(task: int) -> int:
    if int(task) not in (1, 2):
        raise ValueError(f"task must be 1 or 2, got {task!r}")
    return int(task)


def export_counted(
    data_root: str | os.PathLike,
    out_raw: str | os.PathLike,
    task: int,
    dataset_id: int | None,
    name: str | None,
    progress: bool,
) -> tuple[Path, Counter]:
    """Export as :func:`export_nnunet`, silently; returns the dataset folder and counts per way of placing a file."""
    task = _check_task(task)
    dirname = dataset_dirname(task, dataset_id, name)
    ds = SegRapDataset(data_root)
    cases = _exportable_cases(ds)
    folder = Path(out_raw).expanduser() / dirname
    refuse_overlap(folder, ds.root)
    check_writable(folder)
    # Every case is read and checked before anything is written: a corrupt file stops the
    # export with its name, and nothing half-exported is left behind.
    for case in progress_bar(cases, desc=f"check {dirname}", unit="case", disable=not progress):
        _check_case(case, task)
    plan = _plan(cases, folder, task)
    rels = [dst.relative_to(folder).as_posix() for _, dst in plan] + ["dataset.json"]
    manifest = _manifest_with_earlier_exports(folder, plan, rels)
    with write_errors(folder):
        manifest.claim(rels)
        for sub in ("imagesTr", "labelsTr"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        counts: Counter = Counter()
        for src, dst in progress_bar(plan, desc=f"export {dirname}", unit="file", disable=not progress):
            if isinstance(src, FileRef):
                counts[place_file(src, dst)] += 1
            else:  # no one-hot map in the release: build it from the separate masks
                vol = src.onehot_map(task)
                write_nifti(dst, vol.array.astype(np.uint8, copy=False), vol.affine)
                counts["built from masks"] += 1
        counts["cases"] = len(cases)
        _remove_stale(folder, manifest, set(rels), counts)
        _write_json(folder / "dataset.json", dataset_json(task, len(cases), dirname))
    return folder, counts


def _exportable_cases(ds: SegRapDataset) -> list[Case]:
    """Every case of ``ds``; DataError unless each has both CTs (image, image_contrast)."""
    cases = list(ds)
    no_images = [c.case_id for c in cases if not all(k in c.files for k in CHANNELS)]
    if len(no_images) == len(cases):
        raise DataError(ds.root, "no case has both CTs (image, image_contrast): nothing to export")
    if no_images:
        raise DataError(
            f"{ds.root} {no_images[0]}",
            f"plain or contrast CT missing in {len(no_images)} case(s): {', '.join(no_images[:5])}",
        )
    return cases


def _plan(cases: list[Case], folder: Path, task: int) -> list[tuple[FileRef | Case, Path]]:
    """(source, destination) of every file: both CTs, then the task's map (a Case: built from masks)."""
    plan: list[tuple[FileRef | Case, Path]] = []
    for case in cases:
        for key, channel in CHANNELS.items():
            plan.append((case.files[key], folder / "imagesTr" / f"{case.case_id}_{channel:04d}{FILE_ENDING}"))
        plan.append((case.onehot.get(task, case), folder / "labelsTr" / f"{case.case_id}{FILE_ENDING}"))
    return plan


def _manifest_with_earlier_exports(
    folder: Path, plan: list[tuple[FileRef | Case, Path]], rels: list[str]
) -> Manifest:
    """The folder's manifest, adopting files an earlier export wrote before manifests existed."""
    manifest = Manifest(folder)
    # A file of an earlier export (before the manifest existed) that already holds exactly
    # these bytes is adopted; anything else the kit did not write is never replaced.
    manifest.files |= {
        dst.relative_to(folder).as_posix()
        for src, dst in plan
        if isinstance(src, FileRef) and _holds(src, dst)
    }
    if _is_our_json(folder / "dataset.json") and not manifest.path.exists():
        # An export by an older segrap-nb (no manifest): the files it named are the kit's
        # to replace; nothing else there is removed.
        manifest.files |= {r for r in rels if (folder / r).exists()}
    return manifest


def _remove_stale(folder: Path, manifest: Manifest, wanted: set[str], counts: Counter) -> None:
    """Remove the kit's files of cases no longer exported; count them, and the others' files kept.

    Files of an earlier export of more cases would break nnU-Net's numTraining check: those the
    kit wrote go; anything else stays (and is counted as ``kept``).
    """
    stale = []
    for sub in (folder / "imagesTr", folder / "labelsTr"):
        for entry in sorted(sub.iterdir()):
            rel = entry.relative_to(folder).as_posix()
            if not _EXPORTED.match(entry.name) or rel in wanted:
                continue
            if manifest.owns(rel):
                entry.unlink()
                stale.append(rel)
                counts["removed"] += 1
            else:
                counts["kept"] += 1
    manifest.forget(stale)


def _holds(src: FileRef, dst: Path) -> bool:
    """True when ``dst`` already holds exactly ``src``'s bytes (same file, or same zip member)."""
    try:
        if not dst.is_file():
            return False
        if src.member is None:
            return os.path.samefile(src.path, dst)
        return _same_as_member(src, dst)
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


def _is_our_json(path: Path) -> bool:
    """True when ``path`` is a dataset.json written by this kit."""
    try:
        return "Exported by segrap-nb" in json.loads(path.read_text(encoding="utf-8"))["description"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _checked_ct(ref: FileRef) -> tuple[tuple[int, ...], np.ndarray]:
    """Decode a CT to the end (3D, complete; a float CT also finite) without holding it; its grid."""
    with NiftiStream(ref) as stream:
        info = stream.info
        if len(info.shape) != 3:
            raise DataError(ref, f"expected a 3D volume, header says shape {info.shape}")
        if info.dtype.kind != "f":
            for _ in stream.chunks(1 << 20):  # integers cannot be NaN: only completeness to check
                pass
            return tuple(info.shape), info.affine
    vol = read_nifti(ref)  # a float CT: read_nifti checks every voxel is finite (rare)
    return tuple(vol.shape), vol.affine


def _check_case(case: Case, task: int) -> None:
    """Read both CTs and the task's map: 3D, complete, finite, one voxel grid, labels in range.

    The CTs are decoded in chunks and not kept: only the label map is held (memory of one volume).
    """
    shape, affine = _checked_ct(case.files["image"])  # DataError names the file: 4D, truncated, NaN
    contrast = _checked_ct(case.files["image_contrast"])
    if problem := grid_mismatch(*contrast, shape, affine, "the CT"):
        raise DataError(case.files["image_contrast"], problem)
    if task in case.onehot:
        source: FileRef | str = case.onehot[task]
        labels = read_nifti(case.onehot[task])
    else:
        labels = case.onehot_map(task)
        source = labels.source
    if problem := grid_mismatch(labels.shape, labels.affine, shape, affine, "the CT"):
        raise DataError(source, problem)
    arr, top = labels.array, L.max_label(task)
    if arr.dtype.kind not in "iu" and not np.array_equal(arr, np.round(arr)):
        raise DataError(source, f"label map holds non-integer values ({arr.dtype})")
    lo, hi = (arr.min(), arr.max()) if arr.size else (0, 0)
    if lo < 0 or hi > top:
        raise DataError(source, f"label values {lo}..{hi} outside 0..{top} of Task00{task}")


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


def _atomic_copy(opener: Callable[[], IO[bytes]], dst: Path, src: FileRef) -> None:
    """Stream the raw bytes from ``opener()`` to a temporary file, then rename it to ``dst``."""
    with atomic_open(dst, "wb") as out:
        try:
            with opener() as stream:
                shutil.copyfileobj(stream, out, 1 << 20)
        except (OSError, zipfile.BadZipFile, zlib.error) as exc:
            if isinstance(exc, OSError) and is_disk_error(
                exc
            ):  # the destination's disk, not the source, failed
                raise disk_error(exc, dst) from None
            raise DataError(src, f"cannot read ({exc})") from None


def _same_as_member(src: FileRef, dst: Path) -> bool:
    """True when ``dst`` holds exactly the zip member's bytes (same size and CRC-32)."""
    with zipfile.ZipFile(src.path) as archive:
        info = archive.getinfo(src.member or "")
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
