"""Drawing helpers shared by the viz modules: resolution, palette, box plots, legends, titles.

Private to :mod:`segrap_nb.viz`: one place for what every figure of the kit has in common, so
the statistics, evaluation and slice figures cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

#: Resolution (dots per inch) of every figure of the kit.
DPI = 100
#: The kit's two data colours (plain CT, "this dataset", one case) and the highlight colour
#: (contrast CT, the reference data, our model); grey for published teams.
BLUE, ORANGE, GREY = "#4c72b0", "#dd8452", "#8c8c8c"
#: Colours (RGB 0..1) of a prediction compared with the truth: agreement, false positive,
#: false negative.
TP_COLOR = (0.0, 0.75, 0.0)
FP_COLOR = (1.0, 0.1, 0.6)
FN_COLOR = (0.1, 0.55, 1.0)
#: Colour of the side letters, slice index and scale bar drawn over a CT slice.
ANNOTATION_COLOR = "#ffff66"
#: Fewer values than this in a group: its dots are drawn without a box (quartiles of 3 values
#: are not a distribution).
MIN_BOX = 5
#: Font size of tick labels that name organs (readable at 100 dpi).
NAME_FONTSIZE = 7.5

# Matplotlib 3.10 renamed boxplot's ``vert=False`` to ``orientation="horizontal"``.
HORIZONTAL: dict[str, Any] = (
    {"orientation": "horizontal"}
    if tuple(int(p) for p in matplotlib.__version__.split(".")[:2]) >= (3, 10)
    else {"vert": False}
)

PHANTOM_TAG = "PHANTOM (synthetic data)"


def phantom_title(title: str, phantom: bool) -> str:
    """``title`` with the phantom tag in front when the numbers come from the phantom."""
    if not phantom or title.startswith(PHANTOM_TAG):
        return title
    return f"{PHANTOM_TAG} · {title}" if title else PHANTOM_TAG


class StaticFigure(Figure):
    """A matplotlib Figure that IPython shows as a PNG even where pyplot was never imported."""

    def _repr_png_(self) -> bytes:
        """The figure as PNG bytes (tight box, its own background), for IPython's display."""
        import io

        buf = io.BytesIO()
        self.savefig(buf, format="png", bbox_inches="tight", facecolor=self.get_facecolor())
        return buf.getvalue()


def figure(width: float, height: float, facecolor: str = "white", *, dpi: float = DPI) -> Figure:
    """The one way the kit makes a figure: ``width`` x ``height`` inches at ``dpi`` (default
    :data:`DPI`), shown as a PNG by IPython, not registered with pyplot (nothing to close)."""
    return StaticFigure(figsize=(width, height), dpi=dpi, facecolor=facecolor)


def error_legend(ax: Any, **kwargs: Any) -> Any:
    """Legend of the comparison colours: both (green), false positive, false negative."""
    from matplotlib.patches import Patch

    kwargs.setdefault("fontsize", 7)
    kwargs.setdefault("loc", "lower right")
    kwargs.setdefault("framealpha", 0.7)
    return ax.legend(
        handles=[
            Patch(color=TP_COLOR, label="both"),
            Patch(color=FP_COLOR, label="false positive"),
            Patch(color=FN_COLOR, label="false negative"),
        ],
        **kwargs,
    )


def organ_legend(target: Any, organs: Iterable[str], **kwargs: Any) -> Any:
    """Legend (colour swatch + name, the kit's fixed colours) of ``organs`` on an axes or figure."""
    from segrap_nb.viz.colors import legend_handles

    handles = legend_handles(list(organs))
    kwargs.setdefault("fontsize", 7)
    kwargs.setdefault("frameon", False)
    kwargs.setdefault("handlelength", 1.0)
    kwargs.setdefault("handleheight", 1.0)
    return target.legend(handles=handles, **kwargs)


def jittered_boxes(
    ax: Any,
    data: Sequence[np.ndarray],
    positions: Sequence[float],
    *,
    horizontal: bool = True,
    seed: int = 0,
    jitter: float = 0.2,
    width: float = 0.6,
    dots: bool = True,
    dot_size: float = 9.0,
    dot_color: str = BLUE,
    dot_alpha: float = 0.8,
    box_color: str = "0.45",
    box_face: str | None = None,
) -> None:
    """Box plots of the groups that have at least :data:`MIN_BOX` values, and every value as a dot.

    Dots are jittered across the category axis (seeded: the same picture every run); a group
    with fewer than :data:`MIN_BOX` values is shown by its dots alone (always drawn then, even
    with ``dots=False``). Empty groups draw nothing.
    """
    boxed = [(d, p) for d, p in zip(data, positions) if len(d) >= MIN_BOX]
    if boxed:
        props = {"color": box_color}
        box_kw: dict[str, Any] = dict(
            positions=[p for _, p in boxed],
            widths=width,
            showfliers=False,
            medianprops={"color": "black"},
            whiskerprops=props,
            capprops=props,
            boxprops=dict(props) if box_face is None else {"facecolor": box_face, "alpha": 0.7},
            patch_artist=box_face is not None,
        )
        if horizontal:
            box_kw.update(HORIZONTAL)
        ax.boxplot([d for d, _ in boxed], **box_kw)
    rng = np.random.default_rng(seed)
    for d, p in zip(data, positions):
        if not len(d) or not (dots or len(d) < MIN_BOX):
            continue
        offsets = p + rng.uniform(-jitter, jitter, len(d))
        xy = (d, offsets) if horizontal else (offsets, d)
        ax.scatter(*xy, s=dot_size, color=dot_color, linewidths=0, zorder=3, alpha=dot_alpha)


def titled(table: Any, title: str, *, phantom: bool = False, precision: int = 3) -> Any:
    """A pandas Styler of ``table`` with ``title`` as its caption (phantom tag in front when the
    numbers come from the phantom), floats shown with ``precision`` decimals."""
    import hashlib

    from pandas.io.formats.style import Styler

    # A uuid from the title (not random) and no cell ids: stored outputs stay the same per run.
    uuid = "t" + hashlib.sha1(title.encode()).hexdigest()[:8]
    return (
        Styler(table, uuid=uuid, cell_ids=False, precision=precision)
        .set_caption(phantom_title(title, phantom))
        .set_table_styles(
            [{"selector": "caption", "props": "caption-side: top; font-weight: bold; text-align: left"}]
        )
    )
