"""The local itkwidgets viewer copy: its patches (organ names, the kit's palette), its version."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from segrap_nb.viz import itk_assets

# The code the patches touch, as itk-vtk-viewer 14.51.0's bundle has it (minified), with what it
# needs around it: the label-names setter, the palette table, the function that colours a label
# map (e: colour function, t: the sorted label values present, n: palette name) and the palette
# menu's listener.
_BUNDLE = (
    "var sent=[];var S={images:{selectedName:'ct',actorContext:new Map([['ct',{}]])}};"
    "var k={send:function(m){sent.push(m)}};var b={};b."
    + itk_assets._LABEL_NAMES_OLD
    + "S.images.actorContext.get(t).labelNames!==e&&k.send({type:'LABEL_IMAGE_LABEL_NAMES_"
    "CHANGED',data:{name:t,labelNames:e}})};\n"
    "var window={};var a8=new Map;a8.set('glasbey',{IndexedColors:[.1,.2,.3,.4,.5,.6,.7,.8,.9]});"
    + itk_assets._PALETTE_TABLE_OLD
    + itk_assets._EARLY_OLD
    + "r=e.images.actorContext.get(n);colour(e.images.colorTransferFunctions.get('labelImage'),"
    "r.uniqueLabels,t.data.lookupTable)};"
    + "function colour(e,t,n){const r=t.length;s8.has(n)||console.error('no '+n);"
    + itk_assets._PICK_OLD
    + "0===t[0]&&(a=1,i[0]=[t[0],0,0,0,.5,1]);for(let e=a;e<r;e++){"
    + itk_assets._INDEX_OLD
    + "i[e]=[t[e],r[0],r[1],r[2],.5,1]}"
    + itk_assets._APPLY_OLD
    + "}\nfunction MZ(e,t){var n=t.data.name,r=t.data.lookupTable;"
    + itk_assets._MENU_OLD
    + "&&e.images.labelImageIconSelector.setSelectedValue(r)}\n"
)
# A colour function that records what it is given, and a palette menu that records its calls.
_HARNESS = (
    "function ctf(){return {points:[],removeAllPoints(){this.points=[]},"
    "addRGBPointLong(...p){this.points.push(p.slice(0,4))},setMappingRange(){}}}"
    "var menuCalls=[];var ui={images:{selectedName:'ct',labelImageIconSelector:{"
    "getSelectedValue(){return 'glasbey'},setSelectedValue(v){menuCalls.push(v)}}}};"
)


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs Node.js (node) to run the viewer's JavaScript")
    return node


def test_patched_setter_turns_itkwidgets_pairs_into_the_map_the_viewer_reads(tmp_path: Path) -> None:
    node = _node()
    bundle = tmp_path / "itkVtkViewer.js"
    bundle.write_text(_BUNDLE)
    itk_assets._patch_viewer_bundle(bundle)
    # What itkwidgets sends for label_names=[(1, "Eye_L"), (7, "Chiasm")], then a dict.
    script = bundle.read_text() + (
        "b.setLabelImageLabelNames([[1,'Eye_L'],[7,'Chiasm']]);"
        "b.setLabelImageLabelNames({'2':'Lens_L'});"
        "console.log(JSON.stringify(sent.map(function(m){var n=m.data.labelNames;"
        "return [n instanceof Map, n.has(7) ? n.get(7) : n.get(2), Array.from(n.keys())]})));"
    )
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=60, check=True).stdout
    assert json.loads(out) == [[True, "Chiasm", [1, 7]], [True, "Lens_L", [2]]]


def test_the_kits_palette_colours_each_organ_by_its_value_whichever_are_present(tmp_path: Path) -> None:
    from segrap_nb.viz.colors import ORGAN_COLORS, STRUCTURE_IDS

    node = _node()
    bundle = tmp_path / "itkVtkViewer.js"
    bundle.write_text(_BUNDLE)
    itk_assets._patch_viewer_bundle(bundle)
    # Background, Brain, Eye_L and GTVnd present; then Eye_L alone; then the viewer's own glasbey.
    ids = [STRUCTURE_IDS[n] for n in ("Brain", "Eye_L", "GTVnd")]
    script = (
        bundle.read_text()
        + _HARNESS
        + (
            f"var out=[];for(const labels of [[0,{ids[0]},{ids[1]},{ids[2]}],[0,{ids[1]}]]){{"
            "var f=ctf();colour(f,labels,'segrap-nb');out.push(f.points);}"
            "var g=ctf();colour(g,[0,5,9],'glasbey');out.push(g.points);"
            "out.push([window.segrapLabelPalette,window.segrapLabelColors]);"
            "var early={images:{actorContext:new Map([['ct',{uniqueLabels:[0,7]}]])}};"
            "l8(early,{data:{name:'ct',lookupTable:'segrap-nb'}});"  # before a colour function: skipped
            "var late={images:{actorContext:early.images.actorContext,colorTransferFunctions:new Map([['labelImage',ctf()]])}};"
            "l8(late,{data:{name:'ct',lookupTable:'segrap-nb'}});out.push(late.images.colorTransferFunctions.get('labelImage').points.length);"
            "MZ(ui,{data:{name:'ct',lookupTable:'segrap-nb'}});MZ(ui,{data:{name:'ct',lookupTable:'glasbey_warm'}});"
            "out.push(menuCalls);console.log(JSON.stringify(out));"
        )
    )
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=60, check=True).stdout
    several, alone, glasbey, kept, applied_late, menu = json.loads(out)

    def rgb(name: str) -> list[float]:
        return [c / 255 for c in ORGAN_COLORS[name]]

    assert several[0] == [0, 0, 0, 0]
    for (value, *colour), name in zip(several[1:], ("Brain", "Eye_L", "GTVnd"), strict=True):
        assert value == STRUCTURE_IDS[name]
        assert colour == pytest.approx(rgb(name), abs=1e-6)
    assert alone[1][1:] == pytest.approx(rgb("Eye_L"), abs=1e-6)  # not Brain's, the first colour
    assert glasbey == [[0, 0, 0, 0], [5, 0.1, 0.2, 0.3], [9, 0.4, 0.5, 0.6]]  # built-ins: by rank
    assert kept == ["glasbey", alone]  # the palette last applied; the kit's colours last applied
    assert applied_late == 2  # background and label 7, once the label image has a colour function
    assert menu == ["glasbey_warm"]  # the menu is not asked to show the kit's palette


def test_the_installed_viewer_has_every_method_itkwidgets_calls() -> None:
    import re
    from importlib.util import find_spec

    manifest = itk_assets.installed_manifest()
    if manifest is None:
        pytest.skip("the local itkwidgets viewer is not installed (make itk-viewer)")
    assert manifest["itk-vtk-viewer"] == itk_assets.required_versions().viewer
    assert manifest["palette"] == itk_assets.palette_digest()
    spec = find_spec("itkwidgets")
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).parent
    params = (source / "_initialization_params.py").read_text()
    called = set(re.findall(r"itk_viewer\.(set\w+)", params))
    called |= set(re.findall(r"queue_request\(\s*'(\w+)'", (source / "viewer.py").read_text()))
    assert "setImagePiecewiseFunctionPoints" in called  # what dates the viewer: 14.51.0
    bundle = (
        itk_assets.asset_root()
        / "labextensions"
        / itk_assets.EXTENSION
        / "static"
        / itk_assets.OFFLINE
        / "itk-vtk-viewer"
        / "itkVtkViewer.js"
    ).read_text()
    missing = sorted(m for m in called if f'key:"{m}"' not in bundle)
    assert not missing, f"itk-vtk-viewer {manifest['itk-vtk-viewer']} lacks {missing}"


def test_a_bundle_of_another_viewer_version_is_refused_with_the_file_named(tmp_path: Path) -> None:
    bundle = tmp_path / "itkVtkViewer.js"
    bundle.write_text("b.setLabelImageLabelNames=function(names){};\n")
    with pytest.raises(itk_assets.AssetError, match=r"itkVtkViewer\.js: expected 1 occurrence"):
        itk_assets._patch_viewer_bundle(bundle)
    assert bundle.read_text() == "b.setLabelImageLabelNames=function(names){};\n"
