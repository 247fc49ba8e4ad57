"""The type stub ``segrap_nb/__init__.pyi`` matches the lazy API table of ``segrap_nb/__init__.py``."""

from __future__ import annotations

import ast
from pathlib import Path

import segrap_nb

STUB = Path(segrap_nb.__file__).with_suffix(".pyi")


def _stub_imports() -> dict[str, str]:
    """Public name -> module, from the stub's ``from MODULE import NAME as NAME`` lines."""
    out: dict[str, str] = {}
    for node in ast.parse(STUB.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                assert alias.asname == alias.name, f"{alias.name}: re-export as itself (PEP 484)"
                out[alias.name] = node.module or ""
    return out


def test_stub_names_and_modules_are_the_api_table():
    assert _stub_imports() == segrap_nb._API


def test_stub_declares_the_other_public_names():
    declared = {
        node.target.id
        for node in ast.parse(STUB.read_text(encoding="utf-8")).body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    assert {"__version__", "__all__"} <= declared
    assert set(segrap_nb.__all__) == set(_stub_imports()) | {"__version__"}


def test_every_stub_name_resolves_to_its_module():
    for name, module in _stub_imports().items():
        if module.startswith(("segrap_nb.training", "segrap_nb.viz")):
            continue  # torch / matplotlib: covered by the notebooks' and training tests' imports
        obj = getattr(segrap_nb, name)
        assert obj is getattr(__import__(module, fromlist=[name]), name)
