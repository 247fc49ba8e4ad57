"""Largest-connected-component clean-up of predicted label maps."""

from __future__ import annotations

import numpy as np

from segrap_nb import labels as L
from segrap_nb.eval.metrics import surface_metrics
from segrap_nb.eval.postprocess import clean_predictions, keep_largest_component
from segrap_nb.io.dataset import ONEHOT_DIR, SegRapDataset
from segrap_nb.io.nifti import write_nifti


def _map_with_stray_voxels() -> np.ndarray:
    lab = np.zeros((40, 30, 20), np.uint8)
    lab[5:15, 5:15, 5:15] = L.ONEHOT_IDS["Brain"]
    lab[32:36, 22:26, 14:18] = L.ONEHOT_IDS["Brain"]  # a stray piece of 64 voxels, far away
    lab[20:24, 2:6, 2:6] = L.ONEHOT_IDS["Eye_L"]
    lab[24, 6, 6] = L.ONEHOT_IDS["Eye_L"]  # touches the eye at a corner: 26-connected, kept
    return lab


def test_stray_pieces_go_to_background_and_hd95_drops():
    lab = _map_with_stray_voxels()
    out = keep_largest_component(lab, task=1)
    brain = L.ONEHOT_IDS["Brain"]
    assert (out == brain).sum() == 1000
    assert (lab == brain).sum() == 1064
    assert np.array_equal(out == L.ONEHOT_IDS["Eye_L"], lab == L.ONEHOT_IDS["Eye_L"])
    assert np.array_equal(out[lab != brain], lab[lab != brain])  # nothing else touched
    truth = np.zeros_like(lab, bool)
    truth[5:15, 5:15, 5:15] = True
    before = surface_metrics(lab == brain, truth, (1, 1, 1), 1.0)
    after = surface_metrics(out == brain, truth, (1, 1, 1), 1.0)
    assert after.dsc == 1.0  # the strays set HD95
    assert after.hd95 == 0.0
    assert before.hd95 > 20


def test_lymph_nodes_keep_all_their_pieces_and_folders_are_cleaned(tmp_path):
    gtv = np.zeros((30, 30, 10), np.uint8)
    gtv[2:8, 2:8, 2:6] = 1
    gtv[20:23, 20:23, 2:5] = 1  # a stray GTVp piece: removed
    gtv[12:15, 2:5, 2:5] = 2
    gtv[25:28, 2:5, 2:5] = 2  # a second node: kept
    out = keep_largest_component(gtv, task=2)
    assert (out == 1).sum() == 6 * 6 * 4
    assert np.array_equal(out == 2, gtv == 2)
    write_nifti(tmp_path / "pred" / ONEHOT_DIR / "Task002" / "segrap_0000.nii.gz", gtv, np.eye(4))
    files = clean_predictions(tmp_path / "pred", tmp_path / "clean", task=2)
    assert len(files) == 1
    assert np.array_equal(SegRapDataset(tmp_path / "clean")[0].onehot_map(2).array, out)
