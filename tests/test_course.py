"""Every course notebook is complete course material: links, set-up cell, goals, exercises."""

from pathlib import Path

import nbformat
import pytest

from segrap_nb.course.lessons import COLAB_CELL, LESSONS, course_map

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def test_every_lesson_has_its_notebook_and_back():
    assert [p.name for p in ALL] == [lesson.file for lesson in LESSONS]
    table = course_map()
    assert list(table["notebook"]) == [lesson.file for lesson in LESSONS]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_notebook_is_course_material(path):
    nb = nbformat.read(path, as_version=4)
    md = [c for c in nb.cells if c.cell_type == "markdown"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "colab.research.google.com/github/" in md[0].source and path.name in md[0].source, "Open in Colab badge"
    assert code[0].source == COLAB_CELL, "first code cell: the Colab-only set-up cell"
    assert "what you will learn" in md[0].source.lower()
    checks = [c for c in code if "check(" in c.source and "import" not in c.source]
    assert 2 <= len(checks) <= 4, f"{len(checks)} checked exercises"
    hidden = [c for c in code if c.metadata.get("jupyter", {}).get("source_hidden")]
    assert len(hidden) >= 2, "solutions are in collapsed cells"
    for cell in code:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"stored error output in {path.name}"
    assert path.stat().st_size < 3_000_000
    assert "widgets" not in nb.metadata or len(str(nb.metadata["widgets"])) < 100_000
