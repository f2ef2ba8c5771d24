"""Evaluate a pretrained encoder with the SkeletonCLR/AimCLR protocols: the command line over
cpstn_min.evaluation.evaluate (flags -> config.EvalConfig).

    python eval.py --checkpoint RUN/checkpoint.pt --protocol linear      # frozen encoder + linear probe
    python eval.py --checkpoint RUN/checkpoint.pt --protocol knn         # cosine kNN, k=20
    python eval.py --checkpoint RUN/checkpoint.pt --protocol semi --label-fraction 0.01
    python eval.py --checkpoint RUN/checkpoint.pt --protocol finetune
    python eval.py --random-init --protocol linear                       # random-init encoder baseline
    python eval.py --ensemble RUN_JOINT RUN_BONE RUN_MOTION --protocol linear [--weights 0.6 0.6 0.4]

The dataset defaults to the one the checkpoint was pretrained on (--dataset /
--data-root / --split override it). Clips are resized to the pretraining T_out
frames, without augmentation. linear and knn run the frozen encoder once over
both splits and cache the pooled features (RUN/feature_cache/), so reruns and
the probe's 100 epochs do not touch the encoder again. Results: a table,
RUN/eval_<protocol>.json, RUN/eval_<protocol>.png (curves + confusion matrix;
eval_linear_recipe.* with --probe recipe), and as the last line
`<protocol> top1=XX.XX top5=YY.YY`. semi saves its label
subset (RUN/label_subset_*.json, reused by later runs), draws
RUN/eval_semi_<pct>pct.png and keeps every fraction's numbers in eval_semi.json
("by_fraction"). semi / finetune save their state every epoch (--resume).
--random-init results go to RUN/random_init/. Each run is evaluated on the input
stream it was pretrained on (joint, bone or motion; --stream overrides it). --ensemble
fuses the class scores of several runs, one per stream (softmax probabilities of the
linear probes, or normalized kNN votes; --weights, default equal) into
FIRST_RUN/../ensemble/eval_ensemble_<protocol>.* and prints the same table and last
line. Bad checkpoints, data or flags give one error line and exit code 2. The
ablation on the synthetic benchmark is experiments/ablation.py.
"""
import argparse
import dataclasses
import sys

import torch

from cpstn_min import errors
from cpstn_min.config import PROBE_LR, EvalConfig
from cpstn_min.evaluation import evaluate
from cpstn_min.evaluation.protocols import PROTOCOLS


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
    p.add_argument("--subset-seed", type=int, default=d.subset_seed,
                   help=f"semi: seed of the label subset (default {d.subset_seed})")
    p.add_argument("--ensemble", nargs="+", metavar="RUN", default=[],
                   help="linear / knn: fuse the class scores of these runs (run folders or checkpoints, "
                        "e.g. one per stream) instead of evaluating --checkpoint")
    p.add_argument("--weights", nargs="+", default=[], metavar="W",
                   help="--ensemble: one weight per run (default: equal)")
    p.add_argument("--stream", help="joint | bone | motion (default: the checkpoint's)")
    p.add_argument("--dataset", help="synthetic | ntu60 | ntu120 | custom (default: the checkpoint's)")
    p.add_argument("--data-root", help="data folder (default: the checkpoint's, if the dataset is the same)")
    p.add_argument("--data-format", help="auto | prepared | stgcn | ctrgcn | pyskl")
    p.add_argument("--split", help="xsub | xview | xset (default: the checkpoint's)")
    p.add_argument("--out-dir", help="where results go (default: the checkpoint's folder; "
                                     "CHECKPOINT_DIR/random_init with --random-init)")
    p.add_argument("--epochs", type=int, help=f"linear ({d.linear_epochs}) / semi and finetune "
                                              f"({d.finetune_epochs}) epochs; lr decays at 80%%")
    p.add_argument("--lr", type=float, help=f"linear (the probe's own: {PROBE_LR}) / finetune "
                                            f"({d.finetune_lr}) lr")
    p.add_argument("--batch-size", type=int, default=d.batch_size,
                   help=f"extraction / test batch size (default {d.batch_size})")
    p.add_argument("--probe", choices=tuple(PROBE_LR), default=d.linear_probe,
                   help="linear: 'standardized' (default) maps every feature dimension to zero mean and unit "
                        "variance over the training set first and converges on every encoder; 'recipe' is "
                        "SkeletonCLR/AimCLR's lr 3.0 on raw features (for comparison with the literature)")
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
    return p


def ensemble_weights(args: argparse.Namespace) -> tuple:
    """--weights as floats (parsed here, so a bad one is a one-line error)."""
    if args.weights and not args.ensemble:
        raise errors.UsageError("--weights goes with --ensemble")
    try:
        return tuple(float(w) for w in args.weights)
    except ValueError:
        raise errors.UsageError(f"--weights must be numbers, got {' '.join(args.weights)}") from None


def eval_config(args: argparse.Namespace) -> EvalConfig:
    e = EvalConfig(protocol=args.protocol, checkpoint=args.checkpoint, random_init=args.random_init,
                   stream=args.stream, ensemble=tuple(args.ensemble), ensemble_weights=ensemble_weights(args),
                   dataset=args.dataset, data_root=args.data_root, data_format=args.data_format,
                   split=args.split, out_dir=args.out_dir, label_fraction=args.label_fraction,
                   label_subset=args.label_subset, subset_seed=args.subset_seed, seed=args.seed,
                   device=args.device, batch_size=args.batch_size, cache_features=not args.no_cache,
                   resume=args.resume, progress=not args.quiet, knn_k=args.k,
                   knn_temperature=args.temperature, linear_probe=args.probe)
    if args.epochs is not None:
        e = e.with_epochs(args.epochs)
    if args.lr is not None:
        e = dataclasses.replace(e, linear_lr=args.lr, finetune_lr=args.lr)
    return e


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def run():
        record = evaluate(eval_config(args))
        print(f"{record['protocol']} top1={record['top1']:.2f} top5={record['top5']:.2f}")
    return errors.run_cli(run, "semi / finetune continue with --resume")


if __name__ == "__main__":
    sys.exit(main())
