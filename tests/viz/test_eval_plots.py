"""Evaluation tables and figures: orderings, published table, volumes, worst cases, toy example."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segrap_nb import labels as L
from segrap_nb.eval import tables as T
from segrap_nb.eval.evaluate import evaluate, summary_table
from segrap_nb.io.dataset import SegRapDataset
from segrap_nb.viz import eval_figures as E
from tests.factories import TINY_AFFINE, tiny_onehot


def _per_case(values: dict[str, list[float]], metric: str = "dsc") -> pd.DataFrame:
    """A per-case table with one row per (case, structure) from structure -> values per case."""
    rows = []
    for name, vals in values.items():
        for n, v in enumerate(vals):
            row = {"case": f"segrap_{n:04d}", "structure": name, "dsc": 0.5, "nsd": 0.5, "hd95": 1.0}
            row[metric] = v
            rows.append(row)
    return pd.DataFrame(rows)


def test_difficulty_order_puts_lowest_mean_dsc_first() -> None:
    per_case = _per_case(
        {"Brain": [0.9, 0.95], "Chiasm": [0.2, 0.4], "Eye_L": [0.7, 0.8], "Lens_L": [0.3, 0.1]}
    )
    # means: Brain 0.925, Chiasm 0.30, Eye_L 0.75, Lens_L 0.20
    assert T.difficulty_order(per_case, "dsc") == ["Lens_L", "Chiasm", "Eye_L", "Brain"]


def test_difficulty_order_hd95_highest_first_and_ignores_inf() -> None:
    per_case = _per_case({"Brain": [1.0, 3.0], "Chiasm": [5.0, math.inf], "Eye_L": [4.0, 4.0]}, metric="hd95")
    # finite means: Brain 2, Chiasm 5 (inf left out), Eye_L 4
    assert T.difficulty_order(per_case, "hd95") == ["Chiasm", "Eye_L", "Brain"]


def test_difficulty_order_ties_keep_official_order() -> None:
    per_case = _per_case({"Trachea": [0.5], "Brain": [0.5], "Chiasm": [0.5]})
    assert T.difficulty_order(per_case) == ["Brain", "Chiasm", "Trachea"]  # official order


def test_boxplot_rows_follow_the_difficulty_order() -> None:
    per_case = _per_case({"Brain": [0.9, 0.95], "Chiasm": [0.2, 0.4], "Lens_L": [0.3, 0.1]})
    fig = E.boxplot_by_structure(per_case, "dsc")
    ax = fig.axes[0]
    ticks = sorted(((t.get_position()[1], t.get_text()) for t in ax.get_yticklabels()), reverse=True)
    assert [name for _, name in ticks] == ["Lens_L", "Chiasm", "Brain"]  # hardest on top
    # given order: NSD panel in the DSC order
    fig = E.boxplot_by_structure(per_case, "nsd", order=["Brain", "Lens_L", "Chiasm"])
    ticks = sorted(((t.get_position()[1], t.get_text()) for t in fig.axes[0].get_yticklabels()), reverse=True)
    assert [name for _, name in ticks] == ["Brain", "Lens_L", "Chiasm"]


def test_published_comparison_task1_values() -> None:
    # Two cases, every OAR at DSC 0.6 in the first and 0.8 in the second: task mean 70 %.
    rows = [
        {"case": c, "structure": s, "dsc": d, "nsd": d, "hd95": 2.0}
        for c, d in (("segrap_0000", 0.6), ("segrap_0001", 0.8))
        for s in L.OAR_NAMES
    ]
    summary = summary_table(pd.DataFrame(rows), 1)
    table, fig = E.published_comparison(summary, ours="quick U-Net", evaluated_on="phantom")
    # Task 1: the winner holds the column's best, so no separate "best value" row; named teams only.
    assert list(table.index) == [
        "nnU-Net baseline",
        "Task 1 winner (Y. Zhong)",
        "Task 2 winner (M. Astaraki)",
        "quick U-Net",
    ]
    assert list(table.columns) == ["evaluated on", "Task 1 (45 OARs)"]
    assert table["Task 1 (45 OARs)"].tolist() == [84.65, 86.70, 85.44, 70.0]
    assert table["evaluated on"].tolist() == ["SegRap 2023 test set (published)"] * 3 + ["phantom"]
    heights = sorted(round(p.get_height(), 2) for p in fig.axes[0].patches)
    assert heights == [70.0, 84.65, 85.44, 86.7]
    assert not any("best team" in str(name) for name in table.index)


def test_published_comparison_task2_columns() -> None:
    rows = [
        {"case": "segrap_0000", "structure": "GTVp", "dsc": 0.5, "nsd": 0.4, "hd95": 3.0},
        {"case": "segrap_0000", "structure": "GTVnd", "dsc": 0.25, "nsd": 0.2, "hd95": 9.0},
    ]
    table = E.published_comparison(summary_table(pd.DataFrame(rows), 2)).table
    assert list(table.columns) == ["evaluated on", "GTVp", "GTVnd"]
    assert table.loc["ours", ["GTVp", "GTVnd"]].tolist() == [50.0, 25.0]
    # No team holds both GTV bests: the column-best row names whose value each column is, and the
    # Task 1 winner (no published GTV numbers) is left out.
    best = [name for name in table.index if str(name).startswith("best value in each column")]
    assert best == ["best value in each column, any team (GTVp: Y. Ye; K. Yang · GTVnd: Z. Xing)"]
    assert table.loc[best[0], ["GTVp", "GTVnd"]].tolist() == [78.76, 69.28]
    assert table.loc["Task 2 winner (M. Astaraki)", ["GTVp", "GTVnd"]].tolist() == [78.56, 67.75]
    assert "Task 1 winner (Y. Zhong)" not in table.index


def test_published_comparison_rejects_a_per_case_table() -> None:
    with pytest.raises(ValueError, match="summary_table"):
        E.published_comparison(pd.DataFrame({"structure": ["Brain"], "dsc_mean": [0.5]}))


def test_structure_volumes_sum_the_union_labels() -> None:
    counts = np.zeros(55, np.int64)
    counts[10], counts[12], counts[48], counts[51] = 1000, 40, 7, 3
    vol = T.structure_volumes(counts, voxel_volume_mm3=0.5 * 0.5 * 3.0)
    assert vol["Eye_L"] == pytest.approx(1040 * 0.75 / 1000)  # Eye_L = labels {10, 12}
    assert vol["Lens_L"] == pytest.approx(40 * 0.75 / 1000)
    assert vol["Larynx"] == pytest.approx(10 * 0.75 / 1000)  # {48, 49, 50, 51}
    assert vol["PharynxConst"] == pytest.approx(3 * 0.75 / 1000)  # {51, 52}
    assert vol["Brain"] == 0.0


def test_gt_volumes_match_voxel_counts_of_the_masks(tiny_release: Path) -> None:
    table = T.gt_volumes(tiny_release, ["segrap_0001"], task=1)
    assert len(table) == 45
    case = SegRapDataset(tiny_release)["segrap_0001"]
    voxel_mm3 = float(abs(np.linalg.det(TINY_AFFINE[:3, :3])))  # 0.75 mm³
    for name in ("Brain", "Eye_L", "Larynx", "Chiasm"):
        n = int(np.count_nonzero(case.mask(name).array))
        row = table[table["structure"] == name].iloc[0]
        assert row["voxels"] == n
        assert row["cm3"] == pytest.approx(n * voxel_mm3 / 1000)
    # Every one-hot label is a 2x2x2 block: Brain (labels 1-9) has 72 voxels = 0.054 cm³.
    assert table.set_index("structure").loc["Brain", "cm3"] == pytest.approx(0.054)
    t2 = T.gt_volumes(tiny_release, ["segrap_0000"], task=2).set_index("structure")
    assert t2.loc["GTVp", "voxels"] == 4 * 3 * 2
    assert t2.loc["GTVnd", "voxels"] == 2 * 3 * 2


def test_volume_vs_dsc_leaves_out_absent_structures() -> None:
    per_case = _per_case({"Brain": [0.9, 0.95], "Chiasm": [0.2, 0.4], "Lens_L": [0.3, 0.1]})
    volumes = per_case[["case", "structure"]].assign(
        cm3=[1500.0, 1400.0, 0.3, 0.0, 0.1, 0.12]
    )  # Chiasm absent from the second case
    fig = E.volume_vs_dsc(per_case, volumes, annotate=2)
    ax = fig.axes[0]
    assert len(ax.collections[0].get_offsets()) == 5  # one point per present structure
    assert "1 absent" in ax.get_title()
    assert ax.get_xscale() == "log"
    # named: the smallest (Lens_L, 0.11 cm³ on average) and the largest (Brain) structure
    assert {t.get_text() for t in ax.texts} == {"Lens_L", "Brain"}
    assert len(E.volume_vs_dsc(per_case, volumes, annotate=5).axes[0].texts) == 3


def test_worst_cases_lowest_dsc_first_ties_by_nsd() -> None:
    per_case = pd.DataFrame(
        {
            "case": ["a", "a", "b", "b", "c"],
            "structure": ["Brain", "Chiasm", "Brain", "Chiasm", "Lens_L"],
            "dsc": [0.9, 0.1, 0.5, 0.1, 0.0],
            "nsd": [0.9, 0.3, 0.6, 0.2, 0.0],
            "hd95": [1.0, 5.0, 2.0, 6.0, math.inf],
        }
    )
    worst = T.worst_cases(per_case, n=3)
    assert list(zip(worst["case"], worst["structure"])) == [("c", "Lens_L"), ("b", "Chiasm"), ("a", "Chiasm")]
    worst_hd = T.worst_cases(per_case, n=2, metric="hd95")
    assert worst_hd["hd95"].tolist() == [math.inf, 6.0]
    # Leaving out the pair with an empty mask (c, Lens_L: HD95 inf).
    present = T.worst_cases(per_case, n=2, both_present=True)
    assert list(zip(present["case"], present["structure"])) == [("b", "Chiasm"), ("a", "Chiasm")]


def test_worst_case_figures_draw_each_row(tiny_release: Path, tmp_path: Path) -> None:
    from segrap_nb.io.nifti import write_nifti

    pred = tmp_path / "pred"
    for n in range(3):  # a flat nnU-Net-style folder; case 0 loses its Brain
        t1, _ = tiny_onehot(n)
        if n == 0:
            t1[np.isin(t1, L.OAR_TO_ONEHOT["Brain"])] = 0
        write_nifti(pred / f"segrap_{n:04d}.nii.gz", t1, TINY_AFFINE)
    per_case = evaluate(pred, tiny_release, 1, progress=False)
    worst = T.worst_cases(per_case, n=2)
    assert worst.iloc[0][["case", "structure", "dsc"]].tolist() == ["segrap_0000", "Brain", 0.0]
    figs = E.worst_case_figures(worst, pred, tiny_release)
    assert len(figs) == 2
    assert "segrap_0000 · Brain: DSC 0.000" in figs[0]._suptitle.get_text()


def test_toy_pair_shift_and_sweep_numbers() -> None:
    pred, truth = T.toy_pair(3.0, 0)
    assert np.array_equal(pred, truth)
    pred, truth = T.toy_pair(3.0, 2, axis=1)
    assert pred.shape == truth.shape
    assert pred.sum() == truth.sum()
    assert np.array_equal(np.roll(truth, 2, axis=1), pred)
    table = T.shift_sweep([3.0, 15.0], [0, 1, 2], spacing_mm=(1.0, 1.0, 1.0), tolerance_mm=1.0)
    t = table.set_index(["radius_mm", "shift_vox"])
    # A voxel ball of radius 3 mm has 123 voxels (0.123 cm³).
    assert t.loc[(3.0, 0), "volume_cm3"] == pytest.approx(0.123)
    # DSC by hand: a 1-voxel shift keeps the voxels that have a neighbour along the axis.
    truth = T.toy_pair(3.0, 0)[1]
    kept = np.count_nonzero(truth[1:] & truth[:-1])
    assert t.loc[(3.0, 1), "dsc"] == pytest.approx(kept / truth.sum())
    # A 1-voxel (1 mm) shift: the small ball loses far more DSC than the large one ...
    assert 1 - t.loc[(3.0, 1), "dsc"] > 4 * (1 - t.loc[(15.0, 1), "dsc"])
    # ... while the NSD at 1 mm tolerance forgives it entirely, and HD95 is the shift.
    assert t.loc[(3.0, 1), "nsd"] == 1.0
    assert t.loc[(15.0, 1), "nsd"] == 1.0
    assert t.loc[(3.0, 1), "hd95"] == 1.0
    assert t.loc[(15.0, 2), "hd95"] == 2.0
    assert t.loc[(15.0, 2), "nsd"] < 0.9
    fig = E.plot_shift_sweep(table, tolerance_mm=1.0)
    assert len(fig.axes) == 3
    assert len(fig.axes[0].lines) == 2


def test_plot_toy_title_gives_the_scores() -> None:
    pred, truth = T.toy_pair(3.0, 1)
    fig = E.plot_toy(pred, truth, (1.0, 1.0, 1.0), tolerance_mm=1.0)
    assert "DSC 0.764" in fig.axes[0].get_title()
    assert "HD95 1.00 mm" in fig.axes[0].get_title()


def test_dsc_bars_take_the_group_colours_of_the_training_curves() -> None:
    from matplotlib.colors import to_hex

    from segrap_nb.viz.colors import SCORE_GROUP_COLORS, score_group_of

    groups = {"core6": ("Brain",), "large": ("Brain", "Parotid_L"), "small": ("Lens_L",), "all": ()}
    assert score_group_of("Brain", groups) == "core6"  # the more specific group wins
    assert score_group_of("Parotid_L", groups) == "large"
    assert score_group_of("Cochlea_L", groups) is None
    scores = pd.Series({"Lens_L": 0.2, "Parotid_L": 0.7, "Brain": 0.95})
    fig = E.dsc_bars_by_group(scores, groups, title="t")
    ax = fig.axes[0]
    colours = [to_hex(p.get_facecolor()) for p in ax.patches]
    assert colours == [SCORE_GROUP_COLORS[g] for g in ("small", "large", "core6")]
    assert [round(p.get_height(), 2) for p in ax.patches] == [0.2, 0.7, 0.95]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["core6", "large", "small"]


def test_an_empty_gtvnd_reference_is_scored_and_summarised(tiny_copy: Path, tiny_release: Path) -> None:
    """An N0 patient: GTVnd empty in the ground truth. Volume 0, DSC 1 for an empty prediction and
    0 for a predicted node, and the summary and the published comparison take both in."""
    from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR
    from segrap_nb.io.nifti import read_nifti, write_nifti

    f = tiny_copy / ONEHOT_DIR / "Task002" / "segrap_0000.nii.gz"
    t2 = read_nifti(f).array.copy()
    assert (t2 == 2).any()
    t2[t2 == 2] = 0
    write_nifti(f, t2, TINY_AFFINE)
    mask = tiny_copy / IMAGES_DIR / "segrap_0000" / "GTVnd.nii.gz"
    if mask.exists():
        write_nifti(mask, np.zeros_like(t2), TINY_AFFINE)
    vols = T.gt_volumes(tiny_copy, ["segrap_0000"], task=2).set_index("structure")
    assert vols.loc["GTVnd", "cm3"] == 0 and vols.loc["GTVp", "cm3"] > 0
    node_predicted = evaluate(tiny_release, tiny_copy, task=2, progress=False).set_index(
        ["case", "structure"]
    )
    assert node_predicted.loc[("segrap_0000", "GTVnd"), "dsc"] == 0
    nothing_predicted = evaluate(tiny_copy, tiny_copy, task=2, progress=False).set_index(
        ["case", "structure"]
    )
    assert nothing_predicted.loc[("segrap_0000", "GTVnd"), "dsc"] == 1
    assert nothing_predicted.loc[("segrap_0000", "GTVnd"), "nsd"] == 1
    per_case = node_predicted.reset_index()
    summary = summary_table(per_case, 2).set_index("structure")
    n = per_case["case"].nunique()
    assert summary.loc["GTVnd", "dsc_mean"] == pytest.approx((n - 1) / n)  # the others score 1
    table = E.published_comparison(summary.reset_index()).table
    assert table.loc["ours", "GTVnd"] == pytest.approx(round(100 * (n - 1) / n, 2))


def test_long_titles_wrap_inside_the_axes() -> None:
    fig = E.figure(4.0, 3.0)
    ax = fig.add_subplot()
    long = "PHANTOM (synthetic data) · DSC vs organ volume: Spearman ρ = 0.80 (90 points; 2 absent left out)"
    E.fit_title(ax, long)
    lines = ax.get_title().splitlines()
    assert len(lines) >= 2 and " ".join(lines) == long
    fig.canvas.draw()
    box, axes_box = ax.title.get_window_extent(), ax.get_window_extent()
    assert box.width <= axes_box.width * 1.05
