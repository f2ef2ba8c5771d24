"""model.pace_pool "frames": the pace and direction heads read the pretext features over time."""
import pytest
import torch
import torch.nn.functional as F

from cpstn_min.config import Config
from cpstn_min.encoder import pool_map
from cpstn_min.model import CPSTN
from cpstn_min.pretext import FRAME_BINS, frame_pool
from test_model import CLASSES, tiny_cfg, views

pytestmark = pytest.mark.usefixtures("one_thread")
N, M, C, V = 3, 2, 5, 25


def test_frame_pool_keeps_when_a_feature_changed():
    """Features raised early or late in the view: the mean over time is the same, the frame pool
    shows in which span of time, averaged over the joints and the M bodies."""
    T = 2 * FRAME_BINS
    fmap = torch.rand(N * M, C, T, V, generator=torch.Generator().manual_seed(0))
    raised = []
    for step in (1, T - 2):
        f = fmap.clone()
        f[:, :, step] += 1.0
        raised.append(f)
    assert torch.allclose(pool_map(raised[0], N), pool_map(raised[1], N))
    early, late = (frame_pool(f, N).view(N, C, FRAME_BINS) for f in raised)
    expected = fmap.mean(3).view(N * M, C, FRAME_BINS, 2).mean(3).view(N, M, C, FRAME_BINS).mean(1)
    torch.testing.assert_close(early, expected + 0.5 * F.one_hot(torch.tensor(0), FRAME_BINS).float())
    torch.testing.assert_close(late, expected + 0.5 * F.one_hot(torch.tensor(FRAME_BINS - 1), FRAME_BINS).float())


def test_frame_pool_takes_any_number_of_time_steps():
    """The head's input size does not depend on the view length or the block it reads."""
    for T in (3, FRAME_BINS, 13, 40):
        assert frame_pool(torch.rand(N * M, C, T, V), N).shape == (N, C * FRAME_BINS)
    steady = torch.ones(N * M, C, 5, V)        # a map constant in time pools to that constant
    torch.testing.assert_close(frame_pool(steady, N), torch.ones(N, C * FRAME_BINS))


def test_pace_and_direction_heads_can_read_the_features_over_time():
    torch.manual_seed(0)
    classes = {**CLASSES, "dir": 2}
    model = CPSTN(tiny_cfg(pace_pool="frames", spatial_pool="joints"), queue_size=16, classes=classes)
    D = model.encoder_q.widths[model.pretext_block - 1]
    assert model.pretext.heads["pace"][0].in_features == D * FRAME_BINS
    assert model.pretext.heads["dir"][0].in_features == D * FRAME_BINS
    assert model.pretext.heads["spatial"][0].in_features == D * 25      # the spatial head is unchanged
    out = model(views(reverse=True))
    (out["pace"] + out["dir"]).backward()      # reaches the blocks the pretext view runs through
    assert all(p.grad is not None for p in model.encoder_q.blocks[:model.pretext_block].parameters())
    assert 0 <= out["acc_pace"] <= 1 and 0 <= out["acc_dir"] <= 1


def test_the_frames_pool_changes_what_the_pace_head_sees():
    """Same weights where the shapes agree, same views: the mean gives another pace loss than the
    spans of time (a guard against the field being read nowhere)."""
    torch.manual_seed(0)
    mean = CPSTN(tiny_cfg(pace_pool="mean"), queue_size=16, classes=CLASSES)
    assert mean.pretext.heads["pace"][0].in_features == mean.encoder_q.widths[mean.pretext_block - 1]
    torch.manual_seed(0)
    frames = CPSTN(tiny_cfg(pace_pool="frames"), queue_size=16, classes=CLASSES)
    assert not torch.equal(mean(views())["pace"], frames(views())["pace"])


def test_a_bad_pace_pool_is_refused_and_old_configs_read_the_mean():
    with pytest.raises(ValueError, match="pace_pool"):
        CPSTN(tiny_cfg(pace_pool="joints"), queue_size=16, classes=CLASSES)
    old = Config().to_dict()
    del old["model"]["pace_pool"]
    assert Config.from_dict(old).model.pace_pool == "mean"
