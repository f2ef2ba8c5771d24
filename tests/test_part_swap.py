"""The "swap" pretext task: a body part of each clip moves as that part of another clip."""
import math

import numpy as np
import pytest
import torch

from cpstn_min import augment
from cpstn_min.config import AugmentConfig
from cpstn_min.data.synthetic.generator import CLIP_SHAPE, NUM_CLASSES, generate
from cpstn_min.graph import LAYOUTS, body_parts, parent_joints
from cpstn_min.part_swap import swap_parts


def synthetic_views(n=16, frames=32):
    """n real-looking clips (the synthetic generator), cut to `frames` frames, float64."""
    out = np.zeros((NUM_CLASSES,) + CLIP_SHAPE, dtype=np.float32)   # one clip of every action
    meta = generate(0, "xsub", True, NUM_CLASSES, out)
    assert meta["valid_frames"].min() >= frames
    return torch.from_numpy(out[:n, :, :frames]).double()


def turned(x, yaw_deg, scale=1.0, shift=(0.3, -0.1, 0.5)):
    """x (N,3,T,V,M) rotated about the vertical axis, scaled and moved (zero joints stay zero)."""
    a = math.radians(yaw_deg)
    R = torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]], dtype=x.dtype)
    y = scale * torch.einsum("ij,njtvm->nitvm", R, x) + torch.tensor(shift, dtype=x.dtype).view(1, 3, 1, 1, 1)
    return y * (x.abs().sum(1, keepdim=True) > 0)


def bones(x, layout="ntu-rgb+d"):
    """(N,3,T,V,M) -> (N,T,V,M) length of the bone ending at each joint."""
    return (x - x[:, :, :, parent_joints(layout)]).norm(dim=1)


def test_only_the_labelled_part_changes():
    x = synthetic_views(12)
    V, parts = x.shape[3], body_parts(25)
    part = torch.arange(12) % (len(parts) + 1)
    out = swap_parts(x, part, (torch.arange(12) + 5) % 12)
    for n in range(12):
        k = int(part[n])
        changed = (out[n] - x[n]).abs().amax(dim=(0, 1, 3)) > 1e-9           # (V,)
        want = torch.zeros(V, dtype=torch.bool)
        if k:
            want[list(parts[k - 1][1])] = True
        assert torch.equal(changed, want), (n, k, changed.nonzero().flatten().tolist())


def test_a_turned_and_scaled_copy_of_the_same_clip_gives_the_clip_back():
    """Only the motion is carried over: the donor's camera yaw, position and size never show."""
    x = synthetic_views(6)
    donor_clips = turned(x, yaw_deg=70, scale=1.2)
    both = torch.cat([x, donor_clips])                                         # donor of n is n + 6
    for k in range(1, len(body_parts(25)) + 1):
        part = torch.tensor([k] * 6 + [0] * 6)
        out = swap_parts(both, part, torch.cat([torch.arange(6, 12), torch.arange(6)]))
        torch.testing.assert_close(out[:6], x, atol=1e-9, rtol=1e-9)


def test_the_receiver_keeps_its_bone_lengths():
    x = synthetic_views(16)
    part = torch.full((16,), 2)                                                # right arm
    out = swap_parts(x, part, (torch.arange(16) + 1) % 16)
    joints = [8, 9, 10, 11]          # shoulder, elbow, wrist, hand (tip and thumb bones are mostly jitter)
    before, after = bones(x)[..., joints, 0].mean(1), bones(out)[..., joints, 0].mean(1)
    torch.testing.assert_close(after, before, rtol=0.03, atol=1e-3)            # mean length per bone
    # the donor's arm did move differently: the wrist path is not the receiver's
    assert (out[:, :, :, 10] - x[:, :, :, 10]).norm(dim=1).mean() > 0.05


def test_absent_bodies_and_lost_frames_stay_zero():
    x = synthetic_views(8)
    x[:, :, :, :, 1] = 0                                                       # no second body
    x[0, :, 5:8] = 0                                                           # frames lost by the sensor
    x[3, :, 10:12] = 0                                                         # the donor of 2 loses frames
    part = torch.full((8,), 1)
    out = swap_parts(x, part, (torch.arange(8) + 1) % 8)
    assert (out[..., 1] == 0).all() and (out[0, :, 5:8] == 0).all()
    assert torch.isfinite(out).all()


def test_swap_labels_are_balanced_and_the_view_is_finite():
    x = synthetic_views(16).float().repeat(40, 1, 1, 1, 1)
    cfg = AugmentConfig(T_out=16, pretext_spatial="swap")
    views = augment.make_views(x, torch.full((640,), 32), torch.Generator().manual_seed(0), cfg,
                               contrastive=False)
    counts = np.bincount(views["spatial_label"].numpy(), minlength=6)
    assert len(counts) == 6 and (np.abs(counts - 640 / 6) < 40).all(), counts
    assert torch.isfinite(views["pretext"]).all()


def test_same_generator_same_swaps():
    x = synthetic_views(8).float()
    cfg = AugmentConfig(T_out=16, pretext_spatial="swap")
    a, b = (augment.make_views(x, torch.full((8,), 32), torch.Generator().manual_seed(3), cfg, contrastive=False)
            for _ in range(2))
    torch.testing.assert_close(a["pretext"], b["pretext"])


@pytest.mark.parametrize("layout", ["openpose", "coco17", "mediapipe33"])
def test_other_layouts_and_2d_clips(layout):
    V = LAYOUTS[layout][0]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, 12, V, 1, generator=g, dtype=torch.float64)
    x[:, 1] += torch.linspace(-1, 1, V, dtype=torch.float64).view(1, 1, V, 1)   # some height spread
    flat = x.clone()
    flat[:, 2] = 0                                                              # a 2D clip, zero z
    for clip in (x, flat):
        out = swap_parts(clip, torch.tensor([1, 2, 3, 4, 5, 0]), (torch.arange(6) + 1) % 6)
        assert torch.isfinite(out).all() and torch.equal(out[5], clip[5])
    assert (swap_parts(flat, torch.full((6,), 3), (torch.arange(6) + 1) % 6)[:, 2] == 0).all()


def test_unknown_spatial_task_is_named():
    with pytest.raises(ValueError, match="augment.pretext_spatial must be one of freeze, swap"):
        augment.make_views(torch.zeros(2, 3, 10, 25, 1), torch.full((2,), 10), torch.Generator(),
                           AugmentConfig(T_out=4, pretext_spatial="shuffle"), contrastive=False)
