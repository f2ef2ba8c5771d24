"""Synthetic dataset: layout, determinism, splits, anatomy, camera, cache."""
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from cpstn_min.config import DataConfig
from cpstn_min.data import DataError, build_dataset, common
from cpstn_min.data.synthetic import body as sk
from cpstn_min.data.synthetic import dataset as syn
from cpstn_min.data.synthetic import generator as gen
from cpstn_min.data.synthetic import splits
from cpstn_min.data.synthetic.baselines import resample
from cpstn_min.data.synthetic.motions import ACTIONS

C = gen.NUM_CLASSES
TWO_PERSON = np.array([a.two_person for a in ACTIONS])
LONG_BONES = [(c, p, m) for c, p, m in sk.MEDIAN_BONES if m >= 0.12]   # spine, head, shoulders, limbs


def config(cache, **kw) -> DataConfig:
    kw = {"synthetic_train": 3 * C, "synthetic_val": 2 * C, **kw}
    return DataConfig(dataset="synthetic", cache_dir=str(cache), **kw)


@pytest.fixture(scope="module")
def xsub(tmp_path_factory):
    cfg = config(tmp_path_factory.mktemp("xsub"))
    return cfg, build_dataset(cfg, True), build_dataset(cfg, False)


@pytest.fixture(scope="module")
def xview(tmp_path_factory):
    cfg = config(tmp_path_factory.mktemp("xview"), split="xview")
    return cfg, build_dataset(cfg, True), build_dataset(cfg, False)


def tracked(clip: np.ndarray) -> np.ndarray:
    """(3,T,25) one body -> (T,) bool: frames where the body has joints."""
    return np.abs(clip).sum(axis=(0, 2)) > 0


def bone_medians(clip: np.ndarray) -> np.ndarray:
    """(3,T,25) one body over its valid frames -> median length of each long bone."""
    x = clip[:, tracked(clip)]
    return np.array([np.median(np.linalg.norm(x[:, :, c] - x[:, :, p], axis=0)) for c, p, _ in LONG_BONES])


def test_shapes_dtypes_and_items(xsub):
    _, train, val = xsub
    for ds, n in ((train, 3 * C), (val, 2 * C)):
        assert ds.data.shape == (n, 3, gen.MAX_FRAMES, 25, 2) and ds.data.dtype == np.float32
        assert ds.labels.dtype == np.int64 and ds.valid_frames.dtype == np.int64
        assert ds.num_classes == C == len(ACTIONS) >= 20
        assert np.isfinite(ds.data).all()
        clip, valid, label, index = ds[5]
        assert clip.dtype == torch.float32 and clip.shape == (3, gen.MAX_FRAMES, 25, 2)
        assert (valid, label, index) == (ds.valid_frames[5], ds.labels[5], 5)


def test_valid_lengths_padding_and_dropouts(xsub):
    _, train, val = xsub
    interior_gaps = 0
    for ds in (train, val):
        assert ds.valid_frames.min() >= 40 and ds.valid_frames.max() <= 300
        for clip, length in zip(ds.data, ds.valid_frames):
            assert not clip[:, length:].any(), "padding after the valid length must be zero"
            present = tracked(clip[..., 0])
            # first and last valid frames are present, so valid length = last non-zero frame + 1
            assert present[0] and present[length - 1]
            lost = np.flatnonzero(~present[:length])
            interior_gaps += len(lost)
            if len(lost):   # Kinect-like short dropouts: at most two gaps of 1..6 frames
                assert len(lost) <= 12
    assert interior_gaps > 0
    lengths = np.concatenate([train.valid_frames, val.valid_frames])
    assert lengths.max() - lengths.min() > 100, "clip lengths should vary widely"


def test_camera_space_like_kinect(tmp_path):
    train = build_dataset(config(tmp_path, center=False), True)
    base = train.data[:, :, 0, sk.BASE, 0]                      # (N,3) first frame, spine base
    assert (base[:, 2] > 2.0).all() and (base[:, 2] < 5.0).all(), "depth z should be ~2.6..4.2 m"
    head, feet = train.data[:, 1, 0, sk.HEAD, 0], train.data[:, 1, 0, [sk.L_FOOT, sk.R_FOOT], 0].mean(1)
    assert (head - feet > 0.8).all(), "y points up (some clips start seated)"


def test_centred_like_prepared_ntu(xsub, tmp_path):
    _, train, _ = xsub
    raw = build_dataset(config(tmp_path, center=False), True)
    spine = train.data[:, :, 0, 1]                               # (N,3,M) joint 2, frame 0
    first = np.argmax(np.abs(train.data[:, :, 0]).sum(axis=(1, 2)) > 0, axis=1)
    np.testing.assert_allclose(spine[np.arange(len(first)), :, first], 0, atol=1e-6)
    # a translation only: bone vectors and padding are unchanged
    bones = lambda d: d[:, :, :, sk.HEAD] - d[:, :, :, sk.BASE]
    present = np.abs(raw.data).sum(axis=(1, 3)) > 0                # (N,T,M)
    diff = (bones(train.data) - bones(raw.data)) * present[:, None]
    assert np.abs(diff).max() < 1e-5
    assert np.array_equal(np.abs(train.data).sum(axis=(1, 3)) > 0, present)


def test_determinism(xsub, tmp_path):
    cfg, train, _ = xsub
    again = build_dataset(config(tmp_path / "a"), True)       # a fresh generation, not the cache
    assert np.array_equal(again.data, train.data)
    assert np.array_equal(again.labels, train.labels)
    assert np.array_equal(again.valid_frames, train.valid_frames)
    other = build_dataset(config(tmp_path / "b", synthetic_seed=1), True)
    assert not np.array_equal(other.data, train.data)


def test_performer_style_changes_the_motion_and_nothing_else():
    """The style pulls each action's draws toward the performer's own; every other draw (who,
    when, how long, from where) stays, and style 0 is the data as it was without the option."""
    n = 2 * C
    runs = {}
    for style in (None, 0.0, 0.6):
        out = np.zeros((n,) + gen.CLIP_SHAPE, np.float32)
        meta = gen.generate(4, "xsub", True, n, out) if style is None else \
            gen.generate(4, "xsub", True, n, out, style=style)
        runs[style] = out, meta
    for style in (0.0, 0.6):
        for name in ("labels", "valid_frames", "performers", "camera_yaw"):
            assert np.array_equal(runs[style][1][name], runs[None][1][name]), name
    assert np.array_equal(runs[0.0][0], runs[None][0])
    moved = np.abs(runs[0.6][0] - runs[None][0]).reshape(n, -1).max(1)
    assert (moved > 0.01).mean() > 0.9           # nearly every clip moves (a few actions draw little)


def test_draw_pulls_each_value_toward_the_performers_own():
    from cpstn_min.data.synthetic.motions import Draw
    n, K = 6, 4
    style = np.random.default_rng(0).random((n, K))
    style[1] = style[0]                           # clips 0 and 1: the same performer and action
    amp, sep = np.ones((n, 1)), np.zeros((n, 1))
    draws = {}
    for strength in (0.0, 0.5, 1.0):
        d = Draw(np.random.default_rng(1), amp, sep, style, strength)
        draws[strength] = [d.u(2.0, 4.0), d.u(0.0, 1.0), d.sign()] + [d.u(0.0, 1.0) for _ in range(K)]
    fresh = np.random.default_rng(1)
    want = [fresh.uniform(2.0, 4.0, (n, 1)), fresh.uniform(0.0, 1.0, (n, 1)),
            np.where(fresh.random((n, 1)) < 0.5, -1.0, 1.0)]
    for got, expected in zip(draws[0.0], want):  # strength 0: exactly the fresh draws
        assert np.array_equal(got, expected)
    own = draws[1.0]                              # strength 1: the performer's quantiles
    np.testing.assert_allclose(own[0], 2.0 + 2.0 * style[:, :1])
    np.testing.assert_allclose(own[1], style[:, 1:2])
    assert np.array_equal(own[2], np.where(style[:, 2:3] < 0.5, -1.0, 1.0))
    np.testing.assert_allclose(own[3 + K - 1], style[:, (2 + K) % K, None])      # draws cycle through K
    assert all(np.array_equal(v[0], v[1]) for v in own)                        # same performer, same values
    np.testing.assert_allclose(draws[0.5][0], (draws[0.0][0] + own[0]) / 2)    # halfway at 0.5


def test_every_class_in_both_splits_balanced(xsub, xview):
    for _, train, val in (xsub, xview):
        for ds in (train, val):
            counts = np.bincount(ds.labels, minlength=C)
            assert counts.min() >= 1 and counts.max() - counts.min() <= 1


def test_xsub_performers_disjoint(xsub):
    _, train, val = xsub
    seen = [set(ds.performers[ds.performers >= 0].tolist()) for ds in (train, val)]
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    ntu_train = {p - 1 for p in splits.XSUB_TRAIN_PERFORMERS}   # 0-based
    assert seen[0] <= ntu_train and not seen[1] & ntu_train
    assert np.abs(np.concatenate([train.camera_yaw, val.camera_yaw])).max() <= splits.YAW_LIMIT


def test_xview_yaws_disjoint(xview):
    _, train, val = xview
    lo, hi = splits.XVIEW_VAL_YAW
    assert ((np.abs(train.camera_yaw) < lo) | (np.abs(train.camera_yaw) >= hi)).all()
    assert ((np.abs(val.camera_yaw) >= lo) & (np.abs(val.camera_yaw) < hi)).all()
    assert np.abs(train.camera_yaw).max() <= splits.YAW_LIMIT
    seen = [set(ds.performers[ds.performers >= 0].tolist()) for ds in (train, val)]
    assert seen[0] & seen[1], "cross-view splits share performers"


def test_camera_yaw_shows_in_the_data(xview):
    """Performers face the camera: their right shoulder is on the camera's left (+x, Kinect);
    a positive yaw shows their left side, so the left shoulder is nearer (smaller z)."""
    for ds in xview[1:]:
        single = ~TWO_PERSON[ds.labels]
        left, right = ds.data[single, :, 0, sk.L_SHOULDER, 0], ds.data[single, :, 0, sk.R_SHOULDER, 0]
        assert (right[:, 0] > left[:, 0]).mean() >= 0.95
        side = np.abs(ds.camera_yaw[single]) > 20
        nearer_left = left[side, 2] < right[side, 2]
        assert (nearer_left == (ds.camera_yaw[single][side] > 0)).mean() >= 0.9


def test_bone_lengths_plausible_and_match_performer(xsub):
    """Long bones stay near the real Kinect medians (README) scaled per performer, and each
    body's bones match the performer recorded for it (body order included)."""
    _, train, val = xsub
    people = gen.performers(0)["lengths"][:, [c for c, _, _ in LONG_BONES]]
    median = np.array([m for _, _, m in LONG_BONES])
    for ds in (train, val):
        for clip, length, who in zip(ds.data, ds.valid_frames, ds.performers):
            for body in np.flatnonzero(who >= 0):
                lengths = bone_medians(clip[:, :length, :, body])
                assert ((lengths / median > 0.7) & (lengths / median < 1.45)).all(), lengths / median
                assert np.abs(np.log(lengths / people[who[body]])).mean() < 0.12


def test_second_body_only_for_two_person_actions(xsub):
    assert 3 <= TWO_PERSON.sum() < C
    for ds in xsub[1:]:
        for clip, length, label, who in zip(ds.data, ds.valid_frames, ds.labels, ds.performers):
            if TWO_PERSON[label]:
                assert tracked(clip[..., 1])[:length].mean() > 0.8 and who[0] != who[1] >= 0
            else:
                assert not clip[..., 1].any() and who[1] == -1


def test_cache_reused_without_generating(xsub, monkeypatch):
    cfg, train, _ = xsub
    files = sorted(p.name for p in syn.cache_root(cfg).iterdir())
    assert not [f for f in files if ".tmp." in f]
    assert sum(f.endswith(".data.npy") for f in files) == 2    # train and val

    def fail(*args, **kwargs):
        raise AssertionError("generated again instead of loading the cache")
    monkeypatch.setattr(syn, "generate", fail)
    loaded = build_dataset(cfg, True)
    assert isinstance(loaded.data, np.memmap)
    assert np.array_equal(loaded.data, train.data) and np.array_equal(loaded.labels, train.labels)


def test_failed_generation_leaves_nothing_in_the_cache(tmp_path, monkeypatch):
    def fail(seed, split, train, n, out, center, style):
        out[0] = 1.0                                 # half-written data must not stay behind
        raise RuntimeError("generator failed")
    monkeypatch.setattr(syn, "generate", fail)
    cfg = config(tmp_path)
    with pytest.raises(RuntimeError, match="generator failed"):
        build_dataset(cfg, False)
    assert list(syn.cache_root(cfg).iterdir()) == []


def test_stale_cache_entries_replaced(tmp_path):
    cfg = config(tmp_path)
    stem = syn.cache_stem(cfg, False)
    stale = syn.cache_root(cfg) / (stem.rsplit("_", 1)[0] + "_0123456789ab.data.npy")
    other_seed = syn.cache_root(cfg) / stem.replace("seed0", "seed5")
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"older generator")
    Path(f"{other_seed}.data.npy").write_bytes(b"another seed")
    build_dataset(cfg, False)
    assert not stale.exists() and Path(f"{other_seed}.data.npy").exists()
    assert (syn.cache_root(cfg) / f"{stem}.data.npy").exists()


def test_cache_names_cover_parameters(tmp_path):
    base = config(tmp_path)
    stems = {syn.cache_stem(base, True), syn.cache_stem(base, False),
             syn.cache_stem(config(tmp_path, synthetic_seed=3), True),
             syn.cache_stem(config(tmp_path, split="xview"), True),
             syn.cache_stem(config(tmp_path, synthetic_train=4 * C), True),
             syn.cache_stem(config(tmp_path, synthetic_style=0.5), True)}
    assert len(stems) == 6


def test_cache_names_follow_every_generator_file():
    """The code hash covers every module of the synthetic package and the shared centring,
    so editing any file the generator runs gives new cache names."""
    hashed = set(syn.source_files())
    package = [m for name, m in sys.modules.items() if name.startswith("cpstn_min.data.synthetic.")]
    assert {gen, sk, splits} <= set(package)
    for module in package + [common]:
        assert Path(module.__file__) in hashed, module.__name__


def test_cache_dir_from_environment(tmp_path, monkeypatch, xsub):
    monkeypatch.setenv("CPSTN_CACHE", str(tmp_path))
    ds = build_dataset(DataConfig(synthetic_val=2 * C), False)
    assert list((tmp_path / "synthetic").glob("xsub_val_*.data.npy"))
    assert np.array_equal(ds.data, xsub[2].data)


def test_unwritable_cache_still_gives_data(tmp_path, xsub):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = build_dataset(config(blocker), False)
    assert any("cannot cache" in str(w.message) for w in caught)
    assert np.array_equal(ds.data, xsub[2].data)


def test_clear_errors(tmp_path):
    with pytest.raises(DataError, match="split"):
        build_dataset(config(tmp_path, split="xset"), True)
    with pytest.raises(DataError, match="at least"):
        build_dataset(config(tmp_path, synthetic_train=C - 1), True)


def test_resample_spans_each_valid_clip():
    data = np.zeros((2, 3, 10, 25, 2), np.float32)
    data[:, 0] = np.arange(10, dtype=np.float32)[None, :, None, None]
    out = resample(data, np.array([10, 4]), 3)
    assert out.shape == (2, 3, 3, 25, 2)
    assert out[0, 0, :, 0, 0].tolist() == [0, 4, 9]      # first, middle (rounded), last valid frame
    assert out[1, 0, :, 0, 0].tolist() == [0, 2, 3]
