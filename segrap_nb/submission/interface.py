"""The challenge platform's interface (SUBMISSION.md): folders, one case per run, the output file."""

from __future__ import annotations

import os
from pathlib import Path

from segrap_nb.errors import DataError
from segrap_nb.io.dataset import Case

#: Input folder of the plain CT, under ``<input>/images/``.
CT_DIR = "head-neck-ct"
#: Input folder of the contrast-enhanced CT, under ``<input>/images/``.
CONTRAST_DIR = "head-neck-contrast-enhanced-ct"
#: Output folder (both tasks), under ``<output>/images/``.
OUTPUT_DIR = "head-neck-segmentation"
#: Where the container reads and writes by default.
DEFAULT_INPUT = Path("/input")
DEFAULT_OUTPUT = Path("/output")


def input_file(input_root: str | os.PathLike, folder: str) -> Path:
    """The one ``.mha`` file in ``<input_root>/images/<folder>/``; DataError if none or several."""
    where = Path(input_root) / "images" / folder
    if not where.is_dir():
        raise DataError(where, "input folder missing: expected exactly one .mha file here")
    found = sorted(p for p in where.iterdir() if p.name.lower().endswith(".mha") and p.is_file())
    if not found:
        raise DataError(where, "no .mha file: expected exactly one CT")
    if len(found) > 1:
        names = ", ".join(p.name for p in found[:4]) + (" ..." if len(found) > 4 else "")
        raise DataError(where, f"{len(found)} .mha files ({names}): the platform sends one case per run")
    return found[0]


def case_uuid(path: Path) -> str:
    """The case's uuid: the input file name without ``.mha``."""
    return path.name[: -len(".mha")]


def output_file(output_root: str | os.PathLike, uuid: str) -> Path:
    """``<output_root>/images/head-neck-segmentation/<uuid>.mha``."""
    return Path(output_root) / "images" / OUTPUT_DIR / f"{uuid}.mha"


def write_input_case(case: Case, input_root: str | os.PathLike, uuid: str | None = None) -> dict[str, Path]:
    """Write a dataset case's two CTs as the platform sends them: ``<input_root>/images/<folder>/<uuid>.mha``.

    ``uuid`` defaults to the case id. Returns the written files by input folder name.
    """
    from segrap_nb.io.mha import write_mha

    uuid = uuid or case.case_id
    out = {}
    for folder, contrast in ((CT_DIR, False), (CONTRAST_DIR, True)):
        vol = case.image(contrast=contrast)
        out[folder] = write_mha(Path(input_root) / "images" / folder / f"{uuid}.mha", vol.array, vol.affine)
    return out
