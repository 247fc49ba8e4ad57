"""A task's one-hot map built from its per-structure mask files, one mask at a time (bounded memory).

:func:`segrap_nb.labels.masks_to_onehot` needs every mask in memory at once (45 full-size masks
are 6 GB as uint8). Here each mask file is inflated chunk by chunk
(:class:`segrap_nb.io.counts.NiftiStream`) straight into one uint8 *state* map: a voxel's
state stands for the set of masks seen so far that cover it. Masks are read in a fixed order,
so the only sets that can still end as a valid label are prefixes of the labels' member sets
(the official table); each mask is a 256-entry transition table on the states, any other set is
a dead state. At the end each state becomes its label (its set equals a label's member set),
0 (no mask), or an error (a combination of masks that no label stands for): the same map and
the same refusals as ``masks_to_onehot``, with one volume (plus a 4 MB chunk) in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from segrap_nb import labels as L
from segrap_nb.errors import DataError
from segrap_nb.grid import FileGrid
from segrap_nb.io.counts import NiftiStream
from segrap_nb.io.fileref import FileRef
from segrap_nb.io.nifti import NiftiInfo, read_nifti

#: The state of a voxel whose masks no label can stand for, whatever comes later.
DEAD = 255


def label_sets(task: int) -> dict[int, frozenset[str]]:
    """One-hot label -> the set of structures that contain it (official table)."""
    if task == 2:
        return {lab: frozenset({name}) for lab, name in L.GTV_LABELS.items()}
    return dict(L.LABEL_MEMBERSHIP)


class StateMachine:
    """States (sets of masks seen, in ``order``) that can still end as a label, and their tables."""

    def __init__(self, order: Sequence[str], task: int) -> None:
        sets = label_sets(task)
        states: list[frozenset[str]] = [frozenset()]
        for t in range(1, len(order) + 1):
            prefix = set(order[:t])
            for members in sets.values():
                s = frozenset(members & prefix)
                if s not in states:
                    states.append(s)
        if len(states) >= DEAD:  # pragma: no cover - the official table needs about 120
            raise ValueError(f"{len(states)} states do not fit in uint8")
        index = {s: i for i, s in enumerate(states)}
        self.tables: dict[str, np.ndarray] = {}
        for name in order:
            table = np.full(256, DEAD, dtype=np.uint8)
            for s, i in index.items():
                table[i] = index.get(s | {name}, DEAD)
            self.tables[name] = table
        by_set = {members: lab for lab, members in sets.items()}
        self.final = np.full(256, DEAD, dtype=np.uint8)
        for s, i in index.items():
            self.final[i] = 0 if not s else by_set.get(s, DEAD)


#: Bytes of a mask file inflated at a time.
CHUNK_BYTES = 1 << 20
#: Voxels looked up at a time: ``np.take`` makes an intp copy of its indices (8 bytes per voxel).
LOOKUP_VOXELS = 1 << 16
_max = np.maximum.reduce  # ndarray.max without its Python wrapper (called once per chunk)


def _add_mask(state_flat: np.ndarray, stream: NiftiStream, table: np.ndarray, moved: np.ndarray) -> None:
    """Move every voxel of one mask file (nonzero = inside) to its next state, chunk by chunk.

    ``moved`` is a reused uint8 buffer of :data:`LOOKUP_VOXELS`; only the pieces of a chunk
    that hold a voxel of the mask are looked up.
    """
    info = stream.info
    chunks: Iterable[tuple[int, np.ndarray]]
    if info.dtype == np.uint8 and info.slope == 1.0 and info.inter == 0.0:
        chunks = stream.chunks(CHUNK_BYTES)
    else:  # another dtype, or scaled: read it whole (rare; the release's masks are uint8)
        whole = np.not_equal(read_nifti(stream.ref).array.ravel(order="F"), 0).view(np.uint8)
        chunks = ((lo, whole[lo : lo + CHUNK_BYTES]) for lo in range(0, whole.size, CHUNK_BYTES))
    for start, chunk in chunks:
        if not _max(chunk):
            continue
        for lo in range(0, chunk.size, LOOKUP_VOXELS):
            piece = chunk[lo : lo + LOOKUP_VOXELS]
            top = _max(piece)
            if not top:
                continue
            inside = piece.view(bool) if top == 1 else np.not_equal(piece, 0)  # 0/1 bytes are bools
            seg = state_flat[start + lo : start + lo + piece.size]
            out = moved[: seg.size]
            np.take(table, seg, out=out, mode="clip")
            np.copyto(seg, out, where=inside)


def onehot_from_mask_files(refs: Mapping[str, FileRef], task: int, what: str) -> tuple[np.ndarray, NiftiInfo]:
    """The uint8 one-hot map (i, j, k order) of ``task`` from every structure's mask file, and the first header.

    Every structure of the task must be in ``refs``, all on one grid (shape and affine). A
    voxel covered by a combination of masks that no label stands for raises DataError (``what``).
    """
    order = list(L.structures(task))
    missing = [n for n in order if n not in refs]
    if missing:
        raise DataError(what, f"masks missing to build the Task00{task} map: {', '.join(missing[:5])}")
    machine = StateMachine(order, task)
    grid: FileGrid | None = None
    first: NiftiInfo | None = None
    state_flat = np.empty(0, dtype=np.uint8)
    moved = np.empty(LOOKUP_VOXELS, dtype=np.uint8)
    for name in order:
        with NiftiStream(refs[name]) as stream:  # header and data from one pass over the file
            info = stream.info
            if len(info.shape) != 3:
                raise DataError(refs[name], f"expected a 3D mask, header says shape {info.shape}")
            if grid is None:
                grid, first = FileGrid(info.shape, info.affine, refs[name].name), info
                state_flat = np.zeros(int(np.prod(info.shape)), dtype=np.uint8)
            elif problem := grid.mismatch(info.shape, info.affine):
                raise DataError(refs[name], f"mask is on another grid than {order[0]}: {problem}")
            _add_mask(state_flat, stream, machine.tables[name], moved)
    assert first is not None
    bad = 0
    for lo in range(0, state_flat.size, CHUNK_BYTES):  # states -> labels in place, slab by slab
        seg = state_flat[lo : lo + CHUNK_BYTES]
        for at in range(0, seg.size, LOOKUP_VOXELS):
            piece = seg[at : at + LOOKUP_VOXELS]
            np.take(machine.final, piece, out=moved[: piece.size], mode="clip")
            piece[:] = moved[: piece.size]
        bad += int(np.count_nonzero(seg == DEAD))
    if bad:
        problem = (
            f"GTVp and GTVnd overlap in {bad} voxels"
            if task == 2
            else f"{bad} voxels are covered by a combination of masks that no one-hot label "
            "represents (overlaps not in the official table)"
        )
        raise DataError(what, problem)
    return state_flat.reshape(first.shape, order="F"), first
