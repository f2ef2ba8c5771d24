"""Evaluate a pretrained encoder with the SkeletonCLR/AimCLR protocols.

    python eval.py --checkpoint RUN/checkpoint.pt --protocol linear      # frozen encoder + linear probe
    python eval.py --checkpoint RUN/checkpoint.pt --protocol knn         # cosine kNN, k=20
    python eval.py --checkpoint RUN/checkpoint.pt --protocol semi --label-fraction 0.01
    python eval.py --checkpoint RUN/checkpoint.pt --protocol finetune
    python eval.py --random-init --protocol linear                       # random-init encoder baseline
    python eval.py --ablation [...]                                      # benchmarks/ablation.py

The dataset defaults to the one the checkpoint was pretrained on (--dataset /
--data-root / --split override it). Clips are resized to the pretraining T_out
frames, without augmentation. linear and knn run the frozen encoder once over
both splits and cache the pooled features (RUN/feature_cache/), so reruns and
the probe's 100 epochs do not touch the encoder again. Results: a table,
RUN/eval_<protocol>.json, RUN/eval_<protocol>.png (curves + confusion matrix;
eval_linear_standardized.* with --standardize), and as the last line
`<protocol> top1=XX.XX top5=YY.YY`. semi saves its label
subset (RUN/label_subset_*.json, reused by later runs), draws
RUN/eval_semi_<pct>pct.png and keeps every fraction's numbers in eval_semi.json
("by_fraction"). semi / finetune save their state every epoch (--resume).
--random-init results go to RUN/random_init/. Bad checkpoints or data give one
error line and exit code 2.
"""
import argparse
import dataclasses
import json
import math
import os
import sys

import torch

from cpstn_min import ops
from cpstn_min.checkpoint import CheckpointError, load
from cpstn_min.config import Config, EvalConfig
from cpstn_min.data import DataError, build_dataset
from cpstn_min.evaluation import EvalError
from cpstn_min.evaluation.encoders import (check_dataset_fits, config_of_checkpoint,
                                           load_pretrained_encoder, random_encoder)
from cpstn_min.evaluation.features import dataset_features
from cpstn_min.evaluation.finetune import finetune
from cpstn_min.evaluation.knn import knn_scores_for
from cpstn_min.evaluation.linear import accuracy, probe_failed, train_linear_probe
from cpstn_min.evaluation.report import format_table, plot, summarize, write_json
from cpstn_min.evaluation.semi import load_or_make_subset, load_subset, subset_file

PROTOCOLS = ("linear", "knn", "semi", "finetune")
KNN_CURVE_KS = (1, 5, 10, 20, 50, 100, 200)


def build_parser() -> argparse.ArgumentParser:
    d = EvalConfig()
    p = argparse.ArgumentParser(description="Evaluate a pretrained cpstn encoder (linear probe, kNN, "
                                            "semi-supervised, finetune).")
    p.add_argument("--checkpoint", help="RUN/checkpoint.pt written by train.py")
    p.add_argument("--protocol", choices=PROTOCOLS, default=d.protocol, help=f"default: {d.protocol}")
    p.add_argument("--random-init", action="store_true",
                   help="evaluate a randomly initialised encoder (the checkpoint's model config, "
                        "or the default one without --checkpoint)")
    p.add_argument("--label-fraction", type=float, default=d.label_fraction,
                   help=f"semi: fraction of training labels kept, class-balanced "
                        f"(0.01 or 0.1; default {d.label_fraction})")
    p.add_argument("--label-subset", help="semi: a saved label-subset JSON to use instead of drawing one")
    p.add_argument("--subset-seed", type=int, default=d.subset_seed, help=f"semi: seed of the label subset (default {d.subset_seed})")
    p.add_argument("--dataset", help="synthetic | ntu60 | ntu120 (default: the checkpoint's)")
    p.add_argument("--data-root", help="data folder (default: the checkpoint's, if the dataset is the same)")
    p.add_argument("--data-format", help="auto | prepared | stgcn | ctrgcn | pyskl")
    p.add_argument("--split", help="xsub | xview | xset (default: the checkpoint's)")
    p.add_argument("--out-dir", help="where results go (default: the checkpoint's folder; "
                                     "CHECKPOINT_DIR/random_init with --random-init)")
    p.add_argument("--epochs", type=int, help=f"linear ({d.linear_epochs}) / semi and finetune "
                                              f"({d.finetune_epochs}) epochs; lr decays at 80%%")
    p.add_argument("--lr", type=float, help=f"linear ({d.linear_lr}) / finetune ({d.finetune_lr}) lr")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"extraction / test batch size (default {d.batch_size})")
    p.add_argument("--standardize", action="store_true",
                   help="linear: standardize each feature dimension over the training set before the "
                        "probe (not part of the SkeletonCLR/AimCLR recipe; off by default)")
    p.add_argument("--k", type=int, default=d.knn_k, help=f"knn: neighbours (default {d.knn_k})")
    p.add_argument("--temperature", type=float, default=d.knn_temperature,
                   help=f"knn: votes weigh exp(cosine / temperature) (default {d.knn_temperature})")
    p.add_argument("--seed", type=int, default=d.seed,
                   help=f"classifier init, batch order, random-init weights (default {d.seed})")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="default: cuda when available, else cpu")
    p.add_argument("--no-cache", action="store_true", help="linear/knn: re-extract features")
    p.add_argument("--resume", action="store_true", help="semi/finetune: continue an interrupted run")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--ablation", action="store_true",
                   help="run the synthetic-benchmark ablation instead (benchmarks/ablation.py; "
                        "see `python benchmarks/ablation.py --help` for its flags)")
    return p


def eval_config(args) -> EvalConfig:
    e = EvalConfig(protocol=args.protocol, label_fraction=args.label_fraction,
                   subset_seed=args.subset_seed, seed=args.seed, device=args.device,
                   batch_size=args.batch_size, cache_features=not args.no_cache,
                   knn_k=args.k, knn_temperature=args.temperature,
                   linear_standardize=args.standardize)
    decay = lambda epochs: (max(1, int(round(0.8 * epochs))),)   # noqa: E731  (x0.1 at 80 of 100)
    if args.epochs is not None:
        e.linear_epochs = e.finetune_epochs = args.epochs
        e.linear_milestones = e.finetune_milestones = decay(args.epochs)
    if args.lr is not None:
        e.linear_lr = e.finetune_lr = args.lr
    return e


def load_encoder(args):
    """-> (encoder, Config of the pretraining run, description)."""
    if args.checkpoint is None and not args.random_init:
        raise EvalError("give --checkpoint RUN/checkpoint.pt (or --random-init for a random encoder)")
    if args.random_init:
        cfg = config_of_checkpoint(load(args.checkpoint), args.checkpoint) if args.checkpoint else Config()
        return random_encoder(cfg.model, args.seed), cfg, f"random init (seed {args.seed})"
    encoder, cfg = load_pretrained_encoder(args.checkpoint)
    return encoder, cfg, args.checkpoint


def data_config(args, cfg: Config):
    data = dataclasses.replace(cfg.data)
    if args.dataset and args.dataset != data.dataset:
        data.dataset, data.data_root = args.dataset, None
    for name in ("data_root", "data_format", "split"):
        if getattr(args, name) is not None:
            setattr(data, name, getattr(args, name))
    return data


def out_dir_of(args) -> str:
    if args.out_dir:
        return args.out_dir
    if args.checkpoint:
        base = os.path.dirname(os.path.abspath(args.checkpoint))
        return os.path.join(base, "random_init") if args.random_init else base
    return os.path.join("runs", "random_init")


def run_frozen(ecfg, encoder, cfg, data_cfg, train_set, test_set, out_dir, progress, log):
    """linear / knn on pooled features of the frozen encoder, extracted once and cached."""
    T_out, C = cfg.augment.T_out, train_set.num_classes
    cache = os.path.join(out_dir, "feature_cache") if ecfg.cache_features else None
    train_x, train_y = dataset_features(encoder, train_set, data_cfg, True, T_out, cache,
                                        ecfg.batch_size, ecfg.device, log, progress)
    test_x, test_y = dataset_features(encoder, test_set, data_cfg, False, T_out, cache,
                                      ecfg.batch_size, ecfg.device, log, progress)
    if ecfg.protocol == "linear":
        r = train_linear_probe(train_x, train_y, test_x, test_y, C, ecfg.linear_epochs, ecfg.linear_lr,
                               ecfg.linear_momentum, ecfg.linear_milestones, ecfg.linear_batch_size,
                               ecfg.seed, progress, ecfg.linear_standardize)
        settings = {k: getattr(ecfg, k) for k in ("linear_epochs", "linear_lr", "linear_momentum",
                                                  "linear_milestones", "linear_batch_size",
                                                  "linear_standardize")}
        settings.update(weight_decay=0.0, features_cached=cache is not None)
        if probe_failed(r["curves"], C):
            log(f"warning: the linear probe's final training loss {r['curves']['train_loss'][-1]:.3f} is not "
                f"clearly below ln {C} = {math.log(C):.3f} (class frequencies alone): it did not converge or "
                f"found no linear signal; try --standardize or a lower --lr")
        return r["test_logits"], test_y, r["curves"], settings
    ks = sorted({k for k in KNN_CURVE_KS if k <= len(train_y)} | {ecfg.knn_k})
    scores = knn_scores_for(train_x, train_y, test_x, C, ks, ecfg.knn_temperature)
    curves = {"k": ks, "top1": [accuracy(scores[k], test_y) for k in ks]}   # top-1 against k
    settings = {"k": ecfg.knn_k, "temperature": ecfg.knn_temperature, "features_cached": cache is not None}
    return scores[ecfg.knn_k], test_y, curves, settings


def run_finetune(ecfg, encoder, cfg, data_cfg, train_set, test_set, out_dir, args, log):
    """semi (class-balanced label subset) / finetune (all labels): encoder + classifier trained."""
    C = train_set.num_classes
    if ecfg.protocol == "semi":
        if args.label_subset:
            indices, ecfg.label_fraction = load_subset(args.label_subset, train_set.labels)
            log(f"label subset: {len(indices)} clips from {args.label_subset}")
            tag = "semi_" + os.path.splitext(os.path.basename(args.label_subset))[0]
        else:
            path = subset_file(out_dir, data_cfg, ecfg.label_fraction, ecfg.subset_seed)
            indices = load_or_make_subset(path, train_set.labels, C, ecfg.label_fraction,
                                          ecfg.subset_seed, data_cfg, log)
            tag = f"semi_{100 * ecfg.label_fraction:g}pct_seed{ecfg.subset_seed}"
    else:
        indices, tag = range(len(train_set)), "finetune"
    state = os.path.join(out_dir, f"{tag}_state.pt")     # per-epoch state for --resume
    r = finetune(encoder, train_set, test_set, C, indices, ecfg, cfg.augment.T_out, state, args.resume,
                 not args.quiet, log)
    settings = {k: getattr(ecfg, k) for k in ("finetune_epochs", "finetune_lr", "finetune_momentum",
                                              "finetune_weight_decay", "finetune_milestones",
                                              "finetune_batch_size")}
    settings["labelled_clips"] = len(indices)
    if ecfg.protocol == "semi":
        settings.update(label_fraction=ecfg.label_fraction, subset_seed=ecfg.subset_seed)
    return r["test_logits"], r["test_labels"], r["curves"], settings


def evaluate(args, log=print) -> dict:
    """Runs one protocol end to end; returns the record written to eval_<protocol>.json."""
    ecfg = eval_config(args)
    encoder, cfg, source = load_encoder(args)
    data_cfg = data_config(args, cfg)
    train_set, test_set = build_dataset(data_cfg, True), build_dataset(data_cfg, False)
    check_dataset_fits(encoder, cfg.model, train_set)
    out_dir = out_dir_of(args)
    os.makedirs(out_dir, exist_ok=True)
    log(f"{ecfg.protocol}: {source} on {data_cfg.dataset} {data_cfg.split} "
        f"({len(train_set)} train / {len(test_set)} test clips, {train_set.num_classes} classes), "
        f"device {ecfg.device}, ops backend {ops.backend(ecfg.device)}")

    if ecfg.protocol in ("linear", "knn"):
        scores, labels, curves, settings = run_frozen(ecfg, encoder, cfg, data_cfg, train_set, test_set,
                                                      out_dir, not args.quiet, log)
    else:
        scores, labels, curves, settings = run_finetune(ecfg, encoder, cfg, data_cfg, train_set, test_set,
                                                        out_dir, args, log)
    metrics = summarize(scores, labels, train_set.num_classes)
    suffix = f"_{100 * ecfg.label_fraction:g}pct" if ecfg.protocol == "semi" else ""
    name = result_name(ecfg)
    json_path = os.path.join(out_dir, f"eval_{name}.json")
    png_path = os.path.join(out_dir, f"eval_{name}{suffix}.png")
    record = {"protocol": ecfg.protocol, "checkpoint": args.checkpoint, "random_init": args.random_init,
              "seed": ecfg.seed, "data": dataclasses.asdict(data_cfg), "T_out": cfg.augment.T_out,
              "num_train": len(train_set), "settings": settings, **metrics, "curves": curves,
              "plot": png_path}
    if ecfg.protocol == "semi":   # 1% and 10% runs share the file: keep each fraction's numbers
        record["by_fraction"] = previous_fractions(json_path)
        record["by_fraction"][f"{ecfg.label_fraction:g}"] = {"top1": metrics["top1"], "top5": metrics["top5"]}
    write_json(json_path, record)
    title = f"{ecfg.protocol}{suffix.replace('_', ' ')}: {data_cfg.dataset} {data_cfg.split}"
    plot(png_path, title, curves, metrics["confusion"])
    rows = [("protocol", ecfg.protocol + (" (frozen encoder, cached features)"
                                          if ecfg.protocol in ("linear", "knn") else "")),
            ("encoder", source),
            ("dataset", f"{data_cfg.dataset} {data_cfg.split}, {len(train_set)} train / "
                        f"{len(test_set)} test clips")]
    rows += [(k.replace("_", " "), str(v)) for k, v in settings.items()]
    log(format_table(rows, metrics))
    log(f"wrote {json_path} and {png_path}")
    return record


def result_name(ecfg) -> str:
    """File stem after eval_: the protocol, with _standardized for a standardized linear probe
    so it never overwrites the recipe's eval_linear.json."""
    return ecfg.protocol + ("_standardized" if ecfg.protocol == "linear" and ecfg.linear_standardize else "")


def previous_fractions(json_path: str) -> dict:
    """{fraction: {top1, top5}} of earlier semi runs written to the same eval_semi.json."""
    try:
        with open(json_path) as f:
            return dict(json.load(f).get("by_fraction", {}))
    except (OSError, ValueError, AttributeError):
        return {}


def one_line(e: Exception) -> str:
    """Messages that wrap a library's error (torch.load, ...) can span lines; users get one."""
    return " ".join(str(e).split())


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--ablation" in argv:
        argv.remove("--ablation")
        from benchmarks.ablation import main as ablation_main
        return ablation_main(argv)
    args = build_parser().parse_args(argv)
    try:
        record = evaluate(args)
    except (CheckpointError, EvalError) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except DataError as e:   # may list the expected data layouts, one per line
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{record['protocol']} top1={record['top1']:.2f} top5={record['top5']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
