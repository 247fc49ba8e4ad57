"""A fixed colour for every SegRap structure, display groups of organs, and colour legends.

Every one of the 45 organs at risk (OARs) and the two tumour volumes has one fixed RGB colour
(left and right of a pair share a hue, the right one lighter), so the same organ looks the
same in every figure of the kit. A *one-hot* label (1..54) is drawn in the colour of the most
specific shown organ that contains it: label 12 (``Lens_L``) is drawn as the lens when the
lens is shown, and as the eye when only ``Eye_L`` is shown.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from segrap_nb import labels as L

#: Base colour (hex) of each kind of organ; ``_L``/``_R`` pairs derive theirs from it.
_BASE_HEX: dict[str, str] = {
    "Brain": "#e8c9a8",
    "BrainStem": "#c77d4a",
    "Chiasm": "#ffd400",
    "TemporalLobe": "#b07cc6",
    "Hippocampus": "#2ca25f",
    "Eye": "#4fa3e0",
    "Lens": "#c8e600",  # lime: visible inside the blue eye, on white paper and on bone
    "OpticNerve": "#ffa500",
    "MiddleEar": "#8c6d31",
    "IAC": "#e7298a",
    "TympanicCavity": "#66c2a5",
    "VestibulSemi": "#d95f02",
    "Cochlea": "#e6ab02",
    "ETbone": "#7570b3",
    "Pituitary": "#ff69b4",
    "OralCavity": "#c51b7d",
    "Mandible": "#dcdcb4",
    "Submandibular": "#1b9e77",
    "Parotid": "#3288bd",
    "Mastoid": "#a6761d",
    "TMjoint": "#9e9ac8",
    "SpinalCord": "#fee08b",
    "Esophagus": "#f46d43",
    "Larynx": "#5e4fa2",
    "Larynx_Glottic": "#abdda4",
    "Larynx_Supraglot": "#66bd63",
    "PharynxConst": "#d53e4f",
    "Thyroid": "#8073ac",
    "Trachea": "#74add1",
    "GTVp": "#ff0000",
    "GTVnd": "#ff8c00",
}


def _hex_to_rgb(value: str) -> tuple[int, int, int]:
    value = value.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def _lighter(rgb: tuple[int, int, int], amount: float = 0.35) -> tuple[int, int, int]:
    return tuple(int(round(c + (255 - c) * amount)) for c in rgb)  # type: ignore[return-value]


def _organ_colors() -> dict[str, tuple[int, int, int]]:
    out: dict[str, tuple[int, int, int]] = {}
    for name in list(L.OAR_NAMES) + list(L.GTV_NAMES):
        base, side = (name[:-2], name[-1]) if name[-2:] in ("_L", "_R") else (name, "")
        rgb = _hex_to_rgb(_BASE_HEX[base])
        out[name] = _lighter(rgb) if side == "R" else rgb
    return out


#: Structure name (45 OARs, GTVp, GTVnd) -> RGB colour, 0..255.
ORGAN_COLORS: dict[str, tuple[int, int, int]] = _organ_colors()

#: Fixed value of each structure in a one-structure-per-voxel label map (the itkwidgets view):
#: the 45 OARs 1..45 in the official order, GTVp 46, GTVnd 47; 0 is background.
STRUCTURE_IDS: dict[str, int] = {
    name: i for i, name in enumerate(list(L.OAR_NAMES) + list(L.GTV_NAMES), start=1)
}

#: Display groups for the organ picker: defined in :data:`segrap_nb.labels.DISPLAY_GROUPS`.
ORGAN_GROUPS = L.DISPLAY_GROUPS


def group_color(group: str) -> str:
    """The matplotlib colour of a validation score group (grey for a group without one)."""
    return SCORE_GROUP_COLORS.get(group, "tab:gray")


def resolve_organs(selection: str | Iterable[str] | None) -> tuple[str, ...]:
    """Structure names for an organ, a group name, ``"all"`` (45 OARs), or a list of those."""
    if selection is None or selection == "all":
        return tuple(L.OAR_NAMES)
    if isinstance(selection, str):
        selection = [selection]
    out: list[str] = []
    for item in selection:
        if item == "all":
            names: Iterable[str] = L.OAR_NAMES
        elif item in ORGAN_GROUPS:
            names = ORGAN_GROUPS[item]
        else:
            names = [L.canonical_name(item)]
        out.extend(n for n in names if n not in out)
    return tuple(out)


def _task_of(organs: Iterable[str]) -> int:
    tasks = {2 if n in L.GTV_NAMES else 1 for n in organs}
    if len(tasks) > 1:
        raise ValueError("cannot mix OARs (task 1) and GTVs (task 2) in one label map")
    return tasks.pop() if tasks else 1


def _specificity(name: str) -> tuple[int, int]:
    """Sort key: organs of fewer one-hot labels are more specific (later in order wins ties)."""
    return (len(L.labels_of(name)), -list(L.OAR_NAMES).index(name) if name in L.OAR_NAMES else 0)


def label_owner(selection: str | Iterable[str] | None = None, task: int | None = None) -> dict[int, str]:
    """One-hot label id -> the most specific selected structure containing it (others absent)."""
    organs = resolve_organs(selection)
    task = _task_of(organs) if task is None else task
    owner: dict[int, str] = {}
    for name in sorted(organs, key=_specificity, reverse=True):  # most specific painted last
        for lab in L.labels_of(name, task):
            owner[lab] = name
    return owner


def label_lut(
    selection: str | Iterable[str] | None = None, task: int | None = None, alpha: float = 1.0
) -> np.ndarray:
    """(256, 4) float32 RGBA lookup table: one-hot label -> colour 0..255 and alpha 0..1."""
    lut = np.zeros((256, 4), dtype=np.float32)
    for lab, name in label_owner(selection, task).items():
        lut[lab, :3] = ORGAN_COLORS[name]
        lut[lab, 3] = alpha
    return lut


def color_of(name: str, scale: float = 255.0) -> tuple[float, float, float]:
    """RGB colour of a structure, components in 0..``scale`` (1.0 for matplotlib)."""
    r, g, b = ORGAN_COLORS[L.canonical_name(name)]
    return (r * scale / 255.0, g * scale / 255.0, b * scale / 255.0)


def hex_color(name: str) -> str:
    """The ``#rrggbb`` colour of a structure."""
    return "#{:02x}{:02x}{:02x}".format(*ORGAN_COLORS[L.canonical_name(name)])


def legend_handles(organs: str | Iterable[str] | None = None) -> list:
    """Matplotlib patches (colour + organ name) for ``ax.legend(handles=...)``."""
    from matplotlib.patches import Patch

    return [Patch(facecolor=color_of(n, 1.0), edgecolor="0.3", label=n) for n in resolve_organs(organs)]


def legend_html(organs: str | Iterable[str] | None = None, columns: int = 4) -> str:
    """An HTML table of colour swatches with organ names (for an ipywidgets.HTML legend)."""
    names = resolve_organs(organs)
    cells = [
        f'<td style="padding:1px 6px;white-space:nowrap"><span style="display:inline-block;'
        f"width:11px;height:11px;background:{hex_color(n)};border:1px solid #555;"
        f'margin-right:4px;vertical-align:middle"></span>{n}</td>'
        for n in names
    ]
    rows = ["<tr>" + "".join(cells[i : i + columns]) + "</tr>" for i in range(0, len(cells), columns)]
    return (
        '<table class="segrap-legend" style="font-size:11px;border-collapse:collapse">'
        + "".join(rows)
        + "</table>"
    )


#: One colour per score group of the training and evaluation figures (the groups of
#: ``segrap_nb.training.val_dice.SCORE_GROUPS``, plus ``all``): the live training curves, the
#: per-structure bars and any other figure of a group use this table, so a group looks the same
#: everywhere. ``core6`` (six large organs) is part of ``large``: a structure in both is drawn
#: in the colour of ``core6``, the more specific group.
SCORE_GROUP_COLORS: dict[str, str] = {
    "core6": "#1f77b4",  # blue
    "large": "#2ca02c",  # green
    "small": "#ff7f0e",  # orange
    "inner_ear": "#9467bd",  # purple
    "gtv": "#d62728",  # red
    "all": "#404040",  # dark grey
}


def score_group_of(name: str, groups: dict[str, tuple[str, ...]]) -> str | None:
    """The most specific score group (fewest members) of ``groups`` holding structure ``name``."""
    holding = [g for g, members in groups.items() if g != "all" and name in members]
    return min(holding, key=lambda g: len(groups[g])) if holding else None
