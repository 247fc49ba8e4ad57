"""``segrap-nb stats DATA --out DIR``: label and resolution statistics, beside the dataset card.

Python API: :func:`compute_stats` returns a :class:`StatsResult` of DataFrames, written by
:meth:`StatsResult.write` as ``resolution.csv``, ``labels.csv`` (Task001), ``gtv.csv``
(Task002), ``volumes.csv`` (per case and label), ``headers.csv`` (per-case geometry) and
``comparison.csv`` (each number beside the published one, :mod:`segrap_nb.analysis.published`).

How each number is obtained:

* Geometry from the CT header only (:func:`segrap_nb.io.nifti.read_header`, no voxel decoding).
  Axes are the NIfTI voxel axes (i, j, k), which the card writes (x, y, z); k is the slice
  axis. The official nnU-Net record (``data/segrap2023_train_geometry.csv``) lists the same
  numbers in (z, y, x) order; its per-axis min/median/max reproduce the card exactly.
* Label volumes from one pass over each one-hot map (:func:`count_labels`: the gzip stream is
  inflated in chunks into a reused buffer, each chunk counted by
  :func:`segrap_nb.io.counts.add_counts`, which skips the background; no per-label pass, no
  int64 copy, the volume never held whole), times the voxel volume from the map's header
  spacing. Without a one-hot map the 54 labels are rebuilt from the 45
  separate masks (:func:`counts_from_masks`, with :func:`segrap_nb.labels.masks_to_onehot`).
* A label table row summarises the cases where the label is present (voxels > 0): ``cases``,
  ``coverage`` (% of the cases processed), ``min_cm3``/``mean_cm3``/``max_cm3``. The card's
  "Volume (cm³)" column is the minimum over those cases (see notebook 03 for the reasoning).

Cases are processed in parallel (one case per worker process), and each case's results are
cached on disk keyed on the identity of the files read (:mod:`segrap_nb.analysis.stats_cache`), so a
rerun over unchanged files decodes nothing. A corrupt or inconsistent case (unreadable file,
label map on another grid than the CT, label values out of range, masks that no one-hot map
can represent) is reported, one line per problem naming the file, and skipped.

Exit status of the command: 0 when at least one case was processed (skipped cases are listed
on stderr with a summary line), 1 when every case was skipped, 2 when the dataset cannot be
opened at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from segrap_nb import labels as L
from segrap_nb.analysis.card import (
    CARD_COLUMNS,
    HEADER_COLUMNS,
    LABEL_COLUMNS,
    RESOLUTION_COLUMNS,
    VOLUME_COLUMNS,
    card_decimals,
    class_fractions,
    compare_with_card,
    empty_structures,
    label_table,
    release_geometry,
    resolution_table,
    side_by_side,
)
from segrap_nb.analysis.case_counts import (
    Outcome,
    Plan,
    counts_from_masks,
    failed,
    finish_case,
    plan_case,
    process_job,
)
from segrap_nb.analysis.hu_stats import hu_by_structure
from segrap_nb.analysis.stats_cache import StatsCache, default_cache_dir, digest, file_keys
from segrap_nb.errors import DataError
from segrap_nb.io.atomic import atomic_paths
from segrap_nb.io.dataset import SegRapDataset
from segrap_nb.io.guards import Manifest, write_errors
from segrap_nb.parallel import run_jobs

# -- the result and the driver ---------------------------------------------------------------
#: The CSV files ``segrap-nb stats --out`` writes (see :meth:`StatsResult.tables`).
TABLE_NAMES = ("resolution.csv", "labels.csv", "gtv.csv", "volumes.csv", "headers.csv", "comparison.csv")


@dataclass
class StatsResult:
    """All tables of a statistics run, plus what was skipped and why."""

    root: Path
    headers: pd.DataFrame
    resolution: pd.DataFrame
    labels: pd.DataFrame
    gtv: pd.DataFrame
    volumes: pd.DataFrame
    comparison: pd.DataFrame
    problems: list[str]
    skipped: list[str]
    n_cases: int
    computed: int
    from_cache: int

    @property
    def processed(self) -> int:
        """Number of cases that went into the tables."""
        return self.n_cases - len(self.skipped)

    def summary(self) -> str:
        """One line: cases processed, computed or cached, skipped."""
        text = (
            f"{self.n_cases} cases: {self.processed} processed ({self.computed} computed, "
            f"{self.from_cache} from the cache)"
        )
        if self.skipped:
            text += f", {len(self.skipped)} skipped ({len(self.problems)} problems)"
        empty = self.empty_structures()
        if len(empty):
            first = empty.iloc[0]
            text += (
                f"; {len(empty)} empty structure masks, counted as absent, not errors "
                f"(e.g. {first['structure']} in {first['case']})"
            )
        return text

    def empty_structures(self) -> pd.DataFrame:
        """(case, task, structure) of every structure with no voxel in a processed case (e.g. GTVnd of an N0 patient)."""
        return empty_structures(self.volumes)

    def tables(self) -> dict[str, pd.DataFrame]:  # keys: TABLE_NAMES
        """File name -> table, as :meth:`write` writes them."""
        return {
            "resolution.csv": self.resolution.reset_index(),
            "labels.csv": self.labels,
            "gtv.csv": self.gtv,
            "volumes.csv": self.volumes,
            "headers.csv": self.headers,
            "comparison.csv": self.comparison,
        }

    def write(self, out: str | os.PathLike) -> list[Path]:
        """Write every table as CSV into ``out``, all or none; returns the paths.

        Each CSV goes to a temporary name first and all are renamed once all are written, so
        a full disk leaves none of them. Only CSVs that segrap-nb wrote there before (listed in
        ``out/.segrap-nb-manifest.json``) are replaced; any other file of the same name stops it.
        Paths that are not valid UTF-8 are written with their bytes unchanged.
        """
        out = Path(out).expanduser()
        tables = self.tables()
        manifest = Manifest(out)
        manifest.check(tables)
        with write_errors(out):
            out.mkdir(parents=True, exist_ok=True)
            manifest.claim(tables)
            with atomic_paths(out / name for name in tables) as tmps:
                for table, tmp in zip(tables.values(), tmps):
                    with open(tmp, "w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
                        table.to_csv(fh, index=False)
        return [out / name for name in tables]


def default_workers() -> int:
    """Worker processes by default: the CPU cores, at most 4 (one case in memory each)."""
    return max(1, min(4, os.cpu_count() or 1))


def _load_cached(plans: list[Plan], cache: StatsCache, use_cache: bool) -> None:
    """Give each plan's units their cache keys (from the files' keys) and take the values the
    cache holds for them (none when ``use_cache`` is False)."""
    all_refs = [ref for p in plans for refs in p.refs.values() for ref in refs]
    keys = file_keys(all_refs) if use_cache else {}
    for plan in plans:
        for unit, refs in plan.refs.items():
            if all(r in keys for r in refs):
                spec = plan.specs[unit]
                plan.keys[unit] = digest([spec["kind"], [keys[r] for r in refs]])
        plan.values.update(cache.lookup(plan.case_id, plan.keys))


def compute_stats(
    root: str | os.PathLike | None = None,
    *,
    workers: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    progress: bool = True,
) -> StatsResult:
    """Label volumes (cm³) and geometry of every case under ``root``, compared with the card.

    ``root`` defaults to :func:`segrap_nb.config.data_root`; ``workers`` processes run one case
    each (1 = in this process); results are cached under ``cache_dir`` (default
    ``config.cache_dir()/stats``) unless ``use_cache`` is False.
    """
    from segrap_nb.sources import data_root

    if workers is not None and int(workers) < 1:
        raise DataError("--workers", f"must be at least 1, got {workers}")
    root = data_root(root)
    dataset = SegRapDataset(root)
    cases = list(dataset)
    tasks = [
        t for t in (1, 2) if any(t in c.onehot or any(n in c.files for n in L.structures(t)) for c in cases)
    ]
    cache = StatsCache((cache_dir or default_cache_dir()) if use_cache else None, root)
    plans = [plan_case(c, tasks) for c in cases]
    _load_cached(plans, cache, use_cache)

    outcomes: dict[str, Outcome] = {}
    jobs = []
    for plan in plans:
        if plan.todo():
            jobs.append(plan)
        else:  # everything cached: nothing to decode
            outcomes[plan.case_id] = finish_case(plan, tasks)
    n_workers = default_workers() if workers is None else max(1, int(workers))
    computed = 0
    for i, values in run_jobs(
        process_job,
        [plan.todo() for plan in jobs],
        n_workers,
        desc="stats",
        progress=progress,
        failed=lambda i, problem: failed(jobs[i], problem),
    ):
        plan = jobs[i]
        plan.values.update(values)
        cache.save(plan.case_id, plan.keys, plan.values)
        outcomes[plan.case_id] = finish_case(plan, tasks)
        computed += 1

    return _result(
        Path(root), [outcomes[p.case_id] for p in plans], [p.case_id for p in plans], tasks, computed
    )


def _result(
    root: Path, ordered: list[Outcome], case_ids: list[str], tasks: list[int], computed: int
) -> StatsResult:
    """The tables of every case's outcome (in case order), compared with the card."""
    headers = pd.DataFrame([o.header for o in ordered if o.header is not None], columns=HEADER_COLUMNS)
    volumes = pd.DataFrame([r for o in ordered for r in o.volumes], columns=VOLUME_COLUMNS)
    resolution = resolution_table(headers)
    labels = label_table(volumes, 1) if 1 in tasks else pd.DataFrame(columns=LABEL_COLUMNS)
    gtv = label_table(volumes, 2) if 2 in tasks else pd.DataFrame(columns=LABEL_COLUMNS)
    return StatsResult(
        root=root,
        headers=headers,
        resolution=resolution,
        labels=labels,
        gtv=gtv,
        volumes=volumes,
        comparison=compare_with_card(resolution, labels, gtv),
        problems=[p for o in ordered for p in o.problems],
        skipped=[case_id for case_id, o in zip(case_ids, ordered) if o.problems],
        n_cases=len(ordered),
        computed=computed,
        from_cache=len(ordered) - computed,
    )


__all__ = [
    "CARD_COLUMNS",
    "HEADER_COLUMNS",
    "LABEL_COLUMNS",
    "RESOLUTION_COLUMNS",
    "TABLE_NAMES",
    "VOLUME_COLUMNS",
    "StatsResult",
    "card_decimals",
    "class_fractions",
    "compare_with_card",
    "compute_stats",
    "counts_from_masks",
    "default_workers",
    "empty_structures",
    "hu_by_structure",
    "label_table",
    "release_geometry",
    "resolution_table",
    "side_by_side",
]
