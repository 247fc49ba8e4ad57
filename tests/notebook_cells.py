"""Reading the course notebooks' exercises: which cells are answers and which their solutions."""

from __future__ import annotations

from typing import Any


def tags(cell: Any) -> list[str]:
    """The cell's tags (``answer``, ``solution``, ...)."""
    return list(cell.get("metadata", {}).get("tags", []))


def exercise_pairs(nb: Any) -> list[tuple[int, int]]:
    """(answer cell index, solution cell index) of every exercise: the solution is the next code cell."""
    pairs = []
    for i, cell in enumerate(nb.cells):
        if "answer" not in tags(cell):
            continue
        j = next(k for k in range(i + 1, len(nb.cells)) if nb.cells[k].cell_type == "code")
        assert "solution" in tags(nb.cells[j]), f"cell {i}: the code cell after an answer is its solution"
        pairs.append((i, j))
    return pairs
