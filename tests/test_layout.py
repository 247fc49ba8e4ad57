"""The package's layers: every import of segrap_nb code goes to the same or a lower layer."""

from __future__ import annotations

import ast
from pathlib import Path

import segrap_nb

PACKAGE = Path(segrap_nb.__file__).parent
#: Top-level module or subpackage -> its layer; a module may import only from layers <= its own.
LAYERS = {
    "errors": 0,
    "labels": 0,
    "config": 0,
    "grid": 0,
    "cli_args": 0,
    "progress": 0,
    "parallel": 0,
    "io": 1,
    "phantom": 2,
    "sources": 3,
    "analysis": 4,
    "eval": 4,
    "viz": 5,
    "training": 6,
    "submission": 7,
    "course": 7,
    "cli": 7,
    "__main__": 7,
    "__init__": 7,
}


def _unit(dotted: str) -> str:
    """The top-level unit of a dotted module name: ``segrap_nb.io.nifti`` -> ``io``."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    """Units of segrap_nb that a file imports (``from segrap_nb import x`` counts as unit ``x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "segrap_nb":
            if node.module == "segrap_nb":
                found |= {a.name for a in node.names if a.name in LAYERS}
            else:
                found.add(_unit(node.module))
        elif isinstance(node, ast.Import):
            found |= {_unit(a.name) for a in node.names if a.name.startswith("segrap_nb.")}
    return found


def test_every_module_belongs_to_a_layer():
    units = {
        p.stem if p.parent == PACKAGE else p.relative_to(PACKAGE).parts[0] for p in PACKAGE.rglob("*.py")
    }
    assert units <= set(LAYERS), sorted(units - set(LAYERS))


def test_imports_flow_downwards_only():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        me = rel.stem if len(rel.parts) == 1 else rel.parts[0]
        for other in _imports(path) - {me}:
            if LAYERS[other] > LAYERS[me]:
                upward.append(f"{rel} imports {other} (layer {LAYERS[other]} > {LAYERS[me]})")
    assert upward == []


def test_import_segrap_nb_stays_cheap():
    import subprocess
    import sys

    code = "import sys, segrap_nb; print(sorted(m for m in ('torch', 'matplotlib', 'monai') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
