"""Training pipeline: config, preprocessing cache, patches, loop/resume, DDP, predict, quick DSC.

Fast tests run on tiny synthetic cases (a few seconds each). The tests marked ``slow`` use the
``quick_run`` fixture (tests/conftest.py): the quick config trained on the default 8-case
phantom (about 4 minutes on 2 cores), once per code version, in the run folder notebooks 04 and 05
use; they check that the six large organs reach a mean DSC of at least 0.7 on the two held-out
cases, and that the live plot draws the run's reports.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from segrap_nb import labels as L
from segrap_nb.errors import DataError
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR, SegRapDataset
from segrap_nb.io.nifti import read_header, read_nifti, write_nifti
from segrap_nb.training import preprocess as P
from segrap_nb.training import train_config as C
from segrap_nb.training.data import PatchDataset, RandFlipLRSwapd, lr_swap_table
from segrap_nb.training.device import autocast_for, cpu_bf16_supported, get_device
from segrap_nb.training.loop import train
from segrap_nb.training.prediction import predict
from segrap_nb.training.run_folder import RunFolder, metrics_frames, read_metrics, split_cases
from segrap_nb.training.val_dice import dice_per_structure, group_means
from tests.factories import (
    HEAD_AFFINE,
    HEAD_SHAPE,
    HEAD_SPACING,
    head_case,
    tiny_config,
    write_head_release,
)

SHAPE, SPACING, AFFINE = HEAD_SHAPE, HEAD_SPACING, HEAD_AFFINE


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    return write_head_release(tmp_path_factory.mktemp("synth"))


# -- config --------------------------------------------------------------------------------
def test_packaged_configs_load_and_validate():
    assert {"quick", "gpu"} <= set(C.config_names())
    quick, gpu = C.load_config("quick"), C.load_config("gpu")
    assert quick.num_classes == 55
    assert gpu.preprocess.spacing_mm == [1.0, 1.0, 3.0]
    assert gpu.model.features == [32, 64, 128, 256, 320]
    assert gpu.data.batch_size == 2
    assert C.load_config("quick", {"task": 2}).num_classes == 3
    assert C.load_config("quick", {"train.steps": 7}).train.steps == 7


def test_config_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="unknown config key.*train.stepz"):
        C.load_config("quick", {"train.stepz": 3})
    with pytest.raises(DataError, match="divisible"):
        C.load_config("quick", {"data.patch_size": [60, 64, 32]})
    with pytest.raises(DataError, match="no such config"):
        C.load_config("nonexistent")
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: 3\n")
    with pytest.raises(DataError, match="bad.yaml: task must be 1 or 2"):
        C.load_config(bad)


def test_split_last_cases_validate():
    ids = [f"segrap_{i:04d}" for i in range(8)]
    train_ids, val_ids = split_cases(ids, C.load_config("quick"))
    assert val_ids == ["segrap_0006", "segrap_0007"]
    assert train_ids == ids[:6]


def test_device_helper_prints_and_obeys_env(monkeypatch, capsys):
    monkeypatch.setenv("SEGRAP_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    assert capsys.readouterr().out.startswith("device: cpu")


# -- preprocessing -------------------------------------------------------------------------
def test_preprocess_geometry_and_round_trip(synth):
    case = SegRapDataset(synth)[0]
    settings = C.PreprocessConfig(spacing_mm=[1.5, 1.5, 3.0])  # = the stored spacing
    image, label, meta = P.preprocess_case(case, settings, task=1)
    assert image.dtype == np.float32
    assert image.shape[0] == 2
    assert label.shape == (1, *meta.shape)
    # RAS order: the stored i axis pointed to patient left, so it is flipped.
    assert meta.ras_shape == list(SHAPE)
    assert meta.spacing_mm == [1.5, 1.5, 3.0]
    gt = case.onehot_map(1).array
    back = P.to_original_grid(label[0], meta)
    assert back.shape == SHAPE  # same spacing: exact
    assert np.array_equal(back, gt)
    # The stored affine maps the cropped grid to the same world mm as the original.
    eye = L.ONEHOT_IDS["Eye_L"]
    world = lambda aff, ijk: (np.asarray(aff) @ np.c_[ijk, np.ones(len(ijk))].T)[:3].T.mean(0)
    np.testing.assert_allclose(
        world(meta.affine, np.argwhere(label[0] == eye)), world(AFFINE, np.argwhere(gt == eye)), atol=1e-6
    )
    # Eye_L lies on the patient's left: smaller RAS x (world x grows towards the right).
    assert (
        world(meta.affine, np.argwhere(label[0] == eye))[0]
        < world(meta.affine, np.argwhere(label[0] == eye + 1))[0]
    )
    # Normalised per channel: body voxels (> -500 HU) have mean 0 and std 1 after clipping.
    crop = tuple(slice(a, b) for a, b in meta.crop)
    body = P.to_ras(case.image().array, AFFINE)[0][crop] > -500
    for c in range(2):
        lo, hi = meta.clip_hu[c]
        assert lo < 40 < hi
        assert abs(image[c][body].mean()) < 1e-3
        assert abs(image[c][body].std() - 1) < 1e-3


def test_coarse_resampling_keeps_world_positions(synth):
    case = SegRapDataset(synth)[1]
    _, label, meta = P.preprocess_case(case, C.PreprocessConfig(spacing_mm=[3.0, 3.0, 3.0]), 1)
    assert meta.resampled_shape == [20, 18, 14]
    assert np.allclose(meta.spacing_mm, [3.0, 3.0, 3.0])
    gt = case.onehot_map(1).array
    brain = L.ONEHOT_IDS["Brain"]
    to_world = lambda aff, ijk: (np.asarray(aff) @ np.c_[ijk, np.ones(len(ijk))].T)[:3].T.mean(0)
    np.testing.assert_allclose(
        to_world(meta.affine, np.argwhere(label[0] == brain)),
        to_world(AFFINE, np.argwhere(gt == brain)),
        atol=1.0,
    )  # mm
    back = P.to_original_grid(label[0], meta)
    assert back.shape == SHAPE
    d = dice_per_structure(gt, back, 1)
    assert d["Brain"] > 0.9
    assert d["Eye_L"] > 0.6
    # Left-right: in RAS arrays Eye_R (patient right) has the larger x index.
    xl = np.argwhere(label[0] == L.ONEHOT_IDS["Eye_L"])[:, 0].mean()
    xr = np.argwhere(label[0] == L.ONEHOT_IDS["Eye_R"])[:, 0].mean()
    assert xr > xl


def test_slice_axis_stored_first_round_trips(tmp_path):
    # Stored order (slices, then the two in-plane axes): i -> superior, j -> left, k -> posterior.
    affine = np.array([[0, -1.5, 0, 30.0], [0, 0, -1.5, 27.0], [3.0, 0, 0, -20.0], [0, 0, 0, 1]])
    data = write_head_release(tmp_path / "perm", n=1, affine=affine, shape=(14, 40, 36))
    case = SegRapDataset(data)[0]
    _, label, meta = P.preprocess_case(case, C.PreprocessConfig(spacing_mm=[1.5, 1.5, 3.0]), 1)
    assert meta.ras_shape == [40, 36, 14]
    assert meta.spacing_mm == [1.5, 1.5, 3.0]
    assert np.array_equal(P.to_original_grid(label[0], meta), case.onehot_map(1).array)


@pytest.mark.parametrize("axes", [(0, 1, 2), (2, 0, 1), (1, 2, 0)])
def test_reorientation_round_trip_any_axis_order(axes):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 9, (5, 6, 7)).astype(np.uint8)
    perm = np.eye(4)
    perm[:3, :3] = np.eye(3)[list(axes)].T * np.array([-1, 1, -1])
    ras, ras_aff, ornt = P.to_ras(arr, perm)
    assert np.array_equal(P.from_ras(ras, ornt), arr)
    assert np.allclose(np.abs(np.diag(ras_aff[:3, :3])), 1)
    assert (np.diag(ras_aff[:3, :3]) > 0).all()


def test_cache_is_keyed_on_settings_and_sources(synth, tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_head_release(data, n=1)
    case = SegRapDataset(data)[0]
    s1, s2 = C.PreprocessConfig(spacing_mm=[3.0, 3.0, 3.0]), C.PreprocessConfig(spacing_mm=[2.0, 2.0, 3.0])
    c1 = P.PreprocessCache(tmp_path / "cache", s1, 1)
    e1 = c1.get(case)
    assert c1.folder != P.PreprocessCache(tmp_path / "cache", s2, 1).folder
    assert c1.folder != P.PreprocessCache(tmp_path / "cache", s1, 2).folder
    assert np.load(e1.image).dtype == np.float16
    assert np.load(e1.label).dtype == np.uint8
    assert not list(c1.folder.glob("*.part"))
    calls = []
    monkeypatch.setattr(
        P, "preprocess_case", lambda *a, **k: calls.append(1) or (_ for _ in ()).throw(RuntimeError)
    )
    assert c1.get(SegRapDataset(data)[0]).image == e1.image  # reused, not recomputed
    assert not calls
    monkeypatch.undo()
    # The source changes (new bytes, new mtime): a new entry replaces the stale one.
    plain, _, _, _ = head_case(5)
    write_nifti(data / IMAGES_DIR / "segrap_0000" / "image.nii.gz", plain, AFFINE)
    e2 = c1.get(SegRapDataset(data)[0])
    assert e2.image != e1.image
    assert e2.image.exists()
    assert not e1.image.exists()
    # Another dataset with a case of the same name (the phantom's and the release's segrap_0000)
    # gets its own entry, and leaves this one alone: another process may be training from it.
    other = tmp_path / "other"
    write_head_release(other, n=1)
    e3 = c1.get(SegRapDataset(other)[0])
    assert e3.image != e2.image
    assert e2.image.exists() and e2.meta_path.exists() and e3.image.exists()


# -- sampling and augmentation -------------------------------------------------------------
def test_lr_swap_table_pairs_every_side_label():
    lut = lr_swap_table(1)
    for lab, name in L.ONEHOT_LABELS.items():
        if name.endswith("_L"):
            assert L.ONEHOT_LABELS[int(lut[lab])] == name[:-2] + "_R"
        elif not name.endswith("_R"):
            assert lut[lab] == lab
    assert np.array_equal(lut[:3], [0, 1, 2])
    assert np.array_equal(lr_swap_table(2), np.arange(256))


def test_lr_flip_swaps_labels():
    label = torch.zeros(1, 4, 2, 2, dtype=torch.uint8)
    label[0, 0] = L.ONEHOT_IDS["Eye_L"]
    label[0, 3] = L.ONEHOT_IDS["Brain"]
    image = torch.arange(16, dtype=torch.float32).reshape(1, 4, 2, 2)
    out = RandFlipLRSwapd(["image", "label"], "label", task=1, prob=1.0)({"image": image, "label": label})
    assert (out["label"][0, 3] == L.ONEHOT_IDS["Eye_R"]).all()
    assert (out["label"][0, 0] == 1).all()
    assert torch.equal(out["image"], torch.flip(image, dims=[1]))


def test_patches_are_deterministic_per_sample_number(synth, tmp_path):
    cfg = tiny_config()
    cache = P.PreprocessCache(tmp_path / "cache", cfg.preprocess, 1)
    entries = [e.as_dict() for e in cache.prepare(SegRapDataset(synth), progress=False)[:3]]
    a = PatchDataset(entries, cfg, start=0, length=30)
    b = PatchDataset(entries, cfg, start=10, length=20)
    assert a[0]["image"].shape == (2, 16, 16, 8)
    assert a[0]["label"].shape == (1, 16, 16, 8)
    assert torch.equal(a[12]["image"], b[2]["image"])
    assert torch.equal(a[12]["label"], b[2]["label"])
    assert not torch.equal(a[0]["image"], a[1]["image"])
    # Class-balanced crops: the 3-voxel lens is in a good share of the patches.
    lens = sum(bool(((a[i]["label"] == 12) | (a[i]["label"] == 13)).any()) for i in range(30))
    assert lens >= 4


# -- metrics -------------------------------------------------------------------------------
def test_structure_dice_from_confusion_matches_masks():
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 55, (20, 20, 10)).astype(np.uint8)
    pred = np.where(rng.random(gt.shape) < 0.7, gt, rng.integers(0, 55, gt.shape)).astype(np.uint8)
    d = dice_per_structure(gt, pred, 1)
    for name in ("Brain", "Eye_L", "MiddleEar_R", "Larynx"):
        g, p = L.structure_mask(gt, name, 1), L.structure_mask(pred, name, 1)
        assert d[name] == pytest.approx(2 * (g & p).sum() / (g.sum() + p.sum()))
    empty = np.zeros((4, 4, 4), np.uint8)
    assert dice_per_structure(empty, empty, 2) == {"GTVp": 1.0, "GTVnd": 1.0}
    one = empty.copy()
    one[0, 0, 0] = 2
    assert dice_per_structure(one, empty, 2)["GTVnd"] == 0.0
    assert set(group_means(d, 1)) == {"core6", "large", "small", "inner_ear", "all"}


# -- loop, resume, predict -----------------------------------------------------------------
def _state(run: Path, name: str = "last.pt") -> dict:
    return torch.load(run / name, weights_only=False)


def test_resume_continues_exactly(synth, tmp_path):
    cfg = tiny_config()
    kw = dict(cache_root=tmp_path / "cache", progress=False, device="cpu")
    straight = train(cfg, synth, tmp_path / "straight", **kw)
    first = train(cfg, synth, tmp_path / "resumed", stop_at=3, **kw)
    assert first.step == 3
    assert _state(tmp_path / "resumed")["step"] == 3
    with pytest.raises(DataError, match="already holds a run"):
        train(cfg, synth, tmp_path / "resumed", **kw)
    second = train(cfg, synth, tmp_path / "resumed", resume=True, **kw)
    assert second.step == straight.step == 6
    a, b = _state(tmp_path / "straight")["model"], _state(tmp_path / "resumed")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert second.digest == straight.digest
    # The metrics log of the resumed run matches the straight one step for step.
    la = [(e["kind"], e["step"], round(e.get("loss", 0), 6)) for e in read_metrics(tmp_path / "straight")]
    lb = [(e["kind"], e["step"], round(e.get("loss", 0), 6)) for e in read_metrics(tmp_path / "resumed")]
    assert la == lb
    run = tmp_path / "straight"
    assert {"config.yaml", "split.json", "metrics.jsonl", "last.pt", "best.pt"} <= {
        p.name for p in run.iterdir()
    }
    ckpt = _state(run)
    assert {"model", "optimizer", "scheduler", "scaler", "step", "config", "rng"} <= set(ckpt)
    train_df, val_df = metrics_frames(run)
    assert list(train_df["step"]) == [1, 2, 3, 4, 5, 6]
    assert list(val_df["step"]) == [3, 6]
    assert C.load_config(run / "config.yaml").to_dict() == cfg.to_dict()
    # Each session's measured time is kept in the checkpoint: one session straight, two resumed.
    sessions = RunFolder(tmp_path / "resumed").sessions()
    assert [(x["first_step"], x["last_step"]) for x in sessions] == [(1, 3), (4, 6)]
    assert all(x["wall_s"] > 0 and x["threads"] >= 1 for x in sessions)
    assert straight.wall_s > 0
    line = RunFolder(run).time_summary()
    assert line.startswith("6 steps in ") and "1 session on cpu" in line


@pytest.mark.skipif(not cpu_bf16_supported(), reason="this CPU has no native bfloat16")
def test_bfloat16_run_resumes_exactly_and_is_deterministic(synth, tmp_path):
    cfg = tiny_config(**{"train.cpu_bf16": True})
    kw = dict(cache_root=tmp_path / "cache", progress=False, device="cpu")
    straight = train(cfg, synth, tmp_path / "straight", **kw)
    again = train(cfg, synth, tmp_path / "again", **kw)
    train(cfg, synth, tmp_path / "resumed", stop_at=3, **kw)
    resumed = train(cfg, synth, tmp_path / "resumed", resume=True, **kw)
    assert straight.digest == again.digest == resumed.digest
    float32 = train(tiny_config(**{"train.cpu_bf16": False}), synth, tmp_path / "float32", **kw)
    assert float32.digest != straight.digest  # the setting really changes the arithmetic


def test_autocast_follows_the_config_and_the_device():
    cpu, t = torch.device("cpu"), C.TrainLoopConfig()
    assert not autocast_for(cpu, t)._enabled  # amp is for CUDA only; cpu_bf16 is off by default
    t.cpu_bf16 = True
    ctx = autocast_for(cpu, t)
    assert ctx._enabled == cpu_bf16_supported()
    if ctx._enabled:
        with ctx:
            assert torch.nn.Linear(4, 4)(torch.zeros(2, 4)).dtype == torch.bfloat16
    assert C.load_config("gpu").train.amp  # the gpu setting keeps float16 AMP on CUDA


def test_loader_workers_do_not_change_the_patches(synth, tmp_path):
    kw = dict(cache_root=tmp_path / "cache", progress=False, device="cpu")
    a = train(tiny_config(**{"train.steps": 3}), synth, tmp_path / "w0", **kw)
    b = train(tiny_config(**{"train.steps": 3, "data.num_workers": 2}), synth, tmp_path / "w2", **kw)
    assert a.digest == b.digest  # each patch is seeded by its sample number, not by its worker


def test_task2_and_callback(synth, tmp_path):
    events = []
    cfg = tiny_config(task=2, **{"train.steps": 2, "train.val_every": 2})
    res = train(
        cfg,
        synth,
        tmp_path / "t2",
        cache_root=tmp_path / "cache",
        progress=False,
        device="cpu",
        callback=events.append,
    )
    val = [e for e in events if e["kind"] == "val"]
    assert res.step == 2
    assert val
    assert set(val[0]["structures"]) == {"GTVp", "GTVnd"}
    assert set(val[0]["groups"]) == {"gtv", "all"}
    from segrap_nb.training.inference import load_run

    model, cfg2, _ = load_run(tmp_path / "t2", device=torch.device("cpu"))
    assert cfg2.task == 2
    assert model(torch.zeros(1, 2, 16, 16, 8)).shape == (1, 3, 16, 16, 8)


def test_predict_writes_release_layout_on_original_grid(synth, tmp_path):
    run = tmp_path / "run"
    train(
        tiny_config(**{"train.steps": 2}),
        synth,
        run,
        cache_root=tmp_path / "cache",
        progress=False,
        device="cpu",
    )
    pred = tmp_path / "pred"
    files = predict(run, pred, synth, cases=["segrap_0003"], device=torch.device("cpu"), progress=False)
    assert files == [pred / ONEHOT_DIR / "Task001" / "segrap_0003.nii.gz"]
    out, src = read_nifti(files[0]), read_header(SegRapDataset(synth)[3].files["image"])
    assert out.shape == src.shape
    assert np.array_equal(out.affine, src.affine)
    assert out.array.dtype == np.uint8
    back = SegRapDataset(pred)
    case = back["segrap_0003"]
    assert case.mask_names() == list(L.OAR_NAMES)
    assert set(case.onehot) == {1}
    assert np.array_equal(case.mask("Eye_L").array, L.structure_mask(out.array, "Eye_L", 1).view(np.uint8))


def test_cli_train_and_predict(synth, tmp_path, monkeypatch):
    from segrap_nb.cli import main

    monkeypatch.setenv("SEGRAP_CACHE", str(tmp_path / "kitcache"))
    cfg_file = tmp_path / "tiny.yaml"
    C.save_config(tiny_config(), cfg_file)
    run = tmp_path / "run"
    train_args = ["train", "--config", str(cfg_file), "--data", str(synth), "--out", str(run)]
    train_args += ["--steps", "2", "--no-progress"]
    assert main([*train_args, "--device", "cpu"]) == 0
    assert _state(run)["step"] == 2
    assert (tmp_path / "kitcache" / "preprocessed").is_dir()
    assert main(train_args) == 2  # DataError: run exists
    assert (
        main(
            [
                "predict",
                "--run",
                str(run),
                "--data",
                str(synth),
                "--out",
                str(tmp_path / "p"),
                "--cases",
                "segrap_0001",
                "--no-masks",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert (tmp_path / "p" / ONEHOT_DIR / "Task001" / "segrap_0001.nii.gz").exists()
    assert not (tmp_path / "p" / IMAGES_DIR).exists()


def test_ddp_two_cpu_processes(synth, tmp_path):
    cfg_file = tmp_path / "tiny.yaml"
    C.save_config(tiny_config(**{"train.steps": 3, "train.val_every": 3, "data.batch_size": 1}), cfg_file)
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SEGRAP_CACHE": str(tmp_path / "kitcache")}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "segrap_nb",
        "train",
        "--config",
        str(cfg_file),
        "--data",
        str(synth),
        "--out",
        str(run),
        "--no-progress",
        "--device",
        "cpu",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    found = dict(re.findall(r"rank (\d)/2: finished step 3, weights sha1 ([0-9a-f]{40})", proc.stdout))
    assert set(found) == {"0", "1"}, proc.stdout
    assert found["0"] == found["1"]  # DDP kept the replicas identical
    from segrap_nb.training.ddp import weights_digest
    from segrap_nb.training.inference import load_run

    model, _, info = load_run(run, "last", torch.device("cpu"))
    assert info["step"] == 3  # rank 0 saved them
    assert weights_digest(model) == found["0"]
    assert len([e for e in read_metrics(run) if e["kind"] == "train"]) == 3  # rank 0 alone logs


def test_live_plot_colours_each_group_as_the_bar_figures_do():
    from segrap_nb.viz.colors import SCORE_GROUP_COLORS
    from segrap_nb.viz.training_curves import LivePlot

    plot = LivePlot(groups=("core6", "small", "gtv"), live=False)
    for step in (5, 10):
        plot({"kind": "train", "step": step, "loss": 1.0 / step})
        plot({"kind": "val", "step": step, "groups": {"core6": 0.5, "small": 0.1, "gtv": 0.2, "all": 0.3}})
    plot.draw()
    colours = {line.get_label(): line.get_color() for line in plot.ax_dsc.get_lines()}
    assert colours == {
        "core6": SCORE_GROUP_COLORS["core6"],
        "small": SCORE_GROUP_COLORS["small"],
        "gtv": SCORE_GROUP_COLORS["gtv"],
    }
    assert len(set(colours.values())) == 3


# -- the quick mode really learns ----------------------------------------------------------
@pytest.mark.slow
def test_quick_config_learns_large_organs_on_phantom(quick_run, tmp_path):
    # quick_run: the quick config trained (CPU) on the default 8-case phantom, as notebook 04 does.
    cfg = C.load_config("quick")
    assert C.load_config(quick_run / "config.yaml").to_dict() == cfg.to_dict()
    split = RunFolder(quick_run).split()
    assert len(SegRapDataset(split.data)) == 8
    assert split.val == ["segrap_0006", "segrap_0007"]
    val = [e for e in read_metrics(quick_run) if e["kind"] == "val"]
    assert val[-1]["step"] == cfg.train.steps
    # issue 23's accuracy: the quick run ends at core6 >= 0.85 and "all" >= 0.62 (bfloat16 on
    # CPUs that have it, float32 elsewhere).
    assert val[-1]["groups"]["core6"] >= 0.85, val[-1]["groups"]
    assert val[-1]["groups"]["all"] >= 0.62, val[-1]["groups"]
    # The same on the original grid, through predict (undoing crop and resampling).
    predict(
        quick_run,
        tmp_path / "pred",
        split.data,
        cases=split.val,
        masks=False,
        device=torch.device("cpu"),
        progress=False,
    )
    pred, gt = SegRapDataset(tmp_path / "pred"), SegRapDataset(split.data)
    scores = []
    for cid in split.val:
        d = dice_per_structure(gt[cid].onehot_map(1).array, pred[cid].onehot_map(1).array, 1)
        scores.append(group_means(d, 1)["core6"])
    assert np.mean(scores) >= 0.7, scores


@pytest.mark.slow
def test_live_plot_draws_every_report_of_the_quick_run(quick_run):
    from segrap_nb.viz.colors import SCORE_GROUP_COLORS
    from segrap_nb.viz.training_curves import LivePlot

    t = C.load_config("quick").train
    events = read_metrics(quick_run)
    train_ev = [e for e in events if e["kind"] == "train"]
    val_ev = [e for e in events if e["kind"] == "val"]
    plot = LivePlot(groups=("core6", "large", "small", "inner_ear"), live=False)
    for event in events:  # what train(..., callback=plot) feeds it, in the same order
        plot(event)
    plot.draw()
    (loss,) = plot.ax_loss.get_lines()
    logged = list(range(t.log_every, t.steps + 1, t.log_every))
    assert list(loss.get_xdata()) == [e["step"] for e in train_ev] == logged
    assert list(loss.get_ydata()) == [e["loss"] for e in train_ev]
    dsc = {line.get_label(): line for line in plot.ax_dsc.get_lines()}
    assert set(dsc) == {"core6", "large", "small", "inner_ear"}
    assert list(dsc["core6"].get_xdata()) == list(range(t.val_every, t.steps + 1, t.val_every))
    assert list(dsc["core6"].get_ydata()) == [e["groups"]["core6"] for e in val_ev]
    assert {g: line.get_color() for g, line in dsc.items()} == {g: SCORE_GROUP_COLORS[g] for g in dsc}
    assert f"after {t.steps} steps" in plot.snapshot(phantom=True)._suptitle.get_text()
