"""Issue 13, ``segrap-nb train``: bad configurations, a full disk and a second writer are one line; progress in a log is lines.

Split from the former tests/test_safety.py (one numbered case of the issue per test).
"""

from __future__ import annotations

import pytest

from segrap_nb.cli import main
from tests.safety import (
    cli_command,
    final_error_line,
    needs_ns,
    one_error_line,
    run_on_small_disk,
)


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
        cli_command(
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
