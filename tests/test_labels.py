"""The label tables and the official 54 <-> 45 conversions."""

import numpy as np
import pytest

from segrap_nb import labels as L
from segrap_nb.analysis import published

from .factories import tiny_onehot


def test_table_sizes_and_order():
    assert len(L.ONEHOT_LABELS) == 54
    assert sorted(L.ONEHOT_LABELS) == list(range(1, 55))
    assert len(L.OAR_NAMES) == 45
    assert L.OAR_NAMES[0] == "Brain"
    assert L.OAR_NAMES[-1] == "Trachea"
    assert L.GTV_NAMES == ("GTVp", "GTVnd")
    assert set(L.NSD_TOLERANCE_MM) == set(L.OAR_NAMES) | set(L.GTV_NAMES)


def test_non_obvious_unions_from_the_reference():
    assert L.OAR_TO_ONEHOT["Brain"] == tuple(range(1, 10))
    assert L.OAR_TO_ONEHOT["Eye_L"] == (10, 12)
    assert L.OAR_TO_ONEHOT["MiddleEar_L"] == (16, 18, 20, 24, 28, 30)
    assert L.OAR_TO_ONEHOT["Larynx"] == (48, 49, 50, 51)
    assert L.OAR_TO_ONEHOT["PharynxConst"] == (51, 52)
    assert L.LABEL_MEMBERSHIP[6] == {"Brain", "TemporalLobe_L", "Hippocampus_L"}


def test_tolerances():
    assert L.NSD_TOLERANCE_MM["Larynx"] == 2
    assert L.NSD_TOLERANCE_MM["OralCavity"] == 3
    assert L.NSD_TOLERANCE_MM["Chiasm"] == 1
    assert L.NSD_TOLERANCE_MM["GTVnd"] == 1


def test_every_label_belongs_to_an_oar_and_signatures_are_unique():
    sigs = list(L.LABEL_MEMBERSHIP.values())
    assert all(sigs)
    assert len(set(sigs)) == 54


@pytest.mark.parametrize(
    "card,code",
    [
        ("PharynxConstr", "PharynxConst"),
        ("Larynx_PharynxConstr_Overlap", "Larynx_PharynxConst_OverLap"),
        ("TemporalLobe_Hippocampus_Overlap_L", "TemporalLobe_Hippocampus_OverLap_L"),
        ("MiddleEar_ETbone_Overlap_R", "MiddleEar_ETbone_OverLap_R"),
        ("IAC_L (Internal Acoustic Canal_L)", "IAC_L"),
        ("Brain", "Brain"),
    ],
)
def test_card_spellings_are_aliases(card, code):
    assert L.canonical_name(card) == code


def test_unknown_name_is_a_clear_error():
    with pytest.raises(KeyError, match="Brian"):
        L.canonical_name("Brian")


def test_card_tables_cover_every_label_with_code_names():
    card = published.card_labels()
    assert list(card["label"]) == list(range(1, 55))
    assert list(card["name"]) == [L.ONEHOT_LABELS[k] for k in range(1, 55)]
    assert card.loc[card["name"] == "Larynx_PharynxConst_OverLap", "mean_cm3"].item() == 8.07
    assert published.card_resolution().loc["median", "size_z"] == 126


@pytest.mark.parametrize("seed", range(4))
def test_conversions_are_exact_inverses(seed):
    t1, t2 = tiny_onehot(seed)
    masks = L.onehot_to_masks(t1, 1)
    assert masks["Eye_L"].sum() == (t1 == 10).sum() + (t1 == 12).sum()
    assert np.array_equal(L.masks_to_onehot(masks, 1), t1)
    assert np.array_equal(L.masks_to_onehot(L.onehot_to_masks(t2, 2), 2), t2)


@pytest.mark.parametrize("seed", range(3))
def test_masks_in_place_equal_the_lookup_masks(seed):
    t1, t2 = tiny_onehot(seed)
    for onehot, task in ((np.asfortranarray(t1), 1), (t2, 2)):
        if task == 1:
            onehot[onehot == 54] = 0  # one label absent: its structure's mask must come out empty
        got = {name: mask.copy(order="K") for name, mask in L.iter_masks_in_place(onehot, task)}
        assert list(got) == list(L.structures(task))
        for name, mask in got.items():  # every voxel, not only inside the boxes: the buffer is cleared
            assert mask.dtype == np.uint8 and mask.flags.f_contiguous
            assert np.array_equal(mask.astype(bool), L.structure_mask(onehot, name, task)), name


def test_overlap_painting_on_nested_structures():
    # An eye with its lens inside: Eye_L covers both, Lens_L only the centre voxel.
    masks = {n: np.zeros((5, 5, 5), bool) for n in L.OAR_NAMES}
    masks["Eye_L"][1:4, 1:4, 1:4] = True
    masks["Lens_L"][2, 2, 2] = True
    onehot = L.masks_to_onehot(masks, 1)
    assert onehot[2, 2, 2] == 12
    assert onehot[1, 1, 1] == 10
    assert (onehot == 10).sum() == 26


def test_masks_outside_the_official_table_are_refused():
    masks = {n: np.zeros((4, 4, 4), bool) for n in L.OAR_NAMES}
    masks["Lens_L"][1, 1, 1] = True  # a lens outside any eye: no label stands for that
    with pytest.raises(L.ConversionError, match="Lens_L"):
        L.masks_to_onehot(masks, 1)
    gtv = {"GTVp": np.ones((2, 2, 2), bool), "GTVnd": np.ones((2, 2, 2), bool)}
    with pytest.raises(L.ConversionError, match="overlap"):
        L.masks_to_onehot(gtv, 2)
    with pytest.raises(L.ConversionError, match="missing masks: BrainStem"):
        L.masks_to_onehot({"Brain": np.zeros((2, 2, 2), bool)}, 1)


def test_score_groups_split_the_45_oars_into_large_small_and_inner_ear():
    groups = [L.SCORE_GROUPS[g] for g in ("large", "small", "inner_ear")]
    assert sorted(n for g in groups for n in g) == sorted(L.OAR_NAMES)  # each OAR exactly once
    assert len(L.SCORE_GROUPS["inner_ear"]) == 12 and "MiddleEar_L" in L.SCORE_GROUPS["inner_ear"]
    assert set(L.SCORE_GROUPS["core6"]) <= set(L.SCORE_GROUPS["large"])
    assert L.SCORE_GROUPS["gtv"] == L.GTV_NAMES


def test_display_groups_name_real_structures_and_cover_every_oar():
    members = {n for g in L.DISPLAY_GROUPS.values() for n in g}
    assert members <= set(L.OAR_NAMES) | set(L.GTV_NAMES)
    assert set(L.OAR_NAMES) <= members
    # "inner ear" for display is the inner ear proper; the middle ear is its own group.
    assert sorted(L.DISPLAY_GROUPS["inner ear"]) == sorted(
        ["Cochlea_L", "Cochlea_R", "VestibulSemi_L", "VestibulSemi_R", "IAC_L", "IAC_R"]
    )
    assert "MiddleEar_L" in L.DISPLAY_GROUPS["middle ear"]
