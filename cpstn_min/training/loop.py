"""The pretraining loop: main(cfg) = prepare + fit; one train_step per batch.

Data: the DataLoader returns raw clips (N,3,T,V,M); augment.make_views builds
the views on the training device, from a generator reseeded every step from
(seed, rank, step), so resuming from any checkpoint reproduces the
uninterrupted run's losses. Rank 0 writes log.jsonl (one JSON record per logged
step and per epoch) and checkpoint.pt at every epoch end and every
`save_every` steps. A loss that is not finite, on any step, raises TrainingDiverged
before it reaches the weights; a state that is not finite is never saved (divergence.py).
"""
import json
import time

import torch
from tqdm import tqdm

from .. import augment, distributed, streams
from ..config import Config
from . import allocator
from .build import prepare
from .divergence import check_loss
from .pretext_weight import pretext_weight_scale, scheduled, training_progress
from .state import Run


def augment_seed(seed: int, rank: int, step: int) -> int:
    return ((seed * 1_000_003 + rank) * 1_000_003 + step) % (2 ** 63)


def train_step(run: Run, clips: torch.Tensor, valid_frames: torch.Tensor, progress: float = 0.0) -> dict:
    """One optimization step on a batch of raw clips -> dict of detached loss terms.
    progress: the share of training done (training/pretext_weight.py), for the pretext weights."""
    mc = run.cfg.model
    if run.device.type == "cpu":
        allocator.keep_for_training()   # the same large tensors every step: reuse their pages
    x = clips.to(run.device, non_blocking=True)
    run.generator.manual_seed(augment_seed(run.cfg.train.seed, run.dist.rank, run.step))
    views = augment.make_views(x, valid_frames, run.generator, run.cfg.augment,
                               contrastive=mc.contrastive, pretext=mc.pretext)
    # bone / motion of every view, after augmentation (nothing left to do for a precomputed stream)
    stream = streams.to_compute(run.cfg.data.stream, getattr(run.loader.dataset, "stream", "joint"))
    views = streams.views_to_stream(views, stream, mc.layout)
    scale = pretext_weight_scale(mc, progress)
    with run.precision.context():   # autocast under --amp (training/precision.py)
        out = run.model(views, pretext_scale=scale)
    check_loss(run, out["loss"])
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(out["loss"]).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.step += 1
    out = {k: v.detach() for k, v in out.items()}
    if mc.pretext and scheduled(mc):   # the schedule, into log.jsonl
        out["pretext_weight"] = torch.tensor(scale)
    return out


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
    try:   # a bar left open would share its line with the error message
        for clips, valid_frames, _, _ in bar:
            out = train_step(run, clips, valid_frames,
                             training_progress(epoch, run.batch_in_epoch, steps, tc.epochs))
            run.batch_in_epoch += 1
            seen += clips.shape[0] * world
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + v
            if run.step % tc.log_every == 0 or run.batch_in_epoch == steps:
                values = {k: v.item() for k, v in out.items()}
                now = time.perf_counter()
                rate = seen / (now - tick)
                seen, tick = 0, now
                bar.set_postfix({k: f"{v:.3f}" for k, v in values.items() if not k.startswith("acc")}
                                | {"samples/s": f"{rate:.1f}"})
                _write(logf, {"epoch": epoch, "step": run.step, "lr": run.optimizer.param_groups[0]["lr"],
                              **values, "samples_per_s": rate})
            if tc.save_every and run.step % tc.save_every == 0 and run.batch_in_epoch < steps:
                run.save_checkpoint()
    finally:
        bar.close()
    run.scheduler.step()
    means = {k: (v / steps).item() for k, v in sums.items()}
    run.epoch, run.batch_in_epoch, run.epoch_sums = epoch + 1, 0, {}
    summary = {"epoch": epoch, "step": run.step, "type": "epoch", **means, "steps": steps,
               "seconds": time.perf_counter() - t0}
    # the line first: a kill between the two loses no summary (a resume from an older
    # checkpoint drops the line with the records after that checkpoint, and writes it again)
    _write(logf, summary)
    run.save_checkpoint()
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
        run.close()
        distributed.shutdown()
