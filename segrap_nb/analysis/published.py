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

#: Published test-set results (mean DSC %) from the challenge paper, one row per named team and
#: one row of column bests. The winners of the two tasks are different teams and no one team holds
#: every column's best, so the last row is not a team: :data:`COLUMN_BEST_BY` names who holds each
#: value. Task 1's winner has no published GTV numbers here (NaN).
PUBLISHED_DSC = pd.DataFrame(
    {
        "Task 1 (45 OARs)": [84.65, 86.70, 85.44, 86.70],
        "GTVp": [75.80, float("nan"), 78.56, 78.76],
        "GTVnd": [66.83, float("nan"), 67.75, 69.28],
    },
    index=[
        "nnU-Net baseline",
        "Task 1 winner (Y. Zhong)",
        "Task 2 winner (M. Astaraki)",
        "best value in each column, any team",
    ],
)
#: Label of the row of column bests in :data:`PUBLISHED_DSC`.
COLUMN_BEST = "best value in each column, any team"
#: Who holds each column's best value (the reference's names).
COLUMN_BEST_BY: dict[str, str] = {
    "Task 1 (45 OARs)": "Y. Zhong",
    "GTVp": "Y. Ye; K. Yang",
    "GTVnd": "Z. Xing",
}


def published_rows(columns: list[str]) -> pd.DataFrame:
    """The published rows (mean DSC %) that have a value in every one of ``columns``.

    The row of column bests is kept only where no named team holds all of them (Task 1: the
    winner does, so the row would repeat it); it then says whose value each column is.
    """
    table = PUBLISHED_DSC[columns].dropna()
    best = table.loc[COLUMN_BEST]
    teams = table.drop(index=COLUMN_BEST)
    if (teams == best).all(axis=1).any():
        return teams
    label = f"{COLUMN_BEST} ({' · '.join(f'{c}: {COLUMN_BEST_BY[c]}' for c in columns)})"
    return pd.concat([teams, best.to_frame(label).T])


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
