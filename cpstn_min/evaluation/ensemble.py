"""Several runs, one prediction: the 3s-AimCLR / 3s-CrosSCLR fusion of per-stream class scores.

    python eval.py --ensemble runs/joint runs/bone runs/motion --protocol linear [--weights 0.6 0.6 0.4]

Each member (a run folder or its checkpoint.pt) is evaluated on its own stream with the frozen
protocol, as a single run would be (its features are cached in its own folder), giving test
class scores (N,C). Scores are made comparable before fusing: linear-probe logits become
softmax probabilities; kNN votes (sums of exp(cos / temperature)) are divided by their sum,
so each row is the members' vote share per class. The fused score is the weighted mean
sum_i w_i p_i / sum_i w_i (weights default equal) and is summarized like one run: the same
table, eval_ensemble_<protocol>.json / .png / _classes.md and the fused scores (N,C) float32
eval_ensemble_<protocol>_scores.npy in ecfg.out_dir (default: the first member's parent folder,
/ensemble), and the caller's last line `<protocol> top1=.. top5=..`.
The members must be evaluated on the same test clips: same labels in the same order.
"""
import dataclasses
import os

import numpy as np
import torch

from ..atomic import atomic_write
from ..config import EvalConfig
from ..errors import EvalError
from ..folders import make_folder
from .linear import accuracy
from .protocols import FROZEN, run_frozen
from .report import summarize, write_outputs


def member_checkpoint(path: str) -> str:
    """A run folder or a checkpoint file -> the checkpoint path."""
    ckpt = os.path.join(path, "checkpoint.pt") if os.path.isdir(path) else path
    if not os.path.isfile(ckpt):
        raise EvalError(f"--ensemble: no checkpoint at {ckpt} (give run folders or their checkpoint.pt)")
    return ckpt


def ensemble_weights(ecfg: EvalConfig) -> list:
    """One non-negative weight per member, not all zero (default: equal)."""
    n = len(ecfg.ensemble)
    if n < 2:
        raise EvalError(f"--ensemble needs at least 2 runs, got {n}")
    if ecfg.protocol not in FROZEN:
        raise EvalError(f"--ensemble fuses frozen-feature protocols: --protocol linear or knn, "
                        f"not {ecfg.protocol}")
    if ecfg.checkpoint or ecfg.random_init or ecfg.stream:
        raise EvalError("--ensemble takes the runs and their own streams: drop --checkpoint / --random-init "
                        "/ --stream")
    weights = list(ecfg.ensemble_weights) or [1.0] * n
    if len(weights) != n:
        raise EvalError(f"--weights: {len(weights)} weights for {n} ensemble runs")
    if min(weights) < 0 or sum(weights) <= 0:
        raise EvalError(f"--weights must be >= 0 and not all 0, got {weights}")
    return weights


def probabilities(scores: torch.Tensor, protocol: str) -> torch.Tensor:
    """Class scores (N,C) -> rows summing to 1: softmax of logits (linear), vote shares (knn)."""
    if protocol == "linear":
        return scores.float().softmax(dim=1)
    return scores.float() / scores.float().sum(dim=1, keepdim=True).clamp(min=1e-30)


def evaluate_ensemble(ecfg: EvalConfig, log=print) -> dict:
    """Fuses the members' test class scores; returns the record written to eval_ensemble_<protocol>.json."""
    from .run import encoder_and_data, out_dir_of
    weights = ensemble_weights(ecfg)
    fused, labels, members, first = 0.0, None, [], None
    for path, w in zip(ecfg.ensemble, weights):
        m_ecfg = dataclasses.replace(ecfg, checkpoint=member_checkpoint(path), ensemble=(), ensemble_weights=(),
                                     out_dir=None)   # each member caches its features in its own folder
        encoder, cfg, source, data_cfg, train_set, test_set = encoder_and_data(m_ecfg, log)
        scores, m_labels, _, settings = run_frozen(m_ecfg, encoder, cfg.augment.T_out, data_cfg, train_set,
                                                   test_set, out_dir_of(m_ecfg), log)
        if labels is None:
            labels, first = m_labels, (data_cfg, train_set, test_set)
        elif m_labels.shape != labels.shape or not torch.equal(m_labels, labels):
            raise EvalError(f"--ensemble: {path} is evaluated on other test clips than {ecfg.ensemble[0]} "
                            f"(its data: {data_cfg.dataset} {data_cfg.split}); fuse runs of the same data")
        fused = fused + w * probabilities(scores, ecfg.protocol)
        members.append({"run": path, "checkpoint": m_ecfg.checkpoint, "stream": data_cfg.stream, "weight": w,
                        "top1": accuracy(scores, m_labels)})
        log(f"ensemble member {path}: {data_cfg.stream} stream, top-1 {members[-1]['top1']:.2f} %")
    fused = fused / sum(weights)
    data_cfg, train_set, test_set = first
    metrics = summarize(fused, labels, train_set.num_classes, train_set.class_names)
    out_dir = ecfg.out_dir or os.path.join(os.path.dirname(os.path.abspath(ecfg.ensemble[0])), "ensemble")
    make_folder(out_dir, "--out-dir")
    scores_path = os.path.join(out_dir, f"eval_ensemble_{ecfg.protocol}_scores.npy")
    with atomic_write(scores_path) as f:      # the fused (N_test,C) probabilities, for further fusion
        np.save(f, fused.numpy().astype(np.float32))
    record = {"protocol": ecfg.protocol, "ensemble": members, "seed": ecfg.seed, "scores": scores_path,
              "fusion": "softmax probabilities" if ecfg.protocol == "linear" else "normalized kNN votes",
              "data": dataclasses.asdict(data_cfg), "num_train": len(train_set), **metrics, "curves": {}}
    rows = [("protocol", f"{ecfg.protocol} ensemble of {len(members)} runs ({record['fusion']}, weighted mean)"),
            ("dataset", f"{data_cfg.dataset} {data_cfg.split}, {len(train_set)} train / {len(test_set)} test clips")]
    rows += [(f"{m['stream']} stream, weight {m['weight']:g}", f"{m['top1']:.2f} % top-1, {m['run']}") for m in members]
    return write_outputs(out_dir, f"ensemble_{ecfg.protocol}", "", f"{ecfg.protocol} ensemble: "
                         f"{data_cfg.dataset} {data_cfg.split}", record, rows, log)
