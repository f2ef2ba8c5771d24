"""The protocol runners: what each protocol trains and scores, given the encoder and both splits.

Each runner returns (scores (N_test,C), labels (N_test,), curves, settings):
class scores to summarize, the curves to plot and the settings to report.
  frozen     linear, knn: pooled features of the frozen encoder, extracted once and cached
  finetune   semi (a class-balanced label subset), finetune (all labels): encoder + classifier trained
"""
import math
import os

from ..config import EvalConfig
from .features import dataset_features
from .finetune import finetune
from .knn import knn_scores_for
from .linear import accuracy, probe_failed, train_linear_probe
from .semi import load_or_make_subset, load_subset, subset_file

FROZEN = ("linear", "knn")
PROTOCOLS = FROZEN + ("semi", "finetune")
KNN_CURVE_KS = (1, 5, 10, 20, 50, 100, 200)


def run_frozen(ecfg: EvalConfig, encoder, T_out: int, data_cfg, train_set, test_set, out_dir: str, log):
    """linear / knn on pooled features of the frozen encoder, extracted once and cached."""
    C = train_set.num_classes
    cache = os.path.join(out_dir, "feature_cache") if ecfg.cache_features else None
    train_x, train_y = dataset_features(encoder, train_set, data_cfg, True, T_out, cache,
                                        ecfg.batch_size, ecfg.device, log, ecfg.progress)
    test_x, test_y = dataset_features(encoder, test_set, data_cfg, False, T_out, cache,
                                      ecfg.batch_size, ecfg.device, log, ecfg.progress)
    if ecfg.protocol == "linear":
        standardize = ecfg.linear_probe == "standardized"
        r = train_linear_probe(train_x, train_y, test_x, test_y, C, ecfg.linear_epochs, ecfg.probe_lr,
                               ecfg.linear_momentum, ecfg.linear_milestones, ecfg.linear_batch_size,
                               ecfg.seed, ecfg.progress, standardize)
        settings = {"linear_probe": ecfg.linear_probe, "linear_epochs": ecfg.linear_epochs, "linear_lr": ecfg.probe_lr,
                    "linear_momentum": ecfg.linear_momentum, "linear_milestones": ecfg.linear_milestones,
                    "linear_batch_size": ecfg.linear_batch_size,
                    "linear_standardize": standardize,
                    "weight_decay": 0.0, "features_cached": cache is not None}
        if probe_failed(r["curves"], C):
            log(f"warning: the linear probe's final training loss {r['curves']['train_loss'][-1]:.3f} is not "
                f"clearly below ln {C} = {math.log(C):.3f} (class frequencies alone): it did not converge or "
                f"found no linear signal; try --probe standardized or a lower --lr")
        return r["test_logits"], test_y, r["curves"], settings
    ks = sorted({k for k in KNN_CURVE_KS if k <= len(train_y)} | {ecfg.knn_k})
    scores = knn_scores_for(train_x, train_y, test_x, C, ks, ecfg.knn_temperature)
    curves = {"k": ks, "top1": [accuracy(scores[k], test_y) for k in ks]}   # top-1 against k
    settings = {"k": ecfg.knn_k, "temperature": ecfg.knn_temperature, "features_cached": cache is not None}
    return scores[ecfg.knn_k], test_y, curves, settings


def run_finetune(ecfg: EvalConfig, encoder, T_out: int, data_cfg, train_set, test_set, out_dir: str, log):
    """semi (class-balanced label subset) / finetune (all labels): encoder + classifier trained.
    semi with ecfg.label_subset sets ecfg.label_fraction to the saved subset's."""
    C = train_set.num_classes
    if ecfg.protocol == "semi":
        if ecfg.label_subset:
            indices, ecfg.label_fraction = load_subset(ecfg.label_subset, train_set.labels)
            log(f"label subset: {len(indices)} clips from {ecfg.label_subset}")
            tag = "semi_" + os.path.splitext(os.path.basename(ecfg.label_subset))[0]
        else:
            path = subset_file(out_dir, data_cfg, ecfg.label_fraction, ecfg.subset_seed)
            indices = load_or_make_subset(path, train_set.labels, C, ecfg.label_fraction,
                                          ecfg.subset_seed, data_cfg, log)
            tag = f"semi_{100 * ecfg.label_fraction:g}pct_seed{ecfg.subset_seed}"
    else:
        indices, tag = range(len(train_set)), "finetune"
    state = os.path.join(out_dir, f"{tag}_state.pt")     # per-epoch state for resume
    r = finetune(encoder, train_set, test_set, C, indices, ecfg, T_out, state, ecfg.resume,
                 ecfg.progress, log)
    settings = {"finetune_epochs": ecfg.finetune_epochs, "finetune_lr": ecfg.finetune_lr,
                "finetune_momentum": ecfg.finetune_momentum,
                "finetune_weight_decay": ecfg.finetune_weight_decay,
                "finetune_milestones": ecfg.finetune_milestones,
                "finetune_batch_size": ecfg.finetune_batch_size, "labelled_clips": len(indices)}
    if ecfg.protocol == "semi":
        settings.update(label_fraction=ecfg.label_fraction, subset_seed=ecfg.subset_seed)
    return r["test_logits"], r["test_labels"], r["curves"], settings
