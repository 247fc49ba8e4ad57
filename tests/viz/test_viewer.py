"""Viewer logic as a user relies on it: right plane, true proportions, right colours, widgets."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from segrap_nb import labels as L
from segrap_nb.grid import bbox
from segrap_nb.io.nifti import Volume
from segrap_nb.viz.colors import ORGAN_COLORS, ORGAN_GROUPS, label_lut, label_owner, resolve_organs
from segrap_nb.viz.render import (
    WINDOW_PRESETS,
    apply_window,
    compose_overlay,
    extract_plane,
    label_centroid,
    label_slice_counts,
    plane_aspect,
    plane_extent,
    reorient_lps,
    window_lut,
    window_values,
)

SHAPE = (12, 10, 6)  # i, j, k: all different, so a swapped axis cannot go unnoticed
SPACING = (0.5, 0.5, 3.0)
LPS_AFFINE = np.diag([-0.5, -0.5, 3.0, 1.0])  # i -> left, j -> posterior, k -> superior
RAS_AFFINE = np.diag([0.5, 0.5, 3.0, 1.0])  # i -> right, j -> anterior, k -> superior


def coded_volume() -> np.ndarray:
    """Each voxel stores its own index as i*10000 + j*100 + k."""
    i, j, k = np.indices(SHAPE)
    return (i * 10000 + j * 100 + k).astype(np.int32)


def code(i: int, j: int, k: int) -> int:
    return i * 10000 + j * 100 + k


# -- planes and proportions -------------------------------------------------------------------
def test_axial_plane_of_an_lps_volume_has_anterior_up_and_patient_left_on_the_right() -> None:
    lps = reorient_lps(coded_volume(), LPS_AFFINE)
    plane = extract_plane(lps.array, "axial", 4)
    assert plane.shape == (10, 12)  # rows = j (A->P), cols = i (R->L)
    assert plane[0, 0] == code(0, 0, 4)
    assert plane[3, 7] == code(7, 3, 4)
    assert plane[9, 11] == code(11, 9, 4)


def test_ras_stored_volume_is_flipped_to_the_same_display() -> None:
    vol = coded_volume()
    lps = reorient_lps(vol, RAS_AFFINE)
    assert lps.spacing == SPACING
    plane = extract_plane(lps.array, "axial", 2)
    # Screen top-left is the most anterior and most right voxel: i = 11 (right), j = 9 (anterior).
    assert plane[0, 0] == code(11, 9, 2)
    assert plane[0, 11] == code(0, 9, 2)
    assert plane[9, 0] == code(11, 0, 2)


def test_coronal_and_sagittal_planes_have_superior_at_the_top() -> None:
    lps = reorient_lps(coded_volume(), LPS_AFFINE)
    cor = extract_plane(lps.array, "coronal", 3)
    assert cor.shape == (6, 12)
    assert cor[0, 0] == code(0, 3, 5)  # top row = highest k (superior)
    assert cor[5, 11] == code(11, 3, 0)
    sag = extract_plane(lps.array, "sagittal", 7)
    assert sag.shape == (6, 10)
    assert sag[0, 0] == code(7, 0, 5)  # anterior (j = 0) on the left
    assert sag[5, 9] == code(7, 9, 0)
    with pytest.raises(IndexError):
        extract_plane(lps.array, "axial", 6)


def test_aspect_and_extent_follow_the_anisotropic_spacing() -> None:
    assert plane_aspect(SPACING, "axial") == 1.0
    assert plane_aspect(SPACING, "coronal") == 6.0  # a 3 mm row is 6 times a 0.5 mm column
    assert plane_aspect(SPACING, "sagittal") == 6.0
    assert plane_extent(SHAPE, SPACING, "axial") == (0.0, 6.0, 5.0, 0.0)
    assert plane_extent(SHAPE, SPACING, "coronal") == (0.0, 6.0, 18.0, 0.0)
    assert plane_extent(SHAPE, SPACING, "sagittal") == (0.0, 5.0, 18.0, 0.0)


# -- window / level -----------------------------------------------------------------------------
def test_window_level_arithmetic() -> None:
    assert window_values(-160, 400, 40) == 0.0
    assert window_values(240, 400, 40) == 1.0
    assert window_values(40, 400, 40) == 0.5
    assert window_values(-1000, 400, 40) == 0.0
    assert window_values(3000, 400, 40) == 1.0
    lut = window_lut(400, 40)
    hu = np.array([-1000, -160, 40, 240, 1000], dtype=np.int16)
    assert apply_window(hu, 400, 40, lut).tolist() == [0, 0, 128, 255, 255]
    assert apply_window(hu.astype(np.float32), 400, 40).tolist() == [0, 0, 128, 255, 255]
    assert WINDOW_PRESETS["brain"] == (80.0, 40.0)
    with pytest.raises(ValueError):
        window_values(0, 0, 40)


# -- colours and overlay ------------------------------------------------------------------------
def test_each_structure_has_its_own_colour_and_overlaps_take_the_specific_organ() -> None:
    assert len(ORGAN_COLORS) == 47
    assert len(set(ORGAN_COLORS.values())) == 47
    everything = label_owner("all")
    assert set(everything) == set(L.ONEHOT_LABELS)
    assert everything[12] == "Lens_L"
    assert everything[10] == "Eye_L"
    assert everything[6] == "Hippocampus_L"  # temporal lobe / hippocampus overlap
    assert everything[20] == "TympanicCavity_L"  # middle ear / tympanic cavity overlap
    assert everything[51] == "PharynxConst"
    assert label_owner("Eye_L") == {10: "Eye_L", 12: "Eye_L"}
    assert set(resolve_organs("inner ear")) == set(ORGAN_GROUPS["inner ear"])
    assert resolve_organs(["Cochlea_L", "inner ear"])[0] == "Cochlea_L"
    assert set().union(*map(set, (resolve_organs(g) for g in ORGAN_GROUPS))) >= set(L.OAR_NAMES)


def test_overlay_colour_at_a_known_voxel_belongs_to_the_right_organ() -> None:
    labels = np.zeros((5, 5), np.uint8)
    labels[1:4, 1:4] = 10  # Eye_L around
    labels[2, 2] = 12  # Lens_L inside
    grey = np.full((5, 5), 100, np.uint8)
    rgb = compose_overlay(grey, labels, label_lut("all"), opacity=1.0)
    assert tuple(rgb[2, 2]) == ORGAN_COLORS["Lens_L"]
    assert tuple(rgb[1, 1]) == ORGAN_COLORS["Eye_L"]
    assert tuple(rgb[0, 0]) == (100, 100, 100)
    rgb = compose_overlay(grey, labels, label_lut("Eye_L"), opacity=1.0)
    assert tuple(rgb[2, 2]) == ORGAN_COLORS["Eye_L"]  # the lens is part of the eye
    half = compose_overlay(grey, labels, label_lut("Parotid_L"), opacity=0.5)
    assert tuple(half[2, 2]) == (100, 100, 100)  # not selected: not drawn


# -- centroids ----------------------------------------------------------------------------------
def test_label_centroid_of_a_block() -> None:
    lab = np.zeros((20, 16, 8), np.uint8)
    lab[4:8, 10:12, 2:5] = 28  # Cochlea_L: centre (5.5, 10.5, 3)
    lab[0, 0, 7] = 1
    assert label_centroid(lab, [28]) == pytest.approx((5.5, 10.5, 3.0))
    counts = label_slice_counts(lab)
    assert counts[:, 28].tolist() == [0, 0, 8, 8, 8, 0, 0, 0]
    assert label_centroid(lab, [28], counts) == pytest.approx((5.5, 10.5, 3.0))
    both = label_centroid(lab, [1, 28], counts)
    assert both == pytest.approx(((5.5 * 24) / 25, (10.5 * 24) / 25, (3 * 24 + 7) / 25))
    assert label_centroid(lab, [40]) is None
    assert bbox(lab == 28) == (slice(4, 8), slice(10, 12), slice(2, 5))
    assert bbox(lab == 40) is None


# -- the widget viewer --------------------------------------------------------------------------
def _case() -> tuple[Volume, Volume, Volume]:
    shape = (40, 36, 14)
    rng = np.random.default_rng(0)
    ct = rng.integers(-200, 300, size=shape).astype(np.int16)
    ct[:, :, 10:] = 1000  # bright top slices
    lab = np.zeros(shape, np.uint8)
    lab[5:8, 6:9, 3:6] = 28  # Cochlea_L: centre (6, 7, 4)
    lab[30:36, 20:30, 8:12] = 40  # Parotid_L
    aff = RAS_AFFINE.copy()
    return (
        Volume(ct, aff, SPACING),
        Volume(lab, aff, SPACING),
        Volume((ct + 100).astype(np.int16), aff, SPACING),
    )


def test_viewer_widget_slider_change_updates_the_image_data() -> None:
    from segrap_nb.viz.viewer import SliceViewer

    ct, lab, ctr = _case()
    viewer = SliceViewer(ct, lab, ctr, max_display_px=64)
    widget = viewer.widget
    assert "segrap-viewer" in widget._dom_classes
    assert viewer.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert viewer.sliders["axial"].max == 13
    assert viewer.sliders["axial"].value == 7
    # Panels keep true proportions: coronal is 14 slices x 3 mm high, 40 x 0.5 mm wide.
    assert viewer.images["coronal"].get_extent() == [0.0, 20.0, 42.0, 0.0]
    before_png = viewer.image.value
    before = np.array(viewer.images["axial"].get_array())
    viewer.sliders["axial"].value = 12
    after = np.array(viewer.images["axial"].get_array())
    assert viewer.index["axial"] == 12
    assert not np.array_equal(before, after)
    assert np.array_equal(after, viewer.plane_rgb("axial"))
    assert viewer.image.value != before_png
    assert (after == 255).all()  # slice 12 is +1000 HU, no organ: white in the soft-tissue window


def test_viewer_window_presets_contrast_switch_and_organs() -> None:
    from segrap_nb.viz.viewer import SliceViewer

    ct, lab, ctr = _case()
    viewer = SliceViewer(ct, lab, ctr, max_display_px=64)
    _ = viewer.widget  # builds the widgets
    viewer.preset.value = "bone"
    assert (viewer.width_slider.value, viewer.level_slider.value) == (1800, 400)
    assert viewer.window == (1800.0, 400.0)
    viewer.width_slider.value = 500
    assert viewer.preset.value == "custom"
    assert viewer.window == (500.0, 400.0)
    plain = viewer.plane_rgb("axial")
    viewer.ct_choice.value = "contrast CT"
    assert not np.array_equal(plain, viewer.images["axial"].get_array())
    viewer.organ_picker.value = "inner ear"
    assert "Cochlea_L" in viewer.legend.value
    assert "Parotid_L" not in viewer.legend.value
    assert "not in this case" in viewer.legend.value  # e.g. the right cochlea
    # Changes made in code show up on the controls.
    viewer.set_window("lung")
    assert viewer.preset.value == "lung"
    assert viewer.level_slider.value == -600
    viewer.set_organs("glands")
    viewer.set_contrast(False)
    viewer.set_slice("coronal", 3)
    assert viewer.organ_picker.value == "glands"
    assert viewer.ct_choice.value == "CT"
    assert viewer.sliders["coronal"].value == 3
    assert "coronal 3/35" in viewer._suptitle.get_text()


def test_viewer_jump_to_organ_centres_the_planes_on_its_centroid() -> None:
    from segrap_nb.viz.viewer import SliceViewer

    ct, lab, _ = _case()
    viewer = SliceViewer(ct, lab, max_display_px=64)
    _ = viewer.widget  # builds the widgets
    viewer.organ_picker.value = "Cochlea_L"
    viewer.jump_button.click()
    # Stored centre (6, 7, 4); i runs towards the right and j anteriorly, so in LPS the centre
    # is at L = 39 - 6 = 33, P = 35 - 7 = 28, S = 4.
    assert viewer.index == {"axial": 4, "coronal": 28, "sagittal": 33}
    assert viewer.sliders["sagittal"].value == 33
    viewer.opacity = 1.0
    from segrap_nb.viz.render import plane_pixel

    row, col = plane_pixel((33, 28, 4), viewer.shape, "axial")
    assert tuple(viewer.plane_rgb("axial")[row, col]) == ORGAN_COLORS["Cochlea_L"]
    viewer.organ_picker.value = "Cochlea_R"
    viewer.jump_button.click()
    assert "not present" in viewer.message.value
    assert viewer.index == {"axial": 4, "coronal": 28, "sagittal": 33}  # unchanged


# -- 3D surfaces and static plots ---------------------------------------------------------------
def test_organ_mesh_of_a_sphere_has_its_volume_in_mm3() -> None:
    from segrap_nb.viz.surfaces import organ_mesh

    shape = (80, 80, 20)
    spacing = np.array([0.5, 0.5, 3.0])
    idx = np.indices(shape).astype(float)
    centre = np.array([40, 40, 10])
    dist = np.sqrt((((idx - centre[:, None, None, None]) * spacing[:, None, None, None]) ** 2).sum(axis=0))
    mask = dist <= 12.0  # radius 12 mm
    verts, faces = organ_mesh(mask, np.diag([0.5, 0.5, 3.0, 1.0]))
    tris = verts[faces].astype(float)
    volume = abs(np.einsum("ij,ij->i", tris[:, 0], np.cross(tris[:, 1], tris[:, 2])).sum()) / 6
    assert volume == pytest.approx(4 / 3 * np.pi * 12.0**3, rel=0.12)
    assert verts.min(axis=0) == pytest.approx(centre * spacing - 12, abs=3.5)
    assert organ_mesh(np.zeros(shape, bool), np.eye(4)) is None


def test_plot_surfaces_and_montage_and_prediction_vs_truth() -> None:
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    from segrap_nb.viz.slices import (
        FN_COLOR,
        FP_COLOR,
        TP_COLOR,
        organ_montage,
        plot_prediction_vs_truth,
    )
    from segrap_nb.viz.surfaces import plot_surfaces

    ct, lab, _ = _case()
    fig = plot_surfaces(lab, ["Cochlea_L", "Parotid_L", "Cochlea_R"])
    polys = [c for c in fig.axes[0].collections if isinstance(c, Poly3DCollection)]
    assert len(polys) == 2
    assert "absent: Cochlea_R" in fig.axes[0].get_title()
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["Cochlea_L", "Parotid_L"]
    # Twenty organs present (one 3 x 3 x 2 block each): the legend goes beside the 3D axes, in
    # columns of at most 16 names, and the axes keep the left part of the figure.
    names = [n for n in L.OAR_NAMES if len(L.labels_of(n)) == 1][:20]
    many = np.zeros((40, 36, 14), np.uint8)
    for k, name in enumerate(names):
        many[2 + 4 * (k % 8) : 5 + 4 * (k % 8), 2 + 4 * (k // 8) : 5 + 4 * (k // 8), 4:6] = L.labels_of(name)[
            0
        ]
    fig = plot_surfaces(Volume(many, lab.affine, SPACING), names)
    assert fig.axes[0].get_legend() is None
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == names
    assert legend._ncols == 2  # 20 names: 16 + 4
    assert fig.axes[0].get_position().x1 <= 0.55

    fig = organ_montage(ct, lab, ["Cochlea_L", "Parotid_L", "Brain"], ncols=3)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Cochlea_L", "Parotid_L", "Brain"]
    assert fig.axes[2].texts[0].get_text() == "absent"

    pred = lab.array.copy()
    pred[30:36, 20:30, 11] = 0  # misses one slice of the parotid: false negatives at k = 11
    pred[30:36, 20:30, 7] = 40  # and adds one: false positives at k = 7
    pred_vol = Volume(pred, ct.affine, SPACING)
    fig = plot_prediction_vs_truth(ct, pred_vol, lab, "Parotid_L", opacity=1.0)
    title = fig._suptitle.get_text()
    assert "Dice 0.750" in title  # 2 * 180 / (240 + 240)
    assert "axial slice 7" in title  # default: the slice with the most errors (first of a tie)
    assert "FP 60 voxels (0.045 cm³)" in title  # 60 voxels of 0.75 mm³
    quiet = plot_prediction_vs_truth(ct, pred_vol, lab, "Parotid_L", counts=False)._suptitle.get_text()
    assert "axial slice 7" in quiet and "FP" not in quiet and "Dice" not in quiet  # an exercise's answer

    def colours(fig) -> set[tuple[int, ...]]:
        return {tuple(int(c) for c in v) for v in fig.axes[2].images[0].get_array().reshape(-1, 3)}

    rgb = {
        name: tuple(int(round(c * 255)) for c in col)
        for name, col in (("tp", TP_COLOR), ("fp", FP_COLOR), ("fn", FN_COLOR))
    }
    at7 = colours(fig)
    assert rgb["fp"] in at7
    assert rgb["fn"] not in at7
    assert rgb["tp"] not in at7
    at10 = colours(plot_prediction_vs_truth(ct, pred_vol, lab, "Parotid_L", index=10, opacity=1.0))
    assert rgb["tp"] in at10
    assert rgb["fp"] not in at10
    assert rgb["fn"] not in at10
    at11 = colours(plot_prediction_vs_truth(ct, pred_vol, lab, [40], index=11, opacity=1.0))
    assert rgb["fn"] in at11
    assert rgb["tp"] not in at11


# -- itkwidgets guard ---------------------------------------------------------------------------
def test_itkwidgets_guard_says_no_without_a_front_end(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython

    from segrap_nb.viz import itk as itk_view

    ok, reason = itk_view.itkwidgets_available()
    assert not ok
    assert "not running inside a Jupyter kernel" in reason

    class FakeShell:
        kernel = object()

    monkeypatch.setattr(IPython, "get_ipython", lambda: FakeShell())
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    ok, reason = itk_view.itkwidgets_available()
    assert not ok
    assert "headless" in reason
    monkeypatch.setenv("JPY_SESSION_NAME", "/tmp/02_viewer.ipynb")
    assert itk_view.itkwidgets_available(check_network=False) == (True, "")
    monkeypatch.setattr(itk_view, "_reachable", lambda *a, **k: False)
    ok, reason = itk_view.itkwidgets_available()
    assert not ok
    assert "offline: cannot reach" in reason
    assert reason.startswith("local copy")
    monkeypatch.setenv("SEGRAP_ITKWIDGETS", "0")
    assert itk_view.itkwidgets_available()[0] is False


def test_itk_image_carries_spacing_and_lps_direction() -> None:
    from segrap_nb.viz.itk import organ_label_image, to_itk_image

    arr = np.zeros((8, 6, 4), np.int16)
    arr[7, 0, 0] = 5
    aff = np.array([[-0.5, 0, 0, 10.0], [0, -0.6, 0, 20.0], [0, 0, 3.0, -30.0], [0, 0, 0, 1]])
    img = to_itk_image(arr, aff)
    assert list(img.size) == [8, 6, 4]
    assert img.spacing == pytest.approx([0.5, 0.6, 3.0])
    assert img.origin == pytest.approx([-10.0, -20.0, -30.0])
    assert np.asarray(img.direction) == pytest.approx(np.eye(3))  # L, P, S = ITK's LPS axes
    assert img.data[0, 0, 7] == 5  # ITK data are (z, y, x)
    lab = np.array([[[10, 12, 28, 40]]], np.uint8)
    out, names = organ_label_image(lab, ["Lens_L", "Eye_L"])
    # Fixed values, the official OAR order (Eye_L is the 8th OAR, Lens_L the 10th), whatever is shown.
    assert names == {8: "Eye_L", 10: "Lens_L"}
    assert out.tolist() == [[[8, 10, 0, 0]]]
    out, names = organ_label_image(lab, ["Lens_L"])
    assert names == {10: "Lens_L"}
    assert out.tolist() == [[[0, 10, 0, 0]]]


def test_outline_is_drawn_where_the_mask_is() -> None:
    from matplotlib.figure import Figure

    from segrap_nb.viz.panel import draw_panel

    grey = np.zeros((20, 30), np.uint8)
    mask = np.zeros((20, 30), bool)
    mask[2:6, 3:9] = True  # near the top-left corner
    ax = Figure().add_subplot()
    draw_panel(ax, grey, [(mask, (1.0, 0.0, 0.0))], (slice(0, 20), slice(0, 30)), (3.0, 0.5), 0.5)
    verts = np.concatenate([p.vertices for p in ax.collections[0].get_paths()])
    assert verts[:, 0].min() >= 3 * 0.5 - 0.5  # x in mm
    assert verts[:, 0].max() <= 9 * 0.5 + 0.5
    assert verts[:, 1].min() >= 2 * 3.0 - 3  # y: rows down
    assert verts[:, 1].max() <= 6 * 3.0 + 3
