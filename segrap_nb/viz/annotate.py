"""Annotation of a slice picture: side letters, slice index, scale bar, organ legend, PHANTOM tag.

The axes must show a plane of :mod:`segrap_nb.viz.render` with its extent in mm (x to the
right, y downwards). The colours and the legends themselves are in :mod:`segrap_nb.viz._style`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from segrap_nb.viz._style import ANNOTATION_COLOR, organ_legend, phantom_title
from segrap_nb.viz.render import PLANE_DIRECTIONS, Plane

__all__ = ["decorate", "legend_beside", "nice_length", "phantom_title", "slice_title"]


def nice_length(span_mm: float) -> float:
    """A round scale-bar length (1, 2, 5 x 10^n mm) of at most a quarter of ``span_mm``."""
    target = max(span_mm / 4.0, 1e-3)
    power = 10.0 ** np.floor(np.log10(target))
    return float(max(m * power for m in (1.0, 2.0, 5.0) if m * power <= target))


def decorate(
    ax: Any,
    plane: Plane,
    *,
    index: int | None = None,
    n_slices: int | None = None,
    letters: bool = True,
    scale_bar: bool = True,
    fontsize: float = 8.0,
    color: str = ANNOTATION_COLOR,
) -> None:
    """Side letters (R/L, A/P, S/I), slice index (top left, "index/last") and a scale bar.

    The axes must show a plane of :mod:`segrap_nb.viz.render` with its extent in mm (x to the
    right, y downwards); call it after setting the final limits (the bar is a quarter of the
    visible width at most, rounded to 1, 2 or 5 x 10^n mm).
    """
    from matplotlib.patheffects import withStroke

    halo = [withStroke(linewidth=2, foreground="black")]
    kw = dict(color=color, fontsize=fontsize, transform=ax.transAxes, fontweight="bold", path_effects=halo)
    if letters:
        side_letters(ax, plane, kw)
    if index is not None:
        where = f"{index}" + (f"/{n_slices - 1}" if n_slices else "")  # short: beside a letter
        small = {**kw, "fontsize": fontsize - 1, "fontweight": "normal"}
        ax.text(0.015, 0.985, where, ha="left", va="top", **small)
    if scale_bar:
        add_scale_bar(ax, color, fontsize - 1, halo)


def side_letters(ax: Any, plane: Plane, text_kw: dict[str, Any]) -> None:
    """The anatomical letters at the middle of each edge of a plane (axes fractions)."""
    top, bottom, left, right = PLANE_DIRECTIONS[plane]
    ax.text(0.5, 0.985, top, ha="center", va="top", **text_kw)
    ax.text(0.5, 0.015, bottom, ha="center", va="bottom", **text_kw)
    ax.text(0.015, 0.5, left, ha="left", va="center", **text_kw)
    ax.text(0.985, 0.5, right, ha="right", va="center", **text_kw)


def add_scale_bar(ax: Any, color: str, fontsize: float, halo: list[Any]) -> None:
    """A scale bar (lower right, :func:`nice_length` mm of the visible width) labelled in mm."""
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length = nice_length(abs(x1 - x0))
    bar = AnchoredSizeBar(
        ax.transData,
        length,
        f"{length:g} mm",
        "lower right",
        pad=0.3,
        color=color,
        frameon=False,
        size_vertical=abs(y1 - y0) / 150,
        fontproperties={"size": fontsize},
    )
    bar.txt_label._text.set_path_effects(halo)
    ax.add_artist(bar)


def legend_beside(ax: Any, organs: Sequence[str], fontsize: float) -> Any:
    """Legend of ``organs`` outside the axes on the right (two columns past 16 names)."""
    return organ_legend(
        ax,
        organs,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        ncol=1 if len(organs) <= 16 else 2,
        fontsize=fontsize,
    )


def slice_title(ax: Any, title: str | None, phantom: bool, fontsize: float) -> None:
    """Title of a slice panel (PHANTOM tag in front for phantom data); none if neither is asked."""
    if title is not None or phantom:
        ax.set_title(phantom_title(title or "", phantom), fontsize=fontsize)
