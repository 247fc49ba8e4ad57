"""Test set-up for the notebooks under nbval (not course material).

* Each notebook's cells form one pytest-xdist work unit (``--dist loadgroup``): a notebook runs
  on one worker in its own kernel, and independent notebooks run side by side.
* Notebooks 04 (training), 05 (evaluation) and 06 (submission) use the shared quick run
  (tests/quick_run.py): before their first cell it is trained, or found already trained by this
  code, in the folder where notebook 04 trains, so notebook 04 resumes a finished run instead of
  training again. 04 joins the run's ``quick_run`` group (what resumes it), 05 and 06 its
  ``quick_run_eval`` group (what reads it); all count as slow (``make test-fast`` leaves them out).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import quick_run as QR


def _notebook(item: pytest.Item) -> str | None:
    """File name of the notebook an nbval cell item belongs to (None for other items)."""
    path = Path(str(item.path))
    return path.name if path.suffix == ".ipynb" else None


@pytest.hookimpl(wrapper=True)  # around every other implementation, pytest-xdist's included
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    """One xdist group per notebook; 04, 05 and 06 in the quick run's groups, marked slow."""
    for item in items:
        name = _notebook(item)
        if name in QR.NOTEBOOKS:
            item.add_marker(pytest.mark.xdist_group(QR.NOTEBOOKS[name]))
            item.add_marker(pytest.mark.slow)
        elif name is not None:
            item.add_marker(pytest.mark.xdist_group(f"notebook-{Path(name).stem}"))
    yield
    QR.restore_xdist_groups(config, items)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Make sure the quick run exists before a cell of notebook 04, 05 or 06 runs (once per worker)."""
    if _notebook(item) in QR.NOTEBOOKS:
        QR.ensure_quick_run()
