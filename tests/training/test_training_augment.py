"""Crop-only loader and batched device augmentation (flip with label swap, intensity, affine in mm).

All fast (well under a second each) on small arrays; the CUDA test runs only where a GPU is.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segrap_nb import labels as L
from segrap_nb.training import train_config as C
from segrap_nb.training.augment import AugmentParams, DeviceAugment, affine_theta, lr_swap_table
from segrap_nb.training.checkpoint import rng_states, set_rng_states
from segrap_nb.training.data import PatchDataset, PatchLoader, class_centres, crop_start


def _cfg(**extra) -> C.TrainConfig:
    overrides = {
        "data.patch_size": [16, 16, 8],
        "model.features": [4, 8],
        "model.strides": [2],
        "preprocess.spacing_mm": [1.0, 1.0, 3.0],
    }
    overrides.update(extra)
    return C.load_config("quick", overrides)


def _params(
    b: int, flip=False, scale=1.0, shift=0.0, affine=False, angles=(0, 0, 0), zoom=(1, 1, 1)
) -> AugmentParams:
    return AugmentParams(
        flip=torch.full((b,), flip),
        scale=torch.full((b,), scale),
        shift=torch.full((b,), shift),
        affine=torch.full((b,), affine),
        angles=torch.tensor([angles] * b, dtype=torch.float64),
        zoom=torch.tensor([zoom] * b, dtype=torch.float64),
    )


def _batch(b: int = 2, shape=(16, 16, 8), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(b, 2, *shape, generator=g).half()
    label = torch.randint(0, 55, (b, 1, *shape), generator=g, dtype=torch.uint8)
    return image, label


# -- the device augmentation ---------------------------------------------------------------
def test_identity_parameters_change_nothing_and_inputs_stay_untouched():
    aug = DeviceAugment(_cfg())
    image, label = _batch()
    before = image.clone(), label.clone()
    out_img, out_lab = aug.apply(image, label, _params(2, affine=True))  # identity warp
    assert out_img.dtype == torch.float32
    assert out_lab.dtype == torch.int64
    torch.testing.assert_close(out_img, image.float(), atol=1e-5, rtol=0)
    assert torch.equal(out_lab, label.long())
    assert torch.equal(image, before[0])
    assert torch.equal(label, before[1])


def test_flip_swaps_left_and_right_labels_and_intensity_is_scale_then_shift():
    aug = DeviceAugment(_cfg())
    image, label = _batch(1)
    label[0, 0, :4] = L.ONEHOT_IDS["Eye_L"]
    label[0, 0, 4:8] = L.ONEHOT_IDS["Brain"]
    out_img, out_lab = aug.apply(image, label, _params(1, flip=True, scale=1.1, shift=0.05))
    lut = torch.from_numpy(lr_swap_table(1)).long()
    assert torch.equal(out_lab, lut[label.flip(2).long()])
    assert (out_lab[0, 0, -4:] == L.ONEHOT_IDS["Eye_R"]).all()
    assert (out_lab[0, 0, -8:-4] == L.ONEHOT_IDS["Brain"]).all()
    torch.testing.assert_close(out_img, image.float().flip(2) * 1.1 + 0.05)


def test_rotation_is_in_millimetres_on_an_anisotropic_grid():
    # 1 x 1 x 3 mm voxels, patch 36 x 36 x 12 voxels = 36 mm cubed. A rod of 24 mm along y,
    # rotated 90 degrees about x, must lie along z and be 24 mm = 8 slices long (a rotation in
    # voxel units would make it 24 slices, more than the patch holds).
    cfg = _cfg(**{"data.patch_size": [36, 36, 12]})
    aug = DeviceAugment(cfg)
    label = torch.zeros(1, 1, 36, 36, 12, dtype=torch.uint8)
    label[0, 0, 18, 6:30, 6] = 1  # 24 voxels (mm) along y, through the centre (18, 18, 6)
    image = label.half() * 10
    out_img, out_lab = aug.apply(image, label, _params(1, affine=True, angles=(np.pi / 2, 0, 0)))
    xs, ys, zs = torch.nonzero(out_lab[0, 0], as_tuple=True)
    assert set(xs.tolist()) == {18}  # the 3 mm slice: 3 mm in y
    assert len(set(ys.tolist())) <= 4
    assert 7 <= zs.max() - zs.min() + 1 <= 9
    assert out_img.max() > 5
    assert abs(float(out_img.sum()) / 10 - len(zs)) < 0.5 * len(zs)


def test_affine_theta_scales_and_orders_axes():
    theta = affine_theta(
        torch.zeros(1, 3, dtype=torch.float64),
        torch.tensor([[2.0, 1.0, 0.5]], dtype=torch.float64),
        (10.0, 20.0, 30.0),
    )
    # affine_grid's coordinates are (z, y, x): the x zoom sits in the last row and column.
    torch.testing.assert_close(theta[0], torch.tensor([[0.5, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 2.0, 0]]))


def test_drawn_parameters_follow_the_config():
    aug = DeviceAugment(_cfg(**{"data.affine_prob": 0.2}))
    p = [aug.draw(2) for _ in range(2000)]
    flip = torch.cat([q.flip for q in p]).float().mean()
    scaled = torch.cat([q.scale for q in p])
    shifted = torch.cat([q.shift for q in p])
    warped = torch.cat([q.affine for q in p]).float().mean()
    angles = torch.cat([q.angles for q in p])
    assert abs(flip - 0.5) < 0.03
    assert abs(warped - 0.2) < 0.03
    assert abs((scaled != 1).float().mean() - 0.5) < 0.03
    assert scaled.min() >= 0.9
    assert scaled.max() <= 1.1
    assert abs((shifted != 0).float().mean() - 0.5) < 0.03
    assert shifted.abs().max() <= 0.1
    assert angles.abs().max() <= np.deg2rad(10) + 1e-9
    assert angles.abs().max() > np.deg2rad(9)
    none = DeviceAugment(_cfg(**{"data.flip_lr_prob": 0.0, "data.intensity_prob": 0.0}))
    q = none.draw(64)
    assert not q.flip.any()
    assert not q.affine.any()
    assert (q.scale == 1).all()
    assert (q.shift == 0).all()


def test_generator_state_round_trips_through_the_checkpoint_states():
    cfg = _cfg(**{"data.affine_prob": 0.5})
    image, label = _batch()
    a = DeviceAugment(cfg)
    for _ in range(3):
        a(image, label)
    states = rng_states({"augment": a.generator})
    expected = a(image, label)
    b = DeviceAugment(cfg)  # fresh, as a resumed run builds it
    assert not torch.equal(b(image, label)[0], expected[0])
    set_rng_states(states, {"augment": b.generator})
    got = b(image, label)
    assert torch.equal(got[0], expected[0])
    assert torch.equal(got[1], expected[1])
    set_rng_states(rng_states(), {"augment": b.generator})  # an old checkpoint without it: kept


def test_ranks_take_disjoint_slices_of_one_global_draw():
    cfg = _cfg()
    one = DeviceAugment(cfg).draw(4)
    ranks = [DeviceAugment(cfg, rank=r, world_size=2) for r in (0, 1)]
    parts = [r.draw(2) for r in ranks]
    assert torch.equal(torch.cat([p.scale for p in parts]), one.scale)
    assert torch.equal(torch.cat([p.angles for p in parts]), one.angles)
    assert torch.equal(ranks[0].generator.get_state(), ranks[1].generator.get_state())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_and_cpu_give_the_same_augmentation():
    cfg = _cfg(**{"data.affine_prob": 1.0})
    image, label = _batch()
    cpu = DeviceAugment(cfg, "cpu")(image, label)
    gpu = DeviceAugment(cfg, "cuda")(image.cuda(), label.cuda())
    torch.testing.assert_close(gpu[0].cpu(), cpu[0], atol=1e-4, rtol=1e-4)
    assert (gpu[1].cpu() != cpu[1]).float().mean() < 1e-3  # nearest: ties may round apart


# -- the crop-only loader ------------------------------------------------------------------
def test_class_centres_list_every_class_and_subsample_large_ones():
    rng = np.random.default_rng(0)
    label = np.zeros((10, 12, 6), np.uint8)
    label[2:4, 3:5, 1:3] = 7
    label[5, 5, 5] = 54
    got = class_centres(label, 55, 50, rng)
    assert len(got) == 55
    assert all(c.dtype == np.int32 for c in got)
    assert np.array_equal(got[7], np.flatnonzero(label == 7))
    assert list(got[54]) == [np.ravel_multi_index((5, 5, 5), label.shape)]
    assert len(got[0]) == 50
    assert (label.reshape(-1)[got[0]] == 0).all()
    assert len(set(got[0])) == 50
    assert sum(len(c) for c in got[1:7]) == 0


def test_crop_start_keeps_the_patch_inside():
    assert crop_start((0, 10, 99), (16, 16, 8), (40, 40, 100)) == [0, 2, 92]
    assert crop_start((20, 20, 4), (40, 16, 8), (40, 40, 8)) == [0, 12, 0]


def _npy_cases(folder, n: int = 2) -> list[dict]:
    """n cached cases (float16 image, uint8 label with a small lens) as the preprocessing writes them."""
    rng = np.random.default_rng(1)
    cases = []
    for k in range(n):
        image = rng.normal(size=(2, 20, 18, 6)).astype(np.float16)  # z smaller than the patch: padded
        label = np.zeros((1, 20, 18, 6), np.uint8)
        label[0, 3:6, 4:7, 2:4] = L.ONEHOT_IDS["Lens_L"]
        np.save(folder / f"i{k}.npy", image)
        np.save(folder / f"l{k}.npy", label)
        cases.append(
            {"image": str(folder / f"i{k}.npy"), "label": str(folder / f"l{k}.npy"), "case_id": f"c{k}"}
        )
    return cases


def test_patches_are_plain_copies_of_the_cache(tmp_path):
    ds = PatchDataset(_npy_cases(tmp_path), _cfg(**{"data.cache_rate": 0.5}), start=0, length=200)
    assert ds.cases[0]["image"].shape == (2, 20, 18, 8)  # padded once, in the cache (1 -> 7 of 8)
    lens = 0
    for n in range(200):
        k, start = ds.crop_box(n)
        item = ds[n]
        assert item["image"].dtype == torch.float16
        assert item["label"].dtype == torch.uint8
        box = (slice(None), *(slice(s, s + p) for s, p in zip(start, (16, 16, 8))))
        assert np.array_equal(item["image"].numpy(), np.asarray(ds.cases.arrays[k].image[box]))
        lens += bool((item["label"] == L.ONEHOT_IDS["Lens_L"]).any())
    assert lens > 200 * 0.5  # 2 classes present: half the centres are on the lens


def test_loader_threads_deal_batches_like_a_distributed_sampler(tmp_path):
    from torch.utils.data import DistributedSampler

    ds = PatchDataset(_npy_cases(tmp_path), _cfg(), start=7, length=24)
    for rank in (0, 1):
        dealt = list(DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=False))
        expected = [ds.batch(dealt[i : i + 3]) for i in range(0, len(dealt), 3)]
        for workers in (0, 2):
            loader = PatchLoader(ds, 3, workers=workers, rank=rank, world_size=2)
            got = list(loader)
            assert len(got) == len(loader) == 4
            for g, e in zip(got, expected):
                assert torch.equal(g["image"], e["image"])
                assert torch.equal(g["label"], e["label"])
    it = iter(PatchLoader(ds, 2, workers=2))
    first = next(it)
    it.close()  # stopped early: the threads end, the batch handed out stays intact
    assert torch.equal(first["image"], ds.batch([0, 1])["image"])
