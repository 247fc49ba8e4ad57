"""The synthetic phantom: release layout, agreement with the official table, anatomy, seeds."""

from __future__ import annotations

import csv
import tracemalloc
import zipfile
from importlib import resources
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from segrap_nb import labels as L
from segrap_nb.cli import main as cli_main
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR, SegRapDataset
from segrap_nb.io.nifti import read_header, read_nifti
from segrap_nb.phantom import writer as ph
from segrap_nb.phantom.anatomy import ABSENT_FALLBACK, ARTERY, build_anatomy, is_n0
from segrap_nb.phantom.raster import rasterize
from segrap_nb.sources import is_phantom

N_CASES = 4
MASK_NAMES = list(L.OAR_NAMES) + list(L.GTV_NAMES)
CASE_FILES = {f"{n}.nii.gz" for n in ["image", "image_contrast", *MASK_NAMES]}


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four quick cases in extracted folders (seed 0)."""
    return ph.make_phantom(tmp_path_factory.mktemp("phantom"), cases=N_CASES, progress=False)


@pytest.fixture(scope="module")
def phantom_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first two of the same cases, as the two release zips."""
    return ph.make_phantom(tmp_path_factory.mktemp("phantom_zip"), cases=2, as_zip=True, progress=False)


@pytest.fixture(scope="module")
def maps(phantom: Path) -> list[dict]:
    """Per case: the two one-hot maps, both CTs and the affine, read back from the files."""
    out = []
    for case in SegRapDataset(phantom):
        t1 = case.onehot_map(1)
        out.append(
            {
                "id": case.case_id,
                "case": case,
                "t1": t1.array,
                "t2": case.onehot_map(2).array,
                "ct": case.image().array,
                "cect": case.image(contrast=True).array,
                "affine": t1.affine,
            }
        )
    return out


def _card() -> dict[int, tuple[int, float]]:
    """Dataset card, Task 1: label -> (cases with the label of 120, average volume cm³)."""
    text = resources.files("segrap_nb").joinpath("data/card_labels.csv").read_text()
    return {
        int(r["label"]): (int(r["cases"]), float(r["mean_cm3"])) for r in csv.DictReader(text.splitlines())
    }


# ---- layout ---------------------------------------------------------------------------------
def test_release_layout_folders(phantom):
    ids = [f"segrap_{i:04d}" for i in range(N_CASES)]
    assert sorted(p.name for p in (phantom / IMAGES_DIR).iterdir()) == ids
    for cid in ids:
        assert {p.name for p in (phantom / IMAGES_DIR / cid).iterdir()} == CASE_FILES
    for task in ("Task001", "Task002"):
        found = sorted(p.name for p in (phantom / ONEHOT_DIR / task).iterdir())
        assert found == [f"{c}.nii.gz" for c in ids]
    assert sorted(p.name for p in phantom.iterdir()) == sorted([IMAGES_DIR, ONEHOT_DIR, ph.MARKER])
    marker = (phantom / ph.MARKER).read_text()
    assert "NOT patient data" in marker
    assert "seed: 0" in marker
    assert f"cases: {N_CASES}" in marker
    assert is_phantom(phantom)


def test_dataset_finds_folders_and_zips(phantom, phantom_zip):
    for root, n in ((phantom, N_CASES), (phantom_zip, 2)):
        ds = SegRapDataset(root)
        assert ds.case_ids == [f"segrap_{i:04d}" for i in range(n)]
        for case in ds:
            assert case.has_images
            assert "image_contrast" in case.files
            assert case.mask_names() == MASK_NAMES
            assert sorted(case.onehot) == [1, 2]
    assert sorted(p.name for p in phantom_zip.iterdir()) == sorted(
        [f"{IMAGES_DIR}.zip", f"{ONEHOT_DIR}.zip", ph.MARKER]
    )
    with zipfile.ZipFile(phantom_zip / f"{IMAGES_DIR}.zip") as zf:
        names = zf.namelist()
        assert f"{IMAGES_DIR}/segrap_0000/image.nii.gz" in names
        assert len(names) == 2 * 49
        # Same seed, same case: the zip member is byte for byte the extracted file.
        for name in ("image", "Eye_L"):
            rel = f"{IMAGES_DIR}/segrap_0001/{name}.nii.gz"
            assert zf.read(rel) == (phantom / rel).read_bytes()
    with zipfile.ZipFile(phantom_zip / f"{ONEHOT_DIR}.zip") as zf:
        assert sorted(zf.namelist()) == sorted(
            f"{ONEHOT_DIR}/{t}/segrap_{i:04d}.nii.gz" for t in ("Task001", "Task002") for i in (0, 1)
        )


def test_dtypes_shapes_affines(phantom, maps):
    for m in maps:
        case = m["case"]
        ref = read_header(case.files["image"])
        assert ref.shape == ph.QUICK_SHAPE
        assert ref.spacing == pytest.approx(ph.QUICK_SPACING)
        assert nib.aff2axcodes(ref.affine) == ("L", "P", "S")
        for key, f in list(case.files.items()) + [(f"task{t}", f) for t, f in case.onehot.items()]:
            hdr = read_header(f)
            assert hdr.dtype == (np.int16 if key.startswith("image") else np.uint8), key
            assert hdr.shape == ref.shape, key
            assert np.allclose(hdr.affine, ref.affine), key
        assert m["ct"].dtype == np.int16
        assert m["cect"].dtype == np.int16
        assert m["t1"].max() <= 54
        assert m["t2"].max() <= 2


def test_masks_and_maps_agree_both_ways(maps):
    for m in maps:
        case = m["case"]
        stored = {n: read_nifti(case.files[n]).array for n in MASK_NAMES}
        for name, arr in stored.items():
            assert arr.dtype == np.uint8, name
            assert arr.max() <= 1, name
        for task, onehot in ((1, m["t1"]), (2, m["t2"])):
            names = L.structures(task)
            derived = L.onehot_to_masks(onehot, task)
            for n in names:
                assert np.array_equal(derived[n], stored[n].astype(bool)), (m["id"], n)
            assert np.array_equal(L.masks_to_onehot({n: stored[n] for n in names}, task), onehot)


# ---- anatomy --------------------------------------------------------------------------------
def test_every_label_appears(maps):
    seen = set()
    for m in maps:
        seen |= set(np.unique(m["t1"]).tolist())
        assert (m["t2"] == 1).any(), "every case has a primary tumour"
    assert seen == set(range(55))


def _centroid_world(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    ijk = np.argwhere(mask).mean(axis=0)
    return (affine @ np.append(ijk, 1.0))[:3]


def test_left_structures_on_the_patients_left(maps):
    pairs = [n[:-2] for n in L.OAR_NAMES if n.endswith("_L")]
    assert len(pairs) == 16
    lateral = [k for k, n in L.ONEHOT_LABELS.items() if n.endswith("_L")]  # incl. overlaps
    for m in maps:
        codes = nib.aff2axcodes(m["affine"])
        assert codes[0] == "L"  # i grows towards the patient's left
        mid = _centroid_world(L.structure_mask(m["t1"], "Brain"), m["affine"])[0]
        for base in pairs:
            xl = _centroid_world(L.structure_mask(m["t1"], f"{base}_L"), m["affine"])[0]
            xr = _centroid_world(L.structure_mask(m["t1"], f"{base}_R"), m["affine"])[0]
            # RAS world: patient left is negative x.
            assert xl < mid - 5 < mid + 5 < xr, (m["id"], base, xl, mid, xr)
            assert xl < 0 < xr
        for lab in lateral:
            for side, sign in ((lab, -1), (lab + 1, 1)):  # each _R label follows its _L label
                if (m["t1"] == side).any():
                    x = _centroid_world(m["t1"] == side, m["affine"])[0]
                    assert sign * (x - mid) > 5, (m["id"], L.ONEHOT_LABELS[side])


def test_lens_in_eye_and_overlaps(maps):
    for m in maps:
        t1 = m["t1"]
        for s in "LR":
            lens, eye = L.structure_mask(t1, f"Lens_{s}"), L.structure_mask(t1, f"Eye_{s}")
            assert lens.any()
            assert not (lens & ~eye).any()
            c = np.argwhere(lens).mean(axis=0).round().astype(int)
            assert eye[tuple(c)]
            hip = L.structure_mask(t1, f"Hippocampus_{s}")
            tl = L.structure_mask(t1, f"TemporalLobe_{s}")
            assert (hip & tl).sum() > 0.5 * hip.sum()
            me = L.structure_mask(t1, f"MiddleEar_{s}")
            for inner in ("IAC", "Cochlea"):
                sub = L.structure_mask(t1, f"{inner}_{s}")
                assert sub.any()
                assert not (sub & ~me).any()
        brain = L.structure_mask(t1, "Brain")
        for n in ("BrainStem", "Chiasm", "TemporalLobe_L", "TemporalLobe_R"):
            assert not (L.structure_mask(t1, n) & ~brain).any()
        larynx = L.structure_mask(t1, "Larynx")
        assert (L.structure_mask(t1, "PharynxConst") & larynx).any()


def test_hounsfield_units(maps):
    for m in maps:
        ct, t1 = m["ct"], m["t1"]
        mandible = L.structure_mask(t1, "Mandible_L") | L.structure_mask(t1, "Mandible_R")
        assert np.median(ct[mandible]) > 700
        assert 20 <= ct[L.structure_mask(t1, "Brain")].mean() <= 50
        assert (ct[L.structure_mask(t1, "Trachea")] < -500).mean() > 0.5
        assert np.median(ct[0:3, 0:3, :]) < -900  # air in the corners
        assert 8 <= ct[L.structure_mask(t1, "Brain")].std() <= 40  # noise, not flat colours


def test_contrast_enhances_vessels_and_tumour_only(maps):
    case = ph.phantom_case(0)
    diff = case.image_contrast.astype(np.float32) - case.image
    assert diff[case.tissue == ARTERY].mean() > 100
    for m in maps:
        d = m["cect"].astype(np.float32) - m["ct"]
        brain = L.structure_mask(m["t1"], "Brain")
        assert abs(d[brain].mean()) < 2.0
        assert d[m["t2"] == 1].mean() > 60
        assert (np.abs(d) > 90).mean() < 0.03  # most of the volume is unchanged


def test_deterministic_per_seed(phantom, tmp_path):
    a, b, c = ph.phantom_case(1, seed=0), ph.phantom_case(1, seed=0), ph.phantom_case(1, seed=1)
    for key in ("onehot", "gtv", "image", "image_contrast"):
        assert np.array_equal(getattr(a, key), getattr(b, key))
        assert not np.array_equal(getattr(a, key), getattr(c, key))
    again = ph.make_phantom(tmp_path / "again", cases=1, progress=False)
    for rel in (
        f"{IMAGES_DIR}/segrap_0000/image_contrast.nii.gz",
        f"{IMAGES_DIR}/segrap_0000/Parotid_R.nii.gz",
        f"{ONEHOT_DIR}/Task001/segrap_0000.nii.gz",
    ):
        assert (again / rel).read_bytes() == (phantom / rel).read_bytes()


def test_quick_case_fits_in_50_mb():
    ph.phantom_case(2)  # imports and caches outside the measurement
    tracemalloc.start()
    try:
        case = ph.phantom_case(2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    arrays = (case.image, case.image_contrast, case.onehot, case.gtv, case.tissue)
    assert sum(a.nbytes for a in arrays) < 50e6
    assert peak < 50e6


def test_same_anatomy_at_full_size():
    quick = ph.phantom_case(3, images=False)
    full = ph.phantom_case(3, size="full", images=False)
    shapes = ph._train_geometry()
    assert (full.grid.shape, full.grid.spacing) in shapes
    vq, vf = np.prod(quick.spacing) / 1e3, np.prod(full.spacing) / 1e3
    for lab in (L.ONEHOT_IDS[n] for n in ("Brain", "Eye_L", "Parotid_R", "Mandible_L", "Larynx")):
        assert np.count_nonzero(quick.onehot == lab) * vq == pytest.approx(
            np.count_nonzero(full.onehot == lab) * vf, rel=0.1
        )


# ---- statistics against the dataset card ----------------------------------------------------
def test_mean_volumes_follow_the_card():
    """Mean volume per label over 30 quick cases within a factor 2 of the card's average.

    The quick grid (6.75 mm³ voxels) is coarse for the smallest labels (label 31 averages
    0.02 cm³, about 3 voxels), but voxel counting is unbiased on average over random positions,
    so the mean over 30 cases is still within the factor. The quick field of view ends about
    210 mm below the vertex, which shortens the trachea, oesophagus and cord a little.
    """
    card = _card()
    n = 30
    vols = np.zeros((n, 55))
    gtv = np.zeros((n, 3))
    for i in range(n):
        case = ph.phantom_case(i, seed=7, images=False)
        vv = np.prod(case.spacing) / 1e3
        vols[i] = np.bincount(case.onehot.ravel(), minlength=55) * vv
        gtv[i] = np.bincount(case.gtv.ravel(), minlength=3) * vv
    mean = vols.mean(axis=0)
    ratios = {lab: mean[lab] / card[lab][1] for lab in range(1, 55)}
    bad = {L.ONEHOT_LABELS[k]: round(r, 2) for k, r in ratios.items() if not 0.5 <= r <= 2.0}
    assert not bad
    assert 81 / 2 <= gtv[:, 1].mean() <= 81 * 2
    n0 = np.array([is_n0(i) for i in range(n)])
    assert n0.sum() == 2  # cases 6 and 18: N0, an empty GTVnd (the paper: 10 N0 of 120)
    assert 28 / 2 <= gtv[~n0, 2].mean() <= 28 * 2
    assert (gtv[:, 1] > 0).all()  # GTVp in every case, GTVnd in every case but the N0 ones
    assert (gtv[~n0, 2] > 0).all() and (gtv[n0, 2] == 0).all()


def test_absent_labels_at_card_frequencies_and_nodes_in_every_case():
    n = 600
    absent = {lab: 0 for lab in ABSENT_FALLBACK}
    without_nodes = 0
    for i in range(n):
        anat = build_anatomy(np.random.default_rng(np.random.SeedSequence([99, i]).spawn(3)[0]))
        for lab in anat.absent:
            absent[lab] += 1
        without_nodes += anat.n_nodes == 0
    card = _card()
    for lab, count in absent.items():
        p = 1 - card[lab][0] / 120
        sd = np.sqrt(n * p * (1 - p))
        assert abs(count - n * p) <= 4 * sd + 1, (L.ONEHOT_LABELS[lab], count, n * p)
    assert without_nodes == 0  # nodes are drawn in every case; N0 cases drop them (next test)


def test_n0_cases_have_an_empty_gtvnd_and_the_same_oars_and_gtvp():
    """About the paper's share of N0 patients (10 of 120) have an all-zero GTVnd; dropping the
    nodes changes no OAR voxel and no GTVp voxel of that case."""
    assert [i for i in range(120) if is_n0(i)] == list(range(6, 120, 12))
    assert [i for i in range(8) if is_n0(i)] == [6]  # one case of the 8-case default phantom
    n0 = ph.phantom_case(6, images=False)
    rng = np.random.default_rng(np.random.SeedSequence([0, 6]).spawn(3)[0])
    nodal = build_anatomy(rng, nodal=True)
    assert n0.anatomy.n_nodes == 0 and nodal.n_nodes > 0
    lab, gtv, _ = rasterize(nodal, n0.grid)
    assert np.array_equal(lab, n0.onehot)
    assert np.array_equal(gtv == 1, n0.gtv == 1) and (gtv == 2).sum() > 0
    assert not (n0.gtv == 2).any()
    sums = {rel.rsplit("/", 1)[1]: int(a.sum()) for rel, a in ph.case_files(n0)}  # buffers: sum at once
    assert sums["GTVnd.nii.gz"] == 0 and sums["GTVp.nii.gz"] == (n0.gtv == 1).sum() > 0


# ---- command line and safety ----------------------------------------------------------------
def test_cli_and_refusing_real_data(tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli_main(["phantom", str(out), "--cases", "1", "--seed", "3", "--zip", "--quiet"]) == 0
    assert "seed: 3" in (out / ph.MARKER).read_text()
    assert not list(out.glob("*.part"))
    real = tmp_path / "real"
    (real / IMAGES_DIR / "segrap_0000").mkdir(parents=True)
    assert cli_main(["phantom", str(real), "--cases", "1", "--quiet"]) == 2
    assert "refusing" in capsys.readouterr().err
    assert (real / IMAGES_DIR / "segrap_0000").is_dir()
    assert not (real / ph.MARKER).exists()


def test_interrupted_run_leaves_no_marker(tmp_path, monkeypatch):
    out = tmp_path / "broken"
    real_files = ph.case_files

    def failing(case):
        for n, item in enumerate(real_files(case)):
            if case.case_id == "segrap_0001" and n == 5:
                raise RuntimeError("disk full")
            yield item

    monkeypatch.setattr(ph, "case_files", failing)
    with pytest.raises(RuntimeError):
        ph.make_phantom(out, cases=2, progress=False)
    assert not is_phantom(out)
    monkeypatch.setattr(ph, "case_files", real_files)
    ph.make_phantom(out, cases=1, progress=False)  # a partial phantom of ours may be replaced
    assert is_phantom(out)
    assert len(SegRapDataset(out)) == 1


def test_default_phantom_cached_by_an_older_generator_is_rebuilt(tmp_path, monkeypatch, capsys):
    """A cached default phantom from an older kit (other anatomy, same name) is not reused."""
    from segrap_nb.config import DEFAULT_PHANTOM
    from segrap_nb.sources import data_root

    monkeypatch.setenv("SEGRAP_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SEGRAP_DATA", raising=False)
    monkeypatch.setitem(DEFAULT_PHANTOM, "cases", 1)
    root = data_root()
    assert ph.marker_generator(root) == ph.GENERATOR
    fresh = SegRapDataset(root)[0].image().array
    marker = root / ph.MARKER  # now pretend an older kit wrote it, with other voxels
    marker.write_text(
        "".join(line + "\n" for line in marker.read_text().splitlines() if not line.startswith("generator:"))
    )
    ct_file = root / IMAGES_DIR / "segrap_0000" / "image.nii.gz"
    img = nib.load(ct_file)
    nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj) + np.int16(1), img.affine, img.header), ct_file)
    assert data_root() == root
    assert "made by an older kit" in capsys.readouterr().err
    assert ph.marker_generator(root) == ph.GENERATOR
    assert np.array_equal(SegRapDataset(root)[0].image().array, fresh)


def test_phantom_settings_remake_the_folder_in_use(tmp_path):
    """Zips made from ``phantom_settings`` of a non-default phantom hold the folder's voxels."""
    from segrap_nb.config import DEFAULT_PHANTOM
    from segrap_nb.sources import phantom_settings

    folder = ph.make_phantom(tmp_path / "seed7", cases=1, seed=7, progress=False)
    settings = phantom_settings(folder)
    assert settings == {"cases": 1, "size": "quick", "seed": 7}
    remade = ph.make_phantom(tmp_path / "zips", **{**settings, "cases": 1}, as_zip=True, progress=False)
    default = ph.make_phantom(tmp_path / "default", **{**DEFAULT_PHANTOM, "cases": 1}, progress=False)
    ct = SegRapDataset(folder)[0].image().array
    assert np.array_equal(SegRapDataset(remade)[0].image().array, ct)
    assert not np.array_equal(SegRapDataset(default)[0].image().array, ct)  # what notebook 01 did


def test_phantom_settings_of_real_data_and_of_a_broken_marker(tiny_release, tmp_path):
    """Real data gives the default phantom's settings; a marker without a valid seed is named."""
    from segrap_nb.config import DEFAULT_PHANTOM
    from segrap_nb.errors import DataError
    from segrap_nb.sources import phantom_settings

    assert phantom_settings(tiny_release) == DEFAULT_PHANTOM
    (tmp_path / ph.MARKER).write_text("generator: 3\ncases: 2\nsize: full\nseed: zero\n")
    with pytest.raises(DataError, match="PHANTOM.txt.*seed"):
        phantom_settings(tmp_path)
