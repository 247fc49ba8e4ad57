"""The newcomer's documents follow the tree: CONTRIBUTING.md's layer table, the README's layout."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import segrap_nb

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(segrap_nb.__file__).parent


def _layers_of_test_layout() -> dict[str, int]:
    """``LAYERS`` of tests/test_layout.py, read from its source (test modules do not import each other)."""
    tree = ast.parse((ROOT / "tests" / "test_layout.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "LAYERS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("tests/test_layout.py has no LAYERS table")


def test_contributing_layer_table_is_the_enforced_one():
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    table = {}
    for layer, units in re.findall(r"^\|\s*(\d+)\s*\|([^|]*)\|", text, flags=re.M):
        for unit in re.findall(r"`([\w]+)`", units):
            table[unit] = int(layer)
    assert table == _layers_of_test_layout()


def test_readme_layout_names_every_module():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = text[text.index("## Layout") :]
    layout = layout[: layout.index("```", layout.index("```") + 3)]
    words = set(re.findall(r"[\w.]+", layout))
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if path.stem in ("__init__", "__main__"):
            continue
        if len(rel.parts) > 1 and f"{rel.parts[0]}/" not in layout:
            missing.append(f"{rel.parts[0]}/")
        if path.stem not in words:
            missing.append(rel.as_posix())
    assert missing == []
