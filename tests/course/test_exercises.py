"""Every exercise can be answered right and wrong, and its check tells the two apart.

Each notebook is executed once more (nbclient), with every exercise run twice in a row:

* its answer cell runs the solution's code (minus the ``check`` call) and sets ``answer`` to a
  plausible wrong value (a number off by half, a set with an extra member, another string):
  the solution cell's check must print ✘;
* a cell added after the solution sets ``answer = expected`` and runs the same check again:
  it must print ✔. The rest of the notebook then runs on the right answer.

A check that cannot fail, or a solution that reuses the student's ``answer``, fails here.
Each notebook is its own test. Notebooks 04, 05 and 06 use the session's quick run (the
``quick_run`` fixture trains it once when no run of this code exists): 04 resumes it in the
run's ``quick_run`` xdist group, 05 evaluates and 06 exports it in its ``quick_run_eval``
group; the others run on any worker.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests import quick_run as QR
from tests.notebook_cells import exercise_pairs

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
#: The notebooks that use the quick run (04 resumes it, 05 evaluates it, 06 exports it), in its xdist groups.
QUICK = tuple(QR.NOTEBOOKS)


def _is_check(stmt: ast.stmt) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "check"
        for n in ast.walk(stmt)
    )


def solution_body(source: str) -> str:
    """A solution cell's code without its ``check(...)`` statement(s): it computes ``expected``."""
    tree = ast.parse(source)
    tree.body = [s for s in tree.body if not _is_check(s)]
    return ast.unparse(tree)


#: Source of ``wrong_answer``, run both here and in the kernel (no annotations: the kernel has no ``Any``).
WRONG_ANSWER = '''
def wrong_answer(expected):
    """A plausible wrong answer of the same kind as ``expected``."""
    import numpy as np

    if isinstance(expected, str):
        return expected + " (wrong)"
    if isinstance(expected, (set, frozenset)):
        return set(expected) ^ {-1}
    if isinstance(expected, (bool, np.bool_)):
        return not expected
    wrong = np.asarray(expected, dtype=float) * 1.5 + 1
    return wrong.item() if wrong.ndim == 0 else wrong
'''
_namespace: dict = {}
exec(WRONG_ANSWER, _namespace)
wrong_answer = _namespace["wrong_answer"]


def _check_statements(source: str) -> str:
    """A solution cell's ``check(...)`` statement(s) alone."""
    tree = ast.parse(source)
    tree.body = [s for s in tree.body if _is_check(s)]
    return ast.unparse(tree)


def with_both_answers(nb: Any) -> tuple[Any, list[tuple[int, int]]]:
    """A copy of ``nb`` whose exercises run wrong, then right; the (✘ cell, ✔ cell) indices."""
    out = copy.deepcopy(nb)
    pairs = exercise_pairs(out)
    cells = []
    for a, s in pairs:
        body = solution_body(out.cells[s].source)
        out.cells[a].source = f"{WRONG_ANSWER}\n{body}\nanswer = wrong_answer(expected)\n"
    checks: list[tuple[int, int]] = []
    solutions = {s for _, s in pairs}
    for i, cell in enumerate(out.cells):
        cells.append(cell)
        if i in solutions:
            right = nbformat.v4.new_code_cell(f"answer = expected\n{_check_statements(cell.source)}\n")
            checks.append((len(cells) - 1, len(cells)))
            cells.append(right)
    out.cells = cells
    return out, checks


def _text(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def run_both(path: Path) -> list[tuple[str, str]]:
    """Execute ``path`` with each exercise answered wrong, then right; what each check printed."""
    from nbclient import NotebookClient

    nb, checks = with_both_answers(nbformat.read(path, as_version=4))
    NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    return [(_text(nb.cells[w]), _text(nb.cells[r])) for w, r in checks]


def test_answers_are_rewritten_from_the_solutions():
    nb = nbformat.read(NOTEBOOKS / "00_index.ipynb", as_version=4)
    (a, s), *_ = exercise_pairs(nb)
    both, checks = with_both_answers(nb)
    assert "answer = wrong_answer(expected)" in both.cells[a].source
    assert "check(" not in both.cells[a].source
    wrong, right = checks[0]
    assert both.cells[wrong].source == nb.cells[s].source  # the solution cell as shipped
    assert both.cells[right].source.startswith("answer = expected\nok = check(answer, expected")
    assert len(both.cells) == len(nb.cells) + len(checks)
    assert nb.cells[a].source.startswith("answer = ...")  # the original is untouched
    assert wrong_answer(12) == 19.0 and wrong_answer({4, 6}) == {4, 6, -1} and wrong_answer("hd95") != "hd95"


def _assert_checks_tell_right_from_wrong(path: Path) -> None:
    texts = run_both(path)
    assert texts, f"{path.name}: no exercise"
    problems = []
    for n, (wrong, right) in enumerate(texts, 1):
        if "✘" not in wrong:
            problems.append(f"{path.name} exercise {n} with a wrong answer: printed {wrong.strip()!r}")
        if "✔" not in right:
            problems.append(f"{path.name} exercise {n} with the solution: printed {right.strip()!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.name for p in ALL if p.name not in QUICK])
def test_every_check_fails_with_a_wrong_answer_and_passes_with_the_solution(name: str) -> None:
    _assert_checks_tell_right_from_wrong(NOTEBOOKS / name)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=pytest.mark.xdist_group(QR.NOTEBOOKS[name])) for name in QUICK]
)
def test_every_check_of_the_training_notebooks_tells_right_from_wrong(name: str, quick_run: Path) -> None:
    # quick_run (tests/conftest.py): notebook 04's run, trained once; 04 resumes it, 05 evaluates it.
    _assert_checks_tell_right_from_wrong(NOTEBOOKS / name)
