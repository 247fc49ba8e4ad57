"""Viewer responsiveness on a full-size case (about 1024 x 1024 x 126): seconds per redraw.

Times the callback that runs when a user moves a slice slider (``SliceViewer._on_slice``:
extract the plane, window it, blend the labels, ``set_data``, Agg draw, PNG encode for the
``ipywidgets.Image``), for each plane, and the full redraws after a window change and an
organ jump. For comparison, in the same run: the naive approach of re-plotting a fresh
figure at full resolution (float window, a second imshow for the labels, savefig). The
target is well under 0.5 s per slider step.

    python benchmarks/bench_viewer.py [--repeat 7] [--case 0]
"""

from __future__ import annotations

import io
import statistics
import time

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.figure import Figure

from segrap_nb.viz.colors import label_lut
from segrap_nb.viz.render import (
    PLANE_AXIS,
    PLANES,
    extract_plane,
    plane_extent,
    reorient_lps,
)
from segrap_nb.viz.viewer import SliceViewer

from _common import add_repeat, arg_parser


def timed(fn, repeat: int) -> list[float]:
    """Wall times in seconds of ``repeat`` calls of ``fn(n)``."""
    out = []
    for n in range(repeat):
        t0 = time.perf_counter()
        fn(n)
        out.append(time.perf_counter() - t0)
    return out


def naive_redraw(ct: np.ndarray, lab: np.ndarray, affine: np.ndarray, index: dict[str, int]) -> bytes:
    """What a first notebook does on every slider move: a new 3-panel figure at full
    resolution, float windowing, a second imshow for the labels, savefig."""
    vol, labs = reorient_lps(ct, affine), reorient_lps(lab, affine)
    fig = Figure(figsize=(10.2, 3.4), dpi=90)
    lut = label_lut("all") / [255, 255, 255, 2]
    for n, plane in enumerate(PLANES):
        ax = fig.add_subplot(1, 3, n + 1)
        ext = plane_extent(vol.array.shape, vol.spacing, plane)
        img = extract_plane(vol.array, plane, index[plane]).astype(np.float64)
        ax.imshow(np.clip((img - (40 - 200)) / 400, 0, 1), cmap="gray", extent=ext)
        ax.imshow(lut[extract_plane(labs.array, plane, index[plane])], extent=ext)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def report(name: str, times: list[float], reference: float | None = None) -> float:
    med = statistics.median(times)
    ratio = f"  ({reference / med:.1f}x faster than naive)" if reference else ""
    print(f"{name:<42} median {med:.3f} s   max {max(times):.3f} s{ratio}")
    return med


def main() -> None:
    """Build a full-size phantom case in memory and time the viewer's callbacks."""
    ap = arg_parser(__doc__)
    add_repeat(ap, 7)
    ap.add_argument("--case", type=int, default=0, help="phantom case index (full size)")
    args = ap.parse_args()

    from segrap_nb.phantom.writer import phantom_case

    t0 = time.perf_counter()
    case = phantom_case(args.case, seed=0, size="full")
    print(
        f"full-size phantom case: shape {case.image.shape}, spacing "
        f"{tuple(round(s, 3) for s in case.grid.spacing)} mm "
        f"(made in {time.perf_counter() - t0:.1f} s)"
    )
    t0 = time.perf_counter()
    viewer = SliceViewer(case.image, case.onehot, case.image_contrast, affine=case.affine)
    viewer.widget  # noqa: B018 - build the widgets, as displaying the viewer does
    print(f"viewer construction (widgets, first PNG): {time.perf_counter() - t0:.2f} s")

    naive = report(
        "naive: re-plot 3 planes at full resolution",
        timed(
            lambda k: naive_redraw(case.image, case.onehot, case.affine, viewer.index),
            max(3, args.repeat // 2),
        ),
    )
    worst = 0.0
    for plane in PLANES:
        n = viewer.shape[PLANE_AXIS[plane]]
        start = viewer.index[plane]

        def step(k: int, plane: str = plane, start: int = start, n: int = n) -> None:
            viewer.sliders[plane].value = (start + 3 * (k + 1)) % n  # runs _on_slice

        worst = max(worst, report(f"slider step, {plane}", timed(step, args.repeat), naive))

    presets = ["bone", "brain", "lung", "soft tissue"]
    report(
        "window preset (3 planes)",
        timed(lambda k: setattr(viewer.preset, "value", presets[k % 4]), args.repeat),
    )
    organs = ["Cochlea_L", "Parotid_R", "Chiasm", "Larynx"]
    report("jump to organ centroid (3 planes)", timed(lambda k: viewer.jump_to(organs[k % 4]), args.repeat))
    verdict = "OK" if worst < 0.5 else "TOO SLOW"
    print(f"slowest slider step (median): {worst:.3f} s -> {verdict} (target < 0.5 s)")


if __name__ == "__main__":
    main()
