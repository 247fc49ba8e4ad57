"""Run folders (one per setting and dataset), the latest-run pointer, the time warning, one-file inference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from segrap_nb.errors import DataError
from segrap_nb.io.dataset import SegRapDataset
from segrap_nb.io.nifti import read_nifti
from segrap_nb.training import default_run_dir, load_config, predict, train
from segrap_nb.training.prediction import predict_file
from segrap_nb.training.run_folder import RunFolder, Split
from segrap_nb.training.runs import latest_run, mark_latest, time_warning
from tests.factories import tiny_config, write_head_release


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    return write_head_release(tmp_path_factory.mktemp("synth_runs"))


def test_each_setting_and_dataset_gets_its_own_run_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGRAP_CACHE", str(tmp_path / "cache"))
    quick = default_run_dir("quick", tmp_path / "a")
    assert quick.parent == tmp_path / "cache" / "runs"
    assert quick.name.startswith("quick-")
    assert default_run_dir(load_config("quick"), tmp_path / "a") == quick  # name or config: same
    others = {
        default_run_dir("gpu", tmp_path / "a"),
        default_run_dir("quick", tmp_path / "b"),
        default_run_dir(load_config("quick", {"train.steps": 901}), tmp_path / "a"),
    }
    assert quick not in others
    assert len(others) == 3


def test_latest_run_points_at_the_marked_run_once_it_has_a_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGRAP_CACHE", str(tmp_path / "cache"))
    assert latest_run() is None
    run = tmp_path / "cache" / "runs" / "x"
    run.mkdir(parents=True)
    mark_latest(run)
    assert latest_run() is None  # no checkpoint yet: nothing to evaluate
    (run / "last.pt").write_bytes(b"")
    assert latest_run() == run.resolve()


def test_run_folder_split_round_trips_and_names_a_bad_file(tmp_path):
    run = RunFolder(tmp_path / "run")
    with pytest.raises(DataError, match="split.json.*no training run"):
        run.split()
    split = Split(["segrap_0000", "segrap_0001"], ["segrap_0007"], tmp_path / "data", tmp_path / "cache")
    run.path.mkdir()
    run.write_split(split)
    assert run.split() == split
    assert json.loads((run.path / "split.json").read_text())["val"] == ["segrap_0007"]
    (run.path / "split.json").write_text('{"train": ["a"]}')
    with pytest.raises(DataError, match="split.json.*not a run's split"):
        run.split()


def test_run_folder_best_checkpoint_falls_back_to_last_and_clear_removes_the_run(tmp_path):
    run = RunFolder(tmp_path)
    assert run.checkpoint("best") == tmp_path / "last.pt"
    (tmp_path / "best.pt").write_bytes(b"")
    assert run.checkpoint("best") == tmp_path / "best.pt"
    (tmp_path / "last.pt").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("mine")
    run.clear()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # only the run's own files


def test_a_second_writer_of_a_run_folder_is_refused(tmp_path):
    run = RunFolder(tmp_path / "run")
    with run.lock():
        with pytest.raises(DataError, match="another segrap-nb train"):
            with RunFolder(tmp_path / "run").lock():
                pass
    with run.lock():  # released
        pass


def test_time_warning_only_for_heavy_settings_off_gpu_or_on_the_phantom():
    gpu, quick = load_config("gpu"), load_config("quick")
    assert time_warning(quick, "cpu", phantom=True) is None
    assert time_warning(gpu, "cuda:0", phantom=False) is None
    on_cpu = time_warning(gpu, "cpu", phantom=False)
    assert on_cpu
    assert "CPU" in on_cpu
    assert "times the patch voxels" in on_cpu
    assert "phantom" in time_warning(gpu, "cuda", phantom=True)


def test_default_run_folder_is_used_and_resumed(synth, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGRAP_CACHE", str(tmp_path / "cache"))
    cfg = tiny_config(**{"train.steps": 2})
    first = train(cfg, synth, progress=False, device="cpu")
    assert first.run_dir == default_run_dir(cfg, synth)
    assert first.step == 2
    again = train(cfg, synth, resume=True, progress=False, device="cpu")  # after a kernel restart
    assert again.step == 2
    assert again.run_dir == first.run_dir


def test_predict_file_segments_one_new_ct_like_predict(synth, tmp_path):
    run = tmp_path / "run"
    train(
        tiny_config(**{"train.steps": 2}),
        synth,
        run,
        cache_root=tmp_path / "cache",
        progress=False,
        device="cpu",
    )
    cpu = torch.device("cpu")
    predict(run, tmp_path / "pred", synth, cases=["segrap_0002"], masks=False, device=cpu, progress=False)
    expected = SegRapDataset(tmp_path / "pred")["segrap_0002"].onehot_map(1)
    case = SegRapDataset(synth)["segrap_0002"]
    out = tmp_path / "new" / "seg.nii.gz"
    got = predict_file(run, case.files["image"].path, case.files["image_contrast"].path, out, device=cpu)
    assert np.array_equal(got.array, expected.array)
    assert np.allclose(got.affine, expected.affine)
    assert np.array_equal(read_nifti(out).array, expected.array)
    with pytest.raises(DataError, match="no such CT file"):
        predict_file(run, tmp_path / "missing.nii.gz", case.files["image_contrast"].path, device=cpu)


def test_training_minutes_add_up_the_sessions_of_a_resumed_run(tmp_path):
    from segrap_nb.training.runs import training_minutes

    events = [
        {"kind": "train", "step": 10, "elapsed_s": 30.0},
        {"kind": "val", "step": 10},
        {"kind": "train", "step": 20, "elapsed_s": 60.0},
        {"kind": "train", "step": 30, "elapsed_s": 45.0},  # resumed: the clock restarted
        {"kind": "train", "step": 40, "elapsed_s": 90.0},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    assert training_minutes(tmp_path) == (60.0 + 90.0) / 60
