"""itkwidgets 3D viewing, guarded: never hang or fail where the viewer cannot work.

itkwidgets 1.0 (alpha) loads its viewer's JavaScript from an IPFS gateway and a CDN at run
time, needs JupyterLab >= 4 (or Notebook >= 7) with the ImJoy extension, and, once
``view()`` has been called, makes every later cell wait until the browser-side viewer
reports ready. *Importing* it already replaces the kernel's execute handler. So headless runs
(nbval, nbconvert/nbclient, papermill), offline machines and front ends without the
extension must not import it at all: :func:`itkwidgets_available` decides without importing
it, and :func:`show_3d` falls back to the kit's static 3D surfaces when it says no.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import socket
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import numpy as np

from segrap_nb.grid import spacing_mm
from segrap_nb.io.nifti import Volume
from segrap_nb.viz.colors import STRUCTURE_IDS, label_owner, resolve_organs

#: Set to 1 to never use itkwidgets (e.g. on a slow network); set to "force" to skip the checks.
ENV_SWITCH = "SEGRAP_ITKWIDGETS"
#: Where itkwidgets 1.0a55 fetches its viewer from (itkwidgets.viewer_config.ITK_VIEWER_SRC).
VIEWER_HOST = "bafybeieiqiiwvdq66e2bndws5nwojbe4wwerbxyua6u37axxivi2rwf7wy.ipfs.dweb.link"
#: CT window (width, level) in HU for the itkwidgets view: soft tissue.
SOFT_TISSUE = (400.0, 40.0)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
        if not piece.isdigit():
            break
    return tuple(parts)


def _reachable(host: str, port: int = 443, timeout_s: float = 2.0) -> bool:
    """True when a TCP connection to host:port opens within the timeout (DNS included)."""
    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                result.append(True)
        except OSError:
            result.append(False)

    # getaddrinfo has no timeout of its own: run the attempt in a thread and stop waiting.
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout_s + 0.5)
    return bool(result and result[0])


def _viewer_host() -> str:
    spec = importlib.util.find_spec("itkwidgets.viewer_config")
    if spec and spec.origin:  # read the URL without importing itkwidgets (importing patches)
        with open(spec.origin, encoding="utf-8") as fh:
            for token in fh.read().replace("'", '"').split('"'):
                if token.startswith("https://"):
                    return urlparse(token).hostname or VIEWER_HOST
    return VIEWER_HOST


def itkwidgets_available(check_network: bool = True, timeout_s: float = 2.0) -> tuple[bool, str]:
    """(True, "") when an itkwidgets ``view()`` can show up here; else (False, the reason).

    No: ``$SEGRAP_ITKWIDGETS=0``; not inside a Jupyter kernel; a headless runner (nbval,
    nbconvert/nbclient, papermill: kernels not started by a Jupyter server for a notebook
    session, which sets ``JPY_SESSION_NAME``); Colab (broken since 1.0a53); itkwidgets or the
    ImJoy extension missing, or JupyterLab < 4 / Notebook < 7; the viewer's web host
    unreachable (offline).
    """
    switch = os.environ.get(ENV_SWITCH, "").strip().lower()
    if switch in ("0", "no", "false", "off"):
        return False, f"disabled by ${ENV_SWITCH}={switch}"
    why = _kernel_problem()
    if why or switch == "force":
        return not why, why
    why = _frontend_problem()
    if why:
        return False, why
    if check_network:
        source = viewer_source(timeout_s)
        if source.kind == "unavailable":
            return False, source.reason
    return True, ""


def _kernel_problem() -> str:
    """Why this process cannot show a widget at all ("" when it can): no kernel, or Colab."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is None or not hasattr(shell, "kernel"):
        return "not running inside a Jupyter kernel"
    if "google.colab" in sys.modules:
        return "itkwidgets 1.0a53+ does not work on Colab"
    return ""


def _frontend_problem() -> str:
    """Why an itkwidgets view would not answer here ("" when it would): a headless run, a
    missing package or extension, or a Jupyter front end too old for itkwidgets 1.0."""
    if not os.environ.get("JPY_SESSION_NAME"):
        return (
            "headless run (nbconvert/nbclient/nbval) or a front end without a "
            "Jupyter server session: no viewer can answer"
        )
    for module, why in (
        ("itkwidgets", "itkwidgets is not installed (pip install 'itkwidgets[lab]>=1.0a55')"),
        ("imjoy_jupyterlab_extension", "the ImJoy JupyterLab extension is missing"),
        ("imjoy_elfinder", "imjoy-elfinder is missing"),
    ):
        if importlib.util.find_spec(module) is None:
            return why
    for dist, minimum in (("jupyterlab", (4,)), ("notebook", (7,))):
        try:
            if _version_tuple(importlib.metadata.version(dist)) < minimum:
                return f"itkwidgets 1.0 needs {dist} >= {minimum[0]}"
        except importlib.metadata.PackageNotFoundError:
            pass
    return ""


@dataclass(frozen=True)
class ViewerSource:
    """Where the itkwidgets viewer page comes from: ``local``, ``gateway`` or ``unavailable``."""

    kind: str
    url: str
    reason: str

    def describe(self) -> str:
        """The one line a notebook prints about it."""
        if self.kind == "local":
            return f"itkwidgets viewer: local copy served by this Jupyter server ({self.url})"
        if self.kind == "gateway":
            return f"itkwidgets viewer: public gateway {self.url} (no local copy: {self.reason})"
        return f"itkwidgets viewer unavailable: {self.reason}"


def _jupyter_server_url() -> str | None:
    """URL (with base_url, ending in /) of the Jupyter server that started this kernel, or None."""
    import glob
    import json

    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return None
    for path in glob.glob(os.path.join(jupyter_runtime_dir(), "jpserver-*.json")):
        try:
            with open(path, encoding="utf-8") as fh:
                info = json.load(fh)
        except (OSError, ValueError):
            continue
        if info.get("pid") == os.getppid() and info.get("url"):
            return info["url"].rstrip("/") + "/"
    return None


def _local_viewer_url(server: str, timeout_s: float) -> tuple[str | None, str]:
    """(viewer page URL, "") when this server serves the kit's local copy; else (None, why)."""
    import urllib.request

    from segrap_nb.viz import itk_assets

    try:
        wanted = itk_assets.required_versions()
    except itk_assets.AssetError as exc:
        return None, str(exc)
    manifest = itk_assets.installed_manifest()
    if manifest is None:
        return None, "not installed (make itk-viewer)"
    if (
        manifest.get("itkwidgets") != wanted.itkwidgets
        or manifest.get(itk_assets.EXTENSION) != wanted.imjoy_extension
    ):
        return None, "built for other itkwidgets/ImJoy versions (make itk-viewer)"
    if manifest.get("palette") != itk_assets.palette_digest():
        return None, "built with other organ colours (make itk-viewer)"
    base = f"{server}lab/extensions/{itk_assets.EXTENSION}/static/{itk_assets.OFFLINE}/"
    try:  # the server must serve it: its config names the folder (started after install)
        with urllib.request.urlopen(base + "manifest.json", timeout=timeout_s) as resp:
            if resp.status != 200:
                return None, f"the Jupyter server answers {resp.status} for it"
    except OSError:
        return None, "this Jupyter server does not serve it (restart JupyterLab after install)"
    return base + "itk-vtk-viewer/index.html", ""


def viewer_source(timeout_s: float = 2.0) -> ViewerSource:
    """Decide once where the viewer comes from: the local copy, the public gateway, or nowhere."""
    server = _jupyter_server_url()
    if server is None:
        why = "no Jupyter server found for this kernel"
    else:
        url, why = _local_viewer_url(server, timeout_s)
        if url:
            return ViewerSource("local", url, "")
    host = _viewer_host()
    if _reachable(host, 443, timeout_s):
        return ViewerSource("gateway", f"https://{host}/", f"local copy {why}")
    return ViewerSource("unavailable", "", f"local copy {why}, and offline: cannot reach {host}")


def to_itk_image(array: np.ndarray, affine: np.ndarray, step: int = 1) -> Any:
    """An ``itkwasm.Image`` of an (i, j, k) array with spacing, origin and direction in LPS mm.

    ``step`` > 1 keeps every step-th voxel in-plane (i and j) to lighten the browser's load.
    """
    import itkwasm

    affine = np.asarray(affine, dtype=float)
    if step > 1:
        array = array[::step, ::step, :]
        affine = affine.copy()
        affine[:3, :2] *= step
    spacing = np.asarray(spacing_mm(affine))
    # NIfTI world is RAS+, ITK's is LPS+: flip x and y.
    lps = np.diag([-1.0, -1.0, 1.0]) @ affine[:3, :3]
    image = itkwasm.image_from_array(np.ascontiguousarray(array.T))  # ITK wants (z, y, x)
    image.spacing = [float(s) for s in spacing]
    image.origin = [float(v) for v in np.diag([-1.0, -1.0, 1.0]) @ affine[:3, 3]]
    image.direction = (lps / spacing[None, :]).astype(np.float64)
    return image


def organ_label_image(
    onehot: np.ndarray, organs: str | Iterable[str] = "all", task: int = 1
) -> tuple[np.ndarray, dict[int, str]]:
    """One value per chosen structure, its fixed ``STRUCTURE_IDS`` value; returns (map, id -> name).

    Fixed values (not 1..n in the order chosen) let the viewer's ``segrap-nb`` palette give
    every structure the kit's colour by value, whichever structures are shown or present.
    """
    names = resolve_organs(organs)
    owner = label_owner(names, task)
    ids = {name: STRUCTURE_IDS[name] for name in sorted(names, key=STRUCTURE_IDS.__getitem__)}
    lut = np.zeros(256, np.uint8)
    for lab, name in owner.items():
        lut[lab] = ids[name]
    return lut[onehot], {v: k for k, v in ids.items()}


def _display_in_ipython(obj: Any) -> None:
    """Display ``obj`` in a running IPython (a notebook's kernel); nothing elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython comes with the notebook extra
        return
    if get_ipython() is not None:
        display(obj)


def _what(organs: str | Iterable[str], task: int) -> str:
    """Words for the structures a 3D view shows: "the 45 organs at risk", a group, or the names."""
    if organs == "all":
        return "the 45 organs at risk" if task == 1 else "GTVp and GTVnd"
    return organs if isinstance(organs, str) else ", ".join(organs)


def show_3d(
    image: Volume,
    labels: Volume | None = None,
    organs: str | Iterable[str] = "all",
    *,
    task: int = 1,
    step: int | None = None,
    fallback: bool = True,
    quiet: bool = False,
    phantom: bool = False,
    **view_kwargs: Any,
) -> Any:
    """itkwidgets 3D view of a CT with organs as a label image, or a fallback where it cannot run.

    Where :func:`itkwidgets_available` says no, prints that in one line and returns the static
    3D surface figure of the organs (``fallback=True`` and labels given, titled by what it shows;
    ``phantom=True`` tags the title), else None. Either view is displayed by the call itself, so
    assign the result (``view3d = show_3d(...)``): no object repr is printed under it. Call it in
    the *last* cell of a notebook: after ``view()`` itkwidgets holds later cells until the
    browser's viewer answers.
    """
    ok, reason = itkwidgets_available(check_network=False)
    source = viewer_source() if ok else None
    if source is not None and source.kind == "unavailable":
        ok, reason = False, source.reason
    if not ok or source is None:
        if not quiet:
            print(f"itkwidgets 3D view not shown: {reason}. Using the built-in fallback.")
        return _fallback(labels, organs, task, phantom) if fallback and labels is not None else None
    # imported only here, where a viewer can answer (importing patches the kernel)
    import itkwidgets

    if not quiet:
        print(source.describe())
    kwargs = _viewer_kwargs(source)
    if step is None:
        step = 2 if max(image.shape[:2]) > 512 else 1
    kwargs["image"] = to_itk_image(image.array, image.affine, step)
    if labels is not None:
        relabelled, names = organ_label_image(labels.array, organs, task)
        kwargs["label_image"] = to_itk_image(relabelled, labels.affine, step)
        kwargs["label_names"] = [(k, v) for k, v in names.items()]
        kwargs["label_blend"] = 0.6
        print("label ids: " + ", ".join(f"{k} {v}" for k, v in names.items()))
    kwargs.update(view_kwargs)
    return itkwidgets.view(**kwargs)


def _fallback(labels: Volume, organs: str | Iterable[str], task: int, phantom: bool) -> Any:
    """The static 3D surface figure shown in place of the itkwidgets view (displayed here)."""
    from segrap_nb.viz.surfaces import LEGEND_INSIDE, plot_surfaces

    many = len(resolve_organs(organs)) > LEGEND_INSIDE  # room for the legend beside it
    title = f"{_what(organs, task)}: 3D surfaces\n(matplotlib, in place of the itkwidgets view)"
    figsize = (9.0, 5.0) if many else (5.0, 4.0)
    fig = plot_surfaces(labels, organs, task=task, figsize=figsize, title=title, phantom=phantom)
    _display_in_ipython(fig)
    return fig


def _viewer_kwargs(source: ViewerSource) -> dict[str, Any]:
    """``itkwidgets.view`` options of the kit: the soft-tissue window (HU) and, with a local
    viewer copy, that copy's URL, its built-in UI and the kit's palette."""
    import itkwidgets.viewer

    kwargs: dict[str, Any] = {
        "vmin": SOFT_TISSUE[1] - SOFT_TISSUE[0] / 2,
        "vmax": SOFT_TISSUE[1] + SOFT_TISSUE[0] / 2,
    }
    if source.kind == "local":
        from segrap_nb.viz import itk_assets

        # viewer.py reads this module global when it opens the window; the "reference" UI is
        # built into the viewer, the other two load their code from a public CDN.
        itkwidgets.viewer.ITK_VIEWER_SRC = source.url
        kwargs["ui"] = "reference"
        # The local copy knows the kit's palette (itk_assets.PALETTE: colour by label value);
        # the public viewer only has its own palettes, which colour labels by rank.
        kwargs["label_lut"] = itk_assets.PALETTE
    return kwargs
