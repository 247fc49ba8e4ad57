"""One picture convention: the patient's left on the screen's right, side letters, readable
figures at >= 100 dpi, the phantom named in titles, static snapshots of the live widgets."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from segrap_nb import labels as L
from segrap_nb.io.nifti import Volume
from segrap_nb.viz.colors import ORGAN_COLORS
from segrap_nb.viz.slices import plot_zoom, show_slice

SHAPE = (40, 36, 20)  # voxels along the stored (i, j, k) axes
SPACING = (1.0, 1.0, 2.0)  # mm
LENS_L = L.ONEHOT_IDS["Lens_L"]


def marked_case(axcodes: str) -> tuple[np.ndarray, np.ndarray]:
    """(CT, labels) with a Lens_L block on the patient's left, anterior and superior.

    ``axcodes`` says where the stored axes point ("LPS": the release's NIfTI; "RAS": the
    training cache's arrays): the block is put where the patient's left/anterior/superior
    side is in that storage order.
    """
    ct = np.zeros(SHAPE, np.int16)
    lab = np.zeros(SHAPE, np.uint8)
    i = slice(32, 38) if axcodes[0] == "L" else slice(2, 8)  # patient's left
    j = slice(2, 8) if axcodes[1] == "P" else slice(28, 34)  # anterior
    lab[i, j, 14:18] = LENS_L  # superior (k runs towards S in both)
    return ct, lab


def _affine(axcodes: str) -> np.ndarray:
    signs = [1.0 if c in "RAS" else -1.0 for c in axcodes]
    return np.diag([s * d for s, d in zip(signs, SPACING)] + [1.0])


def _marker_centre(ax) -> tuple[float, float]:
    """(column, row) of the Lens_L pixels as fractions of the image width/height (0: left/top)."""
    rgb = np.asarray(ax.images[0].get_array())
    hit = np.all(rgb == np.array(ORGAN_COLORS["Lens_L"], np.uint8), axis=-1)
    assert hit.any(), "the marker is not drawn in Lens_L's colour"
    rows, cols = np.nonzero(hit)
    return (cols.mean() + 0.5) / rgb.shape[1], (rows.mean() + 0.5) / rgb.shape[0]


def _letters(ax) -> dict[str, tuple[float, float]]:
    """Single-letter texts drawn on the axes -> their (x, y) in axes fractions."""
    return {t.get_text(): t.get_position() for t in ax.texts if len(t.get_text()) == 1}


@pytest.mark.parametrize(
    "axcodes, how", [("LPS", "volume"), ("RAS", "axcodes"), ("RAS", "affine"), ("LPS", "axcodes")]
)
def test_patient_left_is_on_the_screen_right_with_side_letters(axcodes: str, how: str) -> None:
    ct, lab = marked_case(axcodes)
    if how == "volume":
        image, labels, kw = Volume(ct, _affine(axcodes), SPACING), Volume(lab, _affine(axcodes), SPACING), {}
    elif how == "affine":  # the training cache: arrays with the entry's affine
        image, labels, kw = ct, lab, {"affine": _affine(axcodes)}
    else:
        image, labels, kw = ct, lab, {"axcodes": axcodes, "spacing": SPACING}
    fig = Figure(dpi=100)
    ax_axial, ax_coronal = fig.subplots(1, 2)
    shown = show_slice(ax_axial, image, labels, plane="axial", index=15, opacity=1.0, **kw)
    assert shown.organs == ("Lens_L",)
    x, y = _marker_centre(ax_axial)
    assert x > 0.7, f"{axcodes}: patient's left drawn at {x:.2f} of the width (want the right)"
    assert y < 0.3, f"{axcodes}: anterior drawn at {y:.2f} of the height (want the top)"
    front = 4 if axcodes[1] == "P" else 31  # a coronal slice through the marker
    show_slice(ax_coronal, image, labels, plane="coronal", index=front, opacity=1.0, **kw)
    x, y = _marker_centre(ax_coronal)
    assert x > 0.7, f"{axcodes} coronal: marker at ({x:.2f}, {y:.2f})"
    assert y < 0.3, f"{axcodes} coronal: marker at ({x:.2f}, {y:.2f})"
    for ax, (top, bottom) in ((ax_axial, ("A", "P")), (ax_coronal, ("S", "I"))):
        letters = _letters(ax)
        assert letters["R"][0] < 0.1  # R on the left, L on the right
        assert letters["L"][0] > 0.9
        assert letters[top][1] > 0.9
        assert letters[bottom][1] < 0.1
    # the legend names the organ shown, in its fixed colour
    legend = ax_axial.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["Lens_L"]
    # the slice index is written on the slice
    assert any(t.get_text() == "15/19" for t in ax_axial.texts)


def test_show_slice_true_aspect_scale_bar_and_clear_errors() -> None:
    ct, lab = marked_case("LPS")
    fig = Figure(dpi=100)
    ax = fig.add_subplot()
    show_slice(ax, ct, lab, axcodes="LPS", spacing=SPACING, plane="coronal", index=4)
    left, right, bottom, top = ax.images[0].get_extent()
    assert (right - left, bottom - top) == (40.0, 40.0)  # 40 x 1 mm wide, 20 x 2 mm high
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    bars = [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]
    assert len(bars) == 1  # <= a quarter of 40 mm
    assert bars[0].txt_label.get_text() == "10 mm"
    with pytest.raises(ValueError, match="affine="):
        show_slice(ax, ct, lab)  # a plain array without orientation
    with pytest.raises(ValueError, match="axcodes"):
        show_slice(ax, ct, lab, axcodes="LPX")
    with pytest.raises(IndexError, match="axial index 20 outside 0..19"):
        show_slice(ax, ct, lab, axcodes="LPS", index=20)


def test_lens_is_not_white_on_white_and_differs_from_the_eye() -> None:
    white = np.array([255, 255, 255])
    for name, rgb in ORGAN_COLORS.items():
        assert np.linalg.norm(white - rgb) >= 50, f"{name} {rgb} is too close to white"
    for side in "LR":
        lens, eye = np.array(ORGAN_COLORS[f"Lens_{side}"]), np.array(ORGAN_COLORS[f"Eye_{side}"])
        assert np.linalg.norm(lens - eye) >= 100


def test_zoom_on_the_inner_ear_crops_one_side_per_column() -> None:
    ct = np.zeros((80, 60, 20), np.int16)
    lab = np.zeros(ct.shape, np.uint8)
    lab[60:64, 30:33, 8:11] = L.ONEHOT_IDS["Cochlea_L"]  # LPS: high i = patient's left
    lab[16:20, 30:33, 8:11] = L.ONEHOT_IDS["Cochlea_R"]
    fig = plot_zoom(
        Volume(ct, np.diag([-0.5, -0.5, 3.0, 1.0]), (0.5, 0.5, 3.0)),
        lab,
        "inner ear",
        margin_mm=5.0,
        phantom=True,
    )
    axes = fig.axes
    assert len(axes) == 4  # axial and coronal, right and left
    assert [a.get_title() for a in axes[:2]] == ["axial, patient's right", "axial, patient's left"]
    for ax in axes:
        x0, x1 = ax.get_xlim()
        assert x1 - x0 == pytest.approx(2 * 5.0 + 4 * 0.5)  # the cochlea (2 mm) + margins
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Cochlea_L", "Cochlea_R"]
    assert fig._suptitle.get_text().startswith("PHANTOM")


def _per_case(n_cases: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        [
            {"case": f"c{c}", "structure": s, "dsc": rng.uniform(), "nsd": 0.5, "hd95": 2.0}
            for c in range(n_cases)
            for s in ("Brain", "Chiasm")
        ]
    )


def test_box_plots_show_dots_only_below_five_cases() -> None:
    from segrap_nb.viz.eval_figures import boxplot_by_structure

    few = boxplot_by_structure(_per_case(4), "dsc").axes[0]
    many = boxplot_by_structure(_per_case(5), "dsc").axes[0]
    assert len(few.lines) == 0  # no whiskers, caps or medians
    assert len(many.lines) == 2 * 6  # two boxes: 2 whiskers, 2 caps, 1 median, 1 (unused) flier
    dots = few.collections[0].get_offsets()
    assert len(dots) == 4  # the four cases of the first structure, as dots


def test_hu_plot_has_an_axis_for_the_contrast_difference() -> None:
    from segrap_nb.viz.stats_figures import plot_hu

    n = 40
    rows = [
        {"structure": s, "ct": ct, "hu": base + (60.0 if ct == "contrast" else 0.0) + k}
        for s, base in (("Brain", 35.0), ("Mandible_L", 1200.0))
        for ct in ("plain", "contrast")
        for k in range(n)
    ]
    fig = plot_hu(pd.DataFrame(rows), phantom=True)
    assert fig.dpi >= 100
    assert fig.axes[0].get_title().startswith("PHANTOM")
    diff_ax = fig.axes[1]
    medians = sorted(
        line.get_ydata()[0]
        for line in diff_ax.lines
        if len(line.get_ydata()) == 2 and line.get_color() == "black"
    )
    assert medians == [60.0, 60.0]  # contrast − plain, voxel by voxel
    low, high = diff_ax.get_ylim()
    assert low <= 0  # an axis on the scale of the difference, not of bone
    assert high < 200


def _no_overlap(labels) -> bool:
    boxes = [t.get_window_extent() for t in labels if t.get_text()]
    return not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))


def test_statistics_plots_are_readable_at_100_dpi() -> None:
    from segrap_nb.viz import stats_figures as S

    rng = np.random.default_rng(0)
    volumes = pd.DataFrame(
        [
            {
                "case": f"segrap_{c:04d}",
                "task": 1,
                "label": k,
                "voxels": int(rng.integers(1, 1000)),
                "cm3": float(rng.uniform(0.1, 50)),
            }
            for c in range(8)
            for k in range(1, 55)
        ]
    )
    fractions = pd.DataFrame(
        {
            "label": range(55),
            "name": ["background", *L.label_names(1).values()],
            "voxels": np.arange(55, 0, -1),
            "fraction": np.arange(55, 0, -1) / 1540,
        }
    )
    figs = {
        "volumes": S.plot_volumes(volumes, phantom=True),
        "presence": S.plot_presence(volumes, phantom=True),
        "fractions": S.plot_class_fractions(fractions, phantom=True),
    }
    for name, fig in figs.items():
        assert fig.dpi >= 100, name
        ax = fig.axes[0]
        assert ax.get_title().startswith("PHANTOM"), name
        fig.canvas.draw()
        ticks = ax.get_yticklabels() if name == "volumes" else ax.get_xticklabels()
        assert len([t for t in ticks if t.get_text()]) == 54 + (name == "fractions"), name
        assert min(t.get_fontsize() for t in ticks) >= 7, name
        assert _no_overlap(ticks), f"{name}: tick labels overlap"
    import matplotlib.pyplot as plt

    for fig in figs.values():
        plt.close(fig)


def test_viewer_snapshot_is_a_static_figure_with_legend() -> None:
    from segrap_nb.viz.viewer import SliceViewer

    ct, lab = marked_case("LPS")
    viewer = SliceViewer(
        Volume(ct, _affine("LPS"), SPACING), Volume(lab, _affine("LPS"), SPACING), phantom=True
    )
    viewer.set_slice("axial", 15)
    snap = viewer.snapshot()
    assert isinstance(snap, Figure)
    assert snap.dpi >= 100
    axial = snap.axes[0]
    assert _letters(axial)["L"][0] > 0.9
    # label 12 is the lens, part of the eye: both structures are in the case
    assert [t.get_text() for t in snap.legends[0].get_texts()] == ["Eye_L", "Lens_L"]
    assert snap._suptitle.get_text().startswith("PHANTOM")
    before = np.array(axial.images[0].get_array())
    viewer.set_slice("axial", 2)  # the snapshot does not follow the viewer
    assert np.array_equal(before, axial.images[0].get_array())
    assert not np.array_equal(before, viewer.plane_rgb("axial"))


def test_live_plot_snapshot_keeps_the_state_it_was_taken_in() -> None:
    from segrap_nb.viz.training_curves import LivePlot

    plot = LivePlot(groups=("core6",), live=False)
    for step in (10, 20):
        plot({"kind": "train", "step": step, "loss": 1.0 / step})
    plot({"kind": "val", "step": 20, "groups": {"core6": 0.4}})
    snap = plot.snapshot(phantom=True)
    plot({"kind": "val", "step": 40, "groups": {"core6": 0.7}})
    assert snap.dpi >= 100
    assert "after 20 steps" in snap._suptitle.get_text()
    assert list(snap.axes[1].lines[0].get_ydata()) == [0.4]
    assert list(plot.snapshot().axes[1].lines[0].get_ydata()) == [0.4, 0.7]


def test_every_slice_and_surface_figure_takes_volumes_the_same_way() -> None:
    from segrap_nb.viz.render import volume_parts
    from segrap_nb.viz.slices import organ_montage, plot_overlap, plot_prediction_vs_truth
    from segrap_nb.viz.surfaces import plot_surfaces

    ct, lab = marked_case("RAS")
    vol = Volume(lab, _affine("RAS"), SPACING)
    parts = volume_parts(vol)
    assert parts.array is lab and parts.spacing == SPACING
    assert np.array_equal(parts.affine, np.diag([1.0, 1.0, 2.0, 1.0]))
    lps = volume_parts(lab, axcodes="LPS", spacing=(0.5, 0.5, 3.0))
    assert np.array_equal(lps.affine, np.diag([-0.5, -0.5, 3.0, 1.0]))
    assert lps.spacing == (0.5, 0.5, 3.0)
    assert volume_parts(lab, _affine("LPS")).spacing == SPACING  # from the affine, in mm
    # A plain array without its affine gets the same one-line answer from every figure.
    for draw in (
        lambda: plot_surfaces(lab, "Lens_L"),
        lambda: organ_montage(ct, lab, ["Lens_L"]),
        lambda: plot_overlap(ct, lab, "Lens_L", ["Lens_L"]),
        lambda: plot_prediction_vs_truth(ct, lab, lab, "Lens_L"),
    ):
        with pytest.raises(ValueError, match=r"affine= \(voxel -> mm"):
            draw()


def test_figures_show_as_png_without_pyplot() -> None:
    """Every figure function returns a figure IPython shows as a PNG (none left open in pyplot)."""
    import matplotlib.pyplot as plt

    from segrap_nb.viz.slices import organ_montage, plot_overlap, plot_prediction_vs_truth
    from segrap_nb.viz.surfaces import plot_surfaces
    from segrap_nb.viz.viewer import SliceViewer

    ct, lab = marked_case("LPS")
    aff = _affine("LPS")
    open_before = plt.get_fignums()
    figures = [
        plot_zoom(ct, lab, "Lens_L", affine=aff),
        organ_montage(ct, lab, ["Lens_L"], affine=aff),
        plot_overlap(ct, lab, "Lens_L", ["Lens_L"], affine=aff),
        plot_prediction_vs_truth(ct, lab, lab, "Lens_L", affine=aff),
        plot_surfaces(lab, "Lens_L", affine=aff),
        SliceViewer(ct, lab, affine=aff, max_display_px=64).snapshot(),
    ]
    assert plt.get_fignums() == open_before
    for fig in figures:
        assert fig.dpi == 100
        assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
