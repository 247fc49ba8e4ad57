"""Shared fixtures: a tiny dataset in the official release layout, built without the phantom;
a tiny run folder (untrained weights) and a tiny head-like release it can predict;
the quick run of notebook 04, trained once per code version (``quick_run``); test ordering for
pytest-xdist's ``--dist loadgroup``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import quick_run as QR
from tests.factories import write_tiny_case


@pytest.fixture(scope="session")
def tiny_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three tiny cases in the extracted release layout (read-only: copy before corrupting)."""
    root = tmp_path_factory.mktemp("tiny_release")
    for n in range(3):
        write_tiny_case(root, f"segrap_{n:04d}", seed=n)
    return root


@pytest.fixture
def tiny_copy(tiny_release: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the tiny release."""
    dst = tmp_path / "data"
    shutil.copytree(tiny_release, dst)
    return dst


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A run folder with a ``best.pt`` of the tiny test config (no training needed)."""
    from segrap_nb.training.checkpoint import save_checkpoint
    from segrap_nb.training.model import build_model
    from tests.factories import tiny_config

    cfg = tiny_config()
    run = tmp_path_factory.mktemp("run")
    save_checkpoint(
        run / "best.pt",
        {
            "model": build_model(cfg).state_dict(),
            "config": cfg.to_dict(),
            "step": 0,
            "best_metric": 0.0,
            "best_step": 0,
        },
    )
    return run


@pytest.fixture
def synth_copy(tmp_path) -> Path:
    """Four tiny head-like cases (images + maps) that the tiny run can predict."""
    from tests.factories import write_head_release

    return write_head_release(tmp_path / "D", n=2)


@pytest.fixture(scope="session")
def quick_run() -> Path:
    """Notebook 04's run folder holding the quick config trained on the default phantom (900 steps).

    Trained at most once per code version, even across workers and sessions (see tests/quick_run.py).
    A test that asks for it counts as slow and joins the xdist group of the run's readers
    (``quick_run_eval``) unless it is marked for another (a test that resumes the run: ``quick_run``).
    """
    return QR.ensure_quick_run()


@pytest.hookimpl(wrapper=True)  # around every other implementation, pytest-xdist's included
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    """Group the users of the quick run; order the work units (tests/quick_run.py: schedule_order)."""
    for item in items:
        if "quick_run" in getattr(item, "fixturenames", ()):
            if item.get_closest_marker("xdist_group") is None:
                item.add_marker(pytest.mark.xdist_group(QR.EVAL_GROUP))
            item.add_marker(pytest.mark.slow)
    yield
    # After every conftest's hook (notebooks/conftest.py groups the nbval cells) and xdist's.
    QR.schedule_order(items)
    QR.restore_xdist_groups(config, items)
