"""Predictions as the challenge container writes them: a folder of 4D ``.mha`` files, one per case.

A file is named by its case id (``segrap_0006.mha``), or by any name (the platform's uuid)
mapped to a case id with a small CSV table of two columns, ``uuid,case``::

    uuid,case
    1234-abcd,segrap_0006

The folder may be the container's output root itself (``OUT/images/head-neck-segmentation/``
is then read).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from segrap_nb.errors import DataError

#: The container's output subfolder, read when ``--pred`` is its output root.
CONTAINER_OUTPUT = Path("images") / "head-neck-segmentation"
#: Columns of the mapping table.
MAP_COLUMNS = ("uuid", "case")


def mha_folder(path: str | os.PathLike) -> Path | None:
    """The folder of ``.mha`` predictions ``path`` stands for (itself or its container output), or None."""
    path = Path(path).expanduser()
    for folder in (path / CONTAINER_OUTPUT, path):
        if folder.is_dir() and any(p.name.lower().endswith(".mha") for p in folder.iterdir()):
            return folder
    return None


def read_map(table: str | os.PathLike) -> dict[str, str]:
    """The ``uuid,case`` table as {uuid: case id}; DataError for a bad table."""
    table = Path(table).expanduser()
    try:
        with open(table, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(table, f"cannot read the uuid,case table ({exc})") from None
    if not rows or any(c not in rows[0] for c in MAP_COLUMNS):
        raise DataError(
            table, f"needs a header with the columns {', '.join(MAP_COLUMNS)} and one row per file"
        )
    out: dict[str, str] = {}
    for n, row in enumerate(rows, 2):
        uuid = (row["uuid"] or "").strip().removesuffix(".mha")
        case = (row["case"] or "").strip()
        if not uuid or not case:
            raise DataError(table, f"line {n}: empty uuid or case")
        if uuid in out:
            raise DataError(table, f"line {n}: uuid {uuid!r} listed twice")
        out[uuid] = case
    if len(set(out.values())) != len(out):
        raise DataError(table, "a case is mapped from two files")
    return out


def mha_predictions(
    folder: Path, case_ids: list[str], table: str | os.PathLike | None = None
) -> dict[str, Path]:
    """{case id: its 4D ``.mha``} for the files in ``folder``; every case must be in ``case_ids``."""
    files = {p.name[: -len(".mha")]: p for p in sorted(folder.iterdir()) if p.name.lower().endswith(".mha")}
    names = read_map(table) if table is not None else {stem: stem for stem in files}
    unmapped = [s for s in files if s not in names]
    if unmapped:
        raise DataError(folder, f"files not in the uuid,case table: {', '.join(unmapped[:5])}")
    missing = [u for u in names if u not in files]
    if missing:
        raise DataError(folder, f"no .mha file for the table's uuid(s): {', '.join(missing[:5])}")
    unknown = [f"{s} -> {names[s]}" if names[s] != s else s for s in files if names[s] not in case_ids]
    if unknown:
        hint = "" if table is not None else " (name each file by its case id, or map names with --pred-map)"
        raise DataError(
            folder, f"predictions for cases not in the ground truth: {', '.join(unknown[:5])}{hint}"
        )
    return {names[s]: p for s, p in files.items()}
