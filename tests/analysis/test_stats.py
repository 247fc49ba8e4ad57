"""segrap_nb.analysis.stats: label volumes, resolution table, cache, bad cases, mask fallback, CLI."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from segrap_nb import labels as L
from segrap_nb.analysis import case_counts, published, stats
from segrap_nb.analysis.stats_cache import file_keys
from segrap_nb.cli import main
from segrap_nb.io import counts as counts_module
from segrap_nb.io.counts import count_labels
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR, SegRapDataset
from segrap_nb.io.fileref import FileRef
from segrap_nb.io.nifti import write_nifti
from segrap_nb.viz import stats_figures as stats_plots
from tests.factories import (
    STATS_ABSENT,
    STATS_CASES,
    STATS_MM3,
    STATS_SHAPE,
    STATS_SPACING,
    stats_affine,
    stats_maps,
    write_stats_release,
)

SHAPE, SPACING, MM3, CASES, ABSENT = STATS_SHAPE, STATS_SPACING, STATS_MM3, STATS_CASES, STATS_ABSENT


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("segrap")
    return root, write_stats_release(root)


@pytest.fixture
def dataset_copy(synthetic, tmp_path):
    root, maps = synthetic
    dst = tmp_path / "data"
    shutil.copytree(root, dst)
    return dst, maps


def _run(root, **kw):
    kw.setdefault("workers", 1)
    kw.setdefault("use_cache", False)
    return stats.compute_stats(root, progress=False, **kw)


def _volumes_dict(result) -> dict[tuple[str, int, int], int]:
    v = result.volumes
    return dict(zip(zip(v["case"], v["task"], v["label"]), v["voxels"]))


def test_volumes_are_exact_voxel_counts_times_voxel_volume(synthetic):
    root, maps = synthetic
    result = _run(root)
    assert result.problems == []
    assert result.processed == 3
    vols = result.volumes.set_index(["case", "task", "label"])
    for cid, (t1, t2) in maps.items():
        for task, arr in ((1, t1), (2, t2)):
            counts = np.bincount(arr.ravel(), minlength=L.max_label(task) + 1)
            for label, n in enumerate(counts):
                row = vols.loc[(cid, task, label)]
                assert row["voxels"] == n
                assert row["cm3"] == pytest.approx(n * MM3 / 1000, rel=1e-12)
    # The label table: present-only statistics, by hand for label 8 (absent from segrap_0001).
    present = [np.count_nonzero(maps[c][0] == 8) * MM3 / 1000 for c in ("segrap_0000", "segrap_0002")]
    row = result.labels.set_index("label").loc[8]
    assert row["name"] == "Hippocampus_L"
    assert row["cases"] == 2
    assert row["coverage"] == pytest.approx(200 / 3)
    assert row["min_cm3"] == pytest.approx(min(present))
    assert row["mean_cm3"] == pytest.approx(np.mean(present))
    assert row["max_cm3"] == pytest.approx(max(present))
    assert result.labels.set_index("label").loc[31, "cases"] == 1
    assert list(result.labels.columns) == stats.LABEL_COLUMNS
    assert len(result.labels) == 54
    assert list(result.gtv["name"]) == ["GTVp", "GTVnd"]
    gtvp = [np.count_nonzero(maps[c][1] == 1) * MM3 / 1000 for c in CASES]
    assert result.gtv.loc[0, "max_cm3"] == pytest.approx(max(gtvp))
    # The header table: NIfTI (i, j, k) order, spacing from the CT header.
    assert result.headers[["size_x", "size_y", "size_z"]].drop_duplicates().values.tolist() == [list(SHAPE)]
    assert result.headers["spacing_y_mm"].iloc[0] == pytest.approx(0.75)


def test_volumes_agree_with_simpleitk(synthetic):
    sitk = pytest.importorskip("SimpleITK")
    root, _ = synthetic
    result = _run(root)
    vols = result.volumes.set_index(["case", "task", "label"])
    for cid in CASES:
        for task in (1, 2):
            img = sitk.ReadImage(str(root / ONEHOT_DIR / f"Task00{task}" / f"{cid}.nii.gz"))
            shape_stats = sitk.LabelShapeStatisticsImageFilter()
            shape_stats.Execute(img)
            found = set(shape_stats.GetLabels())
            for label in range(1, L.max_label(task) + 1):
                row = vols.loc[(cid, task, label)]
                if label not in found:
                    assert row["voxels"] == 0
                    continue
                assert row["voxels"] == shape_stats.GetNumberOfPixels(label)
                assert row["cm3"] == pytest.approx(shape_stats.GetPhysicalSize(label) / 1000, rel=1e-5)


def _header_only_gz(path: Path, shape: tuple[int, int, int], zooms: tuple[float, ...]) -> None:
    """A .nii.gz holding only a NIfTI header (real shape and spacing, no voxel data)."""
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(np.int16)
    hdr.set_data_shape(shape)
    hdr.set_zooms(zooms)
    hdr.set_qform(np.diag([*zooms, 1.0]), code=1)
    hdr.set_sform(np.diag([*zooms, 1.0]), code=1)
    hdr["vox_offset"] = 352
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(hdr.binaryblock + b"\x00" * 4, compresslevel=1))


def test_resolution_from_headers_reproduces_the_card(tmp_path):
    geometry = stats.release_geometry()
    assert len(geometry) == 120
    for row in geometry.itertuples():
        _header_only_gz(
            tmp_path / IMAGES_DIR / row.case / "image.nii.gz",
            (row.size_x, row.size_y, row.size_z),
            (row.spacing_x_mm, row.spacing_y_mm, row.spacing_z_mm),
        )
    result = _run(tmp_path)
    assert result.problems == []
    assert result.processed == 120
    assert len(result.volumes) == 0  # no labels: geometry only
    assert len(result.labels) == 0
    card = published.card_resolution()
    ours = result.resolution.loc[card.index, card.columns]
    assert (ours.round(2).values == card.values).all(), ours
    assert ours.loc["max", "spacing_z_mm"] == pytest.approx(3.0231, abs=1e-4)  # unrounded
    res_rows = result.comparison[result.comparison["table"] == "resolution"]
    assert len(res_rows) == 18
    assert res_rows["match"].all()
    # The nnU-Net record itself gives the same table (its (z, y, x) order reversed).
    direct = stats.resolution_table(geometry).loc[card.index, card.columns]
    np.testing.assert_allclose(direct.values, ours.values, rtol=1e-6)


def test_cache_hit_then_invalidation_when_a_file_changes(dataset_copy, tmp_path, monkeypatch):
    root, maps = dataset_copy
    cache = tmp_path / "cache"
    first = _run(root, use_cache=True, cache_dir=cache)
    assert (first.computed, first.from_cache) == (3, 0)
    assert len(list(cache.glob("*.json"))) == 3
    calls = []
    original = case_counts.compute_unit
    monkeypatch.setattr(case_counts, "compute_unit", lambda spec: calls.append(spec) or original(spec))
    second = _run(root, use_cache=True, cache_dir=cache)
    assert calls == []
    assert (second.computed, second.from_cache) == (3 - 3, 3)
    pd.testing.assert_frame_equal(first.volumes, second.volumes)
    pd.testing.assert_frame_equal(first.labels, second.labels)
    # Rewrite one Task001 map with one more voxel of label 3: only that unit is recomputed.
    t1 = maps["segrap_0001"][0].copy()
    t1[t1 == 0] = 3
    write_nifti(root / ONEHOT_DIR / "Task001" / "segrap_0001.nii.gz", t1, stats_affine())
    third = _run(root, use_cache=True, cache_dir=cache)
    assert [(c["kind"], str(c["ref"]).rsplit("/", 1)[1]) for c in calls] == [("onehot", "segrap_0001.nii.gz")]
    assert third.computed == 1
    assert third.from_cache == 2
    got = third.volumes.set_index(["case", "task", "label"])["voxels"]
    assert got[("segrap_0001", 1, 3)] == np.count_nonzero(t1 == 3)
    assert got[("segrap_0001", 1, 0)] == 0


def test_corrupt_case_is_reported_and_skipped(dataset_copy, tmp_path, capsys):
    root, _ = dataset_copy
    bad = root / ONEHOT_DIR / "Task001" / "segrap_0001.nii.gz"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])  # truncated download
    cache = tmp_path / "cache"
    result = _run(root, use_cache=True, cache_dir=cache)
    assert result.skipped == ["segrap_0001"]
    assert result.processed == 2
    assert len(result.problems) == 1
    assert str(bad) in result.problems[0]
    assert "truncated" in result.problems[0]
    assert set(result.volumes["case"]) == {"segrap_0000", "segrap_0002"}
    assert result.labels.set_index("label").loc[1, "cases"] == 2
    # The problem is cached too (keyed on the file): the rerun reports it without decoding.
    again = _run(root, use_cache=True, cache_dir=cache)
    assert again.problems == result.problems
    assert again.computed == 0
    # The command line: exit 0, one line naming the file, a summary with the count.
    out = tmp_path / "out"
    assert main(["stats", str(root), "--out", str(out), "--workers", "1", "--no-cache"]) == 0
    captured = capsys.readouterr()
    assert f"skipped: {bad}" in captured.err
    assert "1 of 3 cases skipped" in captured.err
    assert "2 processed" in captured.out
    for name in ("resolution", "labels", "gtv", "volumes", "comparison", "headers"):
        assert (out / f"{name}.csv").exists()
    labels_csv = pd.read_csv(out / "labels.csv")
    assert list(labels_csv.columns) == stats.LABEL_COLUMNS
    assert list(pd.read_csv(out / "volumes.csv").columns) == stats.VOLUME_COLUMNS
    assert not list(out.glob(".*part"))  # atomic writes leave no temporary files
    # Every case unreadable: exit status 1.
    for cid in CASES:
        (root / IMAGES_DIR / cid / "image.nii.gz").write_bytes(b"not gzip at all")
    assert main(["stats", str(root), "--out", str(out), "--workers", "1", "--no-cache"]) == 1
    assert "no case could be processed" in capsys.readouterr().err


def test_inconsistent_cases_are_reported(dataset_copy):
    root, maps = dataset_copy
    t1 = maps["segrap_0000"][0].copy()
    t1[0, 0, 0] = 60  # no such Task001 label
    write_nifti(root / ONEHOT_DIR / "Task001" / "segrap_0000.nii.gz", t1, stats_affine())
    small = maps["segrap_0002"][1][:, :, :5]
    write_nifti(root / ONEHOT_DIR / "Task002" / "segrap_0002.nii.gz", small, stats_affine())
    result = _run(root)
    assert result.skipped == ["segrap_0000", "segrap_0002"]
    by_file = {p.split(": ", 1)[0]: p.split(": ", 1)[1] for p in result.problems}
    assert "out of range 0..54" in by_file[str(root / ONEHOT_DIR / "Task001" / "segrap_0000.nii.gz")]
    assert "60 (1 voxels)" in by_file[str(root / ONEHOT_DIR / "Task001" / "segrap_0000.nii.gz")]
    msg = by_file[str(root / ONEHOT_DIR / "Task002" / "segrap_0002.nii.gz")]
    assert "shape (20, 18, 5) differs from the CT's (20, 18, 6)" in msg


def test_missing_onehot_maps_fall_back_to_the_masks(synthetic, dataset_copy, monkeypatch):
    root, _ = synthetic
    reference = _run(root)
    copy, _ = dataset_copy
    shutil.rmtree(copy / ONEHOT_DIR)
    monkeypatch.setattr(counts_module, "COUNT_CHUNK_BYTES", 333)  # each mask streamed in 7 chunks
    fallback = _run(copy)
    assert fallback.problems == []
    pd.testing.assert_frame_equal(reference.volumes, fallback.volumes)
    pd.testing.assert_frame_equal(reference.labels, fallback.labels)
    # Masks that no one-hot map can represent (Lens_L outside Eye_L) are a reported problem.
    masks = L.onehot_to_masks(stats_maps(0, "segrap_0000")[0], 1)
    lens = masks["Lens_L"].astype(np.uint8)
    lens.flat[np.flatnonzero(~masks["Eye_L"].ravel())[0]] = 1
    write_nifti(copy / IMAGES_DIR / "segrap_0000" / "Lens_L.nii.gz", lens, stats_affine())
    broken = _run(copy)
    assert broken.skipped == ["segrap_0000"]
    assert "Task001 masks" in broken.problems[0]
    assert "segrap_0000" in broken.problems[0]


def test_parallel_workers_give_the_same_tables(synthetic):
    root, _ = synthetic
    serial = _run(root)
    parallel = _run(root, workers=2)
    assert parallel.computed == 3
    pd.testing.assert_frame_equal(serial.volumes, parallel.volumes)
    pd.testing.assert_frame_equal(serial.headers, parallel.headers)


def test_zip_release_and_batched_file_keys(synthetic, tmp_path):
    root, _ = synthetic
    for part in (IMAGES_DIR, ONEHOT_DIR):
        with zipfile.ZipFile(tmp_path / f"{part}.zip", "w", zipfile.ZIP_STORED) as z:
            for f in sorted((root / part).rglob("*.nii.gz")):
                z.write(f, f.relative_to(root).as_posix())
    refs = [
        FileRef(tmp_path / f"{IMAGES_DIR}.zip", f"{IMAGES_DIR}/segrap_0001/Brain.nii.gz"),
        FileRef(tmp_path / f"{ONEHOT_DIR}.zip", f"{ONEHOT_DIR}/Task001/segrap_0002.nii.gz"),
        FileRef(root / IMAGES_DIR / "segrap_0000" / "image.nii.gz"),
    ]
    keys = file_keys(refs + [FileRef(tmp_path / "missing.nii.gz")])
    assert keys == {r: list(r.stat_key()) for r in refs}  # the missing file is left out
    from_zip = _run(tmp_path, use_cache=True, cache_dir=tmp_path / "cache")
    pd.testing.assert_frame_equal(_run(root).volumes, from_zip.volumes)
    assert _run(tmp_path, use_cache=True, cache_dir=tmp_path / "cache").from_cache == 3


def test_compare_with_card_uses_the_cards_rounding():
    card = published.card_labels()
    labels = card.rename(columns={"coverage_pct": "coverage", "volume_cm3": "min_cm3"})
    labels = labels[stats.LABEL_COLUMNS].astype({"coverage": float})
    gtv = published.card_gtv().rename(columns={"coverage_pct": "coverage", "volume_cm3": "min_cm3"})
    gtv = gtv.astype({"mean_cm3": float})
    res = published.card_resolution()
    table = stats.compare_with_card(res, labels, gtv[stats.LABEL_COLUMNS])
    assert len(table) == 18 + 54 * 5 + 2 * 5
    assert table["match"].all()
    assert (table["difference"] == 0).all()
    labels.loc[labels["label"] == 3, "mean_cm3"] += 0.006  # Chiasm 1.17 -> 1.176: off
    labels.loc[labels["label"] == 9, "coverage"] = 97.5  # 117/120 shows as 98 %: on
    gtv.loc[0, "mean_cm3"] = 81.4  # the GTV table shows integers: on
    table = stats.compare_with_card(res, labels, gtv[stats.LABEL_COLUMNS]).set_index(
        ["table", "label", "quantity"]
    )
    assert not table.loc[("labels", 3, "mean_cm3"), "match"]
    assert table.loc[("labels", 3, "mean_cm3"), "difference"] == pytest.approx(0.006)
    assert table.loc[("labels", 9, "coverage"), "match"]
    assert table.loc[("gtv", 1, "mean_cm3"), "match"]


def test_class_fractions_by_hand():
    volumes = pd.DataFrame(
        [
            ("a", 1, 0, "background", 90, 0.0),
            ("a", 1, 1, "Brain", 10, 0.0),
            ("b", 1, 0, "background", 70, 0.0),
            ("b", 1, 1, "Brain", 20, 0.0),
            ("b", 1, 3, "Chiasm", 10, 0.0),
            ("a", 2, 1, "GTVp", 5, 0.0),
        ],
        columns=stats.VOLUME_COLUMNS,
    )
    fr = stats.class_fractions(volumes, task=1).set_index("label")
    assert fr.loc[0, "fraction"] == pytest.approx(160 / 200)
    assert fr.loc[1, "fraction"] == pytest.approx(30 / 200)
    assert fr.loc[3, "fraction_of_foreground"] == pytest.approx(10 / 40)
    assert np.isnan(fr.loc[0, "fraction_of_foreground"])


def test_hu_by_structure_samples_the_same_voxels_in_both_cts(synthetic):
    root, maps = synthetic
    case = SegRapDataset(root)["segrap_0000"]
    hu = stats.hu_by_structure(case, ["Eye_L", "Chiasm", "GTVp"], max_voxels=25, seed=1)
    t1 = maps["segrap_0000"][0]
    eye = hu[(hu["structure"] == "Eye_L") & (hu["ct"] == "plain")]["hu"]
    assert set(eye) <= {100, 120}  # Eye_L = labels 10 (eye) + 12 (lens), HU = 10 x label
    assert len(eye) == min(25, np.count_nonzero(np.isin(t1, (10, 12))))
    chiasm = hu[hu["structure"] == "Chiasm"]
    assert len(chiasm) == 2 * min(25, np.count_nonzero(t1 == 3))
    plain = hu[hu["ct"] == "plain"]["hu"].to_numpy()
    np.testing.assert_array_equal(hu[hu["ct"] == "contrast"]["hu"].to_numpy(), plain + 50)
    again = stats.hu_by_structure(case, ["Eye_L", "Chiasm", "GTVp"], max_voxels=25, seed=1)
    pd.testing.assert_frame_equal(hu, again)  # fixed seed: reproducible


def test_plots_draw_from_the_tables(synthetic):
    import matplotlib.pyplot as plt

    root, _ = synthetic
    result = _run(root)
    open_before = plt.get_fignums()
    case = SegRapDataset(root)[0]
    figs = [
        stats_plots.plot_volumes(result.volumes, task=1),
        stats_plots.plot_presence(result.volumes, task=1),
        stats_plots.plot_geometry(result.headers, reference=stats.release_geometry()),
        stats_plots.plot_hu(stats.hu_by_structure(case, ["Brain", "Parotid_L"], max_voxels=50)),
        stats_plots.plot_class_fractions(stats.class_fractions(result.volumes, 1)),
    ]
    vol_ax = figs[0].axes[0]
    assert vol_ax.get_xscale() == "log"
    assert len(vol_ax.get_yticklabels()) == 54  # every label present in some case
    assert figs[1].axes[0].images[0].get_array().shape == (3, 54)
    assert len(figs[2].axes) == 3
    assert plt.get_fignums() == open_before  # the kit's figures: shown as PNGs, none left in pyplot
    for fig in figs:
        assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"


def test_count_labels_streams_in_chunks_and_names_bad_files(synthetic, tmp_path):
    from segrap_nb.io.nifti import nifti_bytes_header

    root, maps = synthetic
    t1 = maps["segrap_0000"][0]
    expected = np.bincount(t1.ravel(), minlength=256)
    counts, info = count_labels(
        root / ONEHOT_DIR / "Task001" / "segrap_0000.nii.gz", chunk_bytes=100
    )  # 22 chunks
    np.testing.assert_array_equal(counts, expected)
    assert info.shape == SHAPE
    write_nifti(tmp_path / "int16.nii.gz", t1.astype(np.int16), stats_affine())  # read whole instead
    np.testing.assert_array_equal(count_labels(tmp_path / "int16.nii.gz")[0], expected)
    short = tmp_path / "short.nii.gz"  # the header promises one slice more than the data hold
    header = nifti_bytes_header(np.zeros((20, 18, 7), np.uint8), stats_affine())
    short.write_bytes(gzip.compress(header + np.asfortranarray(t1).tobytes(order="F")))
    with pytest.raises(stats.DataError, match=r"short.nii.gz: data block too short: 2160 of 2520"):
        count_labels(short)
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 10 + b"definitely not deflate" * 50)
    with pytest.raises(stats.DataError, match="garbage.nii.gz: "):
        count_labels(garbage)


def test_empty_mask_is_counted_not_an_error(dataset_copy, capsys):
    # A real N0 patient: GTVnd.nii.gz is all zero (no one-hot maps: the masks are counted).
    root, _ = dataset_copy
    shutil.rmtree(root / ONEHOT_DIR)
    gtvnd = root / IMAGES_DIR / "segrap_0002" / "GTVnd.nii.gz"
    write_nifti(gtvnd, np.zeros(SHAPE, np.uint8), stats_affine())
    result = _run(root)
    assert result.problems == [] and result.skipped == []
    empty = result.empty_structures()
    assert ("segrap_0002", 2, "GTVnd") in set(empty.itertuples(index=False, name=None))
    assert not ((empty["case"] != "segrap_0002") & (empty["structure"] == "GTVnd")).any()
    gtv = result.gtv.set_index("name")
    assert gtv.loc["GTVnd", "cases"] == 2 and gtv.loc["GTVp", "cases"] == 3
    assert "empty structure masks, counted as absent, not errors" in result.summary()
    assert main(["stats", str(root), "--out", str(root.parent / "out"), "--no-cache", "--workers", "1"]) == 0
    assert "empty structure masks" in capsys.readouterr().out
