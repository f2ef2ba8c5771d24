"""CP-STN pretraining.

    python train.py                                          # synthetic demo (scaled-down recipe)
    python train.py --dataset ntu60 --data-root DIR          # the SkeletonCLR/AimCLR recipe
    python train.py --out-dir RUN --resume                   # continue an interrupted run
    torchrun --nproc_per_node 2 train.py [flags]             # DistributedDataParallel

A run folder holds config.json (the resolved config), log.jsonl (one JSON record
per logged step and per epoch) and checkpoint.pt, written atomically at every
epoch end and every `save_every` steps. A checkpoint restores the model (query
and key encoders, queue and pointer), optimizer, scheduler, AMP scaler, epoch,
step, position in the epoch's data order and the RNG states; the augmentation
generator is reseeded every step from (seed, rank, step), so resuming from any
checkpoint reproduces the uninterrupted run's losses.

Data: the DataLoader returns raw clips (N,3,T,V,M); augment.make_views builds
the views on the training device. batch_size is global (split across processes).
"""
import inspect
import itertools
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from cpstn_min import augment, checkpoint, distributed, ops
from cpstn_min.config import Config
from cpstn_min.data import DataError, build_dataset
from cpstn_min.model import CPSTN
from cpstn_min.pretext import pretext_classes
from cpstn_min.train_args import UsageError, config_from_args


class ResumableSampler(DistributedSampler):
    """DistributedSampler (order depends only on seed and epoch) that can skip the
    samples this rank already trained on in the current epoch."""
    skip = 0

    def __iter__(self):
        return itertools.islice(super().__iter__(), self.skip, None)

    def __len__(self):
        return super().__len__() - self.skip


@dataclass
class Run:
    cfg: Config
    dist: distributed.DistInfo
    device: torch.device
    sampler: ResumableSampler
    loader: DataLoader
    core: CPSTN                  # the model itself
    model: torch.nn.Module       # core, or core wrapped in DistributedDataParallel
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.MultiStepLR
    scaler: torch.amp.GradScaler
    generator: torch.Generator   # augmentation parameters (CPU)
    epoch: int = 0               # current epoch
    batch_in_epoch: int = 0      # batches of `epoch` already trained
    step: int = 0                # optimizer steps so far
    epoch_sums: Optional[dict] = None  # sums of the loss terms over this epoch's batches

    @property
    def ckpt_path(self) -> str:
        return os.path.join(self.cfg.train.out_dir, "checkpoint.pt")

    @property
    def log_path(self) -> str:
        return os.path.join(self.cfg.train.out_dir, "log.jsonl")


def augment_seed(seed: int, rank: int, step: int) -> int:
    return ((seed * 1_000_003 + rank) * 1_000_003 + step) % (2 ** 63)


def train_step(run: Run, clips: torch.Tensor, valid_frames: torch.Tensor) -> dict:
    """One optimization step on a batch of raw clips -> dict of detached loss terms."""
    mc, amp = run.cfg.model, run.cfg.train.amp
    x = clips.to(run.device, non_blocking=True)
    run.generator.manual_seed(augment_seed(run.cfg.train.seed, run.dist.rank, run.step))
    views = augment.make_views(x, valid_frames, run.generator, run.cfg.augment,
                               contrastive=mc.contrastive, pretext=mc.pretext)
    amp_dtype = torch.float16 if run.device.type == "cuda" else torch.bfloat16
    with torch.autocast(run.device.type, dtype=amp_dtype, enabled=amp):
        out = run.model(views)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(out["loss"]).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.step += 1
    return {k: v.detach() for k, v in out.items()}


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise UsageError(f"bad --device {name!r}: {e}") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"--device {name}: only cpu and cuda are supported")
    return device


def _prepare_out_dir(tc) -> None:
    path = os.path.join(tc.out_dir, "checkpoint.pt")
    try:
        os.makedirs(tc.out_dir, exist_ok=True)
        probe = os.path.join(tc.out_dir, f".write_test.{os.getpid()}")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as e:
        raise UsageError(f"cannot write to output directory {tc.out_dir}: {e.strerror or e}") from e
    if tc.resume and not os.path.isfile(path):
        raise UsageError(f"--resume: no checkpoint at {path} to resume from")
    if not tc.resume and not tc.overwrite and os.path.isfile(path):
        raise UsageError(f"{tc.out_dir} already holds a checkpoint: pass --resume to continue it, "
                         "--overwrite to start afresh, or choose another --out-dir")


def prepare(cfg: Config, log=print) -> Run:
    """Everything a run needs, restored from the checkpoint with cfg.train.resume."""
    cfg = Config.from_dict(cfg.to_dict())  # private copy: resolved values are written into it
    tc = cfg.train
    device = _device(tc.device)
    dist = distributed.init_from_env(device.type)
    log = log if dist.is_main else (lambda *a, **k: None)
    if device.type == "cuda" and dist.enabled:
        device = torch.device("cuda", dist.local_rank)
    autocast_key = "AutocastCUDA" if device.type == "cuda" else "AutocastCPU"
    if tc.amp and ops.backend(device) != "reference" and \
            not torch._C._dispatch_has_kernel_for_dispatch_key("cpstn::graph_conv", autocast_key):
        raise UsageError(f"--amp: the graph_conv kernel has no {autocast_key} rule in this build; "
                         "train without --amp or with CPSTN_BACKEND=reference")
    if tc.batch_size % dist.world_size:
        raise UsageError(f"batch size {tc.batch_size} is not divisible by {dist.world_size} processes")
    if dist.is_main:
        _prepare_out_dir(tc)
    torch.manual_seed(tc.seed)
    np.random.seed(tc.seed)
    random.seed(tc.seed)

    if not dist.is_main:
        distributed.barrier()  # rank 0 builds (and caches) the dataset first
    dataset = build_dataset(cfg.data, train=True)
    if dist.is_main:
        distributed.barrier()
    per_rank = tc.batch_size // dist.world_size
    if len(dataset) < tc.batch_size:
        raise UsageError(f"batch size {tc.batch_size} exceeds the {len(dataset)} training clips")
    sampler = ResumableSampler(dataset, num_replicas=dist.world_size, rank=dist.rank,
                               shuffle=True, seed=tc.seed)
    loader = DataLoader(dataset, batch_size=per_rank, sampler=sampler, drop_last=True,
                        num_workers=cfg.data.num_workers, pin_memory=device.type == "cuda")

    if cfg.model.queue_size > len(dataset):
        log(f"queue size capped to the dataset size: {cfg.model.queue_size} -> {len(dataset)}")
        cfg.model.queue_size = len(dataset)
    core = CPSTN(cfg.model, cfg.model.queue_size, pretext_classes(cfg.augment)).to(device)
    model = core
    if dist.enabled:
        # buffers are synced once at start, not every forward: the queue stays identical through
        # all-gathered keys, and batch-norm statistics stay per process (rank 0's are saved)
        no_sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in
                   inspect.signature(DistributedDataParallel).parameters else {"broadcast_buffers": False})
        model = DistributedDataParallel(core, device_ids=[device.index] if device.type == "cuda" else None,
                                        **no_sync)
    params = [p for p in core.parameters() if p.requires_grad]  # the key encoder has none
    optimizer = torch.optim.SGD(params, lr=tc.lr, momentum=tc.momentum, weight_decay=tc.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(tc.lr_steps), gamma=0.1)
    scaler = torch.amp.GradScaler(device.type, enabled=tc.amp and device.type == "cuda")
    run = Run(cfg, dist, device, sampler, loader, core, model, optimizer, scheduler, scaler,
              torch.Generator())
    if tc.resume:
        checkpoint.restore_run(run, log)
        if dist.is_main:
            _truncate_log(run.log_path, run.step)
    elif dist.is_main and os.path.exists(run.log_path):
        os.remove(run.log_path)  # --overwrite: a fresh run gets a fresh log
    if dist.is_main:
        cfg.save(os.path.join(tc.out_dir, "config.json"))
        branches = [b for b in ("contrastive", "pretext") if getattr(cfg.model, b)]
        log(f"{cfg.data.dataset} {cfg.data.split}: {len(dataset)} clips; device {device}, ops backend "
            f"{ops.backend(device)}, {dist.world_size} process(es); {' + '.join(branches)}, "
            f"queue {cfg.model.queue_size}; run folder {tc.out_dir}")
    return run


def _truncate_log(path: str, step: int) -> None:
    """Drop the records of steps after the checkpoint (and a line cut short by a kill)."""
    if not os.path.exists(path):
        return
    kept = []
    with open(path) as f:
        for line in f:
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                pass
    with open(path, "w") as f:
        f.writelines(kept)


def fit(run: Run) -> str:
    """Train from run.epoch to cfg.train.epochs; returns the checkpoint path."""
    tc, main = run.cfg.train, run.dist.is_main
    logf = open(run.log_path, "a") if main else None
    try:
        for epoch in range(run.epoch, tc.epochs):
            _train_epoch(run, epoch, logf)
    finally:
        if logf:
            logf.close()
    return run.ckpt_path


def _train_epoch(run: Run, epoch: int, logf) -> None:
    tc, world = run.cfg.train, run.dist.world_size
    run.epoch = epoch
    run.sampler.set_epoch(epoch)
    run.sampler.skip = run.batch_in_epoch * run.loader.batch_size
    steps = run.batch_in_epoch + len(run.loader)
    bar = tqdm(run.loader, desc=f"epoch {epoch + 1}/{tc.epochs}", initial=run.batch_in_epoch,
               total=steps, disable=not run.dist.is_main, dynamic_ncols=True, leave=False)
    if run.batch_in_epoch == 0:
        run.epoch_sums = {}
    sums, seen, tick, t0 = run.epoch_sums, 0, time.perf_counter(), time.perf_counter()
    for clips, valid_frames, _, _ in bar:
        out = train_step(run, clips, valid_frames)
        run.batch_in_epoch += 1
        seen += clips.shape[0] * world
        for k, v in out.items():
            sums[k] = sums.get(k, 0.0) + v
        if run.step % tc.log_every == 0 or run.batch_in_epoch == steps:
            values = {k: v.item() for k, v in out.items()}
            if not np.isfinite(values["loss"]):
                raise FloatingPointError(f"loss is {values['loss']} at step {run.step}; lower --lr "
                                         f"or resume from the last checkpoint")
            now = time.perf_counter()
            rate = seen / (now - tick)
            seen, tick = 0, now
            bar.set_postfix({k: f"{v:.3f}" for k, v in values.items() if not k.startswith("acc")}
                            | {"samples/s": f"{rate:.1f}"})
            _write(logf, {"epoch": epoch, "step": run.step, "lr": run.optimizer.param_groups[0]["lr"],
                          **values, "samples_per_s": rate})
        if tc.save_every and run.step % tc.save_every == 0 and run.batch_in_epoch < steps:
            checkpoint.save_run(run)
    bar.close()
    run.scheduler.step()
    means = {k: (v / steps).item() for k, v in sums.items()}
    run.epoch, run.batch_in_epoch, run.epoch_sums = epoch + 1, 0, {}
    checkpoint.save_run(run)
    summary = {"epoch": epoch, "step": run.step, "type": "epoch", **means, "steps": steps,
               "seconds": time.perf_counter() - t0}
    _write(logf, summary)
    if run.dist.is_main:
        terms = " ".join(f"{k} {v:.4f}" for k, v in means.items())
        tqdm.write(f"epoch {epoch + 1}/{tc.epochs}: {terms} ({summary['seconds']:.0f} s)")


def _write(logf, record: dict) -> None:
    if logf is not None:
        logf.write(json.dumps(record) + "\n")
        logf.flush()


def main(cfg: Config, log=print) -> str:
    """Pretrain with `cfg`; returns the path of the final checkpoint."""
    run = prepare(cfg, log)
    try:
        return fit(run)
    finally:
        distributed.shutdown()


def cli(argv=None) -> int:
    log = print if os.environ.get("RANK", "0") == "0" else (lambda *a, **k: None)
    try:
        main(config_from_args(argv, log), log)
    except (UsageError, DataError, checkpoint.CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; continue with --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(cli())
