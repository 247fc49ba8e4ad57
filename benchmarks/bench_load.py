"""Loading a full-size CT (1024x1024x126 int16): the kit vs nibabel vs raw gzip inflation.

Prints seconds (best of N) and ratios measured in this one run. The practical floor is the
time to inflate the file's gzip stream (one stream uses one core) into memory that is
already allocated: that is what ``raw ISA-L inflate`` measures.

    python benchmarks/bench_load.py [--repeat 3] [--file some.nii.gz]
"""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from isal import igzip

from segrap_nb.io.nifti import GZIP_BACKEND, read_nifti, write_nifti

from _common import add_repeat, arg_parser, best_of


def make_ct(path: Path) -> None:
    """A full-size CT-like volume (smooth anatomy + noise, so it compresses like a real one)."""
    try:
        from segrap_nb.phantom.writer import make_phantom

        root = make_phantom(path.parent / "phantom", cases=1, size="full", seed=0, progress=False)
        src = next(root.rglob("image.nii.gz"))
        path.write_bytes(src.read_bytes())
        return
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    x, y = np.mgrid[-512:512, -512:512]
    head = ((x / 380.0) ** 2 + (y / 300.0) ** 2 < 1).astype(np.int16)
    ct = np.repeat((head * 1040 - 1000)[:, :, None], 126, axis=2)
    ct += rng.normal(0, 15, ct.shape).astype(np.int16)
    write_nifti(path, ct, np.diag([0.54, 0.54, 3.0, 1.0]))


def main() -> None:
    """Time each loader on the same file and print the ratios."""
    ap = arg_parser(__doc__)
    add_repeat(ap, 3)
    ap.add_argument("--file", type=Path, help="an existing .nii.gz CT (default: make one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file or Path(tmp) / "image.nii.gz"
        if args.file is None:
            make_ct(path)
        size = path.stat().st_size
        nbytes = int(np.prod(nib.load(path).shape)) * 2
        buf = bytearray(nbytes + 1024)

        def raw_isal() -> None:
            with igzip.open(path, "rb") as fh:
                view = memoryview(buf)
                n = 0
                while got := fh.readinto(view[n:]):
                    n += got

        def raw_zlib() -> None:
            with gzip.open(path, "rb") as fh:
                fh.readinto(memoryview(buf))

        results = {
            "raw ISA-L inflate (floor)": best_of(raw_isal, args.repeat),
            "raw zlib inflate": best_of(raw_zlib, args.repeat),
            f"segrap_nb.read_nifti ({GZIP_BACKEND})": best_of(lambda: read_nifti(path), args.repeat),
            "nibabel np.asanyarray(dataobj)": best_of(
                lambda: np.asanyarray(nib.load(path).dataobj), args.repeat
            ),
            "nibabel get_fdata()": best_of(lambda: nib.load(path).get_fdata(), args.repeat),
        }
    kit = results[f"segrap_nb.read_nifti ({GZIP_BACKEND})"]
    floor = results["raw ISA-L inflate (floor)"]
    print(f"file: {size / 1e6:.0f} MB .nii.gz, {nbytes / 1e6:.0f} MB of voxels")
    for name, sec in results.items():
        print(f"{name:38s} {sec:6.3f} s   {sec / kit:5.2f}x the kit's time")
    print(f"kit / floor = {kit / floor:.2f} (1.00 = as fast as inflating the stream)")


if __name__ == "__main__":
    main()
