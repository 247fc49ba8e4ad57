"""Every exercise can be answered right and wrong, and its check tells the two apart.

Each notebook is executed twice more (nbclient), after rewriting its answer cells:

* **solutions**: each answer cell runs its solution cell's code (minus the ``check`` call) and
  sets ``answer = expected``: every check must print ✔;
* **wrong answers**: the same, with ``answer`` a plausible wrong value (a number off by half,
  a set with an extra member, another string): every check must print ✘.

A check that cannot fail, or a solution that reuses the student's ``answer``, fails here. The
two passes of one notebook run one after the other (they share the kit's cache folder: runs,
predictions); notebooks 04 and 05 form one chain (05 evaluates 04's run) and the other
notebooks a second chain, side by side. Notebook 04 resumes its finished run from the kit's
cache (the session's ``quick_run`` fixture trains it once when no run of this code exists).
"""

from __future__ import annotations

import ast
import copy
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
MODES = ("solution", "wrong")
#: Notebook chains: the passes inside a chain run in order, the chains in parallel.
CHAINS = (
    ("04_training.ipynb", "05_evaluation.ipynb"),
    ("00_index.ipynb", "01_data.ipynb", "02_viewer.ipynb", "03_statistics.ipynb"),
)


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def exercise_pairs(nb: Any) -> list[tuple[int, int]]:
    """(answer cell index, solution cell index) of every exercise: the solution is the next code cell."""
    pairs = []
    for i, cell in enumerate(nb.cells):
        if "answer" not in _tags(cell):
            continue
        j = next(k for k in range(i + 1, len(nb.cells)) if nb.cells[k].cell_type == "code")
        assert "solution" in _tags(nb.cells[j]), f"cell {i}: the code cell after an answer is its solution"
        pairs.append((i, j))
    return pairs


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


def with_answers(nb: Any, mode: str) -> Any:
    """A copy of ``nb`` whose answer cells hold the solution (``mode='solution'``) or a wrong answer."""
    out = copy.deepcopy(nb)
    for a, s in exercise_pairs(out):
        body = solution_body(out.cells[s].source)
        value = "expected" if mode == "solution" else "wrong_answer(expected)"
        out.cells[a].source = (WRONG_ANSWER + "\n" if mode == "wrong" else "") + f"{body}\nanswer = {value}\n"
    return out


def _text(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def run_pass(path: Path, mode: str) -> list[str]:
    """Execute ``path`` with its answers rewritten for ``mode``; the solution cells' printed text."""
    from nbclient import NotebookClient

    nb = with_answers(nbformat.read(path, as_version=4), mode)
    NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    return [_text(nb.cells[s]) for _, s in exercise_pairs(nb)]


def test_answers_are_rewritten_from_the_solutions():
    nb = nbformat.read(NOTEBOOKS / "00_index.ipynb", as_version=4)
    a, _ = exercise_pairs(nb)[0]
    right, wrong = with_answers(nb, "solution"), with_answers(nb, "wrong")
    assert "check(" not in right.cells[a].source and right.cells[a].source.endswith("answer = expected\n")
    assert "answer = wrong_answer(expected)" in wrong.cells[a].source
    assert nb.cells[a].source.startswith("answer = ...")  # the original is untouched
    assert wrong_answer(12) == 19.0 and wrong_answer({4, 6}) == {4, 6, -1} and wrong_answer("hd95") != "hd95"


@pytest.mark.slow
def test_every_check_passes_with_the_solution_and_fails_with_a_wrong_answer(quick_run):
    # quick_run (tests/conftest.py): notebook 04's run, trained once; both passes of 04 resume it.
    by_name = {p.name: p for p in ALL}
    assert sorted(n for chain in CHAINS for n in chain) == sorted(by_name)

    def chain(names: tuple[str, ...]) -> dict[tuple[str, str], list[str]]:
        return {(n, m): run_pass(by_name[n], m) for n in names for m in MODES}

    with ThreadPoolExecutor(len(CHAINS)) as pool:
        results = {k: v for part in pool.map(chain, CHAINS) for k, v in part.items()}
    problems = []
    for (name, mode), texts in sorted(results.items()):
        mark = "✔" if mode == "solution" else "✘"
        assert texts, f"{name}: no exercise"
        for n, text in enumerate(texts, 1):
            if mark not in text:
                problems.append(f"{name} exercise {n} with the {mode}: printed {text.strip()!r}")
    assert not problems, "\n".join(problems)
