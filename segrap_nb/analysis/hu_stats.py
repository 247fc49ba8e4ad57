"""Beyond the card: HU of sampled voxels per structure, on the plain and the contrast CT."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segrap_nb import labels as L
from segrap_nb.errors import DataError
from segrap_nb.io.dataset import Case


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
