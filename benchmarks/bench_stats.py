"""Label statistics of one full-size case (1024x1024x126, 0.54x0.54x3 mm): kit vs alternatives.

Prints seconds (best of N) and ratios measured in this one run:

* the floor: inflate the one-hot map's gzip stream (ISA-L, into fresh memory, as any reader
  does) + one ``torch.bincount``;
* the kit: :func:`segrap_nb.io.counts.count_labels` on the Task001 map, and the whole per-case
  work of :func:`segrap_nb.analysis.stats.compute_stats` (CT header, Task001 and Task002 maps, tables;
  no cache), to be compared with the floor of both maps: the ratio must stay <= 1.5;
* a per-label ``(arr == k).sum()`` loop and ``np.unique(return_counts=True)`` on the loaded map;
* the 45 separate mask files: tutorial style (``nib.load(f).get_fdata().sum()`` each), the kit's
  reader + ``np.count_nonzero`` each, and the kit's fallback that rebuilds the 54 labels from
  them (:func:`segrap_nb.labels.masks_to_onehot`, then a bincount);
* a rerun served from the cache.

    python benchmarks/bench_stats.py [--repeat 5] [--skip-slow]
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from isal import igzip

from segrap_nb import labels as L
from segrap_nb.analysis import published
from segrap_nb.analysis.stats import compute_stats
from segrap_nb.io.counts import count_labels
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR, SegRapDataset
from segrap_nb.io.nifti import read_header, read_nifti, write_nifti

from _common import add_repeat, arg_parser, best_of

SHAPE = (1024, 1024, 126)
SPACING = (0.54, 0.54, 3.0)


def synthetic_case(root: Path) -> Path:
    """One full-size case in the release layout: labels as ellipsoids of the card's mean volumes."""
    rng = np.random.default_rng(0)
    t1 = np.zeros(SHAPE, np.uint8, order="F")
    mm3 = float(np.prod(SPACING))
    card = published.card_labels()
    for label, cm3 in sorted(zip(card["label"], card["mean_cm3"]), key=lambda t: -t[1]):
        r = (cm3 * 1000 / mm3 * 3 / (4 * np.pi) / 0.18) ** (1 / 3)  # voxels; z radius 0.18 r
        rz = max(1.0, 0.18 * r)
        c = rng.uniform([300, 300, 30], [724, 724, 96])
        lo = np.maximum(np.floor(c - [r, r, rz]).astype(int), 0)
        hi = np.minimum(np.ceil(c + [r, r, rz]).astype(int) + 1, SHAPE)
        x, y, z = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        inside = ((x - c[0]) / r) ** 2 + ((y - c[1]) / r) ** 2 + ((z - c[2]) / rz) ** 2 <= 1
        t1[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]][inside] = label
    t2 = np.zeros(SHAPE, np.uint8, order="F")
    t2[400:560, 420:560, 50:75] = 1
    t2[600:660, 380:450, 70:90] = 2
    affine = np.diag([*SPACING, 1.0])
    case = root / IMAGES_DIR / "segrap_0000"
    ct = np.where(t1 > 0, np.int16(40), np.int16(-1000)).astype(np.int16)
    write_nifti(case / "image.nii.gz", ct, affine)
    del ct
    for task, arr in ((1, t1), (2, t2)):
        write_nifti(root / ONEHOT_DIR / f"Task00{task}" / "segrap_0000.nii.gz", arr, affine)
        for name, mask in L.iter_structure_masks(arr, task):
            write_nifti(case / f"{name}.nii.gz", mask.view(np.uint8), affine)
    return root


def make_case(tmp: Path) -> Path:
    """The full-size phantom case when segrap_nb.phantom.writer exists, else a synthetic one."""
    try:
        from segrap_nb.phantom.writer import make_phantom
    except ImportError:
        print("segrap_nb.phantom.writer not available: writing a synthetic full-size case")
        return synthetic_case(tmp / "synthetic")
    return make_phantom(tmp / "phantom", cases=1, size="full", seed=0, progress=False)


def main() -> None:
    """Time each way of counting the labels of the same case and print the ratios."""
    ap = arg_parser(__doc__)
    add_repeat(ap, 5)
    ap.add_argument("--skip-slow", action="store_true", help="skip the tutorial-style mask loop")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        root = make_case(tmp)
        case = SegRapDataset(root)[0]
        print(f"case written in {time.perf_counter() - t0:.1f} s: {case!r}")
        maps = {t: case.onehot[t] for t in (1, 2)}
        shape = read_nifti(maps[1]).shape
        print(f"one-hot map {shape}, {Path(str(maps[1])).stat().st_size / 1e6:.1f} MB gzipped")

        def inflate(task: int) -> np.ndarray:
            info = read_header(maps[task])
            buf = np.empty(int(np.prod(info.shape)) + info.offset, np.uint8)  # fresh memory
            view, n = memoryview(buf), 0
            with maps[task].open() as raw, igzip.GzipFile(fileobj=raw, mode="rb") as fh:
                while n < len(buf) and (got := fh.readinto(view[n:])):
                    n += got
            return buf[info.offset :]

        def floor(task: int) -> np.ndarray:
            return torch.bincount(torch.from_numpy(inflate(task))).numpy()

        def inflate_only() -> None:
            inflate(1)

        def per_label_loop() -> list[int]:
            arr = read_nifti(maps[1]).array
            return [int((arr == k).sum()) for k in range(1, 55)]

        def unique_counts() -> tuple:
            return np.unique(read_nifti(maps[1]).array, return_counts=True)

        mask_files = [case.files[n] for n in L.OAR_NAMES]

        def masks_tutorial() -> list[float]:
            return [float(nib.load(str(f)).get_fdata().sum()) for f in mask_files]

        def masks_kit_reader() -> list[int]:
            return [int(np.count_nonzero(read_nifti(f).array)) for f in mask_files]

        no_maps = tmp / "no_maps"
        shutil.copytree(root / IMAGES_DIR, no_maps / IMAGES_DIR)
        cache = tmp / "cache"

        def kit(data: Path, **kw):
            return compute_stats(data, workers=1, progress=False, **kw)

        # Correctness first: every way gives the same counts.
        reference = floor(1)[1:55]
        counts, _ = count_labels(maps[1])
        assert (counts[1:55] == reference[:54]).all()
        assert per_label_loop() == reference.tolist()
        from_masks = kit(no_maps, use_cache=False).volumes
        from_maps = kit(root, use_cache=False).volumes
        assert (from_masks["voxels"].to_numpy() == from_maps["voxels"].to_numpy()).all()

        r = args.repeat
        # The fast ones are timed in alternation, best of ``repeat`` rounds: the machines are
        # shared and noisy, and a ratio is only meaningful between numbers of the same moment.
        fast = {
            "floor: inflate + torch.bincount, Task001": lambda: floor(1),
            "floor: both maps (Task001 + Task002)": lambda: (floor(1), floor(2)),
            "inflate only, Task001": inflate_only,
            "kit count_labels, Task001": lambda: count_labels(maps[1]),
            "kit compute_stats, whole case (no cache)": lambda: kit(root, use_cache=False),
        }
        rounds: dict[str, list[float]] = {name: [] for name in fast}
        for _ in range(r):
            for name, fn in fast.items():
                rounds[name].append(best_of(fn, 1))
        res = {name: min(times) for name, times in rounds.items()}
        res.update(
            {
                "per-label (arr == k).sum() loop": best_of(per_label_loop, 1),
                "np.unique(return_counts=True)": best_of(unique_counts, 1),
                "45 masks, kit reader + count_nonzero": best_of(masks_kit_reader, 1),
                "45 masks, kit fallback (54 labels rebuilt)": best_of(
                    lambda: kit(no_maps, use_cache=False), 1
                ),
            }
        )
        if not args.skip_slow:
            res["45 masks, tutorial get_fdata().sum()"] = best_of(masks_tutorial, 1)
        kit(root, use_cache=True, cache_dir=cache)
        res["kit compute_stats, rerun from cache"] = best_of(
            lambda: kit(root, use_cache=True, cache_dir=cache), r
        )

        width = max(map(len, res))
        for name, sec in res.items():
            print(f"{name:<{width}}  {sec:8.3f} s")
        f1 = res["floor: inflate + torch.bincount, Task001"]
        f12 = res["floor: both maps (Task001 + Task002)"]
        kit_case = res["kit compute_stats, whole case (no cache)"]
        print()
        print(
            f"ratio kit count_labels / (inflate + bincount), Task001: "
            f"{res['kit count_labels, Task001'] / f1:.2f}"
        )
        print(
            f"ratio kit whole case / (inflate + bincount of both maps): {kit_case / f12:.2f}"
            "  (must be <= 1.5)"
        )
        print(
            f"per-label loop / kit count_labels: "
            f"{res['per-label (arr == k).sum() loop'] / res['kit count_labels, Task001']:.1f}x"
        )
        print(
            f"45 masks (kit fallback) / kit whole case: "
            f"{res['45 masks, kit fallback (54 labels rebuilt)'] / kit_case:.1f}x"
        )
        if "45 masks, tutorial get_fdata().sum()" in res:
            print(
                f"45 masks (tutorial) / kit whole case: "
                f"{res['45 masks, tutorial get_fdata().sum()'] / kit_case:.1f}x"
            )
        if kit_case / f12 > 1.5:
            raise SystemExit("FAIL: kit / (inflate + bincount) > 1.5")


if __name__ == "__main__":
    main()
