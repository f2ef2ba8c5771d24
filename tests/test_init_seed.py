"""train.init_seed (--init-seed): the initial weights of one seed with the data order and views of
another, so a study of seed-to-seed spread can tell what the initialisation does from what the
rest does. Unset, nothing changes."""
import pytest
import torch

from cpstn_min import training
from cpstn_min.config import Config

pytestmark = pytest.mark.usefixtures("one_thread")   # tiny tensors: see conftest.one_thread


def built(tmp_path, name, seed, init_seed=None):
    """(initial weights and buffers, first epoch's clip order, the step-0 view seed) of a tiny run."""
    cfg = Config.from_dict({
        "data": {"synthetic_train": 26, "synthetic_val": 26, "cache_dir": str(tmp_path / "cache")},
        "augment": {"T_out": 8},
        "model": {"hidden_channels": 4, "feature_dim": 8, "proj_dim": 8, "pretext_hidden": 8, "queue_size": 8},
        "train": {"epochs": 1, "batch_size": 4, "seed": seed, "init_seed": init_seed,
                  "out_dir": str(tmp_path / name)}})
    run = training.prepare(cfg, log=lambda *a, **k: None)
    try:
        state = {k: v.clone() for k, v in run.core.state_dict().items()}
        return state, list(run.sampler), run.cfg.train.seed
    finally:
        run.close()


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_init_seed_takes_the_weights_of_that_seed_and_keeps_the_data_order_of_seed(tmp_path):
    weights1, order1, _ = built(tmp_path, "seed1", seed=1)
    weights3, order3, _ = built(tmp_path, "seed3", seed=3)
    mixed, mixed_order, view_seed = built(tmp_path, "seed1_init3", seed=1, init_seed=3)
    assert not same(weights1, weights3) and order1 != order3   # the two seeds differ in both
    assert same(mixed, weights3)                               # encoder, heads, key encoder and queue
    assert mixed_order == order1 and view_seed == 1            # views are drawn from seed too


def test_init_seed_equal_to_seed_changes_nothing(tmp_path):
    plain, order, _ = built(tmp_path, "plain", seed=2)
    explicit, explicit_order, _ = built(tmp_path, "explicit", seed=2, init_seed=2)
    assert same(plain, explicit) and order == explicit_order
