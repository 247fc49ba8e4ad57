"""Issue 13, segrap_nb.phantom.writer: a zip that does not fit leaves nothing behind.

Split from the former tests/test_safety.py (one numbered case of the issue per test).
"""

from __future__ import annotations

from tests.safety import (
    cli_command,
    final_error_line,
    needs_ns,
    run_on_small_disk,
)


@needs_ns
def test_full_disk_phantom_zip_leaves_nothing(tmp_path):
    full = tmp_path / "full"
    res = run_on_small_disk(
        full,
        cli_command("phantom", str(full / "ph"), "--cases", "2", "--zip", "--quiet")
        + f" ; echo rc=$? ; ls -A '{full}/ph'",
        size="3m",
    )
    listing = res.stdout.split("rc=", 1)[1].split()
    assert listing[0] == "2", res.stdout + res.stderr
    assert not [n for n in listing[1:] if ".zip" in n], listing  # no *.zip, no *.zip.part
    line = final_error_line(res.stderr)
    assert "no space left on the device" in line
    assert str(full / "ph") in line
