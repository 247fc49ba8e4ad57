"""The statistics published in the SegRap 2023 dataset card, as tables to compare against.

Three tables (``data/card_*.csv``, transcribed from the card): the resolution summary
(min/median/max spacing in mm and size in voxels, (x, y, z) order), the 54-row Task 1 label
table (cases where present, coverage %, the card's "Volume", "Average Volume" and "Maximum
Volume" columns in cm³) and the Task 2 GTV table. Names are given in the card's spelling
(``card_name``) and in the kit's (``name``, via :func:`segrap_nb.labels.canonical_name`).
"""

from __future__ import annotations

import pandas as pd

from segrap_nb.labels import ONEHOT_LABELS, canonical_name
from segrap_nb.reference_data import CARD_GTV, CARD_LABELS, CARD_RESOLUTION, read_csv

#: Published test-set results (mean DSC %) from the challenge paper.
PUBLISHED_DSC = pd.DataFrame(
    {"Task 1 (45 OARs)": [84.65, 86.70], "GTVp": [75.80, 78.76], "GTVnd": [66.83, 69.28]},
    index=["nnU-Net baseline", "best team"],
)


def card_labels() -> pd.DataFrame:
    """The card's Task 1 table: label, name, card_name, cases, coverage_pct, *_cm3 columns."""
    df = read_csv(CARD_LABELS)
    df["name"] = [canonical_name(n) for n in df["card_name"]]
    if list(df["name"]) != [ONEHOT_LABELS[k] for k in df["label"]]:
        raise AssertionError("card label table does not match the label ids")  # data integrity
    cols = ["label", "name", "card_name", "cases", "coverage_pct"]
    return df[cols + ["volume_cm3", "mean_cm3", "max_cm3"]]


def card_gtv() -> pd.DataFrame:
    """The card's Task 2 table: one row per GTV (GTVp, GTVnd) with the same columns."""
    df = read_csv(CARD_GTV)
    df.insert(0, "label", [1, 2])
    df.insert(1, "name", df.pop("structure"))
    return df


def card_resolution() -> pd.DataFrame:
    """The card's resolution table: min/median/max spacing (mm) and size (voxels), x, y, z."""
    return read_csv(CARD_RESOLUTION).set_index("statistic")
