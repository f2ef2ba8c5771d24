"""cpstn_min.augment: valid-frame counts, parameter samplers, the pretext label
identities, reproducibility and what views preserve. Clips (N,3,T,V,M)."""
import dataclasses

import numpy as np
import pytest
import torch

from cpstn_min import augment, ops
from cpstn_min.config import AugmentConfig
from view_configs import still


def clips(N=6, T=40, V=25, M=2, seed=0, min_len=1):
    """Random clips zero-padded after a random number of valid frames."""
    g = torch.Generator().manual_seed(seed)
    L = torch.randint(min_len, T + 1, (N,), generator=g)
    x = torch.randn(N, 3, T, V, M, generator=g)
    x = x * (torch.arange(T).view(1, 1, T, 1, 1) < L.view(N, 1, 1, 1, 1))
    return x, L


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_valid_frames_of_finds_the_last_non_zero_frame():
    x = torch.zeros(4, 3, 10, 25, 2)
    x[0, :, :7] = 1.0
    x[1, 2, 4, 3, 1] = -2.0            # a single non-zero value counts
    x[2, :, 1:3] = 1.0
    x[2, :, 8] = 1.0                   # zero frames in the middle stay inside the clip
    assert augment.valid_frames_of(x).tolist() == [7, 5, 9, 0]
    assert augment.valid_frames_of(torch.zeros(2, 3, 0, 25, 2)).tolist() == [0, 0]


@pytest.mark.parametrize("T_out", [1, 2, 50])
def test_crops_stay_inside_the_valid_frames_and_cover_the_ratio(T_out):
    rng = np.random.default_rng(0)
    L = np.concatenate([[0, 1, 2, 3], rng.integers(1, 301, 200)]).astype(np.float64)
    ratio = np.concatenate([[0.5, 0.5, 0.3, 1.0], rng.uniform(0.01, 1.0, 200)])
    offset = np.concatenate([[1.0, 1.0, 1.0, 0.0], rng.uniform(0, 1, 200)])
    start, step = augment.crop_to_steps(L, ratio, offset, T_out)
    first, last = start, start + step * (T_out - 1)
    assert (first >= 0).all() and (step >= 0).all()
    assert (last <= np.maximum(L - 1, 0) + 1e-9).all()
    if T_out > 1:
        covered = ratio * L >= 1
        np.testing.assert_allclose((last - first)[covered], ratio[covered] * L[covered] - 1, atol=1e-9)
    else:  # one frame: the middle of the crop
        np.testing.assert_allclose(start, offset * np.maximum(L - np.maximum(ratio * L, 1), 0)
                                   + np.maximum(ratio * L - 1, 0) / 2)


def test_shear_matrices_have_unit_diagonal_and_bounded_off_diagonal():
    S = augment.shear_matrices(np.random.default_rng(0).uniform(size=(500, 6)), 0.5)
    off = S[:, ~np.eye(3, dtype=bool)]
    np.testing.assert_array_equal(np.diagonal(S, axis1=1, axis2=2), 1.0)
    assert off.min() >= -0.5 and off.max() <= 0.5 and off.min() < -0.45 and off.max() > 0.45


def test_rotation_matrices_are_proper_rotations():
    R = augment.rotation_matrices(np.random.default_rng(0).uniform(-30, 30, size=(100, 3)))
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0)
    np.testing.assert_allclose(augment.rotation_matrices(np.zeros((2, 3))), np.broadcast_to(np.eye(3), (2, 3, 3)))
    # right-handed axes: x -> y about z, y -> z about x, z -> x about y
    quarter = np.array([90.0])
    np.testing.assert_allclose(augment.axis_rotation(quarter, 2)[0] @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(augment.axis_rotation(quarter, 0)[0] @ [0, 1, 0], [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(augment.axis_rotation(quarter, 1)[0] @ [0, 0, 1], [1, 0, 0], atol=1e-12)


def _play(x, R, T_out=None):
    """Every frame of x, unchanged in time, through the op with matrix R (3,3)."""
    N, _, T = x.shape[:3]
    T_out = T_out or T
    R = torch.as_tensor(R, dtype=x.dtype).expand(N, 3, 3)
    return ops.skeleton_augment(x, torch.full((N,), T), torch.zeros(N), torch.ones(N), R, T_out)


def test_rotation_classes():
    x, _ = clips(N=3, T=12)
    half = augment.axis_rotation(np.array([180.0]), 2)[0]
    torch.testing.assert_close(_play(_play(x, half), half), x, rtol=1e-5, atol=1e-5)
    only_x = torch.zeros_like(x)
    only_x[:, 0] = x[:, 0]
    turned = _play(only_x, augment.axis_rotation(np.array([90.0]), 2)[0])
    torch.testing.assert_close(turned[:, 1], x[:, 0], rtol=1e-5, atol=1e-5)   # x axis -> y axis
    torch.testing.assert_close(turned[:, [0, 2]], torch.zeros_like(turned[:, [0, 2]]), rtol=0, atol=1e-6)


def test_pace_one_with_step_one_returns_the_clip():
    x, _ = clips(N=3, T=17)
    torch.testing.assert_close(_play(x, np.eye(3)), x, rtol=0, atol=0)
    cfg = still(T_out=17, pretext_strides=(1,), pretext_spatial="none", pretext_reverse=False)
    full = torch.full((3,), 17)
    views = augment.make_views(x, full, gen(), cfg, contrastive=False)
    torch.testing.assert_close(views["pretext"], x, rtol=0, atol=1e-6)
    torch.testing.assert_close(augment.resize(x, full, 17), x, rtol=0, atol=1e-6)


def test_pretext_view_is_what_its_labels_say():
    T = 15
    x, _ = clips(N=16, T=T, min_len=T)
    cfg = still(T_out=T, pretext_strides=(1,), pretext_spatial="rotation", pretext_reverse=True)
    views = augment.make_views(x, torch.full((16,), T), gen(3), cfg, contrastive=False)
    assert set(views) == {"pretext", "spatial_label", "pace_label", "dir_label"}
    assert len(set(views["spatial_label"].tolist())) > 1 and len(set(views["dir_label"].tolist())) == 2
    for n in range(16):
        deg = cfg.pretext_rotations_deg[views["spatial_label"][n]]
        R = torch.as_tensor(augment.axis_rotation(np.array([deg]), 2)[0], dtype=x.dtype)
        expected = torch.einsum("ij,jtvm->itvm", R, x[n])
        if views["dir_label"][n] == 1:
            expected = expected.flip(1)
        torch.testing.assert_close(views["pretext"][n], expected, rtol=1e-5, atol=1e-5)


def test_crop_pace_class_sets_the_fraction_of_the_clip_covered():
    """The first pace design, kept behind augment.pretext_pace = "crop"."""
    T, L = 21, 201
    x = torch.arange(L, dtype=torch.float64).view(1, 1, L, 1, 1).expand(400, 3, L, 1, 1).contiguous()
    cfg = still(T_out=T, pretext_pace="crop", pretext_spatial="none", pretext_reverse=False)
    views = augment.make_views(x, torch.full((400,), L), gen(), cfg, contrastive=False)
    frames = views["pretext"][:, 0, :, 0, 0]
    covered = (frames[:, -1] - frames[:, 0] + 1) / L
    np.testing.assert_allclose(covered.numpy(), np.asarray(cfg.pretext_paces)[views["pace_label"].numpy()],
                               atol=1.0 / L)
    assert set(views["pace_label"].tolist()) == set(range(len(cfg.pretext_paces)))


def test_contrastive_crops_and_matrices_follow_the_config():
    cfg = AugmentConfig()
    L = np.full(300, 250.0)
    start, step, R = augment.sample_params(L, gen(), cfg, ("key", "query"))
    for k, crop in enumerate((cfg.key_crop, cfg.query_crop)):
        ratio = (step[k] * (cfg.T_out - 1) + 1) / L
        assert ratio.min() >= crop[0] - 1e-12 and ratio.max() <= crop[1] + 1e-12
        assert ratio.max() - ratio.min() > 0.8 * (crop[1] - crop[0])
    # key: a shear only (key_rotate_deg 0), off-diagonal within +-key_shear
    np.testing.assert_allclose(np.diagonal(R[0], axis1=1, axis2=2), 1.0)
    assert np.abs(R[0]).max() <= 1.0 and np.abs(R[0] - np.eye(3)).max() > 0.45
    # query without shear: a rotation Rx Ry Rz with |angle| <= 30 deg, so |R[0,2]| = |sin(b)| <= 0.5
    _, _, Rq = augment.sample_params(L, gen(), dataclasses.replace(cfg, query_shear=0.0), ("query",))
    np.testing.assert_allclose(Rq[0] @ Rq[0].transpose(0, 2, 1), np.broadcast_to(np.eye(3), Rq[0].shape),
                               atol=1e-12)
    assert np.abs(Rq[0][:, 0, 2]).max() <= 0.5 + 1e-12 and np.abs(Rq[0][:, 0, 2]).max() > 0.45


def test_same_seed_same_views_different_seed_different_views():
    x, L = clips()
    cfg = AugmentConfig(T_out=20, pretext_reverse=True, pretext_spatial="freeze")
    a = augment.make_views(x, L, gen(7), cfg)
    torch.manual_seed(123)  # the global RNG plays no part
    b = augment.make_views(x, L, gen(7), cfg)
    c = augment.make_views(x, L, gen(8), cfg)
    assert a.keys() == b.keys() == {"key", "query", "pretext", "spatial_label", "pace_label", "dir_label"}
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert not torch.equal(a["query"], c["query"]) and not torch.equal(a["key"], c["key"])


def test_views_shapes_dtypes_and_labels():
    x, L = clips(N=5, T=30, V=18, M=1)
    cfg = AugmentConfig(T_out=12, pretext_spatial="freeze")
    views = augment.make_views(x.double(), L, gen(), cfg)
    for k in ("key", "query", "pretext"):
        assert views[k].shape == (5, 3, 12, 18, 1) and views[k].dtype == torch.float64
    assert views["spatial_label"].dtype == torch.int64 and views["spatial_label"].max() < 6
    assert views["dir_label"].dtype == torch.int64 and views["dir_label"].max() <= 1   # on by default
    assert set(augment.make_views(x, L, gen(), cfg, pretext=False)) == {"key", "query"}
    pretext_only = {"pretext", "spatial_label", "pace_label", "dir_label"}
    assert set(augment.make_views(x, L, gen(), cfg, contrastive=False)) == pretext_only
    forward_only = AugmentConfig(T_out=12, pretext_spatial="freeze", pretext_reverse=False)
    assert set(augment.make_views(x, L, gen(), forward_only, contrastive=False)) == pretext_only - {"dir_label"}
    no_spatial = dataclasses.replace(forward_only, pretext_spatial="none")
    assert set(augment.make_views(x, L, gen(), no_spatial, contrastive=False)) == {"pretext", "pace_label"}


def test_padding_is_never_read_and_empty_bodies_stay_zero():
    x, L = clips(N=6, T=30)
    x[:, :, :, :, 1] = 0.0                                     # a single-person clip
    for n in range(6):
        x[n, :, L[n]:] = float("nan")                          # padding must never be read
    L[0] = 0
    x[0] = float("nan")
    views = augment.make_views(x, L, gen(), AugmentConfig(T_out=25, pretext_reverse=True))
    for k in ("key", "query", "pretext"):
        assert torch.isfinite(views[k]).all(), k
        assert torch.equal(views[k][..., 1], torch.zeros_like(views[k][..., 1])), k
        assert torch.equal(views[k][0], torch.zeros_like(views[k][0])), k


def test_resize_to_one_frame_is_the_middle_frame():
    x, _ = clips(N=2, T=9)
    out = augment.resize(x, torch.tensor([9, 5]), 1)
    torch.testing.assert_close(out[:, :, 0], torch.stack([x[0, :, 4], x[1, :, 2]]))


@pytest.mark.parametrize("field,value", [("key_crop", (0.0, 1.0)), ("query_crop", (0.9, 0.5)),
                                         ("pretext_paces", (0.5, 1.5)), ("pretext_rotations_deg", ()),
                                         ("pretext_strides", (0, 2)), ("pretext_strides", ()),
                                         ("pretext_pace", "speed"), ("pretext_spatial", "jigsaw"),
                                         ("pretext_frames", -1), ("pretext_rotate_deg", -5.0),
                                         ("query_shear", -0.1), ("T_out", 0)])
def test_bad_config_names_the_field(field, value):
    x, L = clips(N=2)
    cfg = dataclasses.replace(AugmentConfig(), **{field: value})
    with pytest.raises(ValueError, match=field):
        augment.make_views(x, L, gen(), cfg)


def test_valid_frames_must_match_the_batch():
    x, L = clips(N=3)
    with pytest.raises(ValueError, match="valid_frames"):
        augment.make_views(x, L[:2], gen(), AugmentConfig())


@pytest.mark.skipif(not (ops.extension_loaded() and torch._C._dispatch_has_kernel_for_dispatch_key(
    "cpstn::skeleton_augment", "CPU")), reason="extension not built")
def test_kernel_and_reference_give_the_same_views(monkeypatch):
    x, L = clips(N=8, T=60)
    cfg = AugmentConfig(T_out=30, pretext_reverse=True)
    monkeypatch.delenv("CPSTN_BACKEND", raising=False)
    fast = augment.make_views(x, L, gen(5), cfg)
    monkeypatch.setenv("CPSTN_BACKEND", "reference")
    slow = augment.make_views(x, L, gen(5), cfg)
    for k in fast:
        torch.testing.assert_close(fast[k], slow[k], rtol=1e-5, atol=1e-5)
