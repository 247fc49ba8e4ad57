"""Progress bars that suit where the output goes: a live bar in terminals, one updating line of
text in notebooks, plain lines in log files.

``progress_bar(...)`` takes tqdm's arguments. When ``sys.stderr`` (or ``file=``) is not a
terminal and the code is not running in a notebook, it prints one ordinary line every
:data:`STEP_PERCENT` percent of the total (or every :data:`EVERY_S` seconds, whichever comes
first) instead of carriage-return updates, so a redirected 12-minute run is a few dozen
readable lines, not one line of thousands of updates.

In a notebook kernel (JupyterLab, Colab, or headless nbconvert/nbval) the bar is one text output
updated in place (:class:`NotebookBar`): no widget, so a saved notebook shows the bar's final
state ("100%") as plain text, reopened anywhere, and nothing goes to stderr.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm import std

#: A plain line each time this many more percent of the total is done.
STEP_PERCENT = 5
#: ... or when this many seconds passed since the last line.
EVERY_S = 30.0


class LogBar(std.tqdm):
    """tqdm writing whole lines (no carriage returns): every few percent or every 30 s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._last_line: tuple[float, int, float] | None = None  # (time, step bucket, n)
        kwargs.setdefault("mininterval", 1.0)
        kwargs["dynamic_ncols"] = False
        kwargs.setdefault("ncols", 100)
        super().__init__(*args, **kwargs)

    def _bucket(self) -> int:
        return int(100 * self.n / self.total) // STEP_PERCENT if self.total else 0

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:  # type: ignore[override]
        """Print the bar's text as one line when a step or 30 s passed since the last line."""
        if msg == "":  # tqdm erasing the bar: lines are never erased
            return False
        now = time.monotonic()
        last = self._last_line
        if last is not None:
            if self.n == last[2]:
                return True
            due = (
                self._bucket() > last[1]
                or now - last[0] >= EVERY_S
                or (self.total is not None and self.n >= self.total)
            )
            if not due:
                return True
        self._last_line = (now, self._bucket(), self.n)
        self.fp.write((msg if msg is not None else self.__str__()).rstrip() + "\n")
        self.fp.flush()
        return True

    def clear(self, nolock: bool = False) -> None:
        """Nothing to erase: lines are never overwritten."""

    def close(self) -> None:
        """Print the final state (if not printed yet), then close."""
        if not self.disable and self._last_line is not None and self._last_line[2] != self.n:
            self._last_line = (0.0, -1, -1)  # force one last line
            self.display()
        self.leave = False  # the last line is printed: no trailing newline or erase from tqdm
        super().close()


class NotebookBar(std.tqdm):
    """tqdm drawn as one ``text/plain`` display output that each refresh replaces (a display id).

    A saved notebook keeps the last text sent, the finished bar; a bar closed with
    ``leave=False`` keeps it too (an erased bar would leave an empty output). Nothing is written
    to ``file``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        import io

        self._handle: Any = None
        kwargs["file"] = io.StringIO()  # tqdm's own writes (newlines on close) go nowhere
        kwargs["dynamic_ncols"] = False
        kwargs.setdefault("ncols", 100)
        kwargs.setdefault("mininterval", 0.5)
        kwargs.setdefault("ascii", False)  # the block characters, whatever ``file``'s encoding
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:  # type: ignore[override]
        """Show the bar's text in its output, replacing the previous text."""
        from IPython.display import display

        if msg == "":  # tqdm erasing the bar: keep the final state visible
            return True
        data = {"text/plain": (msg if msg is not None else self.__str__()).rstrip()}
        if self._handle is None:
            self._handle = display(data, raw=True, display_id=True)
        else:
            self._handle.update(data, raw=True)
        return True

    def clear(self, nolock: bool = False) -> None:
        """Nothing to erase: the next display replaces the text."""

    def close(self) -> None:
        """Show the final state, then close."""
        if not self.disable and self._handle is not None:
            self.display()
        super().close()


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()  # type: ignore[attr-defined]
    except AttributeError:
        return False
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def progress_bar(*args: Any, **kwargs: Any) -> std.tqdm:
    """A :class:`NotebookBar` in a notebook, a tqdm bar in a terminal, else a :class:`LogBar`."""
    stream = kwargs.get("file") or sys.stderr
    # In a notebook kernel (a person's or a headless run's) one text output updated in place: a
    # widget bar would be saved as "0%" text and a widget state that no later session has.
    if _in_notebook() and kwargs.get("file") is None:
        return NotebookBar(*args, **kwargs)
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return std.tqdm(*args, **kwargs)
    return LogBar(*args, **kwargs)
