"""Every course notebook is complete course material: links, set-up cell, goals, exercises."""

from pathlib import Path

import nbformat
import pytest

from segrap_nb.course.lessons import COLAB_CELL, LESSONS, course_map

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def answers_module(path: Path) -> str | None:
    """``answers_NN`` when the package keeps notebook NN's solutions (segrap_nb/course/answers_NN.py)."""
    name = f"answers_{path.name[:2]}"
    return (
        name
        if (Path(__file__).resolve().parents[2] / "segrap_nb" / "course" / f"{name}.py").is_file()
        else None
    )


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
    if answers_module(path):  # solutions live in the package: nothing hidden (Colab and GitHub show it)
        assert not hidden, "no collapsed cell: a solution is a call into segrap_nb.course.answers_NN"
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

    from tests.notebook_cells import exercise_pairs

    nb = nbformat.read(path, as_version=4)
    pairs = exercise_pairs(nb)
    checks = [
        c for c in nb.cells if c.cell_type == "code" and "check(" in c.source and "import" not in c.source
    ]
    assert len(pairs) == len(checks) >= 2
    module = answers_module(path)
    for a, s in pairs:
        answer, solution = nb.cells[a], nb.cells[s]
        assert answer.source.startswith("answer = ...") and len(answer.source.splitlines()) == 1
        if module:
            _assert_solution_calls_the_package(nb, s, module)
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


def _assert_solution_calls_the_package(nb, s: int, module: str) -> None:
    """Solution cell ``s``: ``expected = answers_NN.<function>(...)``, a documented function of the
    package, and the notebook tells a stuck student how to ``reveal`` it."""
    import ast
    import importlib

    solution = nb.cells[s]
    assert not solution.metadata.get("jupyter", {}).get("source_hidden"), f"cell {s}: not hidden"
    calls = [
        n
        for n in ast.walk(ast.parse(solution.source))
        if isinstance(n, ast.Assign)
        and [ast.unparse(t) for t in n.targets] == ["expected"]
        and isinstance(n.value, ast.Call)
        and ast.unparse(n.value.func).startswith(f"{module}.")
    ]
    assert len(calls) == 1, f"cell {s}: expected = {module}.<function>(...)"
    function = getattr(importlib.import_module(f"segrap_nb.course.{module}"), calls[0].value.func.attr)
    assert function.__doc__, f"{module}.{function.__name__} has a docstring"
    text = "".join(c.source for c in nb.cells)
    assert f"reveal({module}." in text, f"the notebook shows how to reveal a solution of {module}"


def test_glossary_rows_keep_their_formulas_and_expand_the_abbreviations():
    import re

    from segrap_nb.course.glossary import clinical_markdown, glossary_markdown

    rows = [r for r in glossary_markdown().splitlines() if r.startswith("| **")]
    cells = {r: [c for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in rows}
    assert all(len(c) == 2 for c in cells.values()), "a | inside a cell is escaped, not a column"
    dsc = next(r for r in rows if r.startswith("| **DSC**"))
    assert "2\\|P∩G\\| / (\\|P\\| + \\|G\\|)" in dsc
    for term in ("IAC", "ETbone", "VestibulSemi", "TMjoint", "PharynxConst", "one-hot map"):
        assert f"| **{term}** |" in glossary_markdown()
    assert "integer label map" in glossary_markdown()
    table = clinical_markdown().splitlines()
    assert len(table) == 2 + 6 and all(r.count(" | ") == 3 for r in table[2:])
    for organ, harm in (
        ("Lens", "cataract"),
        ("Parotid", "dry mouth"),
        ("Cochlea", "hearing loss"),
        ("SpinalCord", "myelopathy"),
        ("Chiasm", "vision loss"),
        ("BrainStem", ""),
    ):
        assert any(organ in r and harm in r for r in table), organ


def test_reveal_prints_the_solution_source(capsys):
    from segrap_nb.course.exercises import check, reveal

    text = reveal(check)
    assert text.startswith("def check(")
    assert "def check(" in capsys.readouterr().out


def test_short_path_hides_the_machine_folders(monkeypatch, tmp_path):
    from segrap_nb.config import short_path

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SEGRAP_CACHE", raising=False)
    assert short_path(tmp_path / "home" / ".cache" / "segrap-nb" / "phantom") == "~/.cache/segrap-nb/phantom"
    monkeypatch.setenv("SEGRAP_CACHE", str(tmp_path / "c"))
    assert short_path(tmp_path / "c" / "phantom-quick") == "$SEGRAP_CACHE/phantom-quick"
    assert short_path("/data/SegRap2023") == "/data/SegRap2023"  # elsewhere: as given
