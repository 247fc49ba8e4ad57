"""A local, offline copy of the itkwidgets viewer, installed from the npm registry.

itkwidgets 1.0 shows its viewer (itk-vtk-viewer) in an ImJoy window that the
``imjoy-jupyterlab-extension`` opens. Everything the browser needs for that is fetched at run
time from public hosts: the ImJoy app (Vue, vue-js-modal, vue-window, imjoy-core) by the
JupyterLab extension, the viewer page from an IPFS gateway, and the viewer's RPC library
(imjoy-loader, imjoy-rpc) by that page. Offline or behind a filter the viewer is a blank box.

``python -m segrap_nb.viz.itk_assets install`` (``make itk-viewer``) builds the same thing from
npm packages of pinned versions into ``<env>/share/segrap-nb/itk-viewer/``:

* ``labextensions/imjoy-jupyterlab-extension/``: a copy of the installed extension whose
  hard-coded CDN addresses point at ``static/segrap-offline/`` beside it (files renamed, so a
  browser never mixes them up with the original), plus those assets and the viewer;
* an entry in ``<env>/etc/jupyter/jupyter_lab_config.json`` (JupyterLab does not read a ``.d``
  folder for its own settings) that puts that folder first on JupyterLab's
  ``extra_labextensions_path``: JupyterLab then serves it (no new port)
  at ``<base_url>lab/extensions/imjoy-jupyterlab-extension/static/segrap-offline/``.

``python -m segrap_nb.viz.itk_assets uninstall`` removes both.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: itkwidgets version -> the itk-vtk-viewer release its ``ITK_VIEWER_SRC`` holds. For 1.0a55
#: (2025-02-07) that is the IPFS folder bafybeieiqii…wy, set by itkwidgets commit 0ca6672
#: (2024-06-21, "add set_image_piecewise_function_points"), which calls the viewer's
#: ``setImagePiecewiseFunctionPoints``: added in itk-vtk-viewer e35ab0e8 and first released in
#: 14.51.0 (tag = merge ea897047, the same day). The next release, 14.51.1 (2025-02-27), went
#: with the next folder (itkwidgets a06b5cf), after 1.0a55. tests/viz/test_itk_assets.py checks that
#: the installed bundle has every method itkwidgets calls.
VIEWER_FOR_ITKWIDGETS: dict[str, str] = {"1.0a55": "14.51.0"}
#: imjoy-jupyterlab-extension version -> the npm packages its bundle loads from CDNs.
IMJOY_ASSETS: dict[str, dict[str, str]] = {
    "0.2.6": {"vue": "2.6.10", "vue-js-modal": "1.3.35", "imjoy-core": "0.14.5", "imjoy-rpc": "0.5.59"},
}
EXTENSION = "imjoy-jupyterlab-extension"
OFFLINE = "segrap-offline"  # folder name under the copied extension's static/
CONFIG_NAME = "jupyter_lab_config.json"

# Loaded first by the patched chunk: the folder of the local assets, from the chunk's own URL.
_BASE_JS = (
    "window.__segrapOffline = new URL('" + OFFLINE + "/', document.currentScript ? "
    "document.currentScript.src : window.location.href).href;\n"
)
# vue-window's only use in the JupyterLab extension is Vue.use(VueWindow): its window manager is
# switched off there, so the package is not needed, and it is not on the npm registry.
_VUE_WINDOW_JS = (
    "/* segrap-nb: vue-window is unused by imjoy-jupyterlab-extension (no window "
    "manager); Vue.use() needs an object. */\n"
    "window.VueWindow = window.VueWindow || { install: function () {} };\n"
)


#: Name of the kit's organ palette in the local viewer: ``label_lut=PALETTE`` colours each label
#: value v with the colour of the structure whose ``STRUCTURE_IDS`` value is v.
PALETTE = "segrap-nb"


class AssetError(RuntimeError):
    """The local viewer copy could not be built (the message says which step and why)."""


@dataclass(frozen=True)
class Versions:
    """The versions the local copy is built for, read from the installed packages."""

    itkwidgets: str
    imjoy_extension: str
    viewer: str
    assets: dict[str, str]


def asset_root(prefix: str | os.PathLike[str] | None = None) -> Path:
    """Folder of the local copy: ``$SEGRAP_ITK_VIEWER_DIR``, else ``<env>/share/segrap-nb/itk-viewer``."""
    if prefix is None and os.environ.get("SEGRAP_ITK_VIEWER_DIR"):
        return Path(os.environ["SEGRAP_ITK_VIEWER_DIR"])
    return Path(prefix or sys.prefix) / "share" / "segrap-nb" / "itk-viewer"


def config_path(prefix: str | os.PathLike[str] | None = None) -> Path:
    """The JupyterLab config file whose entry makes JupyterLab serve the local copy."""
    return Path(prefix or sys.prefix) / "etc" / "jupyter" / CONFIG_NAME


def _set_lab_path(cfg: Path, folder: str, present: bool) -> None:
    """Add (or remove) folder in LabApp.extra_labextensions_path of cfg, keeping other settings."""
    try:
        data = json.loads(cfg.read_text())
    except FileNotFoundError:
        data = {}
    except ValueError as exc:
        raise AssetError(f"{cfg} is not valid JSON: {exc}") from exc
    lab = data.setdefault("LabApp", {})
    paths = [p for p in lab.get("extra_labextensions_path", []) if p != folder]
    lab["extra_labextensions_path"] = ([folder] if present else []) + paths
    if not lab["extra_labextensions_path"]:
        del lab["extra_labextensions_path"]
    if not lab:
        del data["LabApp"]
    if data:
        cfg.parent.mkdir(parents=True, exist_ok=True)
        cfg.write_text(json.dumps(data, indent=2) + "\n")
    else:
        cfg.unlink(missing_ok=True)


def config_installed(prefix: str | os.PathLike[str] | None = None) -> bool:
    """True when the JupyterLab config names the local copy's folder."""
    try:
        data = json.loads(config_path(prefix).read_text())
    except (OSError, ValueError):
        return False
    folder = str(asset_root(prefix) / "labextensions")
    return folder in data.get("LabApp", {}).get("extra_labextensions_path", [])


def required_versions() -> Versions:
    """Versions to fetch for the installed itkwidgets and imjoy-jupyterlab-extension."""
    try:
        itkw = importlib.metadata.version("itkwidgets")
        ext = importlib.metadata.version(EXTENSION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise AssetError(f"{exc.name} is not installed (pip install 'itkwidgets[lab]')") from exc
    if itkw not in VIEWER_FOR_ITKWIDGETS:
        raise AssetError(
            f"itkwidgets {itkw} is not one of the versions the kit knows the viewer "
            f"of ({', '.join(VIEWER_FOR_ITKWIDGETS)})"
        )
    if ext not in IMJOY_ASSETS:
        raise AssetError(
            f"{EXTENSION} {ext} is not one of the versions the kit can make "
            f"offline ({', '.join(IMJOY_ASSETS)})"
        )
    return Versions(itkw, ext, VIEWER_FOR_ITKWIDGETS[itkw], IMJOY_ASSETS[ext])


def installed_extension_dir() -> Path:
    """The installed imjoy-jupyterlab-extension labextension folder."""
    from jupyter_core.paths import jupyter_path

    for base in jupyter_path("labextensions"):
        candidate = Path(base) / EXTENSION
        if (candidate / "package.json").is_file():
            return candidate
    raise AssetError(f"{EXTENSION} is not installed as a JupyterLab extension")


def _npm_pack(spec: str, dest: Path, npm: str) -> Path:
    """``npm pack SPEC`` into dest (npm checks the registry's integrity hash); the tarball path."""
    try:
        out = subprocess.run(
            [npm, "pack", "--silent", "--pack-destination", str(dest), spec],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except FileNotFoundError as exc:
        raise AssetError(f"npm not found ({npm}): install Node.js to get the local viewer") from exc
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise AssetError(f"npm pack {spec} failed: {last[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise AssetError(f"npm pack {spec} timed out") from exc
    name = out.stdout.strip().splitlines()[-1]
    return dest / name


def _extract(tarball: Path, member_prefix: str, dest: Path) -> None:
    """Extract the regular files under ``package/<member_prefix>`` of an npm tarball into dest."""
    prefix = f"package/{member_prefix}".rstrip("/") + "/"
    count = 0
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.startswith(prefix):
                continue
            rel = Path(member.name[len(prefix) :])
            if rel.is_absolute() or ".." in rel.parts:
                raise AssetError(f"{tarball.name}: unsafe path {member.name}")
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(target, "wb") as out:  # type: ignore[union-attr]
                shutil.copyfileobj(src, out)
            count += 1
    if not count:
        raise AssetError(f"{tarball.name} has no files under {prefix}")


def _replace_once(text: str, old: str, new: str, where: str) -> str:
    """Replace exactly one occurrence of old; raise when the bundle does not look as expected."""
    found = text.count(old)
    if found != 1:
        raise AssetError(f"{where}: expected 1 occurrence of {old!r}, found {found}")
    return text.replace(old, new)


def _with_base(text: str) -> str:
    """Chunk text with the line that sets ``window.__segrapOffline`` (after any "use strict")."""
    strict = '"use strict";\n'
    if text.startswith(strict):
        return strict + _BASE_JS + text[len(strict) :]
    return _BASE_JS + text


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:20]


_LOCAL = "window.__segrapOffline + "
#: CDN addresses in imjoy-core's loader chunk -> their place in ``static/segrap-offline/``.
_CORE_CDN = (
    ('\\"https://cdn.jsdelivr.net/npm/vue@2.6.10/dist/vue.min.js\\"', _LOCAL + '\\"vue/vue.min.js\\"'),
    ('\\"https://imjoy-team.github.io/vue-js-modal/index.js\\"', _LOCAL + '\\"vue-js-modal/index.js\\"'),
    ('\\"https://imjoy-team.github.io/vue-js-modal/styles.css\\"', _LOCAL + '\\"vue-js-modal/styles.css\\"'),
    (
        '\\"https://cdn.jsdelivr.net/npm/@oeway/vue-window@2.4.1-a/lib/index.js\\"',
        _LOCAL + '\\"vue-window/index.js\\"',
    ),
    ("`https://cdn.jsdelivr.net/npm/imjoy-core@${version}/dist/`", "`${window.__segrapOffline}imjoy-core/`"),
)


def _patch_extension(src: Path, dest: Path) -> None:
    """Copy the labextension to dest with its CDN addresses pointing at ``static/segrap-offline/``."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("*.map"))
    static = dest / "static"
    pkg = json.loads((dest / "package.json").read_text())
    entry_name = Path(pkg["jupyterlab"]["_build"]["load"]).name
    entry = (static / entry_name).read_text()

    core = next(static.glob("vendors-node_modules_imjoy-core_dist_imjoy-loader_js-*.js"))
    text = core.read_text()
    for old, new in _CORE_CDN:
        text = _replace_once(text, old, new, core.name)
    entry = _rehash_chunk(core, _with_base(text), entry, entry_name)
    lib = next(static.glob("lib_index_js.*.js"))
    entry = _rehash_chunk(lib, _patch_lib(lib.read_text(), lib.name), entry, entry_name)

    (static / entry_name).unlink()
    new_entry = f"remoteEntry.{_hash(entry)}.js"
    (static / new_entry).write_text(entry)
    pkg["jupyterlab"]["_build"]["load"] = f"static/{new_entry}"
    (dest / "package.json").write_text(json.dumps(pkg, indent=2))


def _patch_lib(text: str, name: str) -> str:
    """The extension's lib chunk with imjoy-rpc, the base frame and the logo taken locally."""
    text = _replace_once(
        text,
        "process_url_query: true,",
        "process_url_query: true, default_rpc_base_url: window.__segrapOffline + "
        "'imjoy-rpc/', default_base_frame: window.__segrapOffline + "
        "'imjoy-core/default_base_frame.html',",
        name,
    )
    text = _with_base(text)
    return _replace_once(
        text,
        "https://imjoy.io/static/img/imjoy-logo-black.svg",
        "data:image/svg+xml,%3Csvg xmlns=%27http://www.w3.org/2000/svg%27 width=%2717%27 height=%2717%27/%3E",
        name,
    )


def _rehash_chunk(chunk: Path, text: str, entry: str, entry_name: str) -> str:
    """Write a patched chunk under its new content hash (the old file removed) and return the
    remote entry's text with the chunk's hash replaced."""
    old_hash = chunk.name.rsplit(".", 2)[-2]
    new_hash = _hash(text)
    chunk.unlink()
    (chunk.parent / chunk.name.replace(old_hash, new_hash)).write_text(text)
    return _replace_once(entry, f'"{old_hash}"', f'"{new_hash}"', entry_name)


def _patch_viewer_page(index: Path) -> None:
    """Make the viewer page load imjoy-loader and imjoy-rpc from the local copy."""
    text = index.read_text()
    text = _replace_once(
        text, "https://lib.imjoy.io/imjoy-loader.js", "../imjoy-core/imjoy-loader.js", index.name
    )
    text = _replace_once(
        text,
        "api_version: '0.2.3'",
        "api_version: '0.2.3', base_url: new URL('../imjoy-rpc/', window.location.href).href",
        index.name,
    )
    index.write_text(text)


#: itk-vtk-viewer keeps label names in a JS Map, but itkwidgets sends them through imjoy-rpc as an
#: array of (value, name) pairs, and the viewer then fails on ``labelNames.has`` ("v.has is not a
#: function") before it draws: the local copy's setter turns pairs (or an object) into a Map.
_LABEL_NAMES_OLD = "setLabelImageLabelNames=function(e,t){void 0===t&&(t=S.images.selectedName),"
_LABEL_NAMES_NEW = (
    "setLabelImageLabelNames=function(e,t){e instanceof Map||(e=new Map((Array."
    "isArray(e)?e:Object.entries(e)).map(function(p){return[Number(p[0]),"
    "String(p[1])]}))),void 0===t&&(t=S.images.selectedName),"
)


def palette_colors() -> list[float]:
    """The kit's organ colours as the viewer's ``IndexedColors``: r, g, b (0..1) of values 1, 2, ..."""
    from segrap_nb.viz.colors import ORGAN_COLORS, STRUCTURE_IDS

    flat: list[float] = []
    for name in sorted(STRUCTURE_IDS, key=STRUCTURE_IDS.__getitem__):
        flat.extend(round(c / 255.0, 6) for c in ORGAN_COLORS[name])
    return flat


def palette_digest() -> str:
    """Short sha256 of the palette, kept in the manifest: a colour change asks for a rebuild."""
    return _hash(json.dumps(palette_colors()))


# itk-vtk-viewer colours a label map with a named palette from its own table, and gives the
# k-th label *present* the k-th colour, so an organ's colour depends on which others are there.
# The kit adds its palette to that table with a flag, and with the flag the colour is taken by
# label value. The palette applied last is kept in window.segrapLabelPalette, and the kit's
# colours applied last in window.segrapLabelColors ([value, r, g, b] rows), for the browser test. Its palette menu knows only its own palettes: it must not answer
# the kit's name with its current choice (which would switch the colours back).
_PALETTE_TABLE_OLD = "const s8=a8,c8=new Map;"
# A palette set when the viewer opens (itkwidgets' label_lut) reaches the colouring before the
# label image has a colour function, and it fails there with "Cannot read properties of
# undefined (reading 'has')"; the palette is kept and applied once the label image is loaded, so
# the local copy only skips that early call instead of logging the error.
_EARLY_OLD = "const l8=function(e,t){var n=t.data.name,"
_EARLY_NEW = "const l8=function(e,t){if(!e.images.colorTransferFunctions)return;var n=t.data.name,"
_PICK_OLD = "const o=s8.get(n).IndexedColors,i=new Array(r);let a=0;"
_PICK_NEW = "const o=s8.get(n).IndexedColors,segrapByValue=!!s8.get(n).segrapByValue,i=new Array(r);let a=0;"
_INDEX_OLD = "const n=3*(e-a),r=o.slice(n,n+3);"
_INDEX_NEW = "const n=3*(segrapByValue?t[e]-1:e-a),r=o.slice(n,n+3);"
_APPLY_OLD = "e.removeAllPoints(),i.forEach((t=>{e.addRGBPointLong(...t)})),e.setMappingRange(t[0],t[r-1])"
_APPLY_NEW = _APPLY_OLD + (
    ",window.segrapLabelPalette=n,segrapByValue&&(window.segrapLabelColors=i.map((p=>p.slice(0,4))))"
)
_MENU_OLD = "n===e.images.selectedName&&r!==e.images.labelImageIconSelector.getSelectedValue()"
_MENU_NEW = (
    f'n===e.images.selectedName&&"{PALETTE}"!==r&&r!==e.images.labelImageIconSelector.getSelectedValue()'
)


def _patch_viewer_bundle(bundle: Path) -> None:
    """Patch the viewer bundle: label names as itkwidgets sends them; the kit's organ palette."""
    text = _replace_once(bundle.read_text(), _LABEL_NAMES_OLD, _LABEL_NAMES_NEW, bundle.name)
    table = f"a8.set({json.dumps(PALETTE)},{{IndexedColors:{json.dumps(palette_colors())},NanColor:[1,0,0],segrapByValue:!0}});"
    text = _replace_once(text, _PALETTE_TABLE_OLD, table + _PALETTE_TABLE_OLD, bundle.name)
    for old, new in (
        (_EARLY_OLD, _EARLY_NEW),
        (_PICK_OLD, _PICK_NEW),
        (_INDEX_OLD, _INDEX_NEW),
        (_APPLY_OLD, _APPLY_NEW),
        (_MENU_OLD, _MENU_NEW),
    ):
        text = _replace_once(text, old, new, bundle.name)
    bundle.write_text(text)


def install(prefix: str | os.PathLike[str] | None = None, npm: str = "npm") -> Path:
    """Fetch the pinned npm packages and build the local copy; returns its folder."""
    versions = required_versions()
    root = asset_root(prefix)
    ext_src = installed_extension_dir()
    root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".itk-viewer-", dir=root.parent))
    try:
        packs = work / "npm"
        packs.mkdir()
        specs = {"itk-vtk-viewer": versions.viewer, **versions.assets}
        tarballs = {name: _npm_pack(f"{name}@{ver}", packs, npm) for name, ver in specs.items()}
        ext_dir = work / "labextensions" / EXTENSION
        _patch_extension(ext_src, ext_dir)
        offline = ext_dir / "static" / OFFLINE
        _extract(tarballs["vue"], "dist", offline / "vue")
        _extract(tarballs["vue-js-modal"], "dist", offline / "vue-js-modal")
        _extract(tarballs["imjoy-core"], "dist", offline / "imjoy-core")
        _extract(tarballs["imjoy-rpc"], "dist", offline / "imjoy-rpc")
        _extract(tarballs["itk-vtk-viewer"], "dist", offline / "itk-vtk-viewer")
        (offline / "vue-window").mkdir()
        (offline / "vue-window" / "index.js").write_text(_VUE_WINDOW_JS)
        _patch_viewer_page(offline / "itk-vtk-viewer" / "index.html")
        _patch_viewer_bundle(offline / "itk-vtk-viewer" / "itkVtkViewer.js")
        manifest = {
            "itkwidgets": versions.itkwidgets,
            EXTENSION: versions.imjoy_extension,
            "itk-vtk-viewer": versions.viewer,
            **versions.assets,
            "palette": palette_digest(),
        }
        (offline / "manifest.json").write_text(json.dumps(manifest, indent=2))
        shutil.rmtree(packs)
        if root.exists():
            shutil.rmtree(root)
        work.rename(root)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _set_lab_path(config_path(prefix), str(root / "labextensions"), present=True)
    return root


def installed_manifest(prefix: str | os.PathLike[str] | None = None) -> dict[str, str] | None:
    """The manifest of the installed local copy, or None when there is none."""
    path = asset_root(prefix) / "labextensions" / EXTENSION / "static" / OFFLINE / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def uninstall(prefix: str | os.PathLike[str] | None = None) -> None:
    """Remove the local copy and its Jupyter config file."""
    _set_lab_path(config_path(prefix), str(asset_root(prefix) / "labextensions"), present=False)
    shutil.rmtree(asset_root(prefix), ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``install`` | ``uninstall`` | ``status``; prints one line; install failures exit 0 (fallback)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m segrap_nb.viz.itk_assets", description="local, offline copy of the itkwidgets viewer"
    )
    parser.add_argument("action", choices=["install", "uninstall", "status"])
    parser.add_argument("--npm", default=os.environ.get("NPM", "npm"))
    parser.add_argument("--strict", action="store_true", help="exit 1 when install fails")
    args = parser.parse_args(argv)
    if args.action == "uninstall":
        uninstall()
        print("itkwidgets local viewer: removed")
        return 0
    if args.action == "status":
        manifest = installed_manifest()
        print("itkwidgets local viewer:", json.dumps(manifest) if manifest else "not installed")
        return 0
    try:
        root = install(npm=args.npm)
    except AssetError as exc:
        print(f"itkwidgets local viewer not installed: {exc}; notebooks fall back to matplotlib")
        return 1 if args.strict else 0
    print(f"itkwidgets local viewer installed in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
