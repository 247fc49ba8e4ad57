"""Per-case work of ``segrap-nb stats``: what to read for a case, the label counts, and collecting them.

The units (a CT header, the label counts of a task from its one-hot map or from its 45 masks) run in
worker processes (:func:`process_job`); planning and collecting run in the main process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from segrap_nb import labels as L
from segrap_nb.errors import DataError
from segrap_nb.io.counts import bincount_uint8, count_labels, mask_voxels
from segrap_nb.io.dataset import Case
from segrap_nb.io.fileref import FileRef
from segrap_nb.io.nifti import read_header


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


def compute_unit(spec: dict[str, Any]) -> dict[str, Any]:
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


def process_job(specs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Compute the units of one case; every failure becomes ``{"error": "<file>: <problem>"}``."""
    out: dict[str, dict[str, Any]] = {}
    for unit, spec in specs.items():
        try:
            out[unit] = compute_unit(spec)
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
class Plan:
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


def plan_case(case: Case, tasks: list[int]) -> Plan:
    """Decide, for one case, which files give its geometry and its label counts."""
    plan = Plan(case.case_id)
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


def failed(plan: Plan, problem: str) -> dict[str, dict[str, Any]]:
    """Every pending unit of a case as a problem that is not cached (a rerun tries again)."""
    return {u: {"error": f"{s['where']}: {problem}", "transient": True} for u, s in plan.todo().items()}


@dataclass
class Outcome:
    """The rows and problems of one finished case."""

    header: dict[str, Any] | None
    volumes: list[tuple]
    problems: list[str]


def finish_case(plan: Plan, tasks: list[int]) -> Outcome:
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
            problems += map_problems(ok, task)
    if problems:
        return Outcome(None, [], problems)
    source = ok.get("header") or ok.get("task1") or ok.get("task2")
    header = None
    if source is not None:
        header = {
            "case": plan.case_id,
            "source": source["file"],
            **{f"size_{a}": int(n) for a, n in zip("xyz", source["shape"])},
            **{f"spacing_{a}_mm": float(s) for a, s in zip("xyz", source["spacing"])},
        }
    rows = [row for task in tasks for row in volume_rows(plan.case_id, task, ok[f"task{task}"])]
    return Outcome(header, rows, problems)


def map_problems(ok: dict[str, dict[str, Any]], task: int) -> list[str]:
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


def volume_rows(case_id: str, task: int, counted: dict[str, Any]) -> list[tuple]:
    """One row per label (background included): case, task, label, name, voxels, volume in cm³."""
    mm3 = float(np.prod(counted["spacing"]))
    counts = counted["counts"]
    rows = []
    for label, name in {0: "background", **L.label_names(task)}.items():
        voxels = int(counts[label]) if label < len(counts) else 0
        rows.append((case_id, task, label, name, voxels, voxels * mm3 / 1000.0))
    return rows
