"""environment.yml (conda) and pyproject.toml (pip) name the same dependencies."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
#: conda-forge package name -> PyPI name, where they differ
CONDA_TO_PYPI = {"pytorch": "torch", "python-isal": "isal"}


def _name(spec: str) -> str:
    return re.split(r"[<>=!\[ ]", spec.strip(), maxsplit=1)[0].lower()


def _env_names(path: Path) -> set[str]:
    env = yaml.safe_load(path.read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(p) for p in dep["pip"] if not p.startswith("-")}
        elif _name(dep) not in {"python", "pip"}:
            names.add(CONDA_TO_PYPI.get(_name(dep), _name(dep)))
    return names


def test_environment_yml_matches_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert _env_names(ROOT / "environment.yml") == {_name(d) for d in deps}


def test_binder_environment_is_the_same_list():
    assert _env_names(ROOT / "binder" / "environment.yml") == _env_names(ROOT / "environment.yml")


def test_torch_is_pinned_only_for_dev_installs():
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text()
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert [d for d in deps if _name(d) == "torch"] == ["torch>=2.1"]
