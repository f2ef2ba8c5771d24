"""model.shuffle_bn_groups: the contrastive views batch-normalized in groups of the batch, the keys'
groups cut from a random permutation (MoCo's shuffle BN on one process). 1 changes nothing."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cpstn_min.config import Config
from cpstn_min.config_checks import check_config
from cpstn_min.errors import UsageError
from cpstn_min.model import CPSTN
from cpstn_min.shuffle_bn import grouped_forward
from test_model import CLASSES, tiny_cfg, views

pytestmark = pytest.mark.usefixtures("one_thread")   # tiny tensors: see conftest.one_thread


def bn_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.ReLU(), nn.Linear(7, 3)).train()


def test_one_group_is_the_plain_forward():
    net, x = bn_net(), torch.randn(8, 5)
    assert torch.equal(grouped_forward(net, x, 1, shuffle=True), net(x))


def test_contiguous_groups_are_normalized_apart():
    net, x = bn_net(), torch.randn(8, 5)
    out = grouped_forward(net, x, 2, shuffle=False)
    torch.testing.assert_close(out, torch.cat([net(x[:4]), net(x[4:])]))
    assert not torch.allclose(out, net(x), atol=1e-3)      # the batch statistics did change


def test_shuffled_groups_come_from_the_permutation_and_return_in_order():
    net, x = bn_net(), torch.randn(12, 5)
    torch.manual_seed(7)
    out = grouped_forward(net, x, 3, shuffle=True)
    torch.manual_seed(7)
    order = torch.randperm(12)
    expected = torch.empty_like(out)
    for part in order.chunk(3):                              # each clip normalized with its group
        expected[part] = net(x[part])
    torch.testing.assert_close(out, expected)
    per_clip = nn.Linear(5, 3)                               # no batch norm: order alone must not matter
    torch.testing.assert_close(grouped_forward(per_clip, x, 3, shuffle=True), per_clip(x))


def test_a_batch_that_does_not_split_evenly_is_an_error():
    with pytest.raises(ValueError, match=r"batch of 10 clips does not split into model.shuffle_bn_groups=4"):
        grouped_forward(bn_net(), torch.randn(10, 5), 4, shuffle=True)


def tiny(groups):
    torch.manual_seed(0)
    return CPSTN(tiny_cfg(shuffle_bn_groups=groups), queue_size=16, classes=CLASSES)


def test_the_model_encodes_queries_in_groups_and_keys_in_shuffled_groups():
    model, v = tiny(2), views(n=8)
    key_net = copy.deepcopy(model.moco.encoder_k)            # the step's EMA with equal weights is a no-op
    with torch.no_grad():
        for pk, pq in zip(key_net.parameters(), model.query_params()):
            pk.mul_(0.9).add_(pq.detach(), alpha=0.1)
    rng = torch.get_rng_state()
    out = model(v)
    torch.set_rng_state(rng)
    order = torch.randperm(8)
    with torch.no_grad():
        keys = torch.empty(8, 6)
        for part in order.chunk(2):
            keys[part] = key_net(v["key"][part])
    torch.testing.assert_close(model.moco.queue[:8], F.normalize(keys, dim=1))
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and model.encoder_q.blocks[0].gcn.weight.grad.abs().sum() > 0
    plain = tiny(1)
    plain(v)
    assert not torch.allclose(plain.moco.queue[:8], model.moco.queue[:8], atol=1e-4)


def cfg_with(**model):
    return Config.from_dict({"model": model, "train": {"batch_size": 64}})


@pytest.mark.parametrize("model, message", [
    ({"shuffle_bn_groups": 0}, "model.shuffle_bn_groups must be >= 1, got 0"),
    ({"shuffle_bn_groups": 3}, "train.batch_size 64 does not split into model.shuffle_bn_groups=3 equal groups"),
])
def test_bad_groups_are_usage_errors(model, message):
    with pytest.raises(UsageError, match=message):
        check_config(cfg_with(**model))


def test_groups_with_the_relative_viewpoint_task_are_refused():
    cfg = cfg_with(shuffle_bn_groups=2)
    cfg.augment.pretext_viewpoint = True
    with pytest.raises(UsageError, match="shuffle_bn_groups > 1 is not implemented with augment.pretext_viewpoint"):
        check_config(cfg)


def test_configs_saved_before_the_field_read_one_group():
    saved = Config().to_dict()
    del saved["model"]["shuffle_bn_groups"]
    assert Config.from_dict(saved).model.shuffle_bn_groups == 1
