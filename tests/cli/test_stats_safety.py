"""Issue 13, ``segrap-nb stats``: refuses a user's table and an output inside the dataset, writes no CSV on a full disk, any path.

Split from the former tests/test_safety.py (one numbered case of the issue per test).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from segrap_nb.cli import main
from segrap_nb.io.guards import MANIFEST
from tests.safety import (
    cli_command,
    final_error_line,
    needs_ns,
    one_error_line,
    run_on_small_disk,
)


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


@needs_ns
def test_full_disk_stats_writes_no_csv_at_all(tiny_release, tmp_path):
    full = tmp_path / "full"
    out = full / "st"
    res = run_on_small_disk(
        full,
        f"mkdir '{out}' && "
        + cli_command("stats", str(tiny_release), "--out", str(out), "--workers", "1", "--no-cache")
        + f" ; echo rc=$? ; ls -A '{out}'",
        size="1m",
        fill_to_kb=12,
    )
    listing = res.stdout.split("rc=", 1)[1].split()
    assert listing[0] == "2", res.stdout + res.stderr
    assert not [n for n in listing[1:] if n.endswith(".csv") or n.endswith(".part")], listing
    assert "no space left on the device" in final_error_line(res.stderr)


def test_stats_on_a_non_utf8_path(tiny_release, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEGRAP_CACHE", str(tmp_path / "cache"))
    odd = Path(os.fsdecode(os.fsencode(str(tmp_path)) + b"/d\xff"))
    shutil.copytree(tiny_release, odd)
    out = tmp_path / "st"
    assert main(["stats", str(odd), "--out", str(out), "--workers", "1"]) == 0
    assert os.fsencode(str(odd)) in (out / "headers.csv").read_bytes()  # the path's own bytes
