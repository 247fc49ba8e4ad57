"""Issue 13, ``segrap-nb predict``: never writes over or around the dataset, replaces only its own files.

Split from the former tests/test_safety.py (one numbered case of the issue per test).
"""

from __future__ import annotations

from segrap_nb.cli import main
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR
from tests.factories import zip_release
from tests.safety import (
    one_error_line,
    tree_digest,
)


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
