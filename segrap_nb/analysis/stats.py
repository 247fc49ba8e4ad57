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
  inflated in chunks into a reused buffer, each chunk counted by ``torch.bincount``; no
  per-label pass, no int64 copy, the volume never held whole), times the voxel volume from
  the map's header spacing. Without a one-hot map the 54 labels are rebuilt from the 45
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segrap_nb import labels as L
from segrap_nb.analysis import published
from segrap_nb.analysis.stats_cache import StatsCache, default_cache_dir, digest, file_keys
from segrap_nb.errors import DataError
from segrap_nb.io.atomic import atomic_paths
from segrap_nb.io.counts import bincount_uint8, count_labels, mask_voxels
from segrap_nb.io.dataset import Case, SegRapDataset
from segrap_nb.io.fileref import FileRef
from segrap_nb.io.guards import Manifest, write_errors
from segrap_nb.io.nifti import read_header
from segrap_nb.parallel import run_jobs
from segrap_nb.reference_data import train_geometry

#: Columns of the per-case geometry table (sizes in voxels, spacing in mm, NIfTI (i, j, k) order).
HEADER_COLUMNS = [
    "case",
    "source",
    "size_x",
    "size_y",
    "size_z",
    "spacing_x_mm",
    "spacing_y_mm",
    "spacing_z_mm",
]
#: Columns of the resolution table, as in :func:`segrap_nb.analysis.published.card_resolution`.
RESOLUTION_COLUMNS = ["spacing_x_mm", "spacing_y_mm", "spacing_z_mm", "size_x", "size_y", "size_z"]
#: Columns of the per-case, per-label volume table (label 0 = background).
VOLUME_COLUMNS = ["case", "task", "label", "name", "voxels", "cm3"]
#: Columns of the Task001 and Task002 label tables.
LABEL_COLUMNS = ["label", "name", "cases", "coverage", "min_cm3", "mean_cm3", "max_cm3"]
#: Our label-table column -> the card's column (segrap_nb.analysis.published).
CARD_COLUMNS = {
    "cases": "cases",
    "coverage": "coverage_pct",
    "min_cm3": "volume_cm3",
    "mean_cm3": "mean_cm3",
    "max_cm3": "max_cm3",
}


#: Bytes of a label map inflated and counted at a time (the buffer is reused).
# -- per-unit work (runs in the worker processes) --------------------------------------------
def counts_from_masks(refs: dict[str, FileRef], task: int) -> dict[str, Any]:
    """Voxel count of each one-hot label of a task, rebuilt from its separate mask files.

    Each mask is streamed once into the indices of its voxels (no volume held in memory);
    :func:`segrap_nb.labels.masks_to_onehot` (the official table) then labels the voxels
    covered by any mask, as a 1-D "volume" of those voxels only, and one bincount counts them.
    Masks that no one-hot map can represent raise DataError naming the case folder.
    """
    names = L.structures(task)
    first = refs[names[0]]
    folder = str(first).rsplit("/", 1)[0]
    shape: tuple[int, ...] | None = None
    spacing: tuple[float, ...] = ()
    voxels: dict[str, np.ndarray] = {}
    for name in names:
        idx, info = mask_voxels(refs[name])
        if shape is None:
            shape, spacing = info.shape, info.spacing
        elif info.shape != shape:
            raise DataError(refs[name], f"shape {info.shape} differs from {first.name}'s {shape}")
        voxels[name] = idx
    assert shape is not None
    covered = np.unique(np.concatenate(list(voxels.values())))
    members = {}
    for name, idx in voxels.items():
        member = np.zeros(covered.size, dtype=bool)
        member[np.searchsorted(covered, idx)] = True
        members[name] = member
    try:
        labelled = L.masks_to_onehot(members, task)
    except L.ConversionError as exc:
        raise DataError(folder, f"Task00{task} masks: {exc}") from None
    counts = np.zeros(L.max_label(task) + 1, dtype=np.int64)
    part = bincount_uint8(labelled)
    counts[: len(part)] += part
    counts[0] = int(np.prod(shape)) - covered.size
    return {"file": folder, "shape": list(shape), "spacing": list(spacing), "counts": counts.tolist()}


def _compute_unit(spec: dict[str, Any]) -> dict[str, Any]:
    """Compute one unit of a case: a CT header, or the label counts of a task; errors as text."""
    kind = spec["kind"]
    if kind == "header":
        info = read_header(spec["ref"])
        if len(info.shape) != 3:
            raise DataError(spec["ref"], f"expected a 3D image, header says shape {info.shape}")
        return {"file": str(spec["ref"]), "shape": list(info.shape), "spacing": list(info.spacing)}
    if kind == "onehot":
        ref = spec["ref"]
        counts, info = count_labels(ref)
        top = int(np.flatnonzero(counts)[-1]) if counts.any() else 0
        return {
            "file": str(ref),
            "shape": list(info.shape),
            "spacing": list(info.spacing),
            "counts": counts[: max(top, L.max_label(spec["task"])) + 1].tolist(),
        }
    if kind == "masks":
        return counts_from_masks(spec["refs"], spec["task"])
    raise ValueError(f"unknown unit kind {kind!r}")


def _process_job(specs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Compute the units of one case; every failure becomes ``{"error": "<file>: <problem>"}``."""
    out: dict[str, dict[str, Any]] = {}
    for unit, spec in specs.items():
        try:
            out[unit] = _compute_unit(spec)
        except DataError as exc:
            out[unit] = {"error": str(exc)}
        except Exception as exc:  # never let one case crash the run: report it, naming the file
            # "transient": not cached (e.g. MemoryError), so a rerun tries the case again.
            out[unit] = {
                "error": f"{spec['where']}: cannot read ({type(exc).__name__}: {exc})",
                "transient": True,
            }
    return out


# -- planning, running, collecting (main process) --------------------------------------------
@dataclass
class _Plan:
    """What to compute for one case: unit specs, the files each reads, planning problems."""

    case_id: str
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    refs: dict[str, list[FileRef]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)

    def todo(self) -> dict[str, dict[str, Any]]:
        """Specs of the units not served from the cache."""
        return {u: s for u, s in self.specs.items() if u not in self.values}


def _plan_case(case: Case, tasks: list[int]) -> _Plan:
    """Decide, for one case, which files give its geometry and its label counts."""
    plan = _Plan(case.case_id)
    ct = "image" if "image" in case.files else "image_contrast"  # same grid (release layout)
    if ct in case.files:
        ref = case.files[ct]
        plan.specs["header"] = {"kind": "header", "ref": ref, "where": str(ref)}
        plan.refs["header"] = [ref]
    for task in tasks:
        unit = f"task{task}"
        if task in case.onehot:
            ref = case.onehot[task]
            plan.specs[unit] = {"kind": "onehot", "ref": ref, "task": task, "where": str(ref)}
            plan.refs[unit] = [ref]
            continue
        names = L.structures(task)
        missing = [n for n in names if n not in case.files]
        if missing:
            more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
            plan.errors[unit] = (
                f"{case.case_id} Task00{task}: no one-hot map and masks missing to rebuild it: "
                f"{', '.join(missing[:5])}{more}"
            )
            continue
        refs = {n: case.files[n] for n in names}
        where = f"{case.case_id} Task00{task} masks ({str(refs[names[0]]).rsplit('/', 1)[0]})"
        plan.specs[unit] = {"kind": "masks", "refs": refs, "task": task, "where": where}
        plan.refs[unit] = list(refs.values())
    if not plan.specs and not plan.errors:
        plan.errors["header"] = f"{case.case_id}: no CT image and no label files"
    return plan


def _failed(plan: _Plan, problem: str) -> dict[str, dict[str, Any]]:
    """Every pending unit of a case as a problem that is not cached (a rerun tries again)."""
    return {u: {"error": f"{s['where']}: {problem}", "transient": True} for u, s in plan.todo().items()}


@dataclass
class _Outcome:
    """The rows and problems of one finished case."""

    header: dict[str, Any] | None
    volumes: list[tuple]
    problems: list[str]


def _finish_case(plan: _Plan, tasks: list[int]) -> _Outcome:
    """Cross-check a case's units (grids, label range) and turn them into table rows."""
    problems = list(plan.errors.values())
    ok: dict[str, dict[str, Any]] = {}
    for unit, value in plan.values.items():
        if "error" in value:
            problems.append(value["error"])
        else:
            ok[unit] = value
    for task in tasks:
        if f"task{task}" in ok:
            problems += _map_problems(ok, task)
    if problems:
        return _Outcome(None, [], problems)
    source = ok.get("header") or ok.get("task1") or ok.get("task2")
    header = None
    if source is not None:
        header = {
            "case": plan.case_id,
            "source": source["file"],
            **{f"size_{a}": int(n) for a, n in zip("xyz", source["shape"])},
            **{f"spacing_{a}_mm": float(s) for a, s in zip("xyz", source["spacing"])},
        }
    rows = [row for task in tasks for row in _volume_rows(plan.case_id, task, ok[f"task{task}"])]
    return _Outcome(header, rows, problems)


def _map_problems(ok: dict[str, dict[str, Any]], task: int) -> list[str]:
    """Problems of a case's counted Task00``task`` map: another grid than the CT's, labels out of range."""
    counted, grid = ok[f"task{task}"], ok.get("header")
    problems = []
    if grid is not None and counted["shape"] != grid["shape"]:
        problems.append(
            f"{counted['file']}: shape {tuple(counted['shape'])} differs from the CT's "
            f"{tuple(grid['shape'])} ({grid['file']})"
        )
    elif grid is None and task == 2 and counted["shape"] != ok.get("task1", counted)["shape"]:
        problems.append(
            f"{counted['file']}: shape {tuple(counted['shape'])} differs from Task001's "
            f"{tuple(ok['task1']['shape'])} ({ok['task1']['file']})"
        )
    counts = np.asarray(counted["counts"], dtype=np.int64)
    top = L.max_label(task)
    bad = np.flatnonzero(counts[top + 1 :]) + top + 1
    if bad.size:
        problems.append(
            f"{counted['file']}: label values out of range 0..{top} for Task00{task}: "
            f"{', '.join(map(str, bad[:8].tolist()))} ({int(counts[bad].sum())} voxels)"
        )
    return problems


def _volume_rows(case_id: str, task: int, counted: dict[str, Any]) -> list[tuple]:
    """One row per label (background included): case, task, label, name, voxels, volume in cm³."""
    mm3 = float(np.prod(counted["spacing"]))
    counts = counted["counts"]
    rows = []
    for label, name in {0: "background", **L.label_names(task)}.items():
        voxels = int(counts[label]) if label < len(counts) else 0
        rows.append((case_id, task, label, name, voxels, voxels * mm3 / 1000.0))
    return rows


# -- tables ----------------------------------------------------------------------------------
def resolution_table(headers: pd.DataFrame) -> pd.DataFrame:
    """Min/median/max of spacing (mm) and size (voxels) per axis, as the card's table."""
    table = headers[RESOLUTION_COLUMNS].astype(float).agg(["min", "median", "max"])
    table.index.name = "statistic"
    for col in ("size_x", "size_y", "size_z"):
        values = table[col]
        if values.notna().all() and (values == values.round()).all():
            table[col] = values.astype(int)
    return table


def label_table(volumes: pd.DataFrame, task: int = 1) -> pd.DataFrame:
    """Per label: cases where present, coverage (%), min/mean/max cm³ over those cases."""
    names = L.label_names(task)
    rows = volumes[volumes["task"] == task]
    n_cases = rows["case"].nunique()
    present = rows[(rows["label"] > 0) & (rows["voxels"] > 0)]
    by_label = present.groupby("label")["cm3"]
    out = pd.DataFrame({"label": list(names), "name": list(names.values())})
    out["cases"] = out["label"].map(by_label.size()).fillna(0).astype(int)
    out["coverage"] = 100.0 * out["cases"] / n_cases if n_cases else np.nan
    out["min_cm3"] = out["label"].map(by_label.min())
    out["mean_cm3"] = out["label"].map(by_label.mean())
    out["max_cm3"] = out["label"].map(by_label.max())
    return out[LABEL_COLUMNS]


def empty_structures(volumes: pd.DataFrame) -> pd.DataFrame:
    """(case, task, structure) of every structure whose one-hot labels hold no voxel in a case."""
    rows = []
    for (case, task), part in volumes.groupby(["case", "task"], sort=True):
        voxels = dict(zip(part["label"], part["voxels"]))
        for name in L.structures(int(task)):
            if not any(voxels.get(lab, 0) for lab in L.labels_of(name, int(task))):
                rows.append((case, int(task), name))
    return pd.DataFrame(rows, columns=["case", "task", "structure"])


def class_fractions(volumes: pd.DataFrame, task: int = 1) -> pd.DataFrame:
    """Per label (0 = background): voxels summed over cases and their fraction of all voxels."""
    rows = volumes[volumes["task"] == task]
    total = rows.groupby(["label", "name"], as_index=False)["voxels"].sum()
    all_voxels = total["voxels"].sum()
    total["fraction"] = total["voxels"] / all_voxels if all_voxels else np.nan
    foreground = total.loc[total["label"] > 0, "voxels"].sum()
    total["fraction_of_foreground"] = np.where(
        total["label"] > 0, total["voxels"] / foreground if foreground else np.nan, np.nan
    )
    return total.sort_values("label").reset_index(drop=True)


def release_geometry() -> pd.DataFrame:
    """The 120 training cases' geometry from the official nnU-Net record, as a header table."""
    out = train_geometry()
    out.insert(1, "source", "nnU-Net baseline record (z, y, x)")
    return out[HEADER_COLUMNS]


def card_decimals(table: str, quantity: str, published_value: float) -> int:
    """Decimals the card shows for a number: 2 (resolution, cm³), 0 (cases, coverage %).

    The GTV table is rounded less regularly ("30", "3.73"): the decimals shown are used.
    """
    if quantity in ("cases", "coverage"):
        return 0
    if table == "gtv":
        text = repr(float(published_value))
        return 0 if text.endswith(".0") else len(text.split(".")[1])
    return 2


def compare_with_card(resolution: pd.DataFrame, labels: pd.DataFrame, gtv: pd.DataFrame) -> pd.DataFrame:
    """Every card number beside ours: difference, and ``match`` within the card's rounding."""
    rows: list[dict[str, Any]] = []
    card_res = published.card_resolution()
    for stat in card_res.index:
        for col in RESOLUTION_COLUMNS:
            ours = resolution.loc[stat, col] if stat in resolution.index else np.nan
            rows.append(
                {
                    "table": "resolution",
                    "label": pd.NA,
                    "name": stat,
                    "quantity": col,
                    "computed": ours,
                    "published": card_res.loc[stat, col],
                }
            )
    for table, ours_df, card in (
        ("labels", labels, published.card_labels()),
        ("gtv", gtv, published.card_gtv()),
    ):
        ours_by_label = ours_df.set_index("label")
        for _, card_row in card.iterrows():
            label = int(card_row["label"])
            for ours_col, card_col in CARD_COLUMNS.items():
                ours = ours_by_label.loc[label, ours_col] if label in ours_by_label.index else np.nan
                rows.append(
                    {
                        "table": table,
                        "label": label,
                        "name": card_row["name"],
                        "quantity": ours_col,
                        "computed": ours,
                        "published": card_row[card_col],
                    }
                )
    out = pd.DataFrame(rows)
    out["label"] = out["label"].astype("Int64")
    out["computed"] = out["computed"].astype(float)
    out["published"] = out["published"].astype(float)
    out["difference"] = out["computed"] - out["published"]
    tol = [
        0.5 * 10.0 ** -card_decimals(t, q, p) + 1e-9
        for t, q, p in zip(out["table"], out["quantity"], out["published"])
    ]
    out["match"] = out["difference"].abs() <= np.asarray(tol)
    return out


def side_by_side(comparison: pd.DataFrame, table: str = "labels") -> pd.DataFrame:
    """One table of :func:`compare_with_card` in wide form: each quantity beside ``<q> (card)``.

    ``table`` is "resolution", "labels" or "gtv". ``attrs["mismatch"]`` holds, per quantity,
    whether our number differs from the card's beyond its rounding (row for row).
    """
    rows = comparison[comparison["table"] == table]
    keys = ["name"] if table == "resolution" else ["label", "name"]
    quantities = list(dict.fromkeys(rows["quantity"]))
    order = list(dict.fromkeys(zip(*[rows[k] for k in keys])))
    wide = {
        v: rows.pivot(index=keys, columns="quantity", values=v) for v in ("computed", "published", "match")
    }
    index = (
        pd.Index([o[0] for o in order], name="name")
        if len(keys) == 1
        else pd.MultiIndex.from_tuples(order, names=keys)
    )
    out = pd.DataFrame(index=index)
    for q in quantities:
        out[q] = wide["computed"][q].reindex(index).astype(float)
        out[f"{q} (card)"] = wide["published"][q].reindex(index).astype(float)
    out = out.reset_index()
    out.attrs["mismatch"] = pd.DataFrame(
        {q: ~wide["match"][q].reindex(index).astype(bool).to_numpy() for q in quantities}
    )
    return out


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


def _load_cached(plans: list[_Plan], cache: StatsCache, use_cache: bool) -> None:
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
    plans = [_plan_case(c, tasks) for c in cases]
    _load_cached(plans, cache, use_cache)

    outcomes: dict[str, _Outcome] = {}
    jobs = []
    for plan in plans:
        if plan.todo():
            jobs.append(plan)
        else:  # everything cached: nothing to decode
            outcomes[plan.case_id] = _finish_case(plan, tasks)
    n_workers = default_workers() if workers is None else max(1, int(workers))
    computed = 0
    for i, values in run_jobs(
        _process_job,
        [plan.todo() for plan in jobs],
        n_workers,
        desc="stats",
        progress=progress,
        failed=lambda i, problem: _failed(jobs[i], problem),
    ):
        plan = jobs[i]
        plan.values.update(values)
        cache.save(plan.case_id, plan.keys, plan.values)
        outcomes[plan.case_id] = _finish_case(plan, tasks)
        computed += 1

    return _result(
        Path(root), [outcomes[p.case_id] for p in plans], [p.case_id for p in plans], tasks, computed
    )


def _result(
    root: Path, ordered: list[_Outcome], case_ids: list[str], tasks: list[int], computed: int
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


# -- beyond the card: HU per structure -------------------------------------------------------
def hu_by_structure(
    case: Case,
    structures: list[str] | tuple[str, ...] | None = None,
    *,
    max_voxels: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """HU of up to ``max_voxels`` random voxels per structure, on the plain and contrast CT.

    Returns a long table (structure, ct = "plain" | "contrast", hu); the same voxels are
    sampled in both CTs (they share the voxel grid). Structures default to the 45 OARs and the
    2 GTVs; masks come from the one-hot maps (or the separate masks), each read once.
    """
    names = list(structures) if structures is not None else [*L.OAR_NAMES, *L.GTV_NAMES]
    names = [L.canonical_name(n) for n in names]
    rng = np.random.default_rng(seed)
    picks: dict[str, np.ndarray] = {}
    shape = None
    for task in (1, 2):
        wanted = [n for n in names if (n in L.GTV_NAMES) == (task == 2)]
        if not wanted:
            continue
        label_map = case.onehot_map(task)
        shape = label_map.shape
        flat = label_map.array.ravel(order="F")  # NIfTI order: a view of a volume read from disk
        for name in wanted:
            idx = np.flatnonzero(L.structure_mask(flat, name, task))
            if idx.size > max_voxels:
                idx = np.sort(rng.choice(idx, size=max_voxels, replace=False))
            picks[name] = idx
        del label_map, flat
    frames = []
    for ct, contrast in (("plain", False), ("contrast", True)):
        key = "image_contrast" if contrast else "image"
        if key not in case.files:
            continue
        image = case.image(contrast=contrast)
        if shape is not None and image.shape != shape:
            raise DataError(image.source, f"shape {image.shape} differs from the labels' {shape}")
        flat = image.array.ravel(order="F")
        for name in names:
            values = flat[picks[name]]
            frames.append(pd.DataFrame({"structure": name, "ct": ct, "hu": values.astype(np.int32)}))
        del image, flat
    if not frames:
        return pd.DataFrame({"structure": [], "ct": [], "hu": []})
    out = pd.concat(frames, ignore_index=True)
    out["structure"] = pd.Categorical(out["structure"], categories=names)
    return out
