"""Issue 13, segrap_nb.io.guards: an output that overlaps the dataset is refused, through links too.

Split from the former tests/test_safety.py (one numbered case of the issue per test).
"""

from __future__ import annotations

import pytest

from segrap_nb.errors import DataError
from segrap_nb.io.dataset import IMAGES_DIR
from segrap_nb.io.guards import refuse_overlap


def test_refuse_overlap_follows_linked_folders_inside_the_dataset(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "segrap_0000").mkdir(parents=True)
    D = tmp_path / "D"
    D.mkdir()
    (D / IMAGES_DIR).symlink_to(elsewhere)
    with pytest.raises(DataError, match="overlaps the dataset's folder"):
        refuse_overlap(elsewhere / "segrap_0000", D)
    refuse_overlap(tmp_path / "pred", D)  # a sibling is fine
