"""The packaged reference data (segrap_nb/data/) has one reader, which every user goes through."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

import segrap_nb
from segrap_nb import reference_data as R
from segrap_nb.analysis import published


def test_train_geometry_is_in_voxel_axis_order():
    geo = R.train_geometry()
    assert len(geo) == 120 and geo["case"].iloc[0] == "segrap_0000"
    first = geo.iloc[0]
    # the record's first row reads size (z, y, x) = (127, 1024, 1024), spacing z = 3 mm
    assert (first["size_x"], first["size_y"], first["size_z"]) == (1024, 1024, 127)
    assert first["spacing_z_mm"] == 3.0 and abs(first["spacing_x_mm"] - 0.53222656) < 1e-9


def test_the_card_resolution_medians_follow_from_the_release_geometry():
    geo, card = R.train_geometry(), published.card_resolution()
    for axis in "xyz":
        assert np.isclose(
            round(geo[f"spacing_{axis}_mm"].median(), 2), card.loc["median", f"spacing_{axis}_mm"]
        )
        assert geo[f"size_{axis}"].median() == card.loc["median", f"size_{axis}"]


def test_notebook_runs_when_recorded():
    runs = R.notebook_runs()
    assert runs is not None and list(runs.columns) == ["notebook", "seconds", "peak_mb"]
    assert (runs["seconds"] > 0).all() and runs["notebook"].str.endswith(".ipynb").all()


def test_no_other_module_opens_the_data_folder():
    package = Path(segrap_nb.__file__).parent
    readers = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.startswith("data/")
            ):
                readers.append(path.relative_to(package).as_posix())
    assert set(readers) == {"reference_data.py"}
