"""Run every course notebook headless, one kernel each, and record run time and peak memory.

Binder gives about 2 GB of RAM: every notebook in quick mode must stay under it. Writes
``segrap_nb/data/notebook_runs.csv`` (notebook, seconds, peak_mb), which the index notebook
and the README show, and prints the table.

    python benchmarks/bench_notebooks.py [notebooks/01_data.ipynb ...]
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from _common import BINDER_MB, ROOT

OUT = ROOT / "segrap_nb" / "data" / "notebook_runs.csv"

# Executed in a fresh interpreter per notebook, so RUSAGE_CHILDREN is that notebook's kernel.
_RUNNER = r"""
import json, resource, sys, time
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
t0 = time.perf_counter()
NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
seconds = time.perf_counter() - t0
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": round(seconds, 1), "peak_mb": round(peak_kb / 1024)}))
"""


def measure(notebook: Path) -> dict:
    """Execute one notebook in its own kernel; return its wall time (s) and peak kernel RSS (MB)."""
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(notebook), str(notebook.parent)],
        capture_output=True,
        text=True,
        check=True,
    )
    return {"notebook": notebook.name, **json.loads(proc.stdout.strip().splitlines()[-1])}


def main() -> None:
    """Measure the given notebooks (default: all numbered ones) and write the CSV."""
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    rows = []
    for nb in paths:
        row = measure(nb)
        flag = "" if row["peak_mb"] < BINDER_MB else f"  OVER Binder's {BINDER_MB} MB"
        print(f"{row['notebook']:24s} {row['seconds']:7.1f} s  {row['peak_mb']:6d} MB{flag}", flush=True)
        rows.append(row)
    total = sum(r["seconds"] for r in rows)
    print(f"{'total':24s} {total:7.1f} s")
    if not sys.argv[1:]:
        tmp = OUT.with_suffix(".part")
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["notebook", "seconds", "peak_mb"])
            w.writeheader()
            w.writerows(rows)
        tmp.replace(OUT)
        print(f"written {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
