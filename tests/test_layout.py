"""The package's layers: every import of segrap_nb code goes to the same or a lower layer, and no
two modules import each other, directly or through others, at module level or inside a function."""

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
    "progress": 0,
    "parallel": 0,
    "reference_data": 0,
    "io": 1,
    "phantom": 2,
    "sources": 3,
    "analysis": 4,
    "eval": 4,
    "training": 5,  # below viz: training reports through callbacks, the pictures live in viz
    "viz": 6,
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


def module_name(path: Path, root: Path, package: str) -> str:
    """Dotted module name of a file under the package folder ``root`` (a package's ``__init__`` is the package)."""
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST) -> bool:
    """True for ``if TYPE_CHECKING:`` (its imports never run, so they cannot form a cycle)."""
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, function bodies included, outside ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if _type_checking_only(child):
                stack.extend(child.orelse)  # type: ignore[attr-defined]
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            else:
                stack.append(child)
    return found


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> modules of ``package`` it imports anywhere in its code (lazy imports included).

    ``from pkg.a import b`` is an import of the module ``pkg.a.b`` when that is a module, else
    of ``pkg.a``; relative imports are resolved against the importing module.
    """
    files = {module_name(p, root, package): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    up = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            edges |= {t for t in targets if t in files and t != name}
        graph[name] = edges
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other (strongly connected components of 2+ modules), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm (a graph of ~100 modules: recursion is fine)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


def test_no_import_cycles_between_modules_lazy_imports_included():
    assert import_cycles(import_graph(PACKAGE, "segrap_nb")) == []


def test_cycle_check_sees_a_cycle_through_a_function_level_import(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .c import g\n    return g\n")
    (pkg / "sub" / "c.py").write_text("import pkg.sub.a\ndef g():\n    pass\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import e\n")
    (pkg / "e.py").write_text("from pkg import d\n")
    graph = import_graph(pkg, "pkg")
    assert graph["pkg.sub.b"] == {"pkg.sub.c"}  # the lazy, relative import is an edge
    assert graph["pkg.d"] == set()  # a TYPE_CHECKING import never runs
    assert import_cycles(graph) == [["pkg.sub.a", "pkg.sub.b", "pkg.sub.c"]]


def test_no_function_of_the_package_is_over_80_lines():
    """Small functions: every function or method in segrap_nb is at most 80 lines, docstring included."""
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > 80:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


TESTS = Path(__file__).resolve().parent


def imports_of_test_modules(root: Path, package: str) -> list[str]:
    """``importer -> test module`` for every import of a ``test_*`` module or a ``conftest`` (lazy included)."""
    graph = import_graph(root, package)
    return sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        for target in targets
        if target.rpartition(".")[2].startswith(("test_", "conftest"))
    )


def test_no_test_module_imports_another(tmp_path):
    """Shared helpers live in conftest.py, factories.py or a plain module, never in a test module."""
    fake = tmp_path / "tests"
    (fake / "io").mkdir(parents=True)
    for init in (fake / "__init__.py", fake / "io" / "__init__.py", fake / "helpers.py"):
        init.write_text("")
    (fake / "test_a.py").write_text("from tests.helpers import x\n")
    (fake / "io" / "test_b.py").write_text("def test_b():\n    from tests.test_a import y\n")
    assert imports_of_test_modules(fake, "tests") == ["tests.io.test_b -> tests.test_a"]
    assert imports_of_test_modules(TESTS, "tests") == []
