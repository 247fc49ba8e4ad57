"""Progress bars in a notebook: one text output updated in place, left at its final state."""

from __future__ import annotations

from typing import Any

import pytest

from segrap_nb import progress as P


class _Handle:
    def __init__(self, shown: list[str]) -> None:
        self.shown = shown

    def update(self, data: dict[str, str], raw: bool = False) -> None:
        self.shown.append(data["text/plain"])


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts a NotebookBar sends to its one output, in order (IPython's display replaced)."""
    import IPython.display

    texts: list[str] = []
    handles: list[_Handle] = []

    def display(data: dict[str, str], raw: bool = False, display_id: Any = None) -> _Handle:
        assert raw and display_id is True, "one raw text output with a display id"
        texts.append(data["text/plain"])
        handles.append(_Handle(texts))
        return handles[-1]

    monkeypatch.setattr(IPython.display, "display", display)
    return texts


@pytest.mark.parametrize("leave", [True, False])
def test_notebook_bar_keeps_its_final_state_as_text(shown: list[str], capsys, leave: bool) -> None:
    for _ in P.NotebookBar(range(40), desc="stats", mininterval=0, leave=leave):
        pass
    assert shown[0].startswith("stats:   0%")
    assert shown[-1].startswith("stats: 100%") and "40/40" in shown[-1]  # what a saved notebook keeps
    assert "█" in shown[-1]
    err = capsys.readouterr()
    assert err.err == "" and err.out == ""  # no stderr block, no stray newline


def test_notebook_bar_makes_one_output(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    made: list[Any] = []

    class Handle:
        def update(self, data: dict[str, str], raw: bool = False) -> None:
            pass

    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: made.append(a) or Handle())
    bar = P.NotebookBar(total=10, desc="x", mininterval=0)
    for _ in range(10):
        bar.update(1)
    bar.close()
    assert len(made) == 1  # later states replace the first output instead of adding outputs


def test_progress_bar_in_a_kernel_is_a_notebook_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(P, "_in_notebook", lambda: True)
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: type("H", (), {"update": print})())
    bar = P.progress_bar(total=3, desc="x", disable=True)
    assert isinstance(bar, P.NotebookBar)
    import io

    assert isinstance(P.progress_bar(total=3, file=io.StringIO(), disable=True), P.LogBar)  # a log
