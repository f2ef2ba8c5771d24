"""prepare(cfg) -> Run: everything a pretraining run needs, restored from its checkpoint on resume.

Checks the config and the device, joins the process group (torchrun), checks
and locks the run folder (rank 0; Run.close releases it), removes the temporaries
of killed saves, seeds every RNG, builds the dataset (rank 0 first, so it is
generated or converted once), the DataLoader over a ResumableSampler, the CPSTN model
(wrapped in DistributedDataParallel when distributed), SGD, the step lr
schedule and the AMP scaler (precision.py says which precision runs where).
batch_size is global (split across processes).
"""
import inspect
import json
import os
import random

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from .. import checkpoint, distributed, ops, streams
from ..atomic import atomic_write, remove_stale_temps
from ..config import Config
from ..config_checks import check_config, check_device
from ..data import build_dataset
from ..data.check import check_finite
from ..errors import UsageError
from ..model import CPSTN
from ..pretext import pretext_classes
from ..run_lock import RunLock
from . import precision
from .args import FLAG_OF
from .state import ResumableSampler, Run


def prepare(cfg: Config, log=print) -> Run:
    """Everything a run needs, restored from the checkpoint with cfg.train.resume."""
    cfg = Config.from_dict(cfg.to_dict())  # private copy: resolved values are written into it
    tc = cfg.train
    check_config(cfg, FLAG_OF)
    device = check_device(tc.device)
    dist = distributed.init_from_env(device.type)
    log = log if dist.is_main else (lambda *a, **k: None)
    if device.type == "cuda" and dist.enabled:
        device = torch.device("cuda", dist.local_rank)
    prec = precision.resolve(tc.amp, tc.amp_dtype, device)
    autocast_key = "AutocastCUDA" if device.type == "cuda" else "AutocastCPU"
    if prec.autocast and ops.backend(device) != "reference" and \
            not torch._C._dispatch_has_kernel_for_dispatch_key("cpstn::graph_conv", autocast_key):
        raise UsageError(f"--amp: the graph_conv kernel has no {autocast_key} rule in this build; "
                         "train without --amp or with CPSTN_BACKEND=reference")
    try:  # a bad CPSTN_GRAPH_CONV is a usage error at the start, not a crash at the first step
        graph_conv_path = ops.graph_conv_path(torch.empty(0, device=device))
    except ValueError as e:
        raise UsageError(str(e)) from None
    if tc.batch_size % dist.world_size:
        raise UsageError(f"batch size {tc.batch_size} is not divisible by {dist.world_size} processes")
    lock = _prepare_out_dir(tc, log) if dist.is_main else None
    try:
        run = _build(cfg, device, dist, log, graph_conv_path)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    run.lock = lock
    return run


def _build(cfg: Config, device, dist, log, graph_conv_path: str) -> Run:
    tc = cfg.train
    torch.manual_seed(tc.seed)
    np.random.seed(tc.seed)
    random.seed(tc.seed)

    if not dist.is_main:
        distributed.barrier()  # rank 0 builds (and caches) the dataset first
    dataset = build_dataset(cfg.data, train=True)
    if dist.is_main:
        if tc.check_data:
            check_finite(dataset)
        distributed.barrier()
    _model_fits_data(cfg, dataset, log)
    per_rank = tc.batch_size // dist.world_size
    if per_rank % cfg.model.shuffle_bn_groups:
        raise UsageError(f"the batch of {per_rank} clips per process does not split into "
                         f"model.shuffle_bn_groups={cfg.model.shuffle_bn_groups} equal groups")
    if len(dataset) < tc.batch_size:
        raise UsageError(f"batch size {tc.batch_size} exceeds the {len(dataset)} training clips")
    sampler = ResumableSampler(dataset, num_replicas=dist.world_size, rank=dist.rank,
                               shuffle=True, seed=tc.seed)
    loader = DataLoader(dataset, batch_size=per_rank, sampler=sampler, drop_last=True,
                        num_workers=cfg.data.num_workers, pin_memory=device.type == "cuda")

    if cfg.model.queue_size > len(dataset):
        log(f"queue size capped to the dataset size: {cfg.model.queue_size} -> {len(dataset)}")
        cfg.model.queue_size = len(dataset)
    if tc.init_seed is not None:
        torch.manual_seed(tc.init_seed)
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
    scaler = precision.resolve(tc.amp, tc.amp_dtype, device).grad_scaler()
    run = Run(cfg, dist, device, sampler, loader, core, model, optimizer, scheduler, scaler,
              torch.Generator())
    if tc.resume:
        run.load_state_dict(checkpoint.load(run.ckpt_path), log)
        if dist.is_main:
            _truncate_log(run.log_path, run.step)
    elif dist.is_main and os.path.exists(run.log_path):
        os.remove(run.log_path)  # --overwrite: a fresh run gets a fresh log
    if dist.is_main:
        cfg.save(os.path.join(tc.out_dir, "config.json"))
        branches = [name for name, on in (("contrastive", cfg.model.contrastive),
                                          ("pretext", cfg.model.pretext)) if on]
        backend = ops.backend(device)   # under the reference backend everything is composed: no note
        gc = " (graph_conv in the composed order, README \"Kernels\")" \
            if device.type == "cuda" and backend != "reference" and graph_conv_path == "composed" else ""
        log(f"{cfg.data.dataset} {cfg.data.split}: {len(dataset)} clips; device {device}, ops backend "
            f"{backend}{gc}, {dist.world_size} process(es); {' + '.join(branches)}, "
            f"queue {cfg.model.queue_size}; run folder {tc.out_dir}")
        log(f"precision: {run.precision.describe()}")
    return run


def _model_fits_data(cfg: Config, dataset, log) -> None:
    """The encoder's input channels and graph come from the data (2D/3D clips, their layout)."""
    streams.to_compute(cfg.data.stream, dataset.stream)      # a precomputed stream file must be this stream
    fitted = {"in_channels": dataset.clip_shape[0], "layout": dataset.layout}
    changed = {k: v for k, v in fitted.items() if getattr(cfg.model, k) != v}
    if changed:
        log("model fitted to the data: " + ", ".join(f"model.{k} {getattr(cfg.model, k)} -> {v}"
                                                     for k, v in changed.items()))
        for k, v in changed.items():
            setattr(cfg.model, k, v)


def _prepare_out_dir(tc, log) -> RunLock:
    """The run folder, writable and locked for this run, without the temporaries of killed saves."""
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
    lock = RunLock(tc.out_dir).acquire()
    for name in ("checkpoint.pt", "log.jsonl", "config.json"):
        for tmp in remove_stale_temps(os.path.join(tc.out_dir, name)):
            log(f"removed {tmp}, left by a save that was killed")
    return lock


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
    with atomic_write(path, "w") as f:
        f.writelines(kept)
