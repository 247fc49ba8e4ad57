"""The ``segrap-nb`` command line as a package: shared options, the output guard, no name shadowing."""

from __future__ import annotations

import importlib
import os
import pkgutil

import pandas as pd
import pytest

import segrap_nb
from segrap_nb.cli import COMMANDS, main

WRITING = ("official.csv", "per_case.csv", "summary.csv")


def _evaluate(tiny_release, out) -> int:
    return main(
        ["evaluate", "--pred", str(tiny_release), "--gt", str(tiny_release), "--task", "2", "--out", str(out)]
    )


def test_evaluate_refuses_to_replace_a_users_per_case_csv(tiny_release, tmp_path, capsys):
    out = tmp_path / "scores"
    out.mkdir()
    notes = out / "per_case.csv"
    notes.write_text("my notes: case 3 looks odd, ask Dr. Li\n", encoding="utf-8")
    assert _evaluate(tiny_release, out) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "per_case.csv" in err and "not written by segrap-nb" in err
    assert notes.read_text(encoding="utf-8") == "my notes: case 3 looks odd, ask Dr. Li\n"
    assert sorted(p.name for p in out.iterdir()) == ["per_case.csv"]  # nothing else written


def test_evaluate_replaces_its_own_files_and_leaves_others(tiny_release, tmp_path):
    out = tmp_path / "scores"
    out.mkdir()
    (out / "README.txt").write_text("mine\n", encoding="utf-8")
    assert _evaluate(tiny_release, out) == 0
    first = pd.read_csv(out / "per_case.csv")
    assert len(first) == 3 * 2 and (first["dsc"] == 1.0).all()
    assert _evaluate(tiny_release, out) == 0  # a second run replaces the kit's own files
    assert pd.read_csv(out / "per_case.csv").equals(first)
    assert (out / "README.txt").read_text(encoding="utf-8") == "mine\n"
    assert all((out / name).is_file() for name in WRITING)


@pytest.mark.parametrize("value", ["0", str((os.cpu_count() or 1) + 1), "two"])
def test_workers_is_bounded_by_the_cpu_count(tiny_release, value, capsys):
    for command in (["validate", str(tiny_release)], ["stats", str(tiny_release), "--out", "unused"]):
        with pytest.raises(SystemExit) as exc:
            main([*command, "--workers", value])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "--workers" in err and len(err.strip().splitlines()) == 1


def test_one_progress_switch_and_the_old_spelling_hidden(capsys):
    for command in ("phantom", "validate", "stats", "train", "predict", "evaluate", "export-nnunet"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--no-progress" in capsys.readouterr().out, command
    with pytest.raises(SystemExit):
        main(["phantom", "--help"])
    assert "--quiet" not in capsys.readouterr().out  # still accepted: tests/phantom/test_phantom.py


def test_each_command_is_a_module_of_the_cli_package():
    for name, (module, _) in COMMANDS.items():
        if module.startswith("segrap_nb.cli."):
            mod = importlib.import_module(module)
            assert callable(mod.add_arguments) and callable(mod.run), name
    for domain in ("phantom.writer", "analysis.validate", "analysis.stats", "eval.evaluate", "io.nnunet"):
        mod = importlib.import_module(f"segrap_nb.{domain}")
        assert not hasattr(mod, "add_arguments") and not hasattr(mod, "run"), domain


@pytest.mark.parametrize("command", ["train", "predict"])
def test_running_a_command_leaves_the_api_functions_callable(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--no-such-option"])
    assert exc.value.code == 2
    capsys.readouterr()
    from segrap_nb.training import predict, train

    assert callable(train) and callable(predict)
    assert callable(segrap_nb.train) and callable(segrap_nb.predict)
    training = importlib.import_module("segrap_nb.training")
    assert callable(training.train) and callable(training.predict)
    assert train.__module__ == "segrap_nb.training.loop"
    assert predict.__module__ == "segrap_nb.training.prediction"


def test_no_submodule_is_named_like_a_name_its_package_exports():
    clashes = []
    for info in pkgutil.walk_packages(segrap_nb.__path__, "segrap_nb."):
        if not info.ispkg or info.name == "segrap_nb.cli":
            continue
        package = importlib.import_module(info.name)
        exported = set(getattr(package, "__all__", ()))
        subs = {m.name for m in pkgutil.iter_modules(package.__path__)}
        clashes += [f"{info.name}.{s}" for s in sorted(subs & exported)]
    root_subs = {m.name for m in pkgutil.iter_modules(segrap_nb.__path__)}
    clashes += [f"segrap_nb.{s}" for s in sorted(root_subs & set(segrap_nb.__all__))]
    assert clashes == []
