"""The local itkwidgets viewer copy: the patch that lets itkwidgets' organ names reach the viewer."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from segrap_nb.viz import itk_assets

# The setter as itk-vtk-viewer 14.51.0's bundle has it (minified), with what it needs around it.
_BUNDLE = (
    "var sent=[];var S={images:{selectedName:'ct',actorContext:new Map([['ct',{}]])}};"
    "var k={send:function(m){sent.push(m)}};var b={};b."
    + itk_assets._LABEL_NAMES_OLD
    + "S.images.actorContext.get(t).labelNames!==e&&k.send({type:'LABEL_IMAGE_LABEL_NAMES_"
    "CHANGED',data:{name:t,labelNames:e}})};\n"
)


def test_patched_setter_turns_itkwidgets_pairs_into_the_map_the_viewer_reads(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs Node.js (node) to run the viewer's JavaScript")
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


def test_a_bundle_of_another_viewer_version_is_refused_with_the_file_named(tmp_path: Path) -> None:
    bundle = tmp_path / "itkVtkViewer.js"
    bundle.write_text("b.setLabelImageLabelNames=function(names){};\n")
    with pytest.raises(itk_assets.AssetError, match=r"itkVtkViewer\.js: expected 1 occurrence"):
        itk_assets._patch_viewer_bundle(bundle)
    assert bundle.read_text() == "b.setLabelImageLabelNames=function(names){};\n"
