"""Scoring a full-size Task 1 case: the kit's ``evaluate_case`` vs DeepMind's ``surface-distance``.

Builds a synthetic 1024 x 1024 x 126 uint8 one-hot map (0.54 x 0.54 x 3.0 mm, all 54 labels as
ellipsoids of roughly anatomical size) and a prediction made from it (every label moved by a
few voxels and resized by up to +-15 %, Chiasm missed), then scores the 45 OARs both ways:

* the kit: ``segrap_nb.eval.metrics.evaluate_case`` on the two one-hot maps;
* the reference: per OAR, full-volume bool masks (``labels.structure_mask``) passed to
  ``surface_distance.compute_surface_distances`` + ``compute_dice_coefficient`` +
  ``compute_surface_dice_at_tolerance`` + ``compute_robust_hausdorff(..., 95)``.

Then the same prediction as a masks-only submission (45 full-volume Fortran-ordered masks, as
read from the organisers' 45 mask files), scored two ways:

* the kit's masks path: each mask cropped to its bounding box (``eval.crops.crop_mask``), then
  ``evaluate_case`` on the crops, each structure on its own (overlaps allowed);
* the one-hot rebuild it replaces: ``labels.masks_to_onehot`` on the 45 masks, then
  ``evaluate_case`` on the rebuilt map.

Prints seconds, their ratios (measured in this one run) and the largest absolute differences
between the sets of numbers. Prints, never asserts. The full-size run holds the 45 masks in
memory at once (about 6 GB) for the one-hot rebuild.

    python benchmarks/bench_metrics.py [--quick] [--seed 0]

Needs ``surface-distance`` (a test dependency). ``--quick`` uses a 256 x 256 x 42 volume.
"""

from __future__ import annotations

import math
import time

import numpy as np

from segrap_nb import labels as L
from segrap_nb.eval.crops import crop_mask
from segrap_nb.eval.metrics import evaluate_case

from _common import add_repeat, arg_parser, print_ratio, timed

#: Rough semi-axes in mm of each one-hot label's ellipsoid (x, y, z), by name fragment.
_RADII_MM = [
    ("BrainStem", (14.0, 14.0, 30.0)),  # before "Brain": first matching fragment wins
    ("Brain", (65.0, 80.0, 55.0)),
    ("Chiasm", (7.0, 4.0, 2.0)),
    ("TemporalLobe_Hippocampus", (6.0, 10.0, 4.0)),
    ("TemporalLobe", (22.0, 40.0, 25.0)),
    ("Hippocampus", (6.0, 16.0, 6.0)),
    ("Eye", (12.0, 12.0, 12.0)),
    ("Lens", (5.0, 3.0, 3.0)),
    ("OpticNerve", (3.0, 14.0, 3.0)),
    ("Pituitary", (5.0, 5.0, 4.0)),
    ("OralCavity", (25.0, 30.0, 20.0)),
    ("Mandible", (12.0, 40.0, 25.0)),
    ("Submandibular", (12.0, 14.0, 12.0)),
    ("Parotid", (14.0, 20.0, 25.0)),
    ("Mastoid", (10.0, 12.0, 14.0)),
    ("TMjoint", (7.0, 7.0, 7.0)),
    ("SpinalCord", (6.0, 6.0, 90.0)),
    ("Esophagus", (8.0, 6.0, 40.0)),
    ("Larynx", (16.0, 16.0, 20.0)),
    ("PharynxConst", (18.0, 6.0, 40.0)),
    ("Thyroid", (25.0, 10.0, 18.0)),
    ("Trachea", (9.0, 9.0, 40.0)),
]
#: Small inner-ear and overlap labels (MiddleEar, IAC, Cochlea, ETbone, ...).
_SMALL_MM = (4.0, 5.0, 4.0)


def radii_mm(name: str) -> tuple[float, float, float]:
    """Semi-axes in mm for a one-hot label name (first matching fragment)."""
    for frag, r in _RADII_MM:
        if name.startswith(frag):
            return r
    return _SMALL_MM


def paint(shape, spacing, spec) -> np.ndarray:
    """uint8 map with each label's ellipsoid (centre voxel, semi-axes mm) painted, largest first."""
    out = np.zeros(shape, np.uint8)
    for lab, (centre, radii) in sorted(spec.items(), key=lambda kv: -np.prod(kv[1][1])):
        r_vox = np.asarray(radii) / np.asarray(spacing)
        lo = np.maximum(np.floor(centre - r_vox).astype(int), 0)
        hi = np.minimum(np.ceil(centre + r_vox).astype(int) + 1, shape)
        if np.any(hi <= lo):
            continue
        grid = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi))]
        inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, r_vox)) <= 1
        out[tuple(slice(a, b) for a, b in zip(lo, hi))][inside] = lab
    return out


#: Where each group of labels sits, in mm from the volume centre (x: +left, y: +posterior,
#: z: +superior); ``_L``/``_R`` labels mirror x. Labels of one OAR (e.g. the parts of Brain or
#: MiddleEar_L) share an anchor, so their union is compact as in real anatomy.
_ANCHORS_MM = [
    (("Brain", "Chiasm", "TemporalLobe", "Hippocampus", "Pituitary"), (0.0, 10.0, 80.0)),
    (("Eye", "Lens", "OpticNerve"), (32.0, -60.0, 55.0)),
    (
        ("MiddleEar", "IAC", "Tympanic", "VestibulSemi", "Cochlea", "ETbone", "Mastoid", "TMjoint"),
        (50.0, 5.0, 40.0),
    ),
    (("OralCavity", "Mandible", "Submandibular", "Parotid"), (35.0, -35.0, -10.0)),
    (("SpinalCord", "Esophagus", "Larynx", "PharynxConst", "Thyroid", "Trachea"), (0.0, 0.0, -70.0)),
]
#: How far (mm) the parts of Brain stray from its centre; other labels stray 6 mm.
_SPREAD_MM = {"Brain": (25.0, 25.0, 15.0)}


def anchor_mm(name: str) -> np.ndarray:
    """Anchor point in mm of a label (mirrored for _R, on the midline for unpaired labels)."""
    for names, (x, y, z) in _ANCHORS_MM:
        if name.startswith(names):
            side = 1.0 if name.endswith("_L") else -1.0 if name.endswith("_R") else 0.0
            return np.array([x * side, y, z])
    return np.zeros(3)


def make_case(shape, spacing, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(pred, gt) one-hot maps: 54 labels in gt; in pred labels moved/resized, Chiasm missed."""
    rng = np.random.default_rng(seed)
    shape_a, spacing_a = np.array(shape), np.array(spacing)
    centre = (shape_a - 1) / 2
    spec = {}
    for lab, name in L.ONEHOT_LABELS.items():
        inside_brain = name != "Brain" and anchor_mm(name)[2] == _ANCHORS_MM[0][1][2]
        spread = np.array(_SPREAD_MM["Brain"] if inside_brain else (6.0, 6.0, 6.0))
        pos_mm = anchor_mm(name) + rng.uniform(-1, 1, 3) * spread
        spec[lab] = (centre + pos_mm / spacing_a, np.array(radii_mm(name)))
    gt = paint(shape, spacing, spec)
    pred_spec = {
        lab: (c + rng.integers(-3, 4, 3) * np.array([1, 1, 0.34]), r * rng.uniform(0.85, 1.15, 3))
        for lab, (c, r) in spec.items()
        if lab != L.ONEHOT_IDS["Chiasm"]
    }
    return paint(shape, spacing, pred_spec), gt


def reference(pred_map, gt_map, spacing) -> tuple[dict[str, tuple[float, float, float]], float]:
    """Per OAR (DSC, NSD, HD95) with surface-distance on full-volume masks (challenge empty rules).

    Also returns the seconds spent building the full-volume masks.
    """
    import surface_distance as sd

    out = {}
    t_masks = 0.0
    for name in L.OAR_NAMES:
        t0 = time.perf_counter()
        p = L.structure_mask(pred_map, name, 1)
        g = L.structure_mask(gt_map, name, 1)
        t_masks += time.perf_counter() - t0
        if not p.any() and not g.any():
            out[name] = (1.0, 1.0, 0.0)
            continue
        dist = sd.compute_surface_distances(g, p, spacing)
        out[name] = (
            float(sd.compute_dice_coefficient(g, p)),
            float(sd.compute_surface_dice_at_tolerance(dist, L.NSD_TOLERANCE_MM[name])),
            float(sd.compute_robust_hausdorff(dist, 95)),
        )
    return out, t_masks


def masks_only(pred_map, gt_map, spacing, on_maps, repeat: int) -> float:
    """Time a masks-only prediction: crops per structure vs rebuilding the one-hot map; seconds of the former."""
    t0 = time.perf_counter()
    masks = {n: np.asfortranarray(L.structure_mask(pred_map, n, 1)) for n in L.OAR_NAMES}
    print(f"45 prediction masks (bool, Fortran order) built in {time.perf_counter() - t0:.2f} s")
    crop_times, new_times = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        crops = {n: crop_mask(m) for n, m in masks.items()}
        t1 = time.perf_counter()
        by_masks = evaluate_case(crops, gt_map, spacing, task=1)
        new_times.append(time.perf_counter() - t0)
        crop_times.append(t1 - t0)
    t0 = time.perf_counter()
    rebuilt = L.masks_to_onehot(masks, 1)
    t_rebuild = time.perf_counter() - t0
    by_rebuilt = evaluate_case(rebuilt, gt_map, spacing, task=1)
    t_old = time.perf_counter() - t0
    t_new = min(new_times)
    worst = max(
        diff(getattr(by_masks[n], k), getattr(other[n], k))
        for other in (by_rebuilt, on_maps)
        for n in L.OAR_NAMES
        for k in ("dsc", "nsd", "hd95")
    )
    print(
        f"kit, masks cropped per structure (best of {repeat}): {t_new:8.2f} s"
        f"  ({min(crop_times):.2f} s of it cropping the 45 masks)"
    )
    print(
        f"one-hot map rebuilt from the masks, then scored : {t_old:8.2f} s"
        f"  ({t_rebuild:.2f} s of it rebuilding)"
    )
    print_ratio("rebuild / masks path                      ", t_old, t_new)
    print(f"largest difference masks path vs rebuilt map and vs maps: {worst:.3g}")
    return t_new


def diff(a: float, b: float) -> float:
    """|a - b|, with inf - inf counted as 0."""
    if math.isinf(a) or math.isinf(b):
        return 0.0 if a == b else math.inf
    return abs(a - b)


def main(argv: list[str] | None = None) -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--quick", action="store_true", help="256 x 256 x 42 volume (smoke run)")
    ap.add_argument("--seed", type=int, default=0)
    add_repeat(ap, 2, help="kit runs (best is reported)")
    args = ap.parse_args(argv)

    # surface-distance 0.1 still reads np.Inf / np.NaN (removed in NumPy 2).
    for alias, value in (("Inf", np.inf), ("NaN", np.nan)):
        if not hasattr(np, alias):
            setattr(np, alias, value)
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning, module="surface_distance")

    if args.quick:
        shape, spacing = (256, 256, 42), (2.16, 2.16, 9.0)
    else:
        shape, spacing = (1024, 1024, 126), (0.54, 0.54, 3.0)
    (pred, gt), t_case = timed(lambda: make_case(shape, spacing, args.seed))
    print(f"case {shape} uint8, spacing {spacing} mm, built in {t_case:.2f} s")
    n_gt, n_pred = (len(np.unique(m)) - 1 for m in (gt, pred))
    print(f"{len(L.OAR_NAMES)} OARs scored; one-hot labels present: gt {n_gt}, pred {n_pred}")

    kit_runs = [timed(lambda: evaluate_case(pred, gt, spacing, task=1)) for _ in range(args.repeat)]
    ours, t_kit = kit_runs[-1][0], min(t for _, t in kit_runs)
    (ref, t_masks), t_ref = timed(lambda: reference(pred, gt, spacing))

    worst = {"dsc": 0.0, "nsd": 0.0, "hd95": 0.0}
    for name in L.OAR_NAMES:
        s = ours[name]
        for key, r in zip(("dsc", "nsd", "hd95"), ref[name]):
            worst[key] = max(worst[key], diff(getattr(s, key), r))
    print(f"kit evaluate_case (best of {args.repeat}): {t_kit:8.2f} s")
    print(f"surface-distance, full-volume masks   : {t_ref:8.2f} s  ({t_masks:.2f} s of it building masks)")
    print_ratio("reference / kit                 ", t_ref, t_kit)
    print(
        "largest |kit - reference|: "
        + ", ".join(f"{k} {v:.3g}" for k, v in worst.items())
        + f"  (overall {max(worst.values()):.3g})"
    )
    mean = {k: np.mean([getattr(s, k) for s in ours.values()]) for k in ("dsc", "nsd")}
    print(f"kit means over the 45 OARs: DSC {mean['dsc']:.4f}, NSD {mean['nsd']:.4f}")
    t_masks_path = masks_only(pred, gt, spacing, ours, args.repeat)
    print_ratio("reference / masks path                    ", t_ref, t_masks_path)


if __name__ == "__main__":
    main()
