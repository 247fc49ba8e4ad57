"""An always-working interactive CT viewer: ipywidgets controls + a matplotlib (Agg) figure.

Three orthogonal planes at their true physical proportions (extent in mm), slice sliders,
window/level presets and free sliders, a plain/contrast CT switch, a label overlay with
opacity, an organ picker (one organ, a group, or all) with a colour legend, and a button that
centres the planes on the chosen organs.

Why not ``%matplotlib widget`` or re-plotting: the figure is built once and each change only
swaps the image data (``set_data``) of one plane, drawn with Agg and sent to the browser as a
PNG in an ``ipywidgets.Image``. It needs no extension beyond ipywidgets, and works the same in
JupyterLab, Notebook 7, VS Code and Colab. A slice change on a full-size 1024 x 1024 x 126 case
takes well under 0.5 s (see ``benchmarks/bench_viewer.py``): the slice is subsampled to at most
``max_display_px`` pixels a side, the window is one 65536-entry lookup, the overlay one
256-entry colour lookup.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from segrap_nb import labels as L
from segrap_nb.errors import DataError
from segrap_nb.io.atomic import atomic_open
from segrap_nb.io.nifti import Volume
from segrap_nb.viz._style import DPI, figure, organ_legend, phantom_title
from segrap_nb.viz.annotate import decorate
from segrap_nb.viz.colors import ORGAN_GROUPS, label_lut, legend_html, resolve_organs
from segrap_nb.viz.render import (
    PLANE_AXES,
    PLANE_AXIS,
    PLANES,
    WINDOW_PRESETS,
    LPSVolume,
    Plane,
    apply_window,
    compose_overlay,
    extract_plane,
    label_centroid,
    label_slice_counts,
    plane_extent,
    reorient_lps,
    volume_parts,
    voxel_to_plane_mm,
    window_lut,
)

CUSTOM = "custom"
#: Colour of the crosshair that marks the point where the three planes meet.
CROSSHAIR = "#00ff00"


class SliceViewer:
    """Three-plane CT viewer with label overlay; display it in a notebook, or drive it from code.

    ``image``/``contrast``: CT volumes (HU) in (i, j, k) order; ``labels``: uint8 one-hot map
    (task 1: 1..54, task 2: 1 = GTVp, 2 = GTVnd) on the same grid. ``Volume`` objects carry
    their affine; plain arrays need ``affine`` or ``spacing`` (mm). ``phantom=True`` tags the
    title. The widget needs a live kernel: :meth:`snapshot` is a static figure of the view.
    """

    def __init__(
        self,
        image: Volume | np.ndarray,
        labels: Volume | np.ndarray | None = None,
        contrast: Volume | np.ndarray | None = None,
        *,
        affine: np.ndarray | None = None,
        spacing: tuple[float, float, float] | None = None,
        task: int | None = None,
        organs: str | list[str] = "all",
        window: str | tuple[float, float] = "soft tissue",
        opacity: float = 0.45,
        max_display_px: int = 400,
        panel_inches: float = 3.4,
        dpi: int = DPI,
        title: str = "",
        phantom: bool = False,
    ) -> None:
        self.title = phantom_title(title, phantom)
        self._load(image, labels, contrast, affine=affine, spacing=spacing)
        if task is None and self.labels is not None:
            task = 2 if max(self.present_labels, default=0) <= 2 else 1
        self.task = task or 1
        self.max_display_px = int(max_display_px)
        self.dpi = int(dpi)
        self._init_state(window, opacity)
        self.set_organs(organs if self.task == 1 else "tumour (GTV)", redraw=False)
        self._build_figure(panel_inches)
        self.redraw()

    # -- construction ----------------------------------------------------------------------
    def _load(
        self,
        image: Volume | np.ndarray,
        labels: Volume | np.ndarray | None,
        contrast: Volume | np.ndarray | None,
        **where: Any,
    ) -> None:
        """Reorient the CT, contrast CT and labels to LPS on the CT's grid (``where``: affine,
        spacing; a plain array without an affine has RAS axes of ``spacing`` mm)."""
        ct, affine, spacing = volume_parts(image, where["affine"], spacing=where["spacing"], axcodes="RAS")
        self._stored_shape = ct.shape
        self.ct = reorient_lps(ct, affine, spacing)
        self.spacing = self.ct.spacing
        self.shape = self.ct.array.shape
        self.contrast: LPSVolume | None = None
        if contrast is not None:
            arr = volume_parts(contrast, affine).array
            if arr.shape != ct.shape:
                raise ValueError(f"contrast CT {arr.shape} and CT {ct.shape} differ in shape")
            self.contrast = reorient_lps(arr, affine, spacing)
        self._labels_stored: np.ndarray | None = None
        self.labels: LPSVolume | None = None
        self.present_labels: set[int] = set()
        if labels is not None:
            lab = volume_parts(labels, affine).array
            if lab.shape != ct.shape:
                raise ValueError(f"label map {lab.shape} and CT {ct.shape} differ in shape")
            if lab.dtype != np.uint8:
                lab = lab.astype(np.uint8)
            self._labels_stored = lab
            self.labels = reorient_lps(lab, affine, spacing)
            self._slice_counts = label_slice_counts(lab)
            counts = self._slice_counts.sum(axis=0)
            self.present_labels = {int(k) for k in np.nonzero(counts)[0] if k}

    def _init_state(self, window: str | tuple[float, float], opacity: float) -> None:
        """The view's starting state (mirrored by the widgets once built): middle slices."""
        self.index = {p: self.shape[PLANE_AXIS[p]] // 2 for p in PLANES}
        width, level = WINDOW_PRESETS[window] if isinstance(window, str) else window
        self.window = (float(width), float(level))
        self._wlut = window_lut(*self.window)
        self.use_contrast = False
        self.show_labels = self.labels is not None
        self.opacity = float(opacity)
        self.organs: tuple[str, ...] = ()
        self.selection: str | list[str] = "all"
        self._lut: np.ndarray | None = None
        self._widget: Any = None
        self._busy = False

    @classmethod
    def from_case(cls, case: Any, task: int = 1, contrast: bool = True, **kwargs: Any) -> SliceViewer:
        """Viewer for one dataset case: its CT, contrast CT (if present) and one-hot map."""
        image = case.image()
        ctr = case.image(contrast=True) if contrast and "image_contrast" in case.files else None
        try:
            labels = case.onehot_map(task)
        except DataError:  # a case without labels (e.g. the test set) is still viewable
            labels = None
        kwargs.setdefault("title", f"{case.case_id}")
        return cls(image, labels, ctr, task=task, **kwargs)

    def _steps(self, plane: Plane) -> tuple[int, int]:
        r, c = PLANE_AXES[plane]
        n = self.max_display_px
        return (max(1, -(-self.shape[r] // n)), max(1, -(-self.shape[c] // n)))

    def _build_figure(self, panel_inches: float) -> None:
        widths = []
        for p in PLANES:
            left, right, bottom, top = plane_extent(self.shape, self.spacing, p)
            widths.append((right - left) / max(bottom - top, 1e-6))
        ratios = [min(w, 1.6) for w in widths]  # panel width / height, capped for tall necks
        self.figure = figure(panel_inches * sum(ratios), panel_inches, "black", dpi=self.dpi)
        FigureCanvasAgg(self.figure)
        grid = self.figure.add_gridspec(
            1, 3, width_ratios=ratios, left=0.01, right=0.99, bottom=0.02, top=0.9, wspace=0.04
        )
        self.axes: dict[str, Any] = {}
        self.images: dict[str, Any] = {}
        self._cross: dict[str, tuple[Any, Any]] = {}
        for n, p in enumerate(PLANES):
            ax = self.figure.add_subplot(grid[0, n])
            ax.set_facecolor("black")
            ext = plane_extent(self.shape, self.spacing, p)
            rows = -(-self.shape[PLANE_AXES[p][0]] // self._steps(p)[0])
            cols = -(-self.shape[PLANE_AXES[p][1]] // self._steps(p)[1])
            self.images[p] = ax.imshow(
                np.zeros((rows, cols, 3), np.uint8), extent=ext, aspect="equal", interpolation="nearest"
            )
            ax.set_xlim(ext[0], ext[1])
            ax.set_ylim(ext[2], ext[3])
            ax.set_xticks([])
            ax.set_yticks([])
            decorate(ax, p)  # side letters and scale bar (the slice index is in the title)
            v = ax.axvline(0, color=CROSSHAIR, lw=0.6, alpha=0.6)
            h = ax.axhline(0, color=CROSSHAIR, lw=0.6, alpha=0.6)
            self._cross[p] = (v, h)
            self.axes[p] = ax
        self._suptitle = self.figure.suptitle("", color="white", fontsize=9)

    # -- state changes (usable from code and from the widgets) -------------------------------
    def set_window(self, width: float | str, level: float | None = None, redraw: bool = True) -> None:
        """Set the CT window: a preset name, or width and level in HU."""
        if isinstance(width, str):
            width, level = WINDOW_PRESETS[width]
        if level is None:
            raise ValueError("give a preset name, or both width and level (HU)")
        if width <= 0:
            raise ValueError(f"window width must be > 0 HU, got {width}")
        self.window = (float(width), float(level))
        self._wlut = window_lut(*self.window)
        self._changed(redraw)

    def set_organs(self, selection: str | list[str], redraw: bool = True) -> None:
        """Show one organ, a group name (see ``colors.ORGAN_GROUPS``), a list, or ``"all"``."""
        if self.task == 2 and selection == "all":
            selection = "tumour (GTV)"
        self.organs = resolve_organs(selection)
        self.selection = selection
        self._lut = label_lut(self.organs, self.task)
        self._changed(redraw)

    def set_slice(self, plane: Plane, index: int, redraw: bool = True) -> None:
        """Move one plane to a slice index (along that plane's LPS axis)."""
        n = self.shape[PLANE_AXIS[plane]]
        self.index[plane] = int(min(max(index, 0), n - 1))
        self._changed(redraw, plane)

    def set_contrast(self, use: bool = True, redraw: bool = True) -> None:
        """Show the contrast-enhanced CT (True) or the plain CT (False)."""
        if use and self.contrast is None:
            raise ValueError("this viewer has no contrast CT")
        self.use_contrast = bool(use)
        self._changed(redraw)

    def set_overlay(
        self, show: bool | None = None, opacity: float | None = None, redraw: bool = True
    ) -> None:
        """Switch the label overlay on or off, and/or set its opacity (0..1)."""
        if show is not None:
            self.show_labels = bool(show) and self.labels is not None
        if opacity is not None:
            self.opacity = float(min(max(opacity, 0.0), 1.0))
        self._changed(redraw)

    def organ_centroid(self, selection: str | list[str] | None = None) -> tuple[int, int, int] | None:
        """LPS voxel index of the organs' centre of mass (default: those shown); None if absent."""
        if self._labels_stored is None or self.labels is None:
            return None
        organs = resolve_organs(selection) if selection is not None else self.organs
        ids = sorted({lab for o in organs for lab in L.labels_of(o, self.task)})
        com = label_centroid(self._labels_stored, ids, self._slice_counts)
        if com is None:
            return None
        return self.labels.to_lps_index(com, self._stored_shape)  # type: ignore[return-value]

    def jump_to(self, selection: str | list[str] | None = None) -> bool:
        """Centre the three planes on the organs' centroid; False (and no move) when absent."""
        where = self.organ_centroid(selection)
        if where is None:
            return False
        for p in PLANES:
            self.index[p] = int(where[PLANE_AXIS[p]])
        self._changed(True)
        return True

    def _changed(self, redraw: bool, plane: Plane | None = None) -> None:
        """After a state change: redraw (one plane or all) and bring the widgets in line."""
        if redraw:
            self.redraw(plane)
        self._sync_widgets()

    # -- drawing ---------------------------------------------------------------------------
    def plane_rgb(self, plane: Plane) -> np.ndarray:
        """The composed RGB (uint8) display image of one plane at its current slice."""
        vol = self.contrast if (self.use_contrast and self.contrast is not None) else self.ct
        step = self._steps(plane)
        grey = apply_window(
            extract_plane(vol.array, plane, self.index[plane], step), *self.window, lut=self._wlut
        )
        if not self.show_labels or self.labels is None:
            return compose_overlay(grey, None, None)
        lab = extract_plane(self.labels.array, plane, self.index[plane], step)
        return compose_overlay(grey, np.ascontiguousarray(lab), self._lut, self.opacity)

    def redraw(self, plane: Plane | None = None) -> None:
        """Recompute one plane (or all) with ``set_data``, move the crosshairs, refresh the PNG."""
        for p in PLANES if plane is None else (plane,):
            self.images[p].set_data(self.plane_rgb(p))
        where = self._lps_index()
        for p in PLANES:
            v, h = self._cross[p]
            x, y = voxel_to_plane_mm(where, self.shape, self.spacing, p)
            v.set_xdata([x, x])
            h.set_ydata([y, y])
        name = "contrast CT" if (self.use_contrast and self.contrast is not None) else "CT"
        w, lv = self.window
        pos = "  ".join(f"{p} {self.index[p]}/{self.shape[PLANE_AXIS[p]] - 1}" for p in PLANES)
        self._suptitle.set_text(f"{self.title}  {name}  W {w:.0f} / L {lv:.0f} HU   {pos}".strip())
        if self._widget is not None:
            self.image.value = self.png()

    def _lps_index(self) -> tuple[int, int, int]:
        out = [0, 0, 0]
        for p in PLANES:
            out[PLANE_AXIS[p]] = self.index[p]
        return tuple(out)  # type: ignore[return-value]

    def png(self, compress_level: int = 1) -> bytes:
        """The figure as PNG bytes (Agg render; zlib level 1 by default: fastest to encode)."""
        from PIL import Image

        canvas = self.figure.canvas
        canvas.draw()
        buf = np.asarray(canvas.buffer_rgba())  # type: ignore[attr-defined]  # Agg canvas
        out = io.BytesIO()
        Image.fromarray(buf[..., :3]).save(out, format="png", compress_level=compress_level)
        return out.getvalue()

    def shown_organs(self) -> list[str]:
        """The selected organs present in this case (those the legend names)."""
        return [
            o for o in self.organs if any(lab in self.present_labels for lab in L.labels_of(o, self.task))
        ]

    def snapshot(self) -> Figure:
        """A static matplotlib figure of the current view, with a scale bar and organ legend.

        Widgets need a live kernel; this figure also shows in exported HTML, on GitHub and in
        print. It is a new figure (later changes to the viewer leave it as it is).
        """
        width, height = self.figure.get_size_inches()
        fig = figure(float(width), float(height), "black", dpi=max(self.dpi, DPI))
        shown = self.shown_organs() if self.show_labels else []
        ncol = max(1, min(len(shown), int(fig.get_figwidth() / 1.35)))
        rows = -(-len(shown) // ncol)
        legend_in = 0.19 * rows + (0.1 if rows else 0.0)
        fig.set_size_inches(fig.get_figwidth(), fig.get_figheight() + legend_in)
        bottom = (legend_in + 0.02) / fig.get_figheight()
        ratios = [ax.get_position().width for ax in self.axes.values()]
        grid = fig.add_gridspec(
            1,
            3,
            width_ratios=ratios,
            left=0.01,
            right=0.99,
            bottom=bottom,
            top=1 - 0.34 / fig.get_figheight(),
            wspace=0.04,
        )
        where = self._lps_index()
        for n, p in enumerate(PLANES):
            ax = fig.add_subplot(grid[0, n])
            ax.set_facecolor("black")
            ext = plane_extent(self.shape, self.spacing, p)
            ax.imshow(self.plane_rgb(p), extent=ext, aspect="equal", interpolation="nearest")
            ax.set_xlim(ext[0], ext[1])
            ax.set_ylim(ext[2], ext[3])
            ax.set_xticks([])
            ax.set_yticks([])
            x, y = voxel_to_plane_mm(where, self.shape, self.spacing, p)
            ax.axvline(x, color=CROSSHAIR, lw=0.6, alpha=0.6)
            ax.axhline(y, color=CROSSHAIR, lw=0.6, alpha=0.6)
            decorate(ax, p, index=self.index[p], n_slices=self.shape[PLANE_AXIS[p]])
        fig.suptitle(self._suptitle.get_text(), color="white", fontsize=9)
        if shown:
            leg = organ_legend(
                fig, shown, loc="lower center", ncol=ncol, bbox_to_anchor=(0.5, 0.0), fontsize=7.5
            )
            for text in leg.get_texts():
                text.set_color("white")
        return fig

    def savefig(self, path: str | os.PathLike, **kwargs: Any) -> Path:
        """Save the current view to an image file (format from the suffix), atomically."""
        path = Path(path)
        kwargs.setdefault("facecolor", "black")
        kwargs.setdefault("format", path.suffix.lstrip(".") or "png")
        with atomic_open(path, "wb") as fh:
            self.figure.savefig(fh, **kwargs)
        return path

    # -- widgets ---------------------------------------------------------------------------
    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Set widget values from code without their observers acting on them."""
        self._busy = True
        try:
            yield
        finally:
            self._busy = False

    def _organ_options(self) -> list[tuple[str, str]]:
        if self.task == 2:
            return [("both GTVs", "tumour (GTV)"), ("GTVp", "GTVp"), ("GTVnd", "GTVnd")]
        opts = [("all organs", "all")]
        opts += [(f"group: {g}", g) for g in ORGAN_GROUPS if g != "tumour (GTV)"]
        opts += [(n, n) for n in L.OAR_NAMES]
        return opts

    def _legend_value(self) -> str:
        shown = [
            o for o in self.organs if any(lab in self.present_labels for lab in L.labels_of(o, self.task))
        ]
        missing = [o for o in self.organs if o not in shown]
        html = legend_html(shown, columns=6) if shown else ""
        if missing:
            html += f'<div style="font-size:11px;color:#888">not in this case: {", ".join(missing)}</div>'
        return html

    @property
    def widget(self) -> Any:
        """The ipywidgets layout (built on first use)."""
        if self._widget is None:
            self._build_widgets()
        return self._widget

    def _build_widgets(self) -> None:
        """Make the controls, lay them out above the image and legend, and connect them."""
        import ipywidgets as W

        self.image = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.image.add_class("segrap-viewer-image")
        self._make_sliders(W)
        self._make_controls(W)
        self.legend = W.HTML()
        self.message = W.HTML("")
        self._widget = W.VBox(
            [
                W.HBox(list(self.sliders.values())),
                W.HBox([self.preset, self.width_slider, self.level_slider]),
                W.HBox([self.ct_choice, self.overlay, self.opacity_slider]),
                W.HBox([self.organ_picker, self.jump_button, self.message]),
                self.image,
                self.legend,
            ]
        )
        self._widget.add_class("segrap-viewer")
        self._sync_widgets()
        self._connect()
        self.image.value = self.png()

    def _make_sliders(self, W: Any) -> None:
        """One slice slider per plane (index along the plane's LPS axis)."""
        self.sliders = {
            p: W.IntSlider(
                value=self.index[p],
                min=0,
                max=self.shape[PLANE_AXIS[p]] - 1,
                description=p,
                continuous_update=True,
                layout=W.Layout(width="32%"),
            )
            for p in PLANES
        }
        for p, s in self.sliders.items():
            s.add_class(f"segrap-slider-{p}")
            s.observe(lambda ch, p=p: self._on_slice(p, ch), names="value")

    def _make_controls(self, W: Any) -> None:
        """Window preset and sliders (HU), CT switch, overlay switch and opacity, organ picker."""
        self.preset = W.Dropdown(
            options=list(WINDOW_PRESETS) + [CUSTOM], description="window", layout=W.Layout(width="220px")
        )
        self.width_slider = W.IntSlider(min=1, max=4000, description="width HU", continuous_update=False)
        self.level_slider = W.IntSlider(min=-1200, max=3000, description="level HU", continuous_update=False)
        self.ct_choice = W.ToggleButtons(
            options=["CT", "contrast CT"], disabled=self.contrast is None, style={"button_width": "95px"}
        )
        no_labels = self.labels is None
        self.overlay = W.Checkbox(
            description="labels", disabled=no_labels, indent=False, layout=W.Layout(width="80px")
        )
        self.opacity_slider = W.FloatSlider(
            min=0, max=1, step=0.05, description="opacity", disabled=no_labels, continuous_update=False
        )
        self.organ_picker = W.Dropdown(
            options=self._organ_options(),
            description="show",
            disabled=no_labels,
            layout=W.Layout(width="300px"),
        )
        self.jump_button = W.Button(description="centre on organ", disabled=no_labels, icon="crosshairs")

    def _connect(self) -> None:
        """Connect the controls (built, set to the state) to the viewer's state changes."""
        self.preset.observe(self._on_preset, names="value")
        self.width_slider.observe(self._on_window, names="value")
        self.level_slider.observe(self._on_window, names="value")
        self.ct_choice.observe(self._on_ct, names="value")
        self.overlay.observe(self._on_overlay, names="value")
        self.opacity_slider.observe(self._on_overlay, names="value")
        self.organ_picker.observe(self._on_organs, names="value")
        self.jump_button.on_click(self._on_jump)

    def _sync_widgets(self) -> None:
        """Make every control show the viewer's current state (after a change made in code)."""
        if self._widget is None:
            return
        with self._quiet():
            for p, slider in self.sliders.items():
                slider.value = self.index[p]
            self.preset.value = next((k for k, v in WINDOW_PRESETS.items() if v == self.window), CUSTOM)
            self.width_slider.value = int(round(self.window[0]))
            self.level_slider.value = int(round(self.window[1]))
            self.ct_choice.value = "contrast CT" if self.use_contrast else "CT"
            self.overlay.value = self.show_labels
            self.opacity_slider.value = self.opacity
            values = [v for _, v in self.organ_picker.options]
            if isinstance(self.selection, str) and self.selection in values:
                self.organ_picker.value = self.selection
            self.legend.value = self._legend_value()

    def _on_slice(self, plane: Plane, change: dict) -> None:
        if not self._busy:
            self.set_slice(plane, int(change["new"]))

    def _on_preset(self, change: dict) -> None:
        if not self._busy and change["new"] != CUSTOM:
            self.set_window(change["new"])

    def _on_window(self, change: dict) -> None:
        if not self._busy:
            self.set_window(self.width_slider.value, self.level_slider.value)

    def _on_ct(self, change: dict) -> None:
        if not self._busy:
            self.set_contrast(change["new"] == "contrast CT")

    def _on_overlay(self, change: dict) -> None:
        if not self._busy:
            self.set_overlay(self.overlay.value, self.opacity_slider.value)

    def _on_organs(self, change: dict) -> None:
        if not self._busy:
            self.message.value = ""
            self.set_organs(change["new"])

    def _on_jump(self, _button: Any = None) -> None:
        found = self.jump_to()
        self.message.value = "" if found else "<i>not present in this case</i>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, Any]:
        """The live widget; without a kernel (a saved notebook reopened) a sentence, not the widget tree."""
        bundle = dict(self.widget._repr_mimebundle_() or {})
        bundle["text/plain"] = (
            "SliceViewer: a live widget, shown while the kernel runs; "
            "snapshot() draws the same view as a picture"
        )
        return bundle
