"""Issue 13: nothing a careless or unlucky user does loses data; every expected error is one line.

Each test reproduces one numbered case of the issue (overlapping outputs, two processes making
the default phantom, linked case folders, user files in output folders, read-only and full
disks, corrupt exports, bad arguments, killed training runs, progress in log files). Read-only
and full disks are real: a small tmpfs mounted in a private mount namespace (``unshare``);
those tests are skipped where user namespaces are not available.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from segrap_nb.cli import main
from segrap_nb.errors import DataError
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR, SegRapDataset
from segrap_nb.io.guards import MANIFEST, refuse_overlap
from segrap_nb.io.nifti import read_nifti, write_nifti
from segrap_nb.io.nnunet import export_nnunet
from tests.factories import TINY_AFFINE, zip_release

REPO = Path(__file__).resolve().parents[1]


def tree_digest(root: Path) -> dict[str, str]:
    """sha1 of every file below ``root`` (relative path -> digest)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def one_error_line(err: str) -> str:
    """The single ``error: ...`` line a failed command must print on stderr."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


def final_error_line(err: str) -> str:
    """After some progress lines, one ``error: ...`` line and no traceback (a failure mid-way)."""
    assert "Traceback" not in err, err
    errors = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, err
    assert err.strip().splitlines()[-1] == errors[0], err
    return errors[0]


# -- a tiny trained-shape run (weights untrained: prediction content does not matter here) ----
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A run folder with a ``best.pt`` of the tiny test config (no training needed)."""
    from segrap_nb.training.checkpoint import save_checkpoint
    from segrap_nb.training.model import build_model
    from tests.factories import tiny_config

    cfg = tiny_config()
    run = tmp_path_factory.mktemp("run")
    save_checkpoint(
        run / "best.pt",
        {
            "model": build_model(cfg).state_dict(),
            "config": cfg.to_dict(),
            "step": 0,
            "best_metric": 0.0,
            "best_step": 0,
        },
    )
    return run


@pytest.fixture
def synth_copy(tmp_path) -> Path:
    """Four tiny head-like cases (images + maps) that the tiny run can predict."""
    from tests.factories import write_head_release

    return write_head_release(tmp_path / "D", n=2)


# == 1. predict never writes over (or around) the dataset =====================================
def test_predict_refuses_every_output_that_overlaps_the_dataset(tiny_run, synth_copy, tmp_path, capsys):
    D = synth_copy
    zips = tmp_path / "Z"
    zip_release(D, zips)
    (tmp_path / "link").symlink_to(D)
    before, before_zips = tree_digest(D), tree_digest(zips)
    cases = [
        ["--data", str(D / IMAGES_DIR), "--out", str(D)],  # the case: out = parent
        ["--data", str(zips / f"{IMAGES_DIR}.zip"), "--out", str(zips)],  # folders beside the zip
        ["--data", str(D), "--out", str(D / "pred")],  # out inside the dataset
        ["--data", str(D), "--out", str(tmp_path)],  # the dataset inside out
        ["--data", str(tmp_path / "link"), "--out", str(D / "p")],  # through a link
    ]
    for args in cases:
        code = main(["predict", "--run", str(tiny_run), *args, "--device", "cpu"])
        line = one_error_line(capsys.readouterr().err)
        assert code == 2, (args, line)
        assert "overlaps" in line, (args, line)
    assert tree_digest(D) == before
    assert tree_digest(zips) == before_zips
    assert sorted(p.name for p in zips.iterdir()) == [f"{IMAGES_DIR}.zip", f"{ONEHOT_DIR}.zip"]
    # The same run, with an output outside the dataset, predicts (the refusal is not blanket).
    code = main(
        [
            "predict",
            "--run",
            str(tiny_run),
            "--data",
            str(D),
            "--out",
            str(tmp_path.parent / f"{tmp_path.name}-pred"),
            "--device",
            "cpu",
            "--no-masks",
        ]
    )
    assert code == 0


def test_refuse_overlap_follows_linked_folders_inside_the_dataset(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "segrap_0000").mkdir(parents=True)
    D = tmp_path / "D"
    D.mkdir()
    (D / IMAGES_DIR).symlink_to(elsewhere)
    with pytest.raises(DataError, match="overlaps the dataset's folder"):
        refuse_overlap(elsewhere / "segrap_0000", D)
    refuse_overlap(tmp_path / "pred", D)  # a sibling is fine


def test_predict_replaces_only_files_it_wrote(tiny_run, synth_copy, tmp_path, capsys):
    out = tmp_path / "pred"
    args = [
        "predict",
        "--run",
        str(tiny_run),
        "--data",
        str(synth_copy),
        "--out",
        str(out),
        "--cases",
        "segrap_0001",
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    assert main(args) == 0  # its own files: replaced
    mine = out / IMAGES_DIR / "segrap_0001" / "Brain.nii.gz"
    users = tmp_path / "other"
    users.mkdir()
    (users / IMAGES_DIR / "segrap_0001").mkdir(parents=True)
    (users / IMAGES_DIR / "segrap_0001" / "Brain.nii.gz").write_bytes(b"the user's own mask")
    capsys.readouterr()
    assert main(args[:-5] + [str(users), "--cases", "segrap_0001", "--device", "cpu"]) == 2
    assert "not written by segrap-nb" in one_error_line(capsys.readouterr().err)
    assert (users / IMAGES_DIR / "segrap_0001" / "Brain.nii.gz").read_bytes() == b"the user's own mask"
    assert mine.exists()


# == 2. two processes making the default phantom ==============================================
_MAKE_DEFAULT = "from segrap_nb.sources import data_root; print(data_root())"


def _python(code: str, env: dict, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )


def test_two_processes_make_one_complete_default_phantom(tmp_path):
    from segrap_nb.analysis.validate import validate_dataset

    env = {**os.environ, "SEGRAP_CACHE": str(tmp_path / "cache")}
    env.pop("SEGRAP_DATA", None)
    first = _python(_MAKE_DEFAULT, env)
    time.sleep(0.7)  # the timing: the second asks while the first is writing
    second = _python(_MAKE_DEFAULT, env)
    outs = [p.communicate(timeout=300) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    roots = {o[0].strip().splitlines()[-1] for o in outs}
    assert len(roots) == 1
    root = Path(roots.pop())
    reports = validate_dataset(str(root), progress=False)
    assert len(reports) == 8
    assert sum(len(r.errors) for r in reports) == 0
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")) == [
        root.name
    ]  # no temporary build folder left behind
    assert not list((tmp_path / "cache").glob("*.building"))


def test_half_built_default_phantom_is_rebuilt(tmp_path, monkeypatch):
    from segrap_nb.config import default_phantom_dir
    from segrap_nb.sources import data_root

    monkeypatch.setenv("SEGRAP_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SEGRAP_DATA", raising=False)
    out = default_phantom_dir()
    case = out / IMAGES_DIR / "segrap_0000"
    case.mkdir(parents=True)
    (case / "image.nii.gz").write_bytes(b"half written")
    # ... and the old bug's state: a marker written over an incomplete tree.
    (out / "PHANTOM.txt").write_text("cases: 8\n")
    assert data_root() == out
    ds = SegRapDataset(out)
    assert len(ds) == 8
    assert all(len(c.files) == 49 and len(c.onehot) == 2 for c in ds)
    assert read_nifti(ds["segrap_0000"].files["image"]).shape == (128, 156, 112)


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


# == 5. export-nnunet and stats write only what they made =====================================
def test_export_keeps_the_users_files_and_refuses_to_replace_them(tiny_release, tmp_path):
    folder = export_nnunet(tiny_release, tmp_path / "raw", task=1, progress=False)
    own = folder / "imagesTr" / "segrap_0099_0000.nii.gz"
    own.write_bytes(b"the user's own case")
    export_nnunet(tiny_release, tmp_path / "raw", task=1, progress=False)
    assert own.read_bytes() == b"the user's own case"  # was deleted as "stale" before
    # A folder the kit did not make, holding a file with a name the export needs: untouched.
    other = tmp_path / "raw2" / folder.name / "labelsTr"
    other.mkdir(parents=True)
    (other / "segrap_0000.nii.gz").write_bytes(b"user labels")
    with pytest.raises(DataError, match="not written by segrap-nb"):
        export_nnunet(tiny_release, tmp_path / "raw2", task=1, progress=False)
    assert (other / "segrap_0000.nii.gz").read_bytes() == b"user labels"
    assert not (other.parent / "imagesTr").exists()


def test_export_removes_only_its_own_stale_files(tiny_copy, tmp_path):
    folder = export_nnunet(tiny_copy, tmp_path / "raw", task=1, progress=False)
    shutil.rmtree(tiny_copy / IMAGES_DIR / "segrap_0002")
    (tiny_copy / ONEHOT_DIR / "Task001" / "segrap_0002.nii.gz").unlink()
    (tiny_copy / ONEHOT_DIR / "Task002" / "segrap_0002.nii.gz").unlink()
    export_nnunet(tiny_copy, tmp_path / "raw", task=1, progress=False)
    assert not (folder / "labelsTr" / "segrap_0002.nii.gz").exists()
    listed = json.loads((folder / MANIFEST).read_text())["files"]
    assert "labelsTr/segrap_0002.nii.gz" not in listed
    assert "labelsTr/segrap_0001.nii.gz" in listed


def test_stats_refuses_to_replace_a_users_csv(tiny_release, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEGRAP_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "labels.csv").write_text("my own table\n")
    assert main(["stats", str(tiny_release), "--out", str(out), "--workers", "1"]) == 2
    assert "labels.csv" in one_error_line(capsys.readouterr().err)
    assert (out / "labels.csv").read_text() == "my own table\n"
    assert sorted(p.name for p in out.iterdir()) == ["labels.csv"]  # refused before any work
    mine = tmp_path / "mine"
    for _ in range(2):  # the kit replaces its own tables
        assert main(["stats", str(tiny_release), "--out", str(mine), "--workers", "1"]) == 0
    assert sorted(p.name for p in mine.iterdir()) == sorted(
        [MANIFEST, "comparison.csv", "gtv.csv", "headers.csv", "labels.csv", "resolution.csv", "volumes.csv"]
    )


def test_stats_refuses_an_output_inside_the_dataset(tiny_copy, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEGRAP_CACHE", str(tmp_path / "cache"))
    assert main(["stats", str(tiny_copy), "--out", str(tiny_copy / "stats")]) == 2
    assert "overlaps" in one_error_line(capsys.readouterr().err)
    assert not (tiny_copy / "stats").exists()


# == 6 and 7. read-only and full disks, for real (a tmpfs in a private mount namespace) =======
def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=1m none $d && umount $d"],
        capture_output=True,
    )
    return probe.returncode == 0


needs_ns = pytest.mark.skipif(not _namespaces_work(), reason="needs unshare -Urm (user namespaces)")


def run_on_small_disk(
    mount: Path,
    commands: str,
    size: str = "2m",
    readonly: bool = False,
    fill_to_kb: int | None = None,
    env: dict | None = None,
) -> subprocess.CompletedProcess:
    """Run shell ``commands`` with a fresh tmpfs of ``size`` at ``mount`` (read-only, or filled)."""
    mount.mkdir(parents=True, exist_ok=True)
    setup = f"mount -t tmpfs -o size={size} none '{mount}'"
    if fill_to_kb is not None:  # leave about fill_to_kb KiB free
        setup += (
            f" && dd if=/dev/zero of='{mount}/filler' bs=1k "
            f"count=$(( $(df -k --output=avail '{mount}' | tail -1) - {fill_to_kb} )) 2>/dev/null"
        )
    if readonly:
        setup += f" && mount -o remount,ro '{mount}'"
    env = {**os.environ, **(env or {})}
    return subprocess.run(
        ["unshare", "-Urm", "sh", "-c", f"{setup} && {commands}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )


def _cli(*args: str) -> str:
    return " ".join([f"'{sys.executable}'", "-m", "segrap_nb", *[f"'{a}'" for a in args]])


@needs_ns
def test_read_only_outputs_fail_first_with_one_line(tiny_release, tiny_run, synth_copy, tmp_path):
    ro = tmp_path / "ro"
    commands = (
        ' ; echo "rc=$?" >&2 ; '.join(
            [
                _cli("phantom", str(ro / "ph"), "--cases", "1", "--quiet"),
                _cli("stats", str(tiny_release), "--out", str(ro / "st"), "--workers", "1"),
                _cli("export-nnunet", str(tiny_release), "--out", str(ro / "raw"), "--task", "1"),
                _cli(
                    "predict",
                    "--run",
                    str(tiny_run),
                    "--data",
                    str(synth_copy),
                    "--out",
                    str(ro / "p"),
                    "--device",
                    "cpu",
                ),
                _cli(
                    "train",
                    "--config",
                    "quick",
                    "--data",
                    str(synth_copy),
                    "--out",
                    str(ro / "run"),
                    "--device",
                    "cpu",
                ),
            ]
        )
        + ' ; echo "rc=$?" >&2'
    )
    res = run_on_small_disk(ro, commands, readonly=True, env={"SEGRAP_CACHE": str(tmp_path / "cache")})
    blocks = res.stderr.strip().split("\n")
    errors = [b for b in blocks if b.startswith("error: ")]
    codes = [b for b in blocks if b.startswith("rc=")]
    assert codes == ["rc=2"] * 5, res.stderr
    assert len(errors) == 5, res.stderr
    assert all("read-only file system" in e for e in errors), res.stderr
    assert len(blocks) == 10, res.stderr  # nothing else: no traceback, no progress


@needs_ns
def test_read_only_stats_cache_is_a_warning(tiny_release, tmp_path):
    cache = tmp_path / "cache"
    res = run_on_small_disk(
        cache,
        _cli(
            "stats",
            str(tiny_release),
            "--out",
            str(tmp_path / "st"),
            "--workers",
            "1",
            "--cache-dir",
            str(cache / "stats"),
        ),
        readonly=True,
    )
    assert res.returncode == 0, res.stderr
    assert "statistics cache not written" in res.stderr
    assert "Traceback" not in res.stderr
    assert (tmp_path / "st" / "labels.csv").exists()


@needs_ns
def test_full_disk_phantom_zip_leaves_nothing(tmp_path):
    full = tmp_path / "full"
    res = run_on_small_disk(
        full,
        _cli("phantom", str(full / "ph"), "--cases", "2", "--zip", "--quiet")
        + f" ; echo rc=$? ; ls -A '{full}/ph'",
        size="3m",
    )
    listing = res.stdout.split("rc=", 1)[1].split()
    assert listing[0] == "2", res.stdout + res.stderr
    assert not [n for n in listing[1:] if ".zip" in n], listing  # no *.zip, no *.zip.part
    line = final_error_line(res.stderr)
    assert "no space left on the device" in line
    assert str(full / "ph") in line


@needs_ns
def test_full_disk_stats_writes_no_csv_at_all(tiny_release, tmp_path):
    full = tmp_path / "full"
    out = full / "st"
    res = run_on_small_disk(
        full,
        f"mkdir '{out}' && "
        + _cli("stats", str(tiny_release), "--out", str(out), "--workers", "1", "--no-cache")
        + f" ; echo rc=$? ; ls -A '{out}'",
        size="1m",
        fill_to_kb=12,
    )
    listing = res.stdout.split("rc=", 1)[1].split()
    assert listing[0] == "2", res.stdout + res.stderr
    assert not [n for n in listing[1:] if n.endswith(".csv") or n.endswith(".part")], listing
    assert "no space left on the device" in final_error_line(res.stderr)


@needs_ns
def test_full_disk_export_names_the_destination_not_the_source(tiny_release, tmp_path):
    zips = tmp_path / "zips"
    zip_release(tiny_release, zips)
    full = tmp_path / "full"
    res = run_on_small_disk(
        full,
        _cli("export-nnunet", str(zips), "--out", str(full / "raw"), "--task", "1"),
        size="1m",
        fill_to_kb=16,
    )
    assert res.returncode == 2, res.stderr
    line = final_error_line(res.stderr)
    assert "no space left on the device" in line
    assert str(full / "raw") in line
    assert str(zips) not in line


@needs_ns
def test_full_disk_train_is_one_line(synth_copy, tmp_path):
    from segrap_nb.training import train_config as C
    from tests.factories import tiny_config

    cfg_file = tmp_path / "tiny.yaml"
    C.save_config(
        tiny_config(**{"model.features": [16, 32], "train.steps": 2, "train.val_every": 2}), cfg_file
    )
    full = tmp_path / "full"
    res = run_on_small_disk(
        full,
        _cli(
            "train",
            "--config",
            str(cfg_file),
            "--data",
            str(synth_copy),
            "--out",
            str(full / "run"),
            "--device",
            "cpu",
            "--no-progress",
            "--cache",
            str(tmp_path / "pp"),
        ),
        size="1m",
        fill_to_kb=40,
    )
    assert res.returncode == 2, res.stderr
    assert "no space left on the device" in final_error_line(res.stderr)


# == 9. export-nnunet checks what it exports ==================================================
def _corrupt(root: Path, how: str) -> str:
    """Damage case segrap_0001 of ``root`` in one way; returns the file that must be named."""
    case = root / IMAGES_DIR / "segrap_0001"
    t1 = root / ONEHOT_DIR / "Task001" / "segrap_0001.nii.gz"
    ct = read_nifti(case / "image.nii.gz").array
    if how == "truncated":
        data = (case / "image.nii.gz").read_bytes()
        (case / "image.nii.gz").write_bytes(data[: len(data) // 2])
        return str(case / "image.nii.gz")
    if how == "nan":
        bad = ct.astype(np.float32)
        bad[0, 0, 0] = np.nan
        write_nifti(case / "image_contrast.nii.gz", bad, TINY_AFFINE)
        return str(case / "image_contrast.nii.gz")
    if how == "label200":
        m = read_nifti(t1).array.copy()
        m[0, 0, 0] = 200
        write_nifti(t1, m, TINY_AFFINE)
        return str(t1)
    if how == "shifted":
        shifted = TINY_AFFINE.copy()
        shifted[0, 3] += 10.0
        write_nifti(t1, read_nifti(t1).array, shifted)
        return str(t1)
    if how == "4d":
        write_nifti(case / "image.nii.gz", np.stack([ct, ct], axis=-1), TINY_AFFINE)
        return str(case / "image.nii.gz")
    raise ValueError(how)


@pytest.mark.parametrize("how", ["truncated", "nan", "label200", "shifted", "4d"])
def test_export_refuses_corrupt_content_naming_the_file(tiny_copy, tmp_path, capsys, how):
    named = _corrupt(tiny_copy, how)
    code = main(["export-nnunet", str(tiny_copy), "--out", str(tmp_path / "raw"), "--task", "1"])
    line = final_error_line(capsys.readouterr().err)
    assert code == 2, line
    assert line.startswith(f"error: {named}:"), line
    assert not (tmp_path / "raw" / "Dataset651_SegRapTask1" / "imagesTr").exists()


# == 10. every expected error is one line and exit status 2 ===================================
@pytest.mark.parametrize(
    "args",
    [
        ["--cases", "0"],
        ["--cases", "-1"],
        ["--cases", "10001"],
        ["--seed", "-1"],
        ["--cases", "two"],
    ],
)
def test_phantom_bad_arguments(tmp_path, capsys, args):
    with pytest.raises(SystemExit) as exc:
        main(["phantom", str(tmp_path / "ph"), *args])
    assert exc.value.code == 2
    assert "--" + args[0].lstrip("-") in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "ph").exists()


def test_phantom_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("keep me")
    assert main(["phantom", str(target), "--cases", "1", "--quiet"]) == 2
    assert "not a folder" in one_error_line(capsys.readouterr().err)
    assert target.read_text() == "keep me"


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--set", "train.lr=abc"], "train.lr must be float"),
        (["--set", "data.patch_size=[a, 2, 3]"], "data.patch_size must be list[int]"),
        (["--device", "tpu9"], "unknown device 'tpu9'"),
        (["--config", "CONFIG_DIR"], "is a folder, not a config file"),
    ],
)
def test_train_bad_configuration(synth_copy, tmp_path, capsys, extra, expected):
    (tmp_path / "cfgdir").mkdir()
    extra = [str(tmp_path / "cfgdir") if e == "CONFIG_DIR" else e for e in extra]
    code = main(["train", "--data", str(synth_copy), "--out", str(tmp_path / "run"), *extra])
    assert code == 2
    assert expected in one_error_line(capsys.readouterr().err)


def test_checkpoint_without_config_is_refused_in_one_line(synth_copy, tmp_path, capsys):
    import torch

    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model": {}}, run / "best.pt")
    assert (
        main(
            [
                "predict",
                "--run",
                str(run),
                "--data",
                str(synth_copy),
                "--out",
                str(tmp_path / "p"),
                "--device",
                "cpu",
            ]
        )
        == 2
    )
    assert "no 'config' entry" in one_error_line(capsys.readouterr().err)


def test_stats_on_a_non_utf8_path(tiny_release, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEGRAP_CACHE", str(tmp_path / "cache"))
    odd = Path(os.fsdecode(os.fsencode(str(tmp_path)) + b"/d\xff"))
    shutil.copytree(tiny_release, odd)
    out = tmp_path / "st"
    assert main(["stats", str(odd), "--out", str(out), "--workers", "1"]) == 0
    assert os.fsencode(str(odd)) in (out / "headers.csv").read_bytes()  # the path's own bytes


# == 11. training metrics after a kill, and one train per run folder ==========================
def test_metrics_after_a_kill_and_a_torn_line(synth_copy, tmp_path):
    from segrap_nb.training.loop import read_metrics, train
    from tests.factories import tiny_config

    kw = dict(cache_root=tmp_path / "cache", progress=False, device="cpu")
    cfg = tiny_config(**{"train.steps": 4, "train.val_every": 2})
    run = tmp_path / "run"
    # A run killed before its first checkpoint left reports behind: a new run starts clean.
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"kind": "train", "step": 1, "loss": 9.0}\n')
    train(cfg, synth_copy, run, stop_at=2, **kw)
    steps = [(e["kind"], e["step"]) for e in read_metrics(run)]
    assert steps == [("train", 1), ("train", 2), ("val", 2)]
    # Killed while writing a report: a torn last line, then --resume.
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"kind": "train", "step": 3, "lo')
    train(cfg, synth_copy, run, resume=True, **kw)
    steps = [(e["kind"], e["step"]) for e in read_metrics(run)]
    assert steps == [("train", 1), ("train", 2), ("val", 2), ("train", 3), ("train", 4), ("val", 4)]


def test_second_train_into_the_same_folder_stops(synth_copy, tmp_path, capsys):
    import fcntl

    run = tmp_path / "run"
    run.mkdir()
    with open(run / ".train.lock", "a") as held:  # a first train holds the run folder
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code = main(["train", "--data", str(synth_copy), "--out", str(run), "--device", "cpu"])
    assert code == 2
    assert "another segrap-nb train" in one_error_line(capsys.readouterr().err)
    assert sorted(p.name for p in run.iterdir()) == [".train.lock"]


# == 15. progress in a log file: plain lines ==================================================
def test_progress_in_a_log_is_plain_lines():
    from segrap_nb.progress import progress_bar

    log = io.StringIO()  # not a terminal
    for _ in progress_bar(range(1000), desc="train", file=log, mininterval=0):
        pass
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 21  # 0 %, every 5 %, 100 %
    assert lines[0].startswith("train:   0%")
    assert lines[-1].startswith("train: 100%")


def test_progress_in_a_log_every_30_seconds(monkeypatch):
    from segrap_nb import progress as P

    clock = [0.0]
    monkeypatch.setattr(P.time, "monotonic", lambda: clock[0])
    log = io.StringIO()
    bar = P.progress_bar(total=10_000, desc="slow", file=log, mininterval=0)
    for _ in range(100):  # 1 % in 100 updates of 1 s each: no 5 % step, three 30 s marks
        clock[0] += 1.0
        bar.update(1)
    assert len(log.getvalue().splitlines()) == 1 + 3
    bar.close()


def test_train_redirected_writes_lines_not_carriage_returns(synth_copy, tmp_path, capsys, monkeypatch):
    from segrap_nb.training import train_config as C
    from tests.factories import tiny_config

    monkeypatch.setenv("SEGRAP_CACHE", str(tmp_path / "kitcache"))
    cfg_file = tmp_path / "tiny.yaml"
    C.save_config(tiny_config(**{"train.steps": 20, "train.val_every": 0}), cfg_file)
    assert (
        main(
            [
                "train",
                "--config",
                str(cfg_file),
                "--data",
                str(synth_copy),
                "--out",
                str(tmp_path / "run"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    bar_lines = [ln for ln in err.splitlines() if ln.startswith("train:")]
    assert "\r" not in err
    assert bar_lines
    assert bar_lines[-1].startswith("train: 100%")
    assert len(bar_lines) <= 21


def test_evaluate_refuses_an_output_inside_either_dataset_before_any_work(tiny_copy, tmp_path, capsys):
    before = {f: f.read_bytes() for f in tiny_copy.rglob("*.nii.gz")}
    results = tmp_path / "results"  # beside the dataset (tmp_path itself contains it: refused too)
    for out in (tiny_copy, tiny_copy / IMAGES_DIR, tiny_copy / ONEHOT_DIR / "Task002", tmp_path, results):
        capsys.readouterr()
        code = main(
            ["evaluate", "--pred", str(tiny_copy), "--gt", str(tiny_copy), "--task", "2", "--out", str(out)]
        )
        err = capsys.readouterr().err.strip().splitlines()
        if out == results:
            assert code == 0
            assert sorted(p.name for p in results.glob("*.csv")) == [
                "official.csv",
                "per_case.csv",
                "summary.csv",
            ]
        else:
            assert code == 2
            assert len(err) == 1, err
            assert "overlaps" in err[0]
    assert not list(tiny_copy.rglob("*.csv"))
    assert {f: f.read_bytes() for f in tiny_copy.rglob("*.nii.gz")} == before
