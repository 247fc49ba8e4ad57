"""The reference data packaged in ``segrap_nb/data/``: the one reader for every file there.

* ``segrap2023_labels.json`` -- the official label tables (read by :mod:`segrap_nb.labels`);
* ``card_labels.csv``, ``card_gtv.csv``, ``card_resolution.csv`` -- the dataset card's published
  statistics (shaped by :mod:`segrap_nb.analysis.published`);
* ``segrap2023_train_geometry.csv`` -- the 120 training cases' shape and spacing, from the
  organisers' nnU-Net record (:func:`train_geometry`);
* ``notebook_runs.csv`` -- measured headless runs of the notebooks (:func:`notebook_runs`),
  written by ``benchmarks/bench_notebooks.py``; may be absent.

pandas is imported on first use, so the base layer stays cheap to import.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable  # Python 3.11+; annotations only

    import pandas as pd

LABELS_JSON = "segrap2023_labels.json"
CARD_LABELS = "card_labels.csv"
CARD_GTV = "card_gtv.csv"
CARD_RESOLUTION = "card_resolution.csv"
TRAIN_GEOMETRY = "segrap2023_train_geometry.csv"
NOTEBOOK_RUNS = "notebook_runs.csv"


def data_file(name: str) -> Traversable:
    """The packaged file ``segrap_nb/data/<name>`` (it need not exist: see ``.is_file()``)."""
    return resources.files("segrap_nb").joinpath(f"data/{name}")


def read_json(name: str) -> Any:
    """A packaged JSON file, parsed."""
    return json.loads(data_file(name).read_text(encoding="utf-8"))


def read_csv(name: str) -> pd.DataFrame:
    """A packaged CSV table as a DataFrame (columns as in the file's header)."""
    import pandas as pd

    with data_file(name).open(encoding="utf-8") as fh:
        return pd.read_csv(fh)


def train_geometry() -> pd.DataFrame:
    """The 120 training cases' geometry: case, size_{x,y,z} (voxels), spacing_{x,y,z}_mm (mm).

    x, y, z are the NIfTI voxel axes (i, j, k); the organisers' record lists them in (z, y, x)
    order, so the columns are reordered here, the values are not.
    """
    raw = read_csv(TRAIN_GEOMETRY)
    sizes = [f"size_{a}" for a in "xyz"]
    spacings = [f"spacing_{a}_mm" for a in "xyz"]
    return raw.astype({**dict.fromkeys(sizes, int), **dict.fromkeys(spacings, float)})[
        ["case", *sizes, *spacings]
    ]


def notebook_runs() -> pd.DataFrame | None:
    """Measured headless run per notebook: notebook, seconds (s), peak_mb (MB); None if not recorded."""
    if not data_file(NOTEBOOK_RUNS).is_file():
        return None
    return read_csv(NOTEBOOK_RUNS)
