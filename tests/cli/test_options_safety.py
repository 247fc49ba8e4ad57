"""Issue 13, the writing commands' output guard (segrap_nb.cli.options): a read-only output fails first, in one line.

Split from the former tests/test_safety.py (one numbered case of the issue per test).
"""

from __future__ import annotations

from tests.safety import (
    cli_command,
    needs_ns,
    run_on_small_disk,
)


@needs_ns
def test_read_only_outputs_fail_first_with_one_line(tiny_release, tiny_run, synth_copy, tmp_path):
    ro = tmp_path / "ro"
    commands = (
        ' ; echo "rc=$?" >&2 ; '.join(
            [
                cli_command("phantom", str(ro / "ph"), "--cases", "1", "--quiet"),
                cli_command("stats", str(tiny_release), "--out", str(ro / "st"), "--workers", "1"),
                cli_command("export-nnunet", str(tiny_release), "--out", str(ro / "raw"), "--task", "1"),
                cli_command(
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
                cli_command(
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
