"""CP-STN pretraining: the command line over cpstn_min.training.

    python train.py                                          # synthetic demo (scaled-down recipe)
    python train.py --dataset ntu60 --data-root DIR          # the SkeletonCLR/AimCLR recipe
    python train.py --out-dir RUN --resume                   # continue an interrupted run
    torchrun --nproc_per_node 2 train.py [flags]             # DistributedDataParallel

A run folder holds config.json (the resolved config), log.jsonl (one JSON record
per logged step and per epoch) and checkpoint.pt, written atomically at every
epoch end and every `save_every` steps. A checkpoint restores the model (query
and key encoders, queue and pointer), optimizer, scheduler, AMP scaler, epoch,
step, position in the epoch's data order and the RNG states, so resuming from
any checkpoint reproduces the uninterrupted run's losses. Flags and config
files: cpstn_min/training/args.py. Errors a user can meet print one line and
exit with code 2 (1 when the loss diverges).
"""
import os
import sys

from cpstn_min import errors
from cpstn_min.training import Run, fit, main, prepare, train_step  # noqa: F401  (the typed API)
from cpstn_min.training.args import config_from_args


def cli(argv=None) -> int:
    log = print if os.environ.get("RANK", "0") == "0" else (lambda *a, **k: None)

    return errors.run_cli(lambda: main(config_from_args(argv, log), log), "continue with --resume")


if __name__ == "__main__":
    sys.exit(cli())
