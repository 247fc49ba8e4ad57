"""The course: the notebook sequence, its Colab/Binder links and the cells every notebook shares.

One place for what the index notebook lists and what ``tests/course/test_course.py`` checks in
every notebook (badge, Colab set-up cell, "what you will learn", exercises).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

#: Where the kit is published (Colab installs it from here).
REPO_URL = "https://github.com/segrap-nb/segrap-nb"
REPO_SLUG = REPO_URL.removeprefix("https://github.com/")
BRANCH = "main"


@dataclass(frozen=True)
class Lesson:
    """One notebook of the course: file, title, what it teaches, minutes needed, prerequisites."""

    file: str
    title: str
    teaches: str
    minutes: int
    needs: str


LESSONS: tuple[Lesson, ...] = (
    Lesson(
        "00_index.ipynb",
        "Course map and set-up check",
        "what is where; check the installation, the device and the data",
        5,
        "none",
    ),
    Lesson(
        "01_data.ipynb",
        "Loading and understanding SegRap",
        "release layout and zips, NIfTI headers and orientation, HU and windows, "
        "plain vs contrast CT, 45 masks vs the 54-label one-hot map, the GTVs",
        30,
        "00",
    ),
    Lesson(
        "02_viewer.ipynb",
        "Interactive viewing in 2D and 3D",
        "three-plane viewer at the true aspect ratio, window presets, organ overlays, "
        "3D surfaces, itkwidgets where it can load",
        20,
        "01",
    ),
    Lesson(
        "03_statistics.ipynb",
        "Reproducing the published statistics",
        "resolution and label tables beside the dataset card, organ volumes, class imbalance, HU per organ",
        25,
        "01",
    ),
    Lesson(
        "04_training.ipynb",
        "Training a compact 3D U-Net",
        "resampling and caching, class-balanced patches, augmentation with the L/R swap, "
        "Dice + CE loss, a training loop by hand, quick CPU mode vs a GPU setting, one run "
        "folder per setting, resuming, sliding windows, one new CT, nnU-Net next steps",
        40,
        "01, 03",
    ),
    Lesson(
        "05_evaluation.ipynb",
        "Evaluating like the challenge",
        "DSC, NSD and HD95 per organ, empty masks, the official table, why small organs "
        "are hard, failure cases, largest-piece clean-up, Task 2 (GTVp, GTVnd)",
        30,
        "04",
    ),
    Lesson(
        "06_submit.ipynb",
        "Submitting: the algorithm container",
        "why a container, the platform's interface (two .mha CTs in, one 4D .mha out), "
        "export-algorithm, the entry point run locally without Docker, the 4D output channel by "
        "channel, scoring it, the Docker build / test / save commands",
        25,
        "04, 05",
    ),
)


def colab_badge(notebook: str) -> str:
    """Markdown of an "Open in Colab" badge for ``notebooks/<notebook>``."""
    url = f"https://colab.research.google.com/github/{REPO_SLUG}/blob/{BRANCH}/notebooks/{notebook}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


#: The first code cell of every notebook: on Colab it installs the kit and prepares the data
#: (and picks the GPU training setting when Colab gives a GPU); anywhere else it does nothing.
COLAB_CELL = f"""# Google Colab only: install the kit, make the phantom. Outside Colab this cell does nothing.
import os, sys
if "google.colab" in sys.modules:
    !pip -q install "segrap-nb @ git+{REPO_URL}@{BRANCH}"
    import torch
    if torch.cuda.is_available():
        os.environ.setdefault("SEGRAP_TRAIN_CONFIG", "gpu")  # notebook 04 then trains the GPU setting
    from segrap_nb import data_root
    print("data:", data_root())"""


def measured_runs() -> pd.DataFrame | None:
    """Measured headless run time (s) and peak kernel memory (MB) per notebook, if recorded."""
    from segrap_nb.reference_data import notebook_runs

    return notebook_runs()


def measured_run(notebook: str) -> str:
    """One line on the recorded headless run of ``notebook`` (seconds, peak MB), or why there is none."""
    runs = measured_runs()
    row = None if runs is None else runs[runs["notebook"] == notebook]
    if row is None or row.empty:
        return f"{notebook}: no measured run recorded (python benchmarks/bench_notebooks.py records one)"
    sec, mb = float(row["seconds"].iloc[0]), float(row["peak_mb"].iloc[0])
    return (
        f"{notebook}: measured headless run {sec:.0f} s ({sec / 60:.1f} min), peak memory "
        f"{mb:.0f} MB, on the quick phantom and 2 CPU cores (benchmarks/bench_notebooks.py); "
        "your machine and its load change it"
    )


def course_map() -> pd.DataFrame:
    """The course as a table: notebook, title, what it teaches, minutes, prerequisites, measured cost."""
    import pandas as pd

    df = pd.DataFrame([vars(lesson) for lesson in LESSONS]).rename(
        columns={"file": "notebook", "minutes": "study time (min)", "needs": "after"}
    )
    runs = measured_runs()
    if runs is not None:
        runs = runs.rename(columns={"seconds": "headless run (s)", "peak_mb": "peak memory (MB)"})
        measured = ["headless run (s)", "peak memory (MB)"]
        df = df.merge(runs[["notebook", *measured]], on="notebook", how="left")
        df[measured] = df[measured].astype(object).where(df[measured].notna(), "—")  # no run recorded yet
    return df


def add_course_cells(path: str) -> bool:
    """Give a notebook its Colab badge and Colab set-up cell if missing; True if it changed."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    name = path.rsplit("/", 1)[-1]
    changed = False
    first_md = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first_md is not None and "colab-badge.svg" not in first_md.source:
        first_md.source = f"{colab_badge(name)}\n\n{first_md.source}"
        changed = True
    first_code = next((c for c in nb.cells if c.cell_type == "code"), None)
    if first_code is None or 'if "google.colab" in sys.modules' not in first_code.source:
        cell = nbformat.v4.new_code_cell(COLAB_CELL)
        at = nb.cells.index(first_md) + 1 if first_md is not None else 0
        nb.cells.insert(at, cell)
        changed = True
    if changed:
        nbformat.write(nb, path)
    return changed


if __name__ == "__main__":
    import sys

    for arg in sys.argv[1:]:
        if add_course_cells(arg):
            print("added the Colab badge and set-up cell to", arg)
