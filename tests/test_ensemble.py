"""eval.py --ensemble: per-stream class scores fused (softmax probabilities / normalized kNN votes),
the same table and last line as one run, and one-line errors for bad flags."""
import json
import os
import re

import numpy as np
import pytest
import torch

import eval as eval_cli
from cpstn_min import checkpoint
from cpstn_min.config import PROBE_LR, Config, decay_at_80pct
from cpstn_min.data import build_dataset
from cpstn_min.evaluation.encoders import random_encoder
from cpstn_min.evaluation.ensemble import probabilities
from cpstn_min.evaluation.features import extract_features
from cpstn_min.evaluation.linear import train_linear_probe
from cpstn_min.evaluation.report import summarize
from cpstn_min.streams import with_stream

pytestmark = pytest.mark.usefixtures("one_thread")
STREAMS = ("joint", "bone", "motion")


def write_run(folder, stream, cache, seed, synthetic_val=26):
    """A run folder whose checkpoint holds a (random, seeded) encoder that learnt `stream`."""
    cfg = Config.from_dict({"data": {"synthetic_train": 32, "synthetic_val": synthetic_val, "cache_dir": cache,
                                     "stream": stream},
                            "augment": {"T_out": 8}, "model": {"hidden_channels": 4, "feature_dim": 8}})
    encoder = random_encoder(cfg.model, seed)
    os.makedirs(folder, exist_ok=True)
    checkpoint.save({"config": cfg.to_dict(), "model": {f"encoder_q.{k}": v for k, v in encoder.state_dict().items()}},
                    os.path.join(folder, "checkpoint.pt"))
    return cfg, encoder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("ens")
    return d, {s: (str(d / s), *write_run(d / s, s, str(d / "cache"), seed)) for seed, s in enumerate(STREAMS)}


def probe_probabilities(cfg, encoder, epochs=3):
    """The member's linear-probe softmax probabilities, computed here from its features (the
    default standardized probe as eval.py --epochs 3 runs it). Random-init features are nearly collinear, so kNN
    neighbours tie; the probe's output does not depend on tie order."""
    train_set, test_set = build_dataset(cfg.data, True), build_dataset(cfg.data, False)
    model = with_stream(encoder, cfg.data.stream, cfg.model.layout)
    tx, ty = extract_features(model, train_set, 8, progress=False)
    qx, qy = extract_features(model, test_set, 8, progress=False)
    r = train_linear_probe(tx, ty, qx, qy, 26, epochs=epochs, lr=PROBE_LR["standardized"], standardize=True,
                           milestones=decay_at_80pct(epochs), progress=False)
    return r["test_logits"].softmax(1), qy, test_set


def test_probabilities_rows_sum_to_one():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(probabilities(logits, "linear"), logits.softmax(1))
    votes = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 2.0]])
    torch.testing.assert_close(probabilities(votes, "knn"), torch.tensor([[0.75, 0.25, 0.0], [0.0, 0.5, 0.5]]))


def test_linear_ensemble_is_the_weighted_mean_of_probabilities(runs, capsys):
    d, members = runs
    weights = (0.6, 0.6, 0.4)
    rc = eval_cli.main(["--ensemble", *(members[s][0] for s in STREAMS), "--protocol", "linear", "--epochs", "3",
                        "--weights", *map(str, weights), "--quiet"])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    record = json.load(open(d / "ensemble" / "eval_ensemble_linear.json"))
    assert re.match(r"^linear top1=\d+\.\d\d top5=\d+\.\d\d$", out[-1])
    assert out[-1] == f"linear top1={record['top1']:.2f} top5={record['top5']:.2f}"
    assert any("top-1 accuracy" in line for line in out) and any("bone stream, weight 0.6" in line for line in out)
    fused = 0
    for s, w in zip(STREAMS, weights):
        p, labels, test_set = probe_probabilities(members[s][1], members[s][2])
        fused = fused + w * p
    fused = fused / sum(weights)
    np.testing.assert_allclose(np.load(record["scores"]), fused.numpy(), rtol=1e-5, atol=1e-6)
    want = summarize(fused, labels, 26, test_set.class_names)
    assert record["confusion"] == want["confusion"] and record["top5"] == pytest.approx(want["top5"])
    assert [m["stream"] for m in record["ensemble"]] == list(STREAMS)
    assert record["fusion"] == "softmax probabilities" and os.path.isfile(record["plot"])


def test_one_member_with_all_the_weight_is_that_member(runs, capsys):
    d, members = runs
    runs_ = [members[s][0] for s in STREAMS]
    assert eval_cli.main(["--checkpoint", os.path.join(runs_[1], "checkpoint.pt"), "--protocol", "knn",
                          "--k", "5", "--quiet"]) == 0
    alone = json.load(open(os.path.join(runs_[1], "eval_knn.json")))
    assert eval_cli.main(["--ensemble", *runs_, "--protocol", "knn", "--k", "5", "--weights", "0", "1", "0",
                          "--out-dir", str(d / "only_bone"), "--quiet"]) == 0
    fused = json.load(open(d / "only_bone" / "eval_ensemble_knn.json"))
    assert fused["confusion"] == alone["confusion"] and fused["top1"] == alone["top1"]
    assert fused["fusion"] == "normalized kNN votes"
    capsys.readouterr()


@pytest.mark.parametrize("flags,message", [
    (["--weights", "1", "2"], "--weights: 2 weights for 3 ensemble runs"),
    (["--weights", "1", "x", "2"], "--weights must be numbers, got 1 x 2"),
    (["--weights", "1", "-1", "2"], "--weights must be >= 0 and not all 0, got [1.0, -1.0, 2.0]"),
    (["--protocol", "semi"], "--ensemble fuses frozen-feature protocols: --protocol linear or knn, not semi"),
    (["--stream", "bone"], "--ensemble takes the runs and their own streams: drop --checkpoint / --random-init "
                           "/ --stream"),
])
def test_bad_ensemble_flags_exit_2_with_one_line(runs, capsys, flags, message):
    _, members = runs
    rc = eval_cli.main(["--ensemble", *(members[s][0] for s in STREAMS), "--quiet", *flags])
    assert rc == 2 and capsys.readouterr().err.strip().splitlines() == [f"error: {message}"]


def test_ensemble_errors_name_the_run(runs, tmp_path, capsys):
    d, members = runs
    assert eval_cli.main(["--ensemble", members["joint"][0], "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == "error: --ensemble needs at least 2 runs, got 1"
    assert eval_cli.main(["--ensemble", members["joint"][0], str(tmp_path / "none"), "--quiet"]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    assert eval_cli.main(["--weights", "1", "--checkpoint", "x", "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == "error: --weights goes with --ensemble"
    write_run(tmp_path / "other", "bone", str(d / "cache"), 5, synthetic_val=30)   # other test clips
    rc = eval_cli.main(["--ensemble", members["joint"][0], str(tmp_path / "other"), "--protocol", "knn", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "is evaluated on other test clips than" in err[0]
