"""Progress bars that suit where the output goes: a live bar in terminals and notebooks, plain lines
in log files.

``progress_bar(...)`` takes tqdm's arguments. When ``sys.stderr`` (or ``file=``) is not a
terminal and the code is not running in a notebook, it prints one ordinary line every
:data:`STEP_PERCENT` percent of the total (or every :data:`EVERY_S` seconds, whichever comes
first) instead of carriage-return updates, so a redirected 12-minute run is a few dozen
readable lines, not one line of thousands of updates.
"""

from __future__ import annotations

import os
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
    """A tqdm bar for a notebook or a terminal, else a :class:`LogBar` printing plain lines."""
    from tqdm.auto import tqdm as auto_tqdm

    stream = kwargs.get("file") or sys.stderr
    # The widget bar only where a person watches it: a kernel of a Jupyter server session (which
    # sets JPY_SESSION_NAME). Headless runs (nbconvert, nbval, papermill) get plain lines, so the
    # stored notebook holds text, not a widget that GitHub and nbviewer cannot show.
    if _in_notebook() and os.environ.get("JPY_SESSION_NAME"):
        return auto_tqdm(*args, **kwargs)
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return std.tqdm(*args, **kwargs)
    return LogBar(*args, **kwargs)
