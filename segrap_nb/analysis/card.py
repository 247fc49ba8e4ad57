"""The dataset card's tables from a statistics run, and each number beside the published one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segrap_nb import labels as L
from segrap_nb.analysis import published
from segrap_nb.reference_data import train_geometry

#: Columns of the per-case geometry table (sizes in voxels, spacing in mm, NIfTI (i, j, k) order).
HEADER_COLUMNS = [
    "case",
    "source",
    "size_x",
    "size_y",
    "size_z",
    "spacing_x_mm",
    "spacing_y_mm",
    "spacing_z_mm",
]
#: Columns of the resolution table, as in :func:`segrap_nb.analysis.published.card_resolution`.
RESOLUTION_COLUMNS = ["spacing_x_mm", "spacing_y_mm", "spacing_z_mm", "size_x", "size_y", "size_z"]
#: Columns of the per-case, per-label volume table (label 0 = background).
VOLUME_COLUMNS = ["case", "task", "label", "name", "voxels", "cm3"]
#: Columns of the Task001 and Task002 label tables.
LABEL_COLUMNS = ["label", "name", "cases", "coverage", "min_cm3", "mean_cm3", "max_cm3"]
#: Our label-table column -> the card's column (segrap_nb.analysis.published).
CARD_COLUMNS = {
    "cases": "cases",
    "coverage": "coverage_pct",
    "min_cm3": "volume_cm3",
    "mean_cm3": "mean_cm3",
    "max_cm3": "max_cm3",
}


# -- tables ----------------------------------------------------------------------------------
def resolution_table(headers: pd.DataFrame) -> pd.DataFrame:
    """Min/median/max of spacing (mm) and size (voxels) per axis, as the card's table."""
    table = headers[RESOLUTION_COLUMNS].astype(float).agg(["min", "median", "max"])
    table.index.name = "statistic"
    for col in ("size_x", "size_y", "size_z"):
        values = table[col]
        if values.notna().all() and (values == values.round()).all():
            table[col] = values.astype(int)
    return table


def label_table(volumes: pd.DataFrame, task: int = 1) -> pd.DataFrame:
    """Per label: cases where present, coverage (%), min/mean/max cm³ over those cases."""
    names = L.label_names(task)
    rows = volumes[volumes["task"] == task]
    n_cases = rows["case"].nunique()
    present = rows[(rows["label"] > 0) & (rows["voxels"] > 0)]
    by_label = present.groupby("label")["cm3"]
    out = pd.DataFrame({"label": list(names), "name": list(names.values())})
    out["cases"] = out["label"].map(by_label.size()).fillna(0).astype(int)
    out["coverage"] = 100.0 * out["cases"] / n_cases if n_cases else np.nan
    out["min_cm3"] = out["label"].map(by_label.min())
    out["mean_cm3"] = out["label"].map(by_label.mean())
    out["max_cm3"] = out["label"].map(by_label.max())
    return out[LABEL_COLUMNS]


def empty_structures(volumes: pd.DataFrame) -> pd.DataFrame:
    """(case, task, structure) of every structure whose one-hot labels hold no voxel in a case."""
    rows = []
    for (case, task), part in volumes.groupby(["case", "task"], sort=True):
        voxels = dict(zip(part["label"], part["voxels"]))
        for name in L.structures(int(task)):
            if not any(voxels.get(lab, 0) for lab in L.labels_of(name, int(task))):
                rows.append((case, int(task), name))
    return pd.DataFrame(rows, columns=["case", "task", "structure"])


def class_fractions(volumes: pd.DataFrame, task: int = 1) -> pd.DataFrame:
    """Per label (0 = background): voxels summed over cases and their fraction of all voxels."""
    rows = volumes[volumes["task"] == task]
    total = rows.groupby(["label", "name"], as_index=False)["voxels"].sum()
    all_voxels = total["voxels"].sum()
    total["fraction"] = total["voxels"] / all_voxels if all_voxels else np.nan
    foreground = total.loc[total["label"] > 0, "voxels"].sum()
    total["fraction_of_foreground"] = np.where(
        total["label"] > 0, total["voxels"] / foreground if foreground else np.nan, np.nan
    )
    return total.sort_values("label").reset_index(drop=True)


def release_geometry() -> pd.DataFrame:
    """The 120 training cases' geometry from the official nnU-Net record, as a header table."""
    out = train_geometry()
    out.insert(1, "source", "nnU-Net baseline record (z, y, x)")
    return out[HEADER_COLUMNS]


def card_decimals(table: str, quantity: str, published_value: float) -> int:
    """Decimals the card shows for a number: 2 (resolution, cm³), 0 (cases, coverage %).

    The GTV table is rounded less regularly ("30", "3.73"): the decimals shown are used.
    """
    if quantity in ("cases", "coverage"):
        return 0
    if table == "gtv":
        text = repr(float(published_value))
        return 0 if text.endswith(".0") else len(text.split(".")[1])
    return 2


def compare_with_card(resolution: pd.DataFrame, labels: pd.DataFrame, gtv: pd.DataFrame) -> pd.DataFrame:
    """Every card number beside ours: difference, and ``match`` within the card's rounding."""
    rows: list[dict[str, Any]] = []
    card_res = published.card_resolution()
    for stat in card_res.index:
        for col in RESOLUTION_COLUMNS:
            ours = resolution.loc[stat, col] if stat in resolution.index else np.nan
            rows.append(
                {
                    "table": "resolution",
                    "label": pd.NA,
                    "name": stat,
                    "quantity": col,
                    "computed": ours,
                    "published": card_res.loc[stat, col],
                }
            )
    for table, ours_df, card in (
        ("labels", labels, published.card_labels()),
        ("gtv", gtv, published.card_gtv()),
    ):
        ours_by_label = ours_df.set_index("label")
        for _, card_row in card.iterrows():
            label = int(card_row["label"])
            for ours_col, card_col in CARD_COLUMNS.items():
                ours = ours_by_label.loc[label, ours_col] if label in ours_by_label.index else np.nan
                rows.append(
                    {
                        "table": table,
                        "label": label,
                        "name": card_row["name"],
                        "quantity": ours_col,
                        "computed": ours,
                        "published": card_row[card_col],
                    }
                )
    out = pd.DataFrame(rows)
    out["label"] = out["label"].astype("Int64")
    out["computed"] = out["computed"].astype(float)
    out["published"] = out["published"].astype(float)
    out["difference"] = out["computed"] - out["published"]
    tol = [
        0.5 * 10.0 ** -card_decimals(t, q, p) + 1e-9
        for t, q, p in zip(out["table"], out["quantity"], out["published"])
    ]
    out["match"] = out["difference"].abs() <= np.asarray(tol)
    return out


def side_by_side(comparison: pd.DataFrame, table: str = "labels") -> pd.DataFrame:
    """One table of :func:`compare_with_card` in wide form: each quantity beside ``<q> (card)``.

    ``table`` is "resolution", "labels" or "gtv". ``attrs["mismatch"]`` holds, per quantity,
    whether our number differs from the card's beyond its rounding (row for row).
    """
    rows = comparison[comparison["table"] == table]
    keys = ["name"] if table == "resolution" else ["label", "name"]
    quantities = list(dict.fromkeys(rows["quantity"]))
    order = list(dict.fromkeys(zip(*[rows[k] for k in keys])))
    wide = {
        v: rows.pivot(index=keys, columns="quantity", values=v) for v in ("computed", "published", "match")
    }
    index = (
        pd.Index([o[0] for o in order], name="name")
        if len(keys) == 1
        else pd.MultiIndex.from_tuples(order, names=keys)
    )
    out = pd.DataFrame(index=index)
    for q in quantities:
        out[q] = wide["computed"][q].reindex(index).astype(float)
        out[f"{q} (card)"] = wide["published"][q].reindex(index).astype(float)
    out = out.reset_index()
    out.attrs["mismatch"] = pd.DataFrame(
        {q: ~wide["match"][q].reindex(index).astype(bool).to_numpy() for q in quantities}
    )
    return out
