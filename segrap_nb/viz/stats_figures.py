"""Figures and styled tables for the statistics notebook (matplotlib; each returns its Figure).

Inputs are the DataFrames of :mod:`segrap_nb.analysis.stats` (``volumes``, ``headers``, the output of
``hu_by_structure`` and ``class_fractions``); nothing here reads image data.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segrap_nb import labels as L

#: Colours of the two CTs and of "this dataset" versus "the real release".
PLAIN, CONTRAST = "#4c72b0", "#dd8452"


# Matplotlib 3.10 renamed boxplot's ``vert=False`` to ``orientation="horizontal"``.
_HORIZONTAL = (
    {"orientation": "horizontal"}
    if tuple(int(p) for p in matplotlib.__version__.split(".")[:2]) >= (3, 10)
    else {"vert": False}
)


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list]:
    """A pyplot Figure at 72 dpi (a notebook shows it inline; close it when done in scripts)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width, height), dpi=72, squeeze=False)
    return fig, list(axes[0])


def plot_volumes(volumes: pd.DataFrame, task: int = 1, seed: int = 0) -> Figure:
    """Volume (cm³, log scale) of each label across the cases where present, largest on top."""
    rows = volumes[(volumes["task"] == task) & (volumes["label"] > 0) & (volumes["voxels"] > 0)]
    order = rows.groupby("label")["cm3"].median().sort_values(ascending=True).index.tolist()
    names = L.label_names(task)
    fig, (ax,) = _figure(6.5, 0.13 * len(order) + 1.0)
    data = [rows.loc[rows["label"] == k, "cm3"].to_numpy() for k in order]
    ax.boxplot(data, widths=0.6, showfliers=False, medianprops={"color": "black"},
               boxprops={"color": "0.4"}, **_HORIZONTAL)
    rng = np.random.default_rng(seed)
    for y, values in enumerate(data, start=1):
        ax.scatter(values, y + rng.uniform(-0.2, 0.2, len(values)), s=3, color=PLAIN,
                   linewidths=0, zorder=3)
    ax.set_yticks(range(1, len(order) + 1), [f"{k} {names[k]}" for k in order], fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("volume (cm³), cases where the label is present")
    ax.set_title(f"Task00{task}: volume per label ({rows['case'].nunique()} cases)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_presence(volumes: pd.DataFrame, task: int = 1) -> Figure:
    """Cases × labels heatmap: dark where the label has at least one voxel."""
    rows = volumes[(volumes["task"] == task) & (volumes["label"] > 0)]
    table = rows.pivot(index="case", columns="label", values="voxels").fillna(0) > 0
    fig, (ax,) = _figure(9, 0.12 * len(table) + 1.6)
    ax.imshow(table.to_numpy(), aspect="auto", cmap="Greys", vmin=0, vmax=1.4,
              interpolation="nearest")
    ax.set_xticks(range(table.shape[1]), [str(k) for k in table.columns], fontsize=5)
    step = max(1, len(table) // 30)
    ax.set_yticks(range(0, len(table), step), list(table.index[::step]), fontsize=6)
    absent = int((~table).to_numpy().sum())
    ax.set_xlabel("label id")
    ax.set_title(f"Task00{task}: label present (dark) per case; {absent} label-case pairs absent")
    fig.tight_layout()
    return fig


def plot_geometry(headers: pd.DataFrame, reference: pd.DataFrame | None = None,
                  label: str = "this dataset",
                  reference_label: str = "real release (120 training cases)") -> Figure:
    """Histograms (fraction of cases) of in-plane spacing (mm), slice spacing (mm), slice count."""
    fig, axes = _figure(10, 2.8, ncols=3)
    panels = (("spacing_x_mm", "in-plane spacing (mm)"), ("spacing_z_mm", "slice spacing (mm)"),
              ("size_z", "slices"))
    for ax, (col, title) in zip(axes, panels):
        sets = [(headers[col].to_numpy(float), label, PLAIN)]
        if reference is not None:
            sets.append((reference[col].to_numpy(float), reference_label, CONTRAST))
        values = np.concatenate([v for v, _, _ in sets])
        lo, hi = float(values.min()), float(values.max())
        bins = np.linspace(lo - 0.05 * (hi - lo or 1), hi + 0.05 * (hi - lo or 1), 31)
        for v, name, colour in sets:  # as fractions, so 8 cases and 120 cases compare
            ax.hist(v, bins=bins, weights=np.full(len(v), 1 / max(1, len(v))), alpha=0.6,
                    color=colour, label=f"{name} (n={len(v)})")
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("fraction of cases")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_hu(hu: pd.DataFrame) -> Figure:
    """Box plots of HU per structure, plain CT beside contrast CT (sampled voxels)."""
    structures = [s for s in pd.unique(hu["structure"].astype(str))]
    fig, (ax,) = _figure(max(6.0, 0.55 * len(structures) + 1.5), 3.6)
    for offset, (ct, colour) in zip((-0.18, 0.18), (("plain", PLAIN), ("contrast", CONTRAST))):
        data = [hu.loc[(hu["structure"] == s) & (hu["ct"] == ct), "hu"].to_numpy()
                for s in structures]
        pos = [i + offset for i, d in enumerate(data) if len(d)]
        data = [d for d in data if len(d)]
        if not data:
            continue
        ax.boxplot(data, positions=pos, widths=0.32, showfliers=False, patch_artist=True,
                   boxprops={"facecolor": colour, "alpha": 0.7}, medianprops={"color": "black"})
        ax.plot([], [], color=colour, lw=6, label=f"{ct} CT")
    ax.set_xticks(range(len(structures)), structures, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("HU")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("HU inside each structure (sampled voxels)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_class_fractions(fractions: pd.DataFrame) -> Figure:
    """Share of all voxels per label (log scale), background included: the class imbalance."""
    rows = fractions[fractions["voxels"] > 0].sort_values("fraction", ascending=False)
    fig, (ax,) = _figure(9, 3.0)
    colours = ["0.6" if k == 0 else PLAIN for k in rows["label"]]
    ax.bar(range(len(rows)), rows["fraction"], color=colours)
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), [f"{n}" for n in rows["name"]], rotation=90, fontsize=5)
    ax.set_ylabel("fraction of all voxels")
    smallest = rows.iloc[-1]
    ax.set_title(f"class imbalance: background {rows['fraction'].iloc[0]:.1%} of voxels; "
                 f"{smallest['name']} {smallest['fraction']:.1e}", fontsize=10)
    fig.tight_layout()
    return fig


def style_side_by_side(table: pd.DataFrame, uuid: str = "stats"):
    """A pandas Styler of :func:`segrap_nb.analysis.stats.side_by_side`: ours beside the card's numbers,
    cells that differ beyond the card's rounding highlighted."""
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
    return (Styler(table, uuid=uuid, cell_ids=False).apply(colour, axis=None)
            .format(precision=2, na_rep="–")
            .format("{:.0f}", subset=whole, na_rep="–").hide(axis="index"))
