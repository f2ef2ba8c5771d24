"""Evaluation protocols: linear probe, kNN, label subsets, reports, checkpoint errors, end to end."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import eval as eval_cli
from cpstn_min import checkpoint
from cpstn_min.config import Config, DataConfig
from cpstn_min.encoder import build_encoder
from cpstn_min.evaluation import EvalError
from cpstn_min.evaluation.encoders import random_encoder
from cpstn_min.evaluation.knn import knn_scores, knn_scores_for
from cpstn_min.evaluation.linear import accuracy, probe_failed, train_linear_probe
from cpstn_min.evaluation.report import summarize
from cpstn_min.evaluation.semi import balanced_subset, load_or_make_subset, load_subset
from cpstn_min.pretrained import load_pretrained_encoder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def toy_clusters(n_per_class, num_classes=5, dim=16, seed=0, spread=0.6):
    """Gaussian clusters around fixed, well separated centres (the same centres for every seed)."""
    centres = torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(123)) * 2.0
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(num_classes).repeat_interleave(n_per_class)
    x = centres[y] + spread * torch.randn(len(y), dim, generator=g)
    return x.relu(), y          # non-negative like pooled ReLU features


# ---------------------------------------------------------------- linear probe

def test_linear_probe_learns_separable_features():
    train_x, train_y = toy_clusters(60, seed=0)
    test_x, test_y = toy_clusters(30, seed=1)
    r = train_linear_probe(train_x, train_y, test_x, test_y, num_classes=5, epochs=30,
                           milestones=(24,), progress=False)
    assert accuracy(r["test_logits"], test_y) >= 95.0
    assert r["curves"]["test_top1"][-1] == pytest.approx(accuracy(r["test_logits"], test_y))
    assert r["curves"]["lr"][0] == 3.0 and r["curves"]["lr"][-1] == pytest.approx(0.3)
    assert len(r["curves"]["epoch"]) == 30


def test_linear_probe_cannot_learn_shuffled_labels():
    """Sanity of the previous test: the same probe on labels unrelated to the features stays near chance."""
    train_x, train_y = toy_clusters(60, seed=0)
    test_x, test_y = toy_clusters(30, seed=1)
    g = torch.Generator().manual_seed(5)
    r = train_linear_probe(train_x, train_y[torch.randperm(len(train_y), generator=g)], test_x, test_y,
                           num_classes=5, epochs=30, milestones=(24,), progress=False)
    assert accuracy(r["test_logits"], test_y) < 50.0


def test_standardized_probe_uses_training_statistics():
    train_x, train_y = toy_clusters(60, seed=0)
    test_x, test_y = toy_clusters(30, seed=1)
    offset = lambda x: 40.0 + 0.05 * x          # noqa: E731  a large shared offset, tiny spread
    r = train_linear_probe(offset(train_x), train_y, offset(test_x), test_y, num_classes=5, epochs=30,
                           milestones=(24,), progress=False, standardize=True)
    torch.testing.assert_close(r["shift"], offset(train_x).mean(0))
    torch.testing.assert_close(r["scale"], offset(train_x).std(0))
    assert accuracy(r["test_logits"], test_y) >= 95.0


def test_probe_failure_is_detected_on_a_diverging_probe_only():
    """The recipe's lr 3.0 on features with a large shared offset oscillates (training loss above
    ln C, what predicting the class frequencies gives); standardized, the same data converges."""
    train_x, train_y = toy_clusters(60, seed=0)
    test_x, test_y = toy_clusters(30, seed=1)
    offset = lambda x: 40.0 + 0.05 * x          # noqa: E731
    kw = dict(num_classes=5, epochs=30, milestones=(24,), progress=False)
    bad = train_linear_probe(offset(train_x), train_y, offset(test_x), test_y, **kw)
    good = train_linear_probe(offset(train_x), train_y, offset(test_x), test_y, standardize=True, **kw)
    assert bad["curves"]["train_loss"][-1] > math.log(5) and probe_failed(bad["curves"], 5)
    assert not probe_failed(good["curves"], 5)
    assert not probe_failed({"train_loss": []}, 5)
    stuck = {"train_loss": [math.log(5) - 0.002]}      # a probe stuck at the class frequencies
    assert probe_failed(stuck, 5)


# ---------------------------------------------------------------- kNN

def knn_brute_force(train_x, train_y, test_x, num_classes, k, temperature):
    scores = np.zeros((len(test_x), num_classes))
    for i, q in enumerate(test_x.tolist()):
        sims = []
        for j, t in enumerate(train_x.tolist()):
            dot = sum(a * b for a, b in zip(q, t))
            sims.append((dot / (math.sqrt(sum(a * a for a in q)) * math.sqrt(sum(b * b for b in t))), j))
        for s, j in sorted(sims, reverse=True)[:k]:
            scores[i, int(train_y[j])] += math.exp(s / temperature)
    return scores


@pytest.mark.parametrize("k,temperature", [(1, 0.07), (5, 0.07), (7, 0.5), (100, 1.0)])
def test_knn_equals_brute_force(k, temperature):
    g = torch.Generator().manual_seed(k)
    train_x, test_x = torch.randn(40, 6, generator=g), torch.randn(13, 6, generator=g)
    train_y = torch.randint(0, 4, (40,), generator=g)
    got = knn_scores(train_x, train_y, test_x, 4, k=k, temperature=temperature, chunk=5)
    want = knn_brute_force(train_x, train_y, test_x, 4, min(k, 40), temperature)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4)


def test_knn_several_k_from_one_search_equal_brute_force():
    g = torch.Generator().manual_seed(11)
    train_x, test_x = torch.randn(30, 5, generator=g), torch.randn(9, 5, generator=g)
    train_y = torch.randint(0, 3, (30,), generator=g)
    got = knn_scores_for(train_x, train_y, test_x, 3, ks=[1, 4, 20], temperature=0.1, chunk=4)
    for k in (1, 4, 20):
        np.testing.assert_allclose(got[k].numpy(), knn_brute_force(train_x, train_y, test_x, 3, k, 0.1),
                                   rtol=1e-4)


def test_knn_rejects_bad_arguments():
    x, y = torch.randn(4, 3), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="temperature"):
        knn_scores(x, y, x, 2, k=2, temperature=0.0)


# ---------------------------------------------------------------- label subsets

def test_label_subsets_are_class_balanced_and_reproducible(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=2000)          # unequal class sizes
    for fraction in (0.01, 0.1):
        idx = balanced_subset(labels, 10, fraction, seed=3)
        counts = np.bincount(labels[idx], minlength=10)
        assert (counts == counts[0]).all() and counts[0] >= 1
        assert counts[0] == max(1, round(fraction * 2000 / 10))
        assert len(np.unique(idx)) == len(idx)
        np.testing.assert_array_equal(idx, balanced_subset(labels, 10, fraction, seed=3))
    assert not np.array_equal(balanced_subset(labels, 10, 0.1, 3), balanced_subset(labels, 10, 0.1, 4))
    # a tiny split still gets one label per class
    assert np.bincount(labels[balanced_subset(labels[:100], 10, 0.01, 0)], minlength=10).min() >= 1

    data_cfg = DataConfig()
    path = str(tmp_path / "subset.json")
    saved = load_or_make_subset(path, labels, 10, 0.01, 3, data_cfg, log=lambda *_: None)
    np.testing.assert_array_equal(load_subset(path, labels)[0], saved)
    assert json.load(open(path))["fraction"] == 0.01
    with pytest.raises(EvalError, match="another training split"):
        load_subset(path, labels[:1500])
    with pytest.raises(EvalError, match="label-fraction"):
        balanced_subset(labels, 10, 1.5, 0)


# ---------------------------------------------------------------- metrics

def test_summarize_counts_top1_top5_and_confusion():
    scores = torch.tensor([[9., 1, 2, 3, 4, 5, 0],     # true 0: top-1 hit
                           [9., 1, 2, 3, 4, 5, 0],     # true 1: top-1 miss, rank 6 -> top-5 miss
                           [0., 9, 8, 1, 1, 1, 0],     # true 2: predicted 1, rank 2 -> top-5 hit
                           [0., 0, 0, 9, 0, 0, 0]])    # true 3: hit
    labels = torch.tensor([0, 1, 2, 3])
    m = summarize(scores, labels, 7)
    assert m["top1"] == 50.0 and m["top5"] == 75.0
    assert m["confusion"][1][0] == 1 and m["confusion"][2][1] == 1 and m["confusion"][3][3] == 1
    assert m["per_class_top1"][:4] == [100.0, 0.0, 0.0, 100.0] and m["per_class_top1"][4] is None
    assert m["per_class_summary"]["mean"] == 50.0


# ---------------------------------------------------------------- checkpoints

def write_checkpoint(path, weights_cfg, claimed_cfg):
    """A checkpoint whose weights come from weights_cfg but whose saved config says claimed_cfg."""
    encoder = build_encoder(weights_cfg.model)
    model = {f"encoder_q.{k}": v for k, v in encoder.state_dict().items()}
    checkpoint.save({"config": claimed_cfg.to_dict(), "model": model}, str(path))


def test_checkpoint_of_other_model_configuration_is_one_clear_error(tmp_path, capsys):
    small = Config()
    small.model.hidden_channels = 8
    path = tmp_path / "checkpoint.pt"
    write_checkpoint(path, small, Config())
    rc = eval_cli.main(["--checkpoint", str(path), "--protocol", "linear", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1
    assert "different model configuration" in err and "hidden_channels=16" in err
    assert "blocks.0.gcn.weight" in err


def test_matching_checkpoint_loads_its_weights(tmp_path):
    cfg = Config()
    cfg.model.hidden_channels = 4
    path = tmp_path / "checkpoint.pt"
    write_checkpoint(path, cfg, cfg)
    encoder, loaded_cfg = load_pretrained_encoder(str(path))
    assert loaded_cfg.model.hidden_channels == 4
    saved = torch.load(path, weights_only=True)["model"]
    for k, v in encoder.state_dict().items():
        torch.testing.assert_close(v, saved[f"encoder_q.{k}"])
    a, b = random_encoder(cfg.model, 7), random_encoder(cfg.model, 7)
    torch.testing.assert_close(a.state_dict(), b.state_dict())


def test_missing_checkpoint_exits_2_with_one_line(tmp_path):
    missing = str(tmp_path / "nope" / "checkpoint.pt")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "eval.py"), "--checkpoint", missing,
                        "--protocol", "knn"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 2
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert lines[-1] == f"error: no checkpoint at {missing}"


# ---------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A one-epoch pretraining on a tiny synthetic split (train.main)."""
    import train
    d = tmp_path_factory.mktemp("eval_e2e")
    cfg = Config.from_dict({
        "data": {"synthetic_train": 32, "synthetic_val": 26, "cache_dir": str(d / "cache")},
        "augment": {"T_out": 8, "pretext_spatial": "freeze"},          # both pretext heads
        "model": {"hidden_channels": 4, "feature_dim": 8, "proj_dim": 8, "pretext_hidden": 8,
                  "queue_size": 16},
        "train": {"epochs": 1, "batch_size": 8, "out_dir": str(d / "run"), "log_every": 1}})
    return train.main(cfg, log=lambda *a, **k: None)


LAST_LINE = r"^{} top1=\d+\.\d\d top5=\d+\.\d\d$"


@pytest.mark.parametrize("protocol,extra", [("linear", []), ("knn", ["--k", "5"]),
                                            ("semi", ["--label-fraction", "0.1"]), ("finetune", [])])
def test_each_protocol_runs_and_writes_results(tiny_checkpoint, protocol, extra, capsys):
    import re
    run_dir = os.path.dirname(tiny_checkpoint)
    rc = eval_cli.main(["--checkpoint", tiny_checkpoint, "--protocol", protocol, "--epochs", "2",
                        "--quiet", *extra])
    captured = capsys.readouterr()
    out = captured.out.strip().splitlines()
    assert rc == 0
    assert re.match(LAST_LINE.format(protocol), out[-1]), out[-1]
    assert "batch/s" not in captured.err and "epoch/s" not in captured.err   # --quiet: no progress bars
    record = json.load(open(os.path.join(run_dir, f"eval_{protocol}.json")))
    assert record["protocol"] == protocol and record["num_test"] == 26 and record["num_classes"] == 26
    assert out[-1] == f"{protocol} top1={record['top1']:.2f} top5={record['top5']:.2f}"
    assert sum(map(sum, record["confusion"])) == 26
    assert os.path.isfile(record["plot"]) and os.path.getsize(record["plot"]) > 0
    assert any("top-1 accuracy" in line for line in out)
    if protocol == "linear":
        assert len(record["curves"]["epoch"]) == 2
        cached = os.listdir(os.path.join(run_dir, "feature_cache"))
        assert len(cached) == 2                     # train and test features, extracted once
        eval_cli.main(["--checkpoint", tiny_checkpoint, "--protocol", "linear", "--epochs", "2",
                       "--quiet"])
        assert "loaded from cache" in capsys.readouterr().out
        assert json.load(open(os.path.join(run_dir, "eval_linear.json")))["top1"] == record["top1"]
        assert record["settings"]["linear_probe"] == "standardized" and record["settings"]["linear_lr"] == 0.3
        # the pretraining run's pretext heads, one accuracy per epoch, drawn in the PNG too
        assert set(record["pretext_curves"]) == {"epoch", "spatial", "pace", "dir"}
        assert record["pretext_curves"]["epoch"] == [1] and 0 <= record["pretext_curves"]["pace"][0] <= 100
        # the recipe's probe has its own files: the default probe's results stay as they were
        eval_cli.main(["--checkpoint", tiny_checkpoint, "--protocol", "linear", "--epochs", "2",
                       "--quiet", "--probe", "recipe"])
        recipe = json.load(open(os.path.join(run_dir, "eval_linear_recipe.json")))
        assert not recipe["settings"]["linear_standardize"] and recipe["settings"]["linear_lr"] == 3.0
        assert os.path.isfile(recipe["plot"]) and recipe["plot"].endswith("eval_linear_recipe.png")
        assert json.load(open(os.path.join(run_dir, "eval_linear.json")))["top1"] == record["top1"]
    if protocol == "semi":
        subset = json.load(open(os.path.join(run_dir, "label_subset_synthetic_xsub_10pct_seed0.json")))
        assert record["settings"]["labelled_clips"] == len(subset["indices"]) < 32
        assert "0.1" in record["by_fraction"]


def test_random_init_baseline_writes_beside_the_checkpoint(tiny_checkpoint, capsys):
    rc = eval_cli.main(["--checkpoint", tiny_checkpoint, "--random-init", "--protocol", "knn", "--quiet"])
    assert rc == 0
    path = os.path.join(os.path.dirname(tiny_checkpoint), "random_init", "eval_knn.json")
    record = json.load(open(path))
    assert record["random_init"] and capsys.readouterr().out.strip().splitlines()[-1].startswith("knn top1=")


def test_protocols_run_on_a_prepared_ntu_layout(tiny_checkpoint, tmp_path, capsys):
    """A synthetic-pretrained encoder evaluated on NTU-60 data in the ST-GCN/AimCLR layout."""
    from ntu_fixtures import random_clips, write_stgcn
    train_x, _ = random_clips(20, T=40, seed=1)
    val_x, _ = random_clips(10, T=40, seed=2)
    write_stgcn(str(tmp_path / "ntu" / "xsub"), (train_x, np.arange(20) % 4), (val_x, np.arange(10) % 4))
    for protocol in ("linear", "finetune"):
        rc = eval_cli.main(["--checkpoint", tiny_checkpoint, "--protocol", protocol, "--dataset", "ntu60",
                            "--data-root", str(tmp_path / "ntu"), "--out-dir", str(tmp_path / "out"),
                            "--epochs", "1", "--quiet"])
        assert rc == 0
        record = json.load(open(tmp_path / "out" / f"eval_{protocol}.json"))
        assert record["data"]["dataset"] == "ntu60" and record["num_test"] == 10
        assert record["num_classes"] == 60
    capsys.readouterr()
    rc = eval_cli.main(["--checkpoint", tiny_checkpoint, "--dataset", "ntu60",
                        "--data-root", str(tmp_path / "missing"), "--quiet"])
    assert rc == 2 and "error:" in capsys.readouterr().err
