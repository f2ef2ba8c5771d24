"""The "mask" pretext task: a body part cut out of the view, its joints regressed from the feature map."""
import numpy as np
import pytest
import torch

from cpstn_min import augment
from cpstn_min.config import AugmentConfig, ModelConfig
from cpstn_min.graph import body_parts
from cpstn_min.masked_part import DECIMETRES, MaskedPartHead, mask_view
from cpstn_min.model import CPSTN
from cpstn_min.pretext import pretext_classes


def clips(N=8, T=24, V=25, M=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, 3, T, V, M, generator=g)
    if M > 1:
        x[1:, ..., 1] = 0                                                 # one body in all but the first
    return x


def test_mask_moves_the_part_onto_its_anchor_and_nothing_else():
    x = clips()
    part = torch.arange(8) % 5
    out = mask_view(x, part)
    for n in range(8):
        _, joints, anchor = body_parts(25)[int(part[n])]
        others = [j for j in range(25) if j not in joints]
        torch.testing.assert_close(out[n][:, :, others], x[n][:, :, others])
        torch.testing.assert_close(out[n][:, :, list(joints)], x[n][:, :, [anchor] * len(joints)])


class Oracle(torch.nn.Module):
    """Stands in for the decoder: returns a fixed prediction."""

    def __init__(self, pred):
        super().__init__()
        self.pred = pred

    def forward(self, _):
        return self.pred


def oracle_head(pred):
    head = MaskedPartHead(4)
    head.decode = Oracle(pred)
    return head


def relative_target(x, part, Tp):
    """What the head must predict, computed independently: each masked joint minus its anchor,
    averaged over T/Tp frames, in decimetres -> (N,M,3,Tp,V) (zero off the part)."""
    N, C, T, V, M = x.shape
    out = torch.zeros(N, M, 3, Tp, V)
    for n in range(N):
        _, joints, anchor = body_parts(V)[int(part[n])]
        for j in joints:
            d = (x[n, :, :, j] - x[n, :, :, anchor]).view(3, Tp, T // Tp, M).mean(2)   # (3,Tp,M)
            out[n, :, :, :, j] = DECIMETRES * d.permute(2, 0, 1)
    return out


def test_loss_is_zero_and_r2_one_for_a_perfect_decoder():
    x = clips(T=24)
    part = torch.arange(8) % 5
    views = {"mask_target": x, "mask_label": part}
    want = relative_target(x, part, 6)
    head = oracle_head(want.reshape(8 * 2, 3, 6, 25))
    loss, r2 = head(torch.zeros(16, 4, 6, 25), views)
    assert loss.item() == pytest.approx(0, abs=1e-10) and r2.item() == pytest.approx(1, abs=1e-6)
    noisy = want + torch.randn(want.shape, generator=torch.Generator().manual_seed(1))
    head = oracle_head(noisy.reshape(16, 3, 6, 25))
    loss, r2 = head(torch.zeros(16, 4, 6, 25), views)
    assert 0.5 < loss.item() < 2 and r2.item() < 1                        # unit noise: MSE about 1


def test_r2_is_zero_for_the_mean_and_absent_bodies_do_not_count():
    x = clips(N=10, T=24)
    part = torch.full((10,), 1)                                           # the right arm of every clip
    want = relative_target(x, part, 4)
    present = torch.zeros(10, 2, dtype=torch.bool)
    present[:, 0], present[0, 1] = True, True
    mean = want[present].mean(0)                                          # (3,4,V) over present bodies
    pred = torch.where(present[..., None, None, None], mean.expand_as(want), torch.full_like(want, 99.0))
    head = oracle_head(pred.reshape(20, 3, 4, 25))
    _, r2 = head(torch.zeros(20, 4, 4, 25), {"mask_target": x, "mask_label": part})
    assert r2.item() == pytest.approx(0, abs=1e-5)                        # the 99s sit on absent bodies


def test_views_carry_the_unmasked_target_and_balanced_parts():
    x = clips(N=500, T=40, M=1)
    L = torch.full((500,), 40)
    mask = augment.make_views(x, L, torch.Generator().manual_seed(2), AugmentConfig(T_out=16, pretext_spatial="mask"),
                              contrastive=False)
    plain = augment.make_views(x, L, torch.Generator().manual_seed(2), AugmentConfig(T_out=16, pretext_spatial="none"),
                               contrastive=False)
    torch.testing.assert_close(mask["mask_target"], plain["pretext"])
    torch.testing.assert_close(mask["pretext"], mask_view(plain["pretext"], mask["mask_label"]))
    counts = np.bincount(mask["mask_label"].numpy(), minlength=5)
    assert len(counts) == 5 and (np.abs(counts - 100) < 30).all(), counts
    assert pretext_classes(AugmentConfig(pretext_spatial="mask")) == {"pace": 4, "mask": 5, "dir": 2}
    assert pretext_classes(AugmentConfig(pretext_spatial="mask", pretext_reverse=False)) == {"pace": 4, "mask": 5}


def test_cpstn_with_the_mask_task_trains():
    torch.manual_seed(0)
    cfg = AugmentConfig(T_out=16, pretext_spatial="mask")
    model = CPSTN(ModelConfig(hidden_channels=4, feature_dim=16, queue_size=16, pretext_hidden=8), 16,
                  pretext_classes(cfg))
    x = clips(N=6, T=30)
    views = augment.make_views(x, torch.full((6,), 30), torch.Generator().manual_seed(0), cfg)
    out = model(views)
    assert {"nce", "pace", "mask", "acc_mask"} <= set(out)
    out["loss"].backward()
    decoder = model.pretext.heads["mask"].decode[0].weight
    assert decoder.grad is not None and decoder.grad.abs().sum() > 0
    assert model.encoder_q.blocks[0].gcn.weight.grad.abs().sum() > 0
