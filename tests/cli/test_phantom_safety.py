"""Issue 13, ``segrap-nb phantom``: bad arguments and an output that is a file are one line, exit status 2.

Split from the former tests/test_safety.py (one numbered case of the issue per test).
"""

from __future__ import annotations

import pytest

from segrap_nb.cli import main
from tests.safety import (
    one_error_line,
)


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
