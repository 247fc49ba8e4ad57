"""What ``python -m process`` runs in the algorithm container: one case in, one 4D ``.mha`` out.

    python -m process [--input /input] [--output /output] [--device cpu|cuda]

It reads the case's plain and contrast CT (``.mha``, SimpleITK), prints the device it uses
(a GPU when there is one), segments on the plain CT's own grid with the kit's sliding-window
predictor and writes ``<output>/images/head-neck-segmentation/<uuid>.mha`` atomically: one
uint8 0/1 channel per structure, in the official order. Nothing is downloaded, and no
worker process is started (the platform gives 128 MB of shared memory and 256 processes).
Bad input ends with one line ``error: <file>: <what is wrong>`` and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from segrap_nb.errors import DataError
from segrap_nb.io.dataset import Case
from segrap_nb.io.fileref import FileRef
from segrap_nb.io.guards import check_writable, write_errors
from segrap_nb.io.mha import read_mha, write_structures_mha
from segrap_nb.io.nifti import Volume
from segrap_nb.submission import interface as I

#: The algorithm's description in the exported folder (task, inputs, structures, versions).
ALGORITHM_FILE = "algorithm.json"
#: The weights and configuration in the exported folder (a plain checkpoint).
WEIGHTS_FILE = "weights/model.pt"
#: At most this many compute threads: the platform allows 256 processes and threads in all.
MAX_THREADS = 32


class ArrayCase(Case):
    """A case whose two CTs are already in memory (read from ``.mha``), for the kit's preprocessing."""

    def __init__(self, case_id: str, plain: Volume, contrast: Volume) -> None:
        files = {"image": FileRef(Path(plain.source)), "image_contrast": FileRef(Path(contrast.source))}
        super().__init__(case_id, files)
        self._volumes = {False: plain, True: contrast}

    def image(self, contrast: bool = False) -> Volume:
        """The plain (or contrast) CT in HU, (i, j, k) order, as read from its ``.mha``."""
        return self._volumes[bool(contrast)]


def read_algorithm(folder: Path) -> dict:
    """The exported folder's ``algorithm.json``; DataError if missing or unreadable."""
    path = folder / ALGORITHM_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(path, f"not a readable algorithm description ({exc})") from None


def read_inputs(input_root: Path, contrast: bool) -> tuple[str, Volume, Volume]:
    """The case's uuid, plain CT and contrast CT (the plain one again when the model takes one CT)."""
    ct_path = I.input_file(input_root, I.CT_DIR)
    ct = read_mha(ct_path)
    if not contrast:
        return I.case_uuid(ct_path), ct, ct
    other = read_mha(I.input_file(input_root, I.CONTRAST_DIR))
    if other.shape != ct.shape:
        raise DataError(other.source, f"grid {other.shape} differs from the plain CT's {ct.shape}")
    # The model sees both CTs voxel by voxel: the contrast CT is taken on the plain CT's grid.
    other = Volume(other.array, ct.affine, ct.spacing, other.source)
    return I.case_uuid(ct_path), ct, other


def limit_threads() -> None:
    """Keep torch's thread pools within the platform's process and thread limit."""
    import torch

    torch.set_num_threads(max(1, min(torch.get_num_threads(), MAX_THREADS)))


def segment(
    algorithm_dir: str | os.PathLike,
    input_root: str | os.PathLike = I.DEFAULT_INPUT,
    output_root: str | os.PathLike = I.DEFAULT_OUTPUT,
    device: str | None = None,
) -> Path:
    """Segment the one case under ``input_root``; return the 4D ``.mha`` written under ``output_root``."""
    folder = Path(algorithm_dir)
    algorithm = read_algorithm(folder)
    uuid, ct, contrast = read_inputs(Path(input_root), I.CONTRAST_DIR in algorithm["inputs"])
    out = I.output_file(output_root, uuid)
    check_writable(out.parent)
    # torch is imported only now: bad input is reported at once.
    from segrap_nb.training.device import get_device
    from segrap_nb.training.inference import load_run, predict_case

    limit_threads()
    dev = get_device(device, verbose=True)  # prints "device: ..." (a GPU when there is one)
    weights = str(folder / WEIGHTS_FILE)
    model, cfg, _ = load_run(folder, weights, dev)  # type: ignore[arg-type]  # a path works as well
    onehot, _ = predict_case(model, ArrayCase(uuid, ct, contrast), cfg, dev)
    with write_errors(out.parent):
        return write_structures_mha(out, onehot, cfg.task, ct.affine)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """``--input``, ``--output`` (the platform's /input and /output by default) and ``--device``."""
    parser = argparse.ArgumentParser(prog="python -m process", description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=I.DEFAULT_INPUT, help="input root (default /input)")
    parser.add_argument("--output", type=Path, default=I.DEFAULT_OUTPUT, help="output root (default /output)")
    parser.add_argument("--device", default=None, help="force a device (cpu, cuda); default: a GPU if any")
    return parser.parse_args(argv)


def main(algorithm_dir: str | os.PathLike, argv: list[str] | None = None) -> int:
    """The entry point: segment one case; 0 on success, 2 with one ``error:`` line on bad input."""
    args = parse_args(argv)
    try:
        out = segment(algorithm_dir, args.input, args.output, args.device)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0
