"""Pictures of the submission: the container's interface, and one output channel in the kit's viewer."""

from __future__ import annotations

from typing import Any

import numpy as np

from segrap_nb import labels as L
from segrap_nb.io.mha import StructureChannels
from segrap_nb.io.nifti import Volume
from segrap_nb.submission import interface as I


def _box(ax: Any, x: float, y: float, w: float, h: float, text: str, colour: str, **kw: Any) -> None:
    """A rounded box with centred text (axes coordinates 0..10 x 0..6)."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.08", fc=colour, ec="#333333", lw=1))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=kw.get("fontsize", 8.5))


def _arrow(ax: Any, x0: float, y0: float, x1: float, y1: float) -> None:
    ax.annotate("", (x1, y1), (x0, y0), arrowprops={"arrowstyle": "-|>", "lw": 1.4, "color": "#333333"})


def interface_figure(task: int = 1) -> Any:
    """The algorithm container's interface as a diagram: two .mha CTs in, one 4D .mha out."""
    from segrap_nb.viz._style import figure

    n = len(L.structures(task))
    fig = figure(10, 4.6)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6)
    ax.axis("off")
    _box(ax, 0.2, 3.5, 2.9, 1.1, f"/input/images/\n{I.CT_DIR}/\n<uuid>.mha  (plain CT, HU)", "#dbe9f6")
    _box(ax, 0.2, 1.6, 2.9, 1.1, f"/input/images/\n{I.CONTRAST_DIR}/\n<uuid>.mha  (contrast CT)", "#dbe9f6")
    _box(
        ax, 3.9, 1.3, 2.5, 3.6,
        "docker run\n--network none\n--shm-size 128m\n--pids-limit 256\n--gpus all (one GPU)\n\n"
        "python -m process\n\nread (SimpleITK)\npredict on the CT grid\nwrite ONE 4D .mha",
        "#fde9d9",
    )  # fmt: skip
    for k in range(4):  # a stack of channels
        _box(ax, 7.0 + 0.12 * k, 1.9 + 0.18 * k, 2.4, 1.9, "", "#e2f0d9" if k < 3 else "#c5e0b4")
    ax.text(
        8.56, 3.39,
        f"/output/images/\n{I.OUTPUT_DIR}/\n<uuid>.mha\nuint8 0/1, compressed\nsize x, y, z, {n}\n"
        "spacing sx, sy, sz, 1",
        ha="center", va="center", fontsize=8,
    )  # fmt: skip
    first, last = L.structures(task)[0], L.structures(task)[-1]
    ax.text(8.5, 1.4, f"channel 0 = {first} ... channel {n - 1} = {last}", ha="center", fontsize=8)
    _arrow(ax, 3.15, 4.05, 3.85, 3.5)
    _arrow(ax, 3.15, 2.15, 3.85, 2.7)
    _arrow(ax, 6.45, 3.1, 6.95, 3.1)
    ax.text(5.0, 5.45, "one case per run: no network, weights and every library inside the image",
            ha="center", fontsize=9.5, weight="bold")  # fmt: skip
    return fig


def channel_labels(stack: StructureChannels, index: int, task: int = 1) -> np.ndarray:
    """Channel ``index`` as a label map (i, j, k) the viewer colours: its voxels carry the structure's first one-hot label."""
    name = L.structures(task)[index]
    return stack.channel(index) * np.uint8(L.labels_of(name, task)[0])


def channel_viewer(stack: StructureChannels, ct: Volume, index: int, task: int = 1, **kwargs: Any) -> Any:
    """The kit's SliceViewer on ``ct`` with channel ``index`` of a 4D output drawn, centred on it."""
    from segrap_nb.viz.viewer import SliceViewer

    name = L.structures(task)[index]
    kwargs.setdefault("title", f"channel {index} = {name}")
    viewer = SliceViewer(ct, channel_labels(stack, index, task), task=task, organs=name, **kwargs)
    viewer.jump_to(name)
    return viewer
