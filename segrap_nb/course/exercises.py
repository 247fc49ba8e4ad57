"""Check a student's exercise answer against the solution computed in the notebook."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np


def _same(answer: Any, expected: Any, rtol: float, atol: float) -> bool:
    if answer is None or answer is Ellipsis:
        return False
    if isinstance(expected, str):
        return isinstance(answer, str) and answer.strip().lower() == expected.strip().lower()
    if isinstance(expected, (set, frozenset)):
        return isinstance(answer, Iterable) and set(answer) == set(expected)
    if isinstance(expected, Mapping):
        return (
            isinstance(answer, Mapping)
            and set(answer) == set(expected)
            and all(_same(answer[k], expected[k], rtol, atol) for k in expected)
        )
    try:
        a = np.asarray(answer, dtype=float)
        e = np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        return bool(answer == expected)
    return a.shape == e.shape and bool(np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True))


def check(
    answer: Any,
    expected: Any,
    *,
    name: str = "exercise",
    rtol: float = 1e-2,
    atol: float = 1e-9,
    hint: str = "",
) -> bool:
    """Print ✔, ✘, or "not answered yet" (for ``...`` or None) for ``answer`` against ``expected``.

    Numbers match within ``rtol``/``atol``, sets ignore order, strings ignore case. A blank answer
    never raises, so a notebook with unanswered exercises still runs top to bottom.
    """
    ok = _same(answer, expected, rtol, atol)
    if ok:
        print(f"✔ {name}: correct")
    elif answer is None or answer is Ellipsis:
        print(f"… {name}: not answered yet (replace the ... with your answer and run the cells again)")
    else:
        print(f"✘ {name}: not quite (you gave {answer!r})." + (f" Hint: {hint}" if hint else ""))
    return ok


def reveal(solution: Callable[..., Any]) -> str:
    """Print (and return) the source of an exercise's solution function, for a student who is stuck.

    Solutions live in ``segrap_nb.course.answers_NN`` (one module per notebook), not in the
    notebook, so Colab, GitHub and JupyterLab all keep them out of sight until asked for:
    ``reveal(answers_01.gtvp_volume_cm3)``.
    """
    source = inspect.getsource(solution)
    print(source)
    return source
