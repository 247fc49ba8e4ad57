"""Every course notebook is complete course material: links, set-up cell, goals, exercises."""

from pathlib import Path

import nbformat
import pytest

from segrap_nb.course.lessons import COLAB_CELL, LESSONS, course_map

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
#: Notebooks whose solutions live in ``segrap_nb.course.answers_NN`` (shown by ``reveal``), not in
#: collapsed cells that Colab and GitHub show open. The others still collapse theirs.
SOLUTIONS_IN_PACKAGE = {"03_statistics.ipynb", "04_training.ipynb", "05_evaluation.ipynb"}


def test_every_lesson_has_its_notebook_and_back():
    assert [p.name for p in ALL] == [lesson.file for lesson in LESSONS]
    table = course_map()
    assert list(table["notebook"]) == [lesson.file for lesson in LESSONS]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_notebook_is_course_material(path):
    nb = nbformat.read(path, as_version=4)
    md = [c for c in nb.cells if c.cell_type == "markdown"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "colab.research.google.com/github/" in md[0].source and path.name in md[0].source, (
        "Open in Colab badge"
    )
    assert code[0].source == COLAB_CELL, "first code cell: the Colab-only set-up cell"
    assert "what you will learn" in md[0].source.lower()
    checks = [c for c in code if "check(" in c.source and "import" not in c.source]
    assert 2 <= len(checks) <= 4, f"{len(checks)} checked exercises"
    hidden = [c for c in code if c.metadata.get("jupyter", {}).get("source_hidden")]
    if path.name in SOLUTIONS_IN_PACKAGE:
        assert not hidden, "no collapsed cell: Colab and GitHub show them open"
    else:
        assert len(hidden) >= 2, "solutions are in collapsed cells"
    assert "**open task.**" in "".join(c.source for c in md).lower(), "at least one open task"
    assert "## key points" in "".join(c.source for c in md).lower(), "key points"
    for cell in code:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"stored error output in {path.name}"
    assert path.stat().st_size < 3_000_000
    assert "widgets" not in nb.metadata or len(str(nb.metadata["widgets"])) < 100_000


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_exercises_ship_blank_with_a_hidden_solution_after_them(path):
    """Answer cells hold ``answer = ...``; the next code cell, collapsed, computes ``expected`` on its
    own (it uses ``answer`` only to check it) and its stored output says "not answered yet"."""
    import ast

    from tests.test_exercises import exercise_pairs

    nb = nbformat.read(path, as_version=4)
    pairs = exercise_pairs(nb)
    checks = [
        c for c in nb.cells if c.cell_type == "code" and "check(" in c.source and "import" not in c.source
    ]
    assert len(pairs) == len(checks) >= 2
    for a, s in pairs:
        answer, solution = nb.cells[a], nb.cells[s]
        assert answer.source.startswith("answer = ...") and len(answer.source.splitlines()) == 1
        if path.name in SOLUTIONS_IN_PACKAGE:
            _assert_solution_in_package(path, solution.source, s)
        else:
            assert solution.metadata.get("jupyter", {}).get("source_hidden"), f"cell {s}: collapsed"
        calls = [
            n
            for n in ast.walk(ast.parse(solution.source))
            if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "check"
        ]
        assert len(calls) == 1 and ast.unparse(calls[0].args[0]) == "answer"
        uses = [
            n for n in ast.walk(ast.parse(solution.source)) if isinstance(n, ast.Name) and n.id == "answer"
        ]
        assert len(uses) == 1, f"cell {s}: the solution must not compute from the student's answer"
        stored = "".join(o.get("text", "") for o in solution.get("outputs", []))
        assert "not answered yet" in stored, f"cell {s}: stored output {stored!r}"


def _assert_solution_in_package(path: Path, source: str, index: int) -> None:
    """``expected = answers_NN.<function>(...)``: a documented function of the notebook's module,
    and the notebook tells a stuck student how to ``reveal`` it."""
    import ast
    import importlib

    module_name = f"answers_{path.name[:2]}"
    module = importlib.import_module(f"segrap_nb.course.{module_name}")
    targets = [
        n
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Assign) and [ast.unparse(t) for t in n.targets] == ["expected"]
    ]
    assert len(targets) == 1, f"cell {index}: one `expected = ...`"
    call = targets[0].value
    assert isinstance(call, ast.Call) and ast.unparse(call.func).startswith(f"{module_name}."), (
        f"cell {index}: expected comes from {module_name}, got {ast.unparse(call)}"
    )
    function = getattr(module, ast.unparse(call.func).split(".", 1)[1])
    assert (function.__doc__ or "").strip(), f"{module_name}.{function.__name__}: docstring"
    assert f"reveal({module_name}." in source, f"cell {index}: says how to reveal the solution"


def test_reveal_prints_the_solution_source(capsys):
    from segrap_nb.course.exercises import check, reveal

    text = reveal(check)
    assert text.startswith("def check(")
    assert "def check(" in capsys.readouterr().out


def test_shown_path_hides_the_machine_specific_part(monkeypatch, tmp_path):
    from segrap_nb.course.display import shown_path

    monkeypatch.setenv("SEGRAP_CACHE", str(tmp_path / "kit"))
    assert shown_path(tmp_path / "kit" / "runs" / "quick-1") == "$SEGRAP_CACHE/runs/quick-1"
    monkeypatch.delenv("SEGRAP_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert shown_path(tmp_path / ".cache" / "segrap-nb" / "runs") == "~/.cache/segrap-nb/runs"
    assert shown_path("/elsewhere/x") == "/elsewhere/x"
