"""CPSTN model: one optimization step changes exactly what it should; branch switches; losses."""
import copy

import pytest
import torch
import torch.nn.functional as F

from cpstn_min.config import ModelConfig
from cpstn_min.encoder import pool_map
from cpstn_min.model import CPSTN
from cpstn_min.moco import MoCo
from cpstn_min.pretext import joint_pool

N, T, V, M = 4, 8, 25, 2
CLASSES = {"spatial": 6, "pace": 4}


# tiny tensors: see conftest.one_thread
pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_cfg(**kw) -> ModelConfig:
    return ModelConfig(**{"hidden_channels": 4, "feature_dim": 8, "proj_dim": 6, "pretext_hidden": 8,
                          "momentum": 0.9, **kw})


def views(seed=0, n=N, reverse=False):
    g = torch.Generator().manual_seed(seed)
    v = {name: torch.randn(n, 3, T, V, M, generator=g) for name in ("query", "key", "pretext")}
    v["spatial_label"] = torch.randint(0, 6, (n,), generator=g)
    v["pace_label"] = torch.randint(0, 4, (n,), generator=g)
    if reverse:
        v["dir_label"] = torch.randint(0, 2, (n,), generator=g)
    return v


def test_one_step_changes_only_what_it_should():
    torch.manual_seed(0)
    model = CPSTN(tiny_cfg(), queue_size=10, classes=CLASSES)
    model.moco.queue_ptr.fill_(8)  # the batch of 4 wraps around the end of the queue
    lr, wd, m = 0.1, 1e-4, model.cfg.momentum
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=0.9,
                          weight_decay=wd)
    key_net = model.moco.encoder_k
    q_before = [p.detach().clone() for p in model.query_params()]
    k_before = [p.detach().clone() for p in key_net.parameters()]
    heads_before = [p.detach().clone() for p in model.pretext.parameters()]
    queue_before = model.moco.queue.clone()
    # keys the step must enqueue: the hand-computed EMA key network applied to the key view
    expected_key_net = copy.deepcopy(key_net)
    with torch.no_grad():
        for pk, pq in zip(expected_key_net.parameters(), q_before):
            pk.copy_(m * pk + (1 - m) * pq)
    v = views()
    with torch.no_grad():
        expected_keys = F.normalize(expected_key_net(v["key"]), dim=1)

    out = model(v)
    opt.zero_grad()
    out["loss"].backward()
    opt.step()

    # key network: exactly the EMA rule, never the optimizer
    assert all(p.grad is None for p in key_net.parameters())
    for pk, pk0, pq0 in zip(key_net.parameters(), k_before, q_before):
        torch.testing.assert_close(pk, m * pk0 + (1 - m) * pq0)
    # its batch-norm statistics: those of one forward pass over the key view, like the copy's
    for (name, b), b_expected in zip(key_net.named_buffers(), expected_key_net.buffers()):
        torch.testing.assert_close(b, b_expected, msg=name)
    # queue: pointer advanced by the batch size modulo 10; rows 8,9,0,1 hold the normalized keys
    assert int(model.moco.queue_ptr) == (8 + N) % 10
    rows = [8, 9, 0, 1]
    torch.testing.assert_close(model.moco.queue[rows], expected_keys)
    torch.testing.assert_close(model.moco.queue[2:8], queue_before[2:8], rtol=0, atol=0)
    torch.testing.assert_close(model.moco.queue.norm(dim=1), torch.ones(10))
    # query network and heads: one SGD step (first step: momentum buffer = gradient)
    for p, p0 in zip(list(model.query_params()) + list(model.pretext.parameters()),
                     q_before + heads_before):
        torch.testing.assert_close(p, p0 - lr * (p.grad + wd * p0))
    assert any(not torch.equal(p, p0) for p, p0 in zip(model.query_params(), q_before))


def test_loss_is_weighted_sum_of_terms():
    torch.manual_seed(0)
    model = CPSTN(tiny_cfg(lambda_spatial=0.5, lambda_pace=2.0), queue_size=16, classes=CLASSES)
    out = model(views())
    assert set(out) == {"loss", "nce", "spatial", "pace", "acc_nce", "acc_spatial", "acc_pace"}
    torch.testing.assert_close(out["loss"], out["nce"] + 0.5 * out["spatial"] + 2.0 * out["pace"])
    assert all(torch.isfinite(v) for v in out.values())


def test_infonce_logits_match_direct_formula():
    torch.manual_seed(0)
    moco = MoCo(torch.nn.Linear(5, 3), dim=3, queue_size=7, temperature=0.2)
    q, k = F.normalize(torch.randn(4, 3), dim=1), F.normalize(torch.randn(4, 3), dim=1)
    logits = moco.logits(q, k)
    assert logits.shape == (4, 1 + 7)
    torch.testing.assert_close(logits[:, 0], (q * k).sum(1) / 0.2)
    torch.testing.assert_close(logits[:, 1:], q @ moco.queue.t() / 0.2)


def test_batch_larger_than_queue_keeps_last_keys():
    moco = MoCo(torch.nn.Linear(5, 3), dim=3, queue_size=4)
    moco.queue_ptr.fill_(3)
    keys = F.normalize(torch.randn(6, 3), dim=1)
    moco.enqueue(keys)
    # as if written one by one from row 3: the last 4 keys end in rows 1,2,3,0
    torch.testing.assert_close(moco.queue[[1, 2, 3, 0]], keys[2:])
    assert int(moco.queue_ptr) == (3 + 6) % 4


def test_no_pretext_is_the_contrastive_baseline():
    torch.manual_seed(0)
    model = CPSTN(tiny_cfg(pretext=False), queue_size=16, classes=CLASSES)
    assert not hasattr(model, "pretext")
    v = views()
    del v["pretext"], v["spatial_label"], v["pace_label"]
    out = model(v)
    assert set(out) == {"loss", "nce", "acc_nce"}
    torch.testing.assert_close(out["loss"], out["nce"])


def test_no_contrastive_is_pretext_only():
    torch.manual_seed(0)
    model = CPSTN(tiny_cfg(contrastive=False), queue_size=16, classes={**CLASSES, "dir": 2})
    assert not hasattr(model, "moco") and not hasattr(model, "projector")
    assert not any(k.startswith("moco.") for k in model.state_dict())
    v = views(reverse=True)
    del v["query"], v["key"]
    out = model(v)
    assert set(out) == {"loss", "spatial", "pace", "dir", "acc_spatial", "acc_pace", "acc_dir"}
    torch.testing.assert_close(out["loss"], out["spatial"] + out["pace"] + out["dir"])
    out["loss"].backward()
    assert all(p.grad is not None for p in model.encoder_q.parameters())


def test_both_branches_off_is_an_error():
    with pytest.raises(ValueError, match="at least one"):
        CPSTN(tiny_cfg(contrastive=False, pretext=False), queue_size=16)


def test_query_encoder_lives_under_encoder_q_prefix():
    """eval.py reads the pretrained encoder from the 'encoder_q.' entries of the state dict."""
    model = CPSTN(tiny_cfg(), queue_size=16, classes=CLASSES)
    state = model.state_dict()
    enc = {k[len("encoder_q."):]: v for k, v in state.items() if k.startswith("encoder_q.")}
    assert enc.keys() == model.encoder_q.state_dict().keys()
    assert {"moco.queue", "moco.queue_ptr"} <= state.keys()
    assert any(k.startswith("moco.encoder_k.") for k in state)


def test_pretext_heads_can_read_an_earlier_block():
    """pretext_block k: the pretext view runs through blocks 1..k only, so the last blocks
    learn from the contrastive loss alone."""
    torch.manual_seed(0)
    model = CPSTN(tiny_cfg(pretext_block=7, pace_pool="mean"), queue_size=16, classes=CLASSES)
    assert model.pretext.heads["pace"][0].in_features == model.encoder_q.widths[6]
    v = views()
    out = model({k: v[k] for k in ("pretext", "spatial_label", "pace_label")} | {"query": v["query"],
                                                                                   "key": v["key"]})
    (out["spatial"] + out["pace"]).backward()
    grads = [p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder_q.blocks[7:].parameters()]
    assert not any(grads)                      # blocks 8-10 get nothing from the pretext terms
    assert all(p.grad is not None for p in model.encoder_q.blocks[:7].parameters())
    with pytest.raises(ValueError, match="pretext_block"):
        CPSTN(tiny_cfg(pretext_block=11), queue_size=16, classes=CLASSES)


def test_spatial_head_can_read_one_vector_per_joint():
    """spatial_pool "joints": the spatial classifier reads the pretext features averaged over time
    (and bodies) only, so it sees which joint's features changed; a pace head on the mean stays so."""
    torch.manual_seed(0)
    model = CPSTN(tiny_cfg(spatial_pool="joints", pace_pool="mean"), queue_size=16, classes=CLASSES)
    C = model.encoder_q.feature_dim
    assert model.pretext.heads["spatial"][0].in_features == C * V
    assert model.pretext.heads["pace"][0].in_features == C
    out = model(views())
    out["spatial"].backward()   # reaches the blocks the pretext view runs through
    assert all(p.grad is not None for p in model.encoder_q.blocks[:model.pretext_block].parameters())
    with pytest.raises(ValueError, match="spatial_pool"):
        CPSTN(tiny_cfg(spatial_pool="max"), queue_size=16, classes=CLASSES)


def test_joint_pool_keeps_where_a_feature_changed():
    """Features raised at one joint: the mean over joints is the same for every joint, the
    per-joint pool shows which joint it was (averaged over time and the M bodies)."""
    fmap = torch.rand(N * M, 5, 3, V, generator=torch.Generator().manual_seed(0))
    raised = []
    for joint in (2, 17):
        f = fmap.clone()
        f[..., joint] += 1.0
        raised.append(f)
    assert torch.allclose(pool_map(raised[0], N), pool_map(raised[1], N))
    per_joint = [joint_pool(f, N).view(N, 5, V) for f in raised]
    torch.testing.assert_close(per_joint[0], fmap.mean(2).view(N, M, 5, V).mean(1) + F.one_hot(
        torch.tensor(2), V).float())
    assert (per_joint[1] - per_joint[0])[..., 17].min() > 0.99 and (per_joint[0] - per_joint[1])[..., 2].min() > 0.99


def test_uncertainty_weighting_learns_one_log_variance_per_task():
    torch.manual_seed(0)
    model = CPSTN(tiny_cfg(loss_weighting="uncertainty", lambda_spatial=0.5), queue_size=16, classes=CLASSES)
    assert set(model.log_vars) == set(CLASSES)
    with torch.no_grad():
        model.log_vars["pace"].fill_(1.0)
    out = model(views())
    expected = out["nce"] + 0.5 * out["spatial"] + (torch.exp(torch.tensor(-1.0)) * out["pace"] + 1.0)
    torch.testing.assert_close(out["loss"], expected)
    out["loss"].backward()
    assert model.log_vars["pace"].grad is not None and model.log_vars["spatial"].grad is not None
    with pytest.raises(ValueError, match="loss_weighting"):
        CPSTN(tiny_cfg(loss_weighting="learned"), queue_size=16, classes=CLASSES)


def test_configs_saved_before_the_pretext_redesign_still_load():
    from cpstn_min.config import Config
    old = Config().to_dict()
    old["model"]["lambda_rot"] = old["model"].pop("lambda_spatial") * 0.5
    for k in ("pretext_pace", "pretext_spatial", "pretext_strides", "pretext_frames"):
        del old["augment"][k]
    for k in ("pretext_shear", "pretext_rotate_deg"):
        del old["augment"][k]
    del old["model"]["spatial_pool"]
    cfg = Config.from_dict(old)
    assert cfg.model.lambda_spatial == 0.5
    assert (cfg.augment.pretext_pace, cfg.augment.pretext_spatial) == ("crop", "rotation")
    assert (cfg.augment.pretext_shear, cfg.augment.pretext_rotate_deg) == (0.0, 0.0)
    assert cfg.model.spatial_pool == "mean"
    assert "lambda_rot" in old["model"]                       # the caller's dict is left as it was
    del old["model"]["pretext_hidden"], old["model"]["pace_pool"]   # older still: neither field
    assert (Config.from_dict(old).model.spatial_pool, Config.from_dict(old).model.pace_pool) == ("mean", "mean")


def test_configs_saved_before_the_pretext_view_rotation_resume_unrotated():
    from cpstn_min.config import Config
    old = Config().to_dict()
    old["augment"]["pretext_shear"] = 0.25
    del old["augment"]["pretext_rotate_deg"]
    cfg = Config.from_dict(old)
    assert (cfg.augment.pretext_shear, cfg.augment.pretext_rotate_deg) == (0.25, 0.0)
    assert "pretext_rotate_deg" not in old["augment"]          # the caller's dict is left as it was
    assert Config.from_dict({"augment": {"T_out": 8}}).augment.pretext_rotate_deg == 30.0   # partial: defaults


def test_configs_saved_before_the_per_joint_spatial_head_resume_with_the_joint_mean():
    """A run saved before model.spatial_pool existed had its spatial head on the mean over joints."""
    from cpstn_min.config import Config
    old = Config().to_dict()
    old["augment"]["pretext_spatial"] = "freeze"
    del old["model"]["spatial_pool"]
    assert Config.from_dict(old).model.spatial_pool == "mean"
    assert "spatial_pool" not in old["model"]                  # the caller's dict is left as it was
    assert Config.from_dict({"model": {"hidden_channels": 8}}).model.spatial_pool == "joints"   # partial: defaults


def test_viewpoint_head_reads_the_pretext_and_query_maps_at_the_pretext_block():
    """The 'view' head reads both views' block-k features side by side; its loss trains the query
    encoder through the query pass too, and the query still gets its full-encoder features."""
    torch.manual_seed(0)
    classes = {**CLASSES, "view": 5}
    model = CPSTN(tiny_cfg(pretext_block=7, spatial_pool="joints"), queue_size=16, classes=classes)
    C7 = model.encoder_q.widths[6]
    assert model.pretext.heads["view"][0].in_features == 2 * C7 * V
    v = views()
    v["view_label"] = torch.randint(0, 5, (N,), generator=torch.Generator().manual_seed(1))
    v["query"].requires_grad_(True)
    out = model(v)
    assert {"view", "acc_view"} <= set(out)
    out["view"].backward()
    assert v["query"].grad.abs().sum() > 0                    # the query pass feeds the head
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.encoder_q.blocks[7:].parameters())
    with pytest.raises(ValueError, match="contrastive"):
        CPSTN(tiny_cfg(contrastive=False), queue_size=16, classes=classes)
    with pytest.raises(ValueError, match="query_map"):
        model.pretext(model.encoder_q.forward_map(v["pretext"], upto=7), v)


def test_viewpoint_task_keeps_the_contrastive_loss_as_it_was():
    """Splitting the query pass at the pretext block leaves its features, so the InfoNCE term
    is the one a model without the head computes."""
    torch.manual_seed(0)
    with_view = CPSTN(tiny_cfg(pretext_block=7), queue_size=16, classes={**CLASSES, "view": 5})
    plain = CPSTN(tiny_cfg(pretext_block=7), queue_size=16, classes=CLASSES)
    plain.load_state_dict({k: v for k, v in with_view.state_dict().items() if ".view." not in k})
    v = views()
    v["view_label"] = torch.zeros(N, dtype=torch.long)
    torch.testing.assert_close(with_view(v)["nce"], plain(v)["nce"])
