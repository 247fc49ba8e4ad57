"""Issue 13, segrap_nb.progress: progress written to a log file is plain lines, every 30 seconds.

Split from the former tests/test_safety.py (one numbered case of the issue per test).
"""

from __future__ import annotations

import io


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
