"""Bone and motion streams: the right pairs for every layout, the batched ops against loops, the
training step computing them after augmentation, and the --stream flag's errors."""
import json

import pytest
import torch

import eval as eval_cli
import train
from cpstn_min import augment, streams
from cpstn_min.config import Config
from cpstn_min.encoder import build_encoder
from cpstn_min.errors import UsageError
from cpstn_min.graph import LAYOUTS, parent_joints
from cpstn_min.training import loop, prepare

# the 25 (joint, parent) pairs of the NTU RGB+D bone stream (1-based), as the peers' bone code lists them
NTU_BONE_PAIRS = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
                  (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
                  (20, 19), (21, 21), (22, 23), (23, 8), (24, 25), (25, 12)]

pytestmark = pytest.mark.usefixtures("one_thread")


def test_ntu_parents_are_the_ntu_bone_pairs():
    p = parent_joints("ntu-rgb+d")
    assert [(v + 1, int(p[v]) + 1) for v in range(25)] == NTU_BONE_PAIRS


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_parents_form_a_tree_of_the_layout_edges_rooted_at_the_centre(layout):
    V, edges, centre = LAYOUTS[layout]
    p = parent_joints(layout)
    undirected = {frozenset(e) for e in edges}
    assert p[centre] == centre
    for v in range(V):
        if v != centre:
            assert frozenset((v, int(p[v]))) in undirected      # every bone is an edge of the graph
        seen, w = 0, v
        while w != centre:                                       # climbing parents reaches the centre
            w, seen = int(p[w]), seen + 1
            assert seen <= V


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_bone_is_joint_minus_parent_and_zero_at_the_centre(layout):
    V, _, centre = LAYOUTS[layout]
    x = torch.randn(3, 2, 5, V, 2, generator=torch.Generator().manual_seed(V))
    got = streams.to_stream(x, "bone", layout)
    p = parent_joints(layout)
    for v in range(V):
        torch.testing.assert_close(got[:, :, :, v], x[:, :, :, v] - x[:, :, :, p[v]])
    assert (got[:, :, :, centre] == 0).all()


def test_motion_is_the_frame_difference_zero_on_the_last_frame():
    x = torch.randn(2, 3, 6, 25, 2, generator=torch.Generator().manual_seed(1))
    got = streams.to_stream(x, "motion", "ntu-rgb+d")
    for t in range(5):
        torch.testing.assert_close(got[:, :, t], x[:, :, t + 1] - x[:, :, t])
    assert (got[:, :, 5] == 0).all()
    assert streams.to_stream(x, "joint", "ntu-rgb+d") is x


def test_views_to_stream_turns_clips_and_keeps_labels():
    x = torch.randn(4, 3, 30, 25, 2, generator=torch.Generator().manual_seed(2))
    views = augment.make_views(x, torch.full((4,), 30), torch.Generator().manual_seed(0), Config().augment)
    out = streams.views_to_stream(views, "bone", "ntu-rgb+d")
    for k, v in views.items():
        if v.dim() == 5:
            torch.testing.assert_close(out[k], streams.to_stream(v, "bone", "ntu-rgb+d"))
        else:
            assert out[k] is v


def test_stream_encoder_feeds_the_stream_to_the_encoder():
    encoder = build_encoder(Config().model).eval()
    x = torch.randn(2, 3, 8, 25, 2, generator=torch.Generator().manual_seed(3))
    wrapped = streams.with_stream(encoder, "motion", "ntu-rgb+d")
    with torch.no_grad():
        torch.testing.assert_close(wrapped(x), encoder(streams.to_stream(x, "motion", "ntu-rgb+d")))
    assert wrapped.feature_dim == encoder.feature_dim and wrapped.A is encoder.A
    assert streams.with_stream(encoder, "joint", "ntu-rgb+d") is encoder


def test_precomputed_stream_leaves_nothing_to_compute():
    assert streams.to_compute("bone", "joint") == "bone"
    assert streams.to_compute("bone", "bone") == "joint"
    with pytest.raises(UsageError, match="precomputed motion stream.*--stream motion"):
        streams.to_compute("joint", "motion")
    with pytest.raises(UsageError, match="--stream must be one of joint, bone, motion, got 'velocity'"):
        streams.check_stream("velocity")


def tiny_config(tmp_path, stream):
    return Config.from_dict({
        "data": {"synthetic_train": 32, "synthetic_val": 26, "cache_dir": str(tmp_path / "cache"), "stream": stream},
        "augment": {"T_out": 8},
        "model": {"hidden_channels": 4, "feature_dim": 8, "proj_dim": 8, "pretext_hidden": 8, "queue_size": 16},
        "train": {"epochs": 1, "batch_size": 4, "out_dir": str(tmp_path / "run"), "log_every": 1}})


def test_train_step_feeds_the_model_the_stream_of_the_augmented_views(tmp_path):
    """The model receives exactly motion(make_views(clips)) with the step's augmentation seed."""
    run = prepare(tiny_config(tmp_path, "motion"), log=lambda *a, **k: None)
    seen = []
    model = run.model
    run.model = lambda views, **kw: (seen.append(views), model(views, **kw))[1]
    clips, valid, _, _ = next(iter(run.loader))
    loop.train_step(run, clips, valid)
    g = torch.Generator().manual_seed(loop.augment_seed(run.cfg.train.seed, 0, 0))
    want = augment.make_views(clips, valid, g, run.cfg.augment)
    for name in ("query", "key", "pretext"):
        torch.testing.assert_close(seen[0][name], streams.to_stream(want[name], "motion", "ntu-rgb+d"))
        assert (seen[0][name][:, :, -1] == 0).all()                 # motion is zero on the last frame
    saved = json.load(open(tmp_path / "run" / "config.json"))
    assert saved["data"]["stream"] == "motion"


def test_bad_stream_flags_exit_2_with_one_line(tmp_path, capsys):
    rc = train.cli(["--stream", "velocity", "--out-dir", str(tmp_path / "r"), "--cache-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == ["error: --stream must be one of joint, bone, motion, got 'velocity'"]
    rc = eval_cli.main(["--random-init", "--stream", "bones", "--quiet", "--out-dir", str(tmp_path / "e")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == ["error: --stream must be one of joint, bone, motion, got 'bones'"]
