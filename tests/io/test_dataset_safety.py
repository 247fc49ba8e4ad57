"""Issue 13, segrap_nb.io.dataset: linked case folders and linked release subfolders are found, loops do not hang.

Split from the former tests/test_safety.py (one numbered case of the issue per test).
"""

from __future__ import annotations

import shutil

from segrap_nb.cli import main
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR, SegRapDataset


# == 4. symlinked case folders and a linked prediction folder =================================
def test_symlinked_case_folders_are_found_and_loops_do_not_hang(tiny_copy, tmp_path):
    from segrap_nb.analysis.validate import validate_dataset

    moved = tmp_path / "elsewhere" / "segrap_0001"
    moved.parent.mkdir()
    shutil.move(str(tiny_copy / IMAGES_DIR / "segrap_0001"), moved)
    (tiny_copy / IMAGES_DIR / "segrap_0001").symlink_to(moved, target_is_directory=True)
    (moved / "loop").symlink_to(tiny_copy, target_is_directory=True)  # a link loop
    ds = SegRapDataset(tiny_copy)
    assert ds.case_ids == ["segrap_0000", "segrap_0001", "segrap_0002"]
    assert len(ds["segrap_0001"].files) == 49
    reports = validate_dataset(str(tiny_copy), progress=False)
    assert sum(len(r.errors) for r in reports) == 0


def test_prediction_folder_with_a_linked_release_subfolder(tiny_release, tmp_path, capsys):
    pred = tmp_path / "pred"
    pred.mkdir()
    (pred / ONEHOT_DIR).symlink_to(tiny_release / ONEHOT_DIR, target_is_directory=True)
    assert SegRapDataset(pred, flat_task=1).case_ids == ["segrap_0000", "segrap_0001", "segrap_0002"]
    assert (
        main(
            [
                "evaluate",
                "--pred",
                str(pred),
                "--gt",
                str(tiny_release),
                "--task",
                "1",
                "--out",
                str(tmp_path / "ev"),
            ]
        )
        == 0
    )
