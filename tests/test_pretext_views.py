"""The pretext view: playback speed by stride (ping-pong on short clips), frozen body parts, viewpoint."""
import numpy as np
import pytest
import torch

from cpstn_min import augment
from cpstn_min.config import AugmentConfig
from cpstn_min.graph import body_parts
from cpstn_min.pretext_views import UNIFORMS, freeze_parts
from view_configs import still


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def smooth_clips(N, T, L, V=25, M=2, seed=0):
    """Clips whose joints move along smooth curves (no noise), zero after L valid frames."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)[None, None, :, None, None] / 30.0
    amp = rng.uniform(0.1, 0.4, (N, 3, 1, V, M))
    freq = rng.uniform(0.2, 0.6, (N, 3, 1, V, M))
    x = amp * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6, (N, 3, 1, V, M)))
    x = torch.from_numpy(x)
    for n, length in enumerate(np.broadcast_to(L, (N,))):
        x[n, :, length:] = 0
    return x


def mean_speed(view):
    """(N,3,T,V,M) -> (N,) mean per-frame joint displacement."""
    return (view[:, :, 1:] - view[:, :, :-1]).norm(dim=1).mean(dim=(1, 2, 3))


def frame_numbers(N, T, L):
    """Clips whose x coordinate is the frame number (1-based, so padding stays 0), and the
    positions a view read: view x - 1."""
    x = torch.zeros(N, 3, T, 1, 1, dtype=torch.float64)
    x[:, 0, :, 0, 0] = torch.arange(1, T + 1, dtype=torch.float64)
    for n, length in enumerate(np.broadcast_to(L, (N,))):
        x[n, :, length:] = 0
    return x


def positions(x, L, cfg, seed=0):
    views = augment.make_views(x, torch.as_tensor(np.broadcast_to(L, (x.shape[0],)).copy()), gen(seed), cfg,
                               contrastive=False)
    return (views["pretext"][:, 0, :, 0, 0] - 1).round().long().numpy(), views


def test_long_clip_positions_step_by_the_stride():
    for s in (1, 2, 3, 4):
        cfg = still(T_out=32, pretext_strides=(s,), pretext_spatial="none", pretext_reverse=False)
        pos, _ = positions(frame_numbers(200, 300, 300), 300, cfg, seed=s)
        assert (np.diff(pos, axis=1) == s).all()
        assert pos.min() >= 0 and pos.max() <= 299
        assert len(np.unique(pos[:, 0])) > 50                       # the start moves through the room


def test_short_clip_plays_back_and_forth_at_the_same_speed():
    L = np.array([40, 10, 2, 1])
    cfg = still(T_out=32, pretext_strides=(3,), pretext_spatial="none")
    pos, _ = positions(frame_numbers(4, 50, L), L, cfg)
    for n, length in enumerate(L):
        assert pos[n].min() >= 0 and pos[n].max() <= length - 1
        if length > 3:   # every step moves 3 frames, except where it turns at an end
            steps = np.abs(np.diff(pos[n]))
            assert (steps <= 3).all() and np.mean(steps == 3) > 0.8
    assert (pos[3] == 0).all()


def test_reversed_view_reads_the_same_frames_backwards():
    L = np.array([300, 30] * 50)
    x = frame_numbers(100, 300, L)
    cfg = still(T_out=32, pretext_spatial="none", pretext_reverse=True)
    pos, views = positions(x, L, cfg)
    back = views["dir_label"].numpy() == 1
    assert 20 < back.sum() < 80
    strides = np.asarray(cfg.pretext_strides)[views["pace_label"].numpy()]
    turned = np.where(back[:, None], pos[:, ::-1], pos)              # forward order again
    long = L == 300
    np.testing.assert_array_equal(np.diff(turned[long], axis=1), np.broadcast_to(strides[long, None], (long.sum(), 31)))


@pytest.mark.parametrize("length", [300, 60])
def test_speed_scales_with_the_stride(length):
    """The mean per-frame displacement at stride s is about s times that at stride 1, of the
    same clips, also when they are too short for the view and play back and forth."""
    x = smooth_clips(64, 300, length)
    L = torch.full((64,), length)
    speeds = []
    for s in (1, 2, 3, 4):
        cfg = AugmentConfig(T_out=32, pretext_strides=(s,), pretext_spatial="none")
        speeds.append(mean_speed(augment.make_views(x, L, gen(1), cfg, contrastive=False)["pretext"]).mean())
    for s, v in zip((1, 2, 3, 4), speeds):
        assert v / speeds[0] == pytest.approx(s, rel=0.12), (s, [float(a) for a in speeds])


def test_pace_labels_are_balanced_and_do_not_depend_on_clip_length():
    x = torch.zeros(4000, 3, 300, 1, 1)
    L = torch.from_numpy(np.random.default_rng(0).integers(40, 301, 4000))
    cfg = AugmentConfig(T_out=32, pretext_spatial="none")
    labels = augment.make_views(x, L, gen(), cfg, contrastive=False)["pace_label"].numpy()
    counts = np.bincount(labels, minlength=4)
    assert (np.abs(counts - 1000) < 100).all(), counts
    short = L.numpy() < 120
    for k in range(4):   # the share of each class is the same for short and long clips
        assert abs(np.mean(labels[short] == k) - np.mean(labels[~short] == k)) < 0.05


def test_frozen_part_moves_rigidly_with_its_anchor_and_nothing_else_changes():
    x = smooth_clips(12, 64, 64)
    V = x.shape[3]
    parts = body_parts(V)
    anchors = torch.arange(V).repeat(12, 1)
    for n in range(12):
        part = n % (len(parts) + 1)
        if part:
            _, joints, anchor = parts[part - 1]
            anchors[n, list(joints)] = anchor
    out = freeze_parts(x, anchors)
    for n in range(12):
        part = n % (len(parts) + 1)
        if not part:
            torch.testing.assert_close(out[n], x[n])
            continue
        _, joints, anchor = parts[part - 1]
        others = [j for j in range(V) if j not in joints]
        torch.testing.assert_close(out[n][:, :, others], x[n][:, :, others])
        rel = out[n][:, :, list(joints)] - out[n][:, :, [anchor]]           # (3,T,J,M)
        # smooth data: away from the ends (where the moving average is one-sided) the part's pose
        # relative to the anchor barely changes, while the original part moved
        inner = rel[:, 2:-2]
        assert (inner - inner[:, :1]).abs().max() < 0.02    # the average attenuates a curve by ~2%
        orig = x[n][:, :, list(joints)] - x[n][:, :, [anchor]]
        assert (orig - orig[:, :1]).abs().max() > 0.1


def test_frozen_part_keeps_its_jitter():
    """Sensor noise must not tell which part is frozen: a frozen joint jitters like before."""
    g = torch.Generator().manual_seed(0)
    x = smooth_clips(8, 64, 64) + 0.01 * torch.randn(8, 3, 64, 25, 2, generator=g, dtype=torch.float64)
    anchors = torch.arange(25).repeat(8, 1)
    _, joints, anchor = body_parts(25)[1]
    anchors[:, list(joints)] = anchor
    out = freeze_parts(x, anchors)
    frame_diff = lambda v: (v[:, :, 2:] - 2 * v[:, :, 1:-1] + v[:, :, :-2]).std()  # noqa: E731
    j = list(joints)
    assert frame_diff(out[:, :, :, j]) == pytest.approx(frame_diff(x[:, :, :, j]), rel=0.25)


def test_freeze_labels_cover_every_part_and_need_a_known_layout():
    x = smooth_clips(600, 40, 40)
    views = augment.make_views(x, torch.full((600,), 40), gen(), AugmentConfig(T_out=16, pretext_spatial="freeze"),
                               contrastive=False)
    assert set(views["spatial_label"].tolist()) == set(range(1 + len(body_parts(25))))
    with pytest.raises(ValueError, match="body parts"):
        augment.make_views(torch.zeros(2, 3, 10, 7, 1), torch.full((2,), 10), gen(),
                           AugmentConfig(T_out=4, pretext_spatial="freeze"), contrastive=False)


def test_pretext_frames_sets_the_view_length():
    x = smooth_clips(4, 100, 100)
    cfg = AugmentConfig(T_out=32, pretext_frames=12)
    views = augment.make_views(x, torch.full((4,), 100), gen(), cfg)
    assert views["pretext"].shape[2] == 12 and views["query"].shape[2] == 32


def pretext_only(x, L, cfg, generator):
    return augment.make_views(x, torch.full((x.shape[0],), L), generator, cfg, contrastive=False)


def test_rotated_pretext_view_is_the_same_view_seen_from_another_viewpoint():
    """pretext_rotate_deg turns each sample's view by its own proper rotation; the frames read and
    the labels stay those of the unrotated view drawn from the same generator state."""
    x = smooth_clips(32, 100, 100)
    plain = pretext_only(x, 100, still(T_out=16), gen(3))
    turned = pretext_only(x, 100, AugmentConfig(T_out=16, pretext_shear=0.0, pretext_rotate_deg=30.0), gen(3))
    assert torch.equal(plain["pace_label"], turned["pace_label"])
    U = plain["pretext"].reshape(32, 3, -1)             # (N,3,points)
    W = turned["pretext"].reshape(32, 3, -1)
    R = torch.linalg.lstsq(U.transpose(1, 2), W.transpose(1, 2)).solution.transpose(1, 2)   # W = R U
    torch.testing.assert_close(W, R @ U, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(R @ R.transpose(1, 2), torch.eye(3, dtype=R.dtype).expand(32, 3, 3), atol=1e-9, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(32, dtype=R.dtype))
    angle = torch.rad2deg(torch.arccos(((R.diagonal(dim1=1, dim2=2).sum(1) - 1) / 2).clamp(-1, 1)))
    assert angle.max() < 3 ** 0.5 * 30 + 1e-6 and angle.min() > 0.5 and angle.std() > 3   # bounded, per sample


def test_pretext_rotation_off_draws_nothing_so_earlier_runs_replay():
    x, N = smooth_clips(8, 60, 60), 8
    g = gen(5)
    pretext_only(x, 60, AugmentConfig(T_out=16, pretext_rotate_deg=0.0), g)
    expected = gen(5)
    torch.rand(N, UNIFORMS, generator=expected, dtype=torch.float64)
    assert torch.equal(g.get_state(), expected.get_state())
    g = gen(5)
    pretext_only(x, 60, AugmentConfig(T_out=16, pretext_rotate_deg=10.0), g)
    assert not torch.equal(g.get_state(), expected.get_state())


def test_rotated_pretext_view_of_2d_clips_turns_in_the_image_plane():
    x = smooth_clips(16, 60, 60)[:, :2]
    plain = pretext_only(x, 60, still(T_out=16), gen(2))["pretext"]
    turned = pretext_only(x, 60, AugmentConfig(T_out=16, pretext_shear=0.0, pretext_rotate_deg=45.0), gen(2))["pretext"]
    assert turned.shape == plain.shape == (16, 2, 16, 25, 2)
    torch.testing.assert_close(turned.norm(dim=1), plain.norm(dim=1))          # a turn about the camera axis
    assert (turned - plain).abs().amax() > 1e-2


def still_clips(N, T, L, V=25, M=2, seed=0):
    """Clips holding one random pose for their L valid frames: every crop and stride reads it."""
    pose = torch.from_numpy(np.random.default_rng(seed).uniform(-1, 1, (N, 3, 1, V, M)))
    x = pose.expand(N, 3, T, V, M).clone()
    x[:, :, L:] = 0
    return x


def test_viewpoint_view_is_the_query_turned_by_the_labelled_yaw():
    """pretext_viewpoint: with no shear the pretext view is exactly the query view turned about the
    vertical axis by pretext_viewpoint_deg[view_label], whatever the query's own rotation."""
    N, yaws = 40, (-60.0, -30.0, 0.0, 30.0, 60.0)
    cfg = AugmentConfig(T_out=8, key_shear=0.0, query_shear=0.0, pretext_shear=0.0, pretext_spatial="none",
                        pretext_viewpoint=True, pretext_viewpoint_deg=yaws)
    x = still_clips(N, 60, 50)
    views = augment.make_views(x, torch.full((N,), 50), gen(4), cfg)
    labels = views["view_label"]
    assert sorted(labels.unique().tolist()) == list(range(len(yaws)))
    R = torch.from_numpy(augment.axis_rotation(np.asarray(yaws)[labels.numpy()], 1))     # (N,3,3) about y
    Q, P = views["query"].reshape(N, 3, -1), views["pretext"].reshape(N, 3, -1)
    torch.testing.assert_close(P, R @ Q, atol=1e-9, rtol=1e-9)
    assert (views["query"] - x[:, :, :8]).abs().amax() > 0.1          # the query itself was turned
    zero = labels == yaws.index(0.0)
    assert zero.any() and not zero.all()
    torch.testing.assert_close(P[zero], Q[zero], atol=1e-9, rtol=1e-9)


def test_viewpoint_task_needs_3d_clips_the_query_and_two_yaws():
    cfg = AugmentConfig(T_out=8, pretext_viewpoint=True)
    x = smooth_clips(4, 30, 30)
    with pytest.raises(ValueError, match="pretext_viewpoint"):
        augment.make_views(x[:, :2], torch.full((4,), 30), gen(), cfg)
    with pytest.raises(ValueError, match="pretext_viewpoint"):
        augment.make_views(x, torch.full((4,), 30), gen(), cfg, contrastive=False)
    with pytest.raises(ValueError, match="pretext_viewpoint_deg"):
        augment.make_views(x, torch.full((4,), 30), gen(), AugmentConfig(pretext_viewpoint=True,
                                                                         pretext_viewpoint_deg=(30.0, 30.0)))


def test_viewpoint_off_leaves_every_view_as_before():
    """The task off draws nothing more, so runs made before it replay; on, the contrastive views
    and the pace labels stay those of the same generator state."""
    x = smooth_clips(8, 60, 60)
    before = augment.make_views(x, torch.full((8,), 60), gen(6), AugmentConfig(T_out=16))
    on = augment.make_views(x, torch.full((8,), 60), gen(6), AugmentConfig(T_out=16, pretext_viewpoint=True))
    for name in ("key", "query", "pace_label", "spatial_label"):
        assert torch.equal(before[name], on[name])
    assert "view_label" not in before and "view_label" in on
