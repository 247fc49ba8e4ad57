"""Figures and styled tables for the statistics notebook (matplotlib; each returns its Figure).

Inputs are the DataFrames of :mod:`segrap_nb.analysis.stats` (``volumes``, ``headers``, the output of
``hu_by_structure`` and ``class_fractions``); nothing here reads image data. ``phantom=True``
puts the phantom tag in the title of a figure of phantom numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segrap_nb import labels as L
from segrap_nb.viz._style import (
    BLUE,
    NAME_FONTSIZE,
    ORANGE,
    figure,
    jittered_boxes,
    phantom_title,
    titled,
)

__all__ = [
    "CONTRAST",
    "PLAIN",
    "plot_class_fractions",
    "plot_geometry",
    "plot_hu",
    "plot_presence",
    "plot_volumes",
    "style_side_by_side",
    "titled",
]

#: Colours of the two CTs and of "this dataset" versus "the real release".
PLAIN, CONTRAST = BLUE, ORANGE


def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1) -> tuple[Figure, list]:
    """A figure of the kit (:func:`segrap_nb.viz._style.figure`) with ``nrows`` x ``ncols`` axes."""
    fig = figure(width, height)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, list(axes.ravel())


def plot_volumes(volumes: pd.DataFrame, task: int = 1, seed: int = 0, phantom: bool = False) -> Figure:
    """Volume (cm³, log scale) of each label across the cases where present, largest on top.

    Each case is a dot; a box (quartiles, median) is drawn for labels present in 5 cases or more.
    """
    rows = volumes[(volumes["task"] == task) & (volumes["label"] > 0) & (volumes["voxels"] > 0)]
    order = rows.groupby("label")["cm3"].median().sort_values(ascending=True).index.tolist()
    names = L.label_names(task)
    fig, (ax,) = _figure(7.0, 0.17 * len(order) + 1.1)
    data = [rows.loc[rows["label"] == k, "cm3"].to_numpy() for k in order]
    jittered_boxes(ax, data, range(1, len(order) + 1), seed=seed, dot_size=5, dot_alpha=1.0, box_color="0.4")
    ax.set_yticks(range(1, len(order) + 1), [f"{k} {names[k]}" for k in order], fontsize=NAME_FONTSIZE)
    ax.set_ylim(0.4, len(order) + 0.6)
    ax.set_xscale("log")
    ax.set_xlabel("volume (cm³), cases where the label is present")
    ax.set_title(
        phantom_title(f"Task00{task}: volume per label ({rows['case'].nunique()} cases)", phantom),
        fontsize=10,
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_presence(volumes: pd.DataFrame, task: int = 1, phantom: bool = False) -> Figure:
    """Cases × labels heatmap: dark where the label has at least one voxel."""
    rows = volumes[(volumes["task"] == task) & (volumes["label"] > 0)]
    table = rows.pivot(index="case", columns="label", values="voxels").fillna(0) > 0
    names = L.label_names(task)
    fig, (ax,) = _figure(max(4.0, 0.19 * table.shape[1] + 1.5), 0.16 * len(table) + 2.6)
    ax.imshow(table.to_numpy(), aspect="auto", cmap="Greys", vmin=0, vmax=1.4, interpolation="nearest")
    ax.set_xticks(
        range(table.shape[1]),
        [f"{k} {names.get(int(k), '')}" for k in table.columns],
        rotation=90,
        fontsize=NAME_FONTSIZE,
    )
    step = max(1, len(table) // 30)
    ax.set_yticks(range(0, len(table), step), list(table.index[::step]), fontsize=NAME_FONTSIZE)
    absent = int((~table).to_numpy().sum())
    ax.set_xlabel("label")
    ax.set_title(
        phantom_title(
            f"Task00{task}: label present (dark) per case; {absent} label-case pairs absent", phantom
        ),
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def plot_geometry(
    headers: pd.DataFrame,
    reference: pd.DataFrame | None = None,
    label: str = "this dataset",
    reference_label: str = "real release (120 training cases)",
    phantom: bool = False,
) -> Figure:
    """Histograms (fraction of cases) of in-plane spacing (mm), slice spacing (mm), slice count."""
    fig, axes = _figure(10, 3.1, ncols=3)
    panels = (
        ("spacing_x_mm", "in-plane spacing (mm)"),
        ("spacing_z_mm", "slice spacing (mm)"),
        ("size_z", "slices"),
    )
    for ax, (col, title) in zip(axes, panels):
        sets = [(headers[col].to_numpy(float), label, PLAIN)]
        if reference is not None:
            sets.append((reference[col].to_numpy(float), reference_label, CONTRAST))
        values = np.concatenate([v for v, _, _ in sets])
        lo, hi = float(values.min()), float(values.max())
        bins = np.linspace(lo - 0.05 * (hi - lo or 1), hi + 0.05 * (hi - lo or 1), 31)
        for v, name, colour in sets:  # as fractions, so 8 cases and 120 cases compare
            ax.hist(
                v,
                bins=bins,
                weights=np.full(len(v), 1 / max(1, len(v))),
                alpha=0.6,
                color=colour,
                label=f"{name} (n={len(v)})",
            )
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("fraction of cases")
    axes[0].legend(fontsize=7)
    if phantom:
        fig.suptitle(phantom_title("voxel grids", phantom), fontsize=10)
    fig.tight_layout()
    return fig


def plot_hu(hu: pd.DataFrame, phantom: bool = False) -> Figure:
    """HU per structure: plain beside contrast CT (top), and contrast − plain per voxel (bottom).

    The voxels are those sampled by :func:`segrap_nb.analysis.stats.hu_by_structure`, the same
    ones in both CTs, so the bottom panel is each voxel's enhancement on an axis of its own
    (tens of HU, invisible beside bone's 1000 HU on the top axis). Boxes from 5 voxels on,
    dots below that.
    """
    structures = [s for s in pd.unique(hu["structure"].astype(str))]
    fig, (ax, dax) = _figure(max(6.0, 0.6 * len(structures) + 1.5), 6.0, nrows=2)
    values: dict[str, list[np.ndarray]] = {}
    for offset, (ct, colour) in zip((-0.2, 0.2), (("plain", PLAIN), ("contrast", CONTRAST))):
        data = [hu.loc[(hu["structure"] == s) & (hu["ct"] == ct), "hu"].to_numpy() for s in structures]
        values[ct] = data
        if not any(len(d) for d in data):
            continue
        jittered_boxes(
            ax,
            data,
            [i + offset for i in range(len(structures))],
            horizontal=False,
            width=0.34,
            jitter=0.1,
            dots=False,
            dot_size=10,
            dot_color=colour,
            box_face=colour,
        )
        ax.plot([], [], color=colour, lw=6, label=f"{ct} CT")
    ax.set_ylabel("HU")
    ax.legend(fontsize=8)
    ax.set_title(phantom_title("HU inside each structure (sampled voxels)", phantom), fontsize=10)
    # The same voxels in the same order in both CTs: the difference is per voxel.
    diff = [c - p if len(c) == len(p) else np.zeros(0) for p, c in zip(values["plain"], values["contrast"])]
    jittered_boxes(
        dax,
        diff,
        range(len(structures)),
        horizontal=False,
        width=0.5,
        jitter=0.15,
        dots=False,
        dot_size=10,
        dot_color=CONTRAST,
        box_face=CONTRAST,
    )
    dax.axhline(0, color="0.3", lw=0.8)
    dax.set_ylabel("contrast − plain (HU)")
    dax.set_title("enhancement: contrast minus plain CT, voxel by voxel", fontsize=10)
    for a in (ax, dax):
        a.set_xticks(
            range(len(structures)), structures, rotation=45, ha="right", fontsize=NAME_FONTSIZE + 0.5
        )
        a.set_xlim(-0.6, len(structures) - 0.4)
        a.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_class_fractions(fractions: pd.DataFrame, phantom: bool = False) -> Figure:
    """Share of all voxels per label (log scale), background included: the class imbalance."""
    rows = fractions[fractions["voxels"] > 0].sort_values("fraction", ascending=False)
    fig, (ax,) = _figure(max(4.0, 0.19 * len(rows) + 1.5), 4.6)
    colours = ["0.6" if k == 0 else PLAIN for k in rows["label"]]
    ax.bar(range(len(rows)), rows["fraction"], color=colours)
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), [f"{n}" for n in rows["name"]], rotation=90, fontsize=NAME_FONTSIZE)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_ylabel("fraction of all voxels")
    smallest = rows.iloc[-1]
    ax.set_title(
        phantom_title(
            f"class imbalance: background {rows['fraction'].iloc[0]:.1%} of "
            f"voxels; {smallest['name']} {smallest['fraction']:.1e}",
            phantom,
        ),
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def style_side_by_side(
    table: pd.DataFrame,
    uuid: str = "stats",
    phantom: bool = False,
    title: str = "ours beside the dataset card",
):
    """A pandas Styler of :func:`segrap_nb.analysis.stats.side_by_side`: ours beside the card's numbers,
    cells that differ beyond the card's rounding highlighted; ``title`` is the caption (with the
    phantom tag when ``phantom``)."""
    mismatch = table.attrs.get("mismatch")

    def colour(frame: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame("", index=frame.index, columns=frame.columns)
        if mismatch is not None:
            for col in mismatch.columns:
                out.loc[mismatch[col].to_numpy(), col] = "background-color: #f7c6c5"
        return out

    whole = [c for c in table.columns if str(c).startswith(("cases", "coverage", "size_"))]
    from pandas.io.formats.style import Styler

    # cell_ids=False: only highlighted cells get an id, which keeps the stored HTML small.
    return (
        Styler(table, uuid=uuid, cell_ids=False, caption=phantom_title(title, phantom))
        .apply(colour, axis=None)
        .format(precision=2, na_rep="–")
        .format("{:.0f}", subset=whole, na_rep="–")
        .hide(axis="index")
    )
