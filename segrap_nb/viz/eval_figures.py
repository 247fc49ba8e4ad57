"""Figures of the evaluation notebook: scores per organ, against the published results, against
organ volume, the worst cases, and a toy example of DSC vs NSD vs HD95.

Inputs are the tidy per-case table of :func:`segrap_nb.eval.evaluate.evaluate` (columns ``case``,
``structure``, ``dsc``, ``nsd``, ``hd95`` in mm) and the summary of
:func:`segrap_nb.eval.evaluate.summary_table`. Every figure is a ``matplotlib.figure.Figure`` not
registered with pyplot: a notebook shows it when it is a cell's value (or via ``display``), and
scripts need not close it. The tables they draw are computed in :mod:`segrap_nb.eval.tables`;
``phantom=True`` puts the phantom tag in the title of a figure of phantom results.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segrap_nb import labels as L
from segrap_nb.analysis.published import published_rows
from segrap_nb.eval.metrics import surface_metrics
from segrap_nb.eval.tables import HIGHER_IS_BETTER, Metric, check_metric, difficulty_order, finite
from segrap_nb.viz._style import (
    BLUE,
    FN_COLOR,
    FP_COLOR,
    GREY,
    NAME_FONTSIZE,
    ORANGE,
    TP_COLOR,
    error_legend,
    figure,
    jittered_boxes,
    phantom_title,
    titled,
)

__all__ = [
    "Comparison",
    "boxplot_by_structure",
    "dsc_bars_by_group",
    "fit_title",
    "plot_shift_sweep",
    "plot_toy",
    "published_comparison",
    "titled",
    "volume_vs_dsc",
    "worst_case_figures",
]

#: Colours of the published teams and of our model in the comparison.
PUBLISHED_COLOR, OURS_COLOR = GREY, ORANGE
LABELS = {"dsc": "DSC", "nsd": "NSD", "hd95": "HD95 (mm)"}


def fit_title(ax: Any, text: str, fontsize: float = 9.0) -> None:
    """Set ``text`` as the axes title, wrapped onto more lines where it is wider than the axes
    (a title wider than its figure is cut off by some viewers, or widens the picture)."""
    import textwrap

    width_pt = ax.get_position().width * ax.figure.get_figwidth() * 72
    chars = max(20, int(width_pt / (0.55 * fontsize)))  # average glyph width ~0.55 em
    ax.set_title(textwrap.fill(text, chars), fontsize=fontsize)


# --------------------------------------------------------------------------------------------
# Scores per organ
# --------------------------------------------------------------------------------------------


def boxplot_by_structure(
    per_case: pd.DataFrame,
    metric: Metric = "dsc",
    *,
    order: Sequence[str] | None = None,
    title: str | None = None,
    seed: int = 0,
    phantom: bool = False,
) -> Figure:
    """Box plot of a metric per structure over the cases, hardest structure on top.

    Each case is a dot (jittered vertically); the box spans the quartiles (drawn from 5 cases
    on: fewer are shown as dots only), the black line is the median and the diamond the mean.
    ``order`` (top to bottom) defaults to :func:`segrap_nb.eval.tables.difficulty_order` of
    this metric; pass the DSC order to compare DSC and NSD panels.
    HD95 values that are infinite (one mask empty) are left out of the plot.
    """
    metric = check_metric(metric)
    names = list(order) if order is not None else difficulty_order(per_case, metric)
    fig = figure(6.0, 0.16 * len(names) + 1.1)
    ax = fig.add_subplot()
    data = []
    for name in names:
        v = finite(per_case.loc[per_case["structure"] == name, metric].astype(float)).dropna()
        data.append(v.to_numpy())
    ypos = [float(y) for y in range(len(names), 0, -1)]  # the first name at the top
    jittered_boxes(ax, data, ypos, seed=seed, jitter=0.18)
    for d, y in zip(data, ypos):
        if len(d):
            ax.scatter([d.mean()], [y], marker="D", s=14, color=OURS_COLOR, zorder=4)
    ax.set_yticks(ypos, names, fontsize=NAME_FONTSIZE)
    ax.set_ylim(0.3, len(names) + 0.7)
    if metric != "hd95":
        ax.set_xlim(-0.03, 1.03)
    ax.set_xlabel(
        LABELS[metric] + ("  (higher is better)" if HIGHER_IS_BETTER[metric] else "  (lower is better)")
    )
    n_cases = per_case["case"].nunique()
    fit_title(
        ax,
        phantom_title(
            title or f"{LABELS[metric]} per structure over {n_cases} case(s), hardest on top", phantom
        ),
    )
    ax.grid(axis="x", alpha=0.3)
    ax.scatter([], [], s=9, color=BLUE, label="one case")
    ax.scatter([], [], marker="D", s=14, color=OURS_COLOR, label="mean")
    # The easy organs sit at the bottom, near the best value: the other bottom corner is free.
    ax.legend(fontsize=7, loc="lower left" if HIGHER_IS_BETTER[metric] else "lower right")
    fig.tight_layout()
    return fig


def dsc_bars_by_group(
    scores: pd.Series,
    groups: dict[str, tuple[str, ...]],
    *,
    ylabel: str = "validation DSC",
    title: str = "DSC per structure",
    phantom: bool = False,
) -> Figure:
    """Bar per structure (``scores``: name -> DSC 0..1, drawn in the given order), coloured by its
    score group in ``groups`` (the colours of :data:`segrap_nb.viz.colors.SCORE_GROUP_COLORS`,
    the same as the training curves), with a legend of the groups shown."""
    from matplotlib.patches import Patch

    from segrap_nb.viz.colors import SCORE_GROUP_COLORS, score_group_of

    of = {name: score_group_of(str(name), groups) for name in scores.index}
    fig = figure(13.0, 3.6)
    ax = fig.add_subplot()
    ax.bar(
        [str(n) for n in scores.index],
        scores.to_numpy(float),
        color=[SCORE_GROUP_COLORS.get(of[n] or "all", SCORE_GROUP_COLORS["all"]) for n in scores.index],
    )
    shown = [g for g in SCORE_GROUP_COLORS if g in of.values()]
    ax.legend(
        handles=[Patch(color=SCORE_GROUP_COLORS[g], label=g) for g in shown],
        fontsize=7.5,
        loc="upper left",
        ncol=len(shown),
        frameon=False,
    )
    ax.set(ylabel=ylabel, ylim=(0, 1.12))
    fit_title(ax, phantom_title(title, phantom))
    ax.tick_params(axis="x", rotation=90, labelsize=NAME_FONTSIZE)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Against the published results
# --------------------------------------------------------------------------------------------


class Comparison(NamedTuple):
    """Published vs our mean DSC (%): the table and its bar chart."""

    table: pd.DataFrame
    figure: Figure


def _ours_dsc_percent(summary: pd.DataFrame) -> dict[str, float]:
    """Our mean DSC (%) under the published column names, from a summary table."""
    rows = summary.set_index("structure")["dsc_mean"]
    ours: dict[str, float] = {}
    task1 = [s for s in rows.index if str(s).startswith("mean of 45")]
    if task1:
        ours["Task 1 (45 OARs)"] = 100.0 * float(rows[task1[0]])
    for gtv in L.GTV_NAMES:
        if gtv in rows.index:
            ours[gtv] = 100.0 * float(rows[gtv])
    if not ours:
        raise ValueError(
            "summary has neither the 'mean of 45 OARs' row nor a GTV row: "
            "pass the output of segrap_nb.eval.evaluate.summary_table"
        )
    return ours


def published_comparison(
    summary: pd.DataFrame,
    *,
    ours: str = "ours",
    evaluated_on: str = "phantom held-out cases",
    phantom: bool = False,
) -> Comparison:
    """Mean DSC (%) of the published nnU-Net baseline and winners beside ours, and a bar chart.

    ``summary`` is :func:`segrap_nb.eval.evaluate.summary_table`'s output (Task 1: its "mean of 45
    OARs" row; Task 2: the GTVp and GTVnd rows). The published numbers are the SegRap 2023
    *test set* results with a value in every column shown
    (:func:`segrap_nb.analysis.published.published_rows`: the baseline, the task winners, and the
    column bests with the teams that hold them where no one team does); ``evaluated_on`` says what
    ours were measured on, and both appear in the table and the figure.
    """
    mine = _ours_dsc_percent(summary)
    cols = list(mine)
    table = published_rows(cols)
    n_published = len(table)
    table.loc[ours] = [mine[c] for c in cols]
    table = table.round(2)
    table.insert(0, "evaluated on", ["SegRap 2023 test set (published)"] * n_published + [evaluated_on])
    table.index.name = "mean DSC (%)"

    fig = figure(max(4.8, 2.0 + 1.6 * len(cols)), 3.2)
    ax = fig.add_subplot()
    rows = list(table.index)
    width = 0.8 / len(rows)
    for r, row in enumerate(rows):
        is_ours = r == len(rows) - 1
        x = np.arange(len(cols)) + (r - (len(rows) - 1) / 2) * width
        values = table.loc[row, cols].to_numpy(float)
        bars = ax.bar(
            x,
            values,
            width * 0.92,
            label=f"{row} ({table.loc[row, 'evaluated on']})",
            color=OURS_COLOR if is_ours else PUBLISHED_COLOR,
            alpha=1.0 if is_ours else 0.4 + 0.5 * r / max(1, len(rows) - 2),
            hatch="//" if is_ours else None,
            edgecolor="white" if is_ours else None,
        )
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(np.arange(len(cols)), cols, fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("mean DSC (%)")
    ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1, frameon=False)
    fit_title(ax, phantom_title("published (real test set) vs ours: not the same data", phantom))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return Comparison(table, fig)


# --------------------------------------------------------------------------------------------
# Against organ volume
# --------------------------------------------------------------------------------------------


def volume_vs_dsc(
    per_case: pd.DataFrame,
    volumes: pd.DataFrame,
    *,
    metric: Metric = "dsc",
    annotate: int = 8,
    phantom: bool = False,
) -> Figure:
    """Scatter of a metric against the ground-truth volume (cm³, log x) per case and structure.

    ``volumes`` is :func:`segrap_nb.eval.tables.gt_volumes`' table (case, structure, cm3).
    Structures absent from the ground truth (volume 0) cannot sit on a log axis and are left
    out (their count is shown).
    Diamonds are each structure's mean; ``annotate`` of them, spread evenly from the smallest to
    the largest, are named. The title gives Spearman's rank correlation of volume and score.
    """
    metric = check_metric(metric)
    df = per_case.merge(
        volumes[["case", "structure", "cm3"]], on=["case", "structure"], how="inner", validate="one_to_one"
    )
    absent = int((df["cm3"] <= 0).sum())
    df = df[df["cm3"] > 0].assign(v=finite(df[metric].astype(float))).dropna(subset=["v"])
    fig = figure(6.5, 4.0)
    ax = fig.add_subplot()
    ax.scatter(
        df["cm3"], df["v"], s=12, color=BLUE, alpha=0.6, linewidths=0, label="one structure in one case"
    )
    means = df.groupby("structure").agg(cm3=("cm3", "mean"), v=("v", "mean"))
    ax.scatter(
        means["cm3"], means["v"], s=26, marker="D", color=OURS_COLOR, linewidths=0, label="structure mean"
    )
    by_size = means.sort_values("cm3")
    if annotate > 0 and len(by_size):
        # Structures spread evenly over the volume range: readable labels even when many
        # structures share one score (a quick model scores 0 on most small organs).
        picks = np.unique(np.linspace(0, len(by_size) - 1, min(annotate, len(by_size))).round())
        for n, i in enumerate(picks.astype(int)):
            name, row = by_size.index[i], by_size.iloc[i]
            # Alternate above and below the marker: neighbours on the x axis do not collide.
            ax.annotate(
                name,
                (row["cm3"], row["v"]),
                fontsize=6.5,
                xytext=(3, 4 if n % 2 == 0 else -10),
                textcoords="offset points",
            )
    ax.set_xscale("log")
    ax.set_xlabel("ground-truth volume (cm³, log scale)")
    ax.set_ylabel(LABELS[metric])
    if metric != "hd95":
        ax.set_ylim(-0.03, 1.05)
    rho = df["cm3"].corr(df["v"], method="spearman") if len(df) > 2 else math.nan
    note = f"; {absent} absent from the ground truth left out" if absent else ""
    fit_title(
        ax,
        phantom_title(
            f"{LABELS[metric]} vs organ volume: Spearman ρ = {rho:.2f} ({len(df)} points{note})", phantom
        ),
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right" if HIGHER_IS_BETTER[metric] else "upper right")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Worst cases
# --------------------------------------------------------------------------------------------


def worst_case_figures(
    worst: pd.DataFrame,
    pred_root: str | os.PathLike,
    gt_root: str | os.PathLike,
    task: int = 1,
    **kwargs: Any,
) -> list[Figure]:
    """Prediction vs ground truth on the CT for each row of ``worst`` (case, structure).

    One :func:`segrap_nb.viz.slices.plot_prediction_vs_truth` figure per row (false positives
    magenta, false negatives blue, on the slice with the most errors); ``kwargs`` go to it
    (``phantom=True`` tags the titles). Each case's CT and maps are read once.
    """
    from segrap_nb.io.dataset import SegRapDataset
    from segrap_nb.viz.slices import plot_prediction_vs_truth

    pred_ds = SegRapDataset(pred_root, flat_task=task)
    gt_ds = SegRapDataset(gt_root)
    figures = []
    loaded: dict[str, tuple] = {}
    for row in worst.itertuples(index=False):
        if row.case not in loaded:
            gt_case = gt_ds[row.case]
            loaded = {
                row.case: (gt_case.image(), pred_ds[row.case].onehot_map(task), gt_case.onehot_map(task))
            }
        image, pred, gt = loaded[row.case]
        title = f"{row.case} · {row.structure}: DSC {row.dsc:.3f}, NSD {row.nsd:.3f}, HD95 {row.hd95:.1f} mm"
        figures.append(
            plot_prediction_vs_truth(image, pred, gt, row.structure, task=task, title=title, **kwargs)
        )
    return figures


# --------------------------------------------------------------------------------------------
# Toy example: how a shift affects DSC, NSD and HD95
# --------------------------------------------------------------------------------------------


#: Line styles of the balls of a shift sweep, first to last: where two balls score the same, the
#: large hollow marker of one still rings the small filled marker of the other.
_SWEEP_STYLES = (
    {"ls": "-", "marker": "o", "ms": 9, "mfc": "none", "mew": 1.6, "lw": 2.2, "color": BLUE},
    {"ls": "--", "marker": "s", "ms": 4, "lw": 1.2, "color": ORANGE},
    {"ls": ":", "marker": "^", "ms": 4, "lw": 1.2, "color": GREY},
)


def plot_shift_sweep(table: pd.DataFrame, tolerance_mm: float | None = None) -> Figure:
    """DSC, NSD and HD95 against the shift (mm), one line per ball (``tables.shift_sweep``).

    Balls often score the same (NSD 1 within the tolerance, the same HD95): each ball has its
    own line style and marker, so a line hidden under another still shows.
    """
    fig = figure(10.0, 3.2)
    axes = fig.subplots(1, 3)
    groups = list(table.groupby(["radius_mm", "volume_cm3"], sort=True))
    for n, ((r, vol), group) in enumerate(groups):
        g = group.sort_values("shift_mm")
        style = _SWEEP_STYLES[n % len(_SWEEP_STYLES)]
        for ax, m in zip(axes, ("dsc", "nsd", "hd95")):
            ax.plot(g["shift_mm"], g[m], label=f"radius {r:g} mm ({vol:.2f} cm³)", zorder=3 + n, **style)
    for ax, m in zip(axes, ("dsc", "nsd", "hd95")):
        ax.set_xlabel("shift (mm)")
        ax.set_title(
            LABELS[m] + (f" at {tolerance_mm:g} mm" if m == "nsd" and tolerance_mm else ""), fontsize=9
        )
        ax.grid(alpha=0.3)
        if m != "hd95":
            ax.set_ylim(-0.03, 1.08)
    if tolerance_mm:
        axes[1].axvline(tolerance_mm, color="0.5", ls="--", lw=0.8)
        axes[2].axhline(tolerance_mm, color="0.5", ls="--", lw=0.8)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def plot_toy(
    pred: np.ndarray,
    truth: np.ndarray,
    spacing_mm: tuple[float, float, float],
    tolerance_mm: float = 1.0,
    axis: int = 2,
    title: str = "",
) -> Figure:
    """The central slice of a toy pair: both (green), false positive (magenta), false negative
    (blue); the title gives DSC, NSD at ``tolerance_mm`` and HD95 of the whole 3D masks."""
    score = surface_metrics(pred, truth, spacing_mm, tolerance_mm)
    union = np.nonzero(np.any(pred | truth, axis=tuple(a for a in range(3) if a != axis)))[0]
    k = int((union.min() + union.max()) // 2) if len(union) else truth.shape[axis] // 2
    p, t = np.take(pred, k, axis=axis), np.take(truth, k, axis=axis)
    rgb = np.ones(p.shape + (3,))
    rgb[p & t], rgb[p & ~t], rgb[~p & t] = TP_COLOR, FP_COLOR, FN_COLOR
    rows, cols = [s for a, s in enumerate(spacing_mm) if a != axis]
    fig = figure(3.6, 3.6)
    ax = fig.add_subplot()
    ax.imshow(rgb, interpolation="nearest", extent=(0, p.shape[1] * cols, p.shape[0] * rows, 0))
    ax.set_xlabel("mm")
    error_legend(ax, fontsize=6)
    ax.set_title(
        (title + "\n" if title else "") + f"DSC {score.dsc:.3f}  NSD@{tolerance_mm:g}mm {score.nsd:.3f}  "
        f"HD95 {score.hd95:.2f} mm",
        fontsize=8,
    )
    fig.tight_layout()
    return fig
