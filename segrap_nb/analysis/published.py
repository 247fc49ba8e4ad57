"""The statistics published in the SegRap 2023 dataset card, as tables to compare against.

Three tables (``data/card_*.csv``, transcribed from the card): the resolution summary
(min/median/max spacing in mm and size in voxels, (x, y, z) order), the 54-row Task 1 label
table (cases where present, coverage %, the card's "Volume", "Average Volume" and "Maximum
Volume" columns in cm³) and the Task 2 GTV table. Names are given in the card's spelling
(``card_name``) and in the kit's (``name``, via :func:`segrap_nb.labels.canonical_name`).
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from segrap_nb.labels import ONEHOT_LABELS, canonical_name

#: Published test-set results (mean DSC %) from the challenge paper.
PUBLISHED_DSC = pd.DataFrame(
    {"Task 1 (45 OARs)": [84.65, 86.70], "GTVp": [75.80, 78.76], "GTVnd": [66.83, 69.28]},
    index=["nnU-Net baseline", "best team"],
)


def _read(name: str) -> pd.DataFrame:
    with resources.files("segrap_nb").joinpath(f"data/{name}").open() as fh:
        return pd.read_csv(fh)


def card_labels() -> pd.DataFrame:
    """The card's Task 1 table: label, name, card_name, cases, coverage_pct, *_cm3 columns."""
    df = _read("card_labels.csv")
    df["name"] = [canonical_name(n) for n in df["card_name"]]
    if list(df["name"]) != [ONEHOT_LABELS[k] for k in df["label"]]:
        raise AssertionError("card label table does not match the label ids")  # data integrity
    cols = ["label", "name", "card_name", "cases", "coverage_pct"]
    return df[cols + ["volume_cm3", "mean_cm3", "max_cm3"]]


def card_gtv() -> pd.DataFrame:
    """The card's Task 2 table: one row per GTV (GTVp, GTVnd) with the same columns."""
    df = _read("card_gtv.csv")
    df.insert(0, "label", [1, 2])
    df.insert(1, "name", df.pop("structure"))
    return df


def card_resolution() -> pd.DataFrame:
    """The card's resolution table: min/median/max spacing (mm) and size (voxels), x, y, z."""
    return _read("card_resolution.csv").set_index("statistic")
