"""Issue 13, segrap_nb.analysis.stats_cache: a read-only cache is a warning, not an error.

Split from the former tests/test_safety.py (one numbered case of the issue per test).
"""

from __future__ import annotations

from tests.safety import (
    cli_command,
    needs_ns,
    run_on_small_disk,
)


@needs_ns
def test_read_only_stats_cache_is_a_warning(tiny_release, tmp_path):
    cache = tmp_path / "cache"
    res = run_on_small_disk(
        cache,
        cli_command(
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
