"""A training run and its resumable state.

`Run` holds everything a pretraining run needs (config, process group info,
device, data order, model, optimizer, scheduler, AMP scaler, augmentation
generator, counters). `Run.state_dict()` is what checkpoint.pt holds: config,
model (query and key encoders, queue and pointer), optimizer, scheduler, scaler,
epoch, batches done in it, step, the epoch's loss sums, world size and the RNG
states (torch, CUDA, numpy, python); `Run.load_state_dict` puts it back into a
freshly built Run and refuses a checkpoint of another model configuration.
All values are tensors or plain types, so checkpoint.load(weights_only=True) reads them.
"""
import dataclasses
import itertools
import os
import random
from collections import Counter
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from .. import checkpoint
from ..config import Config
from ..distributed import DistInfo
from ..errors import CheckpointError
from ..model import CPSTN
from ..pretrained import state_mismatch
from ..run_lock import RunLock
from . import precision
from .divergence import check_state


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
    dist: DistInfo
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
    saved_step: Optional[int] = None   # step of the last checkpoint this run wrote or resumed from
    lock: Optional[RunLock] = None     # held on the run folder by rank 0 while the run lives

    @property
    def precision(self) -> precision.Precision:
        return precision.resolve(self.cfg.train.amp, self.cfg.train.amp_dtype, self.device)

    @property
    def ckpt_path(self) -> str:
        return os.path.join(self.cfg.train.out_dir, "checkpoint.pt")

    @property
    def log_path(self) -> str:
        return os.path.join(self.cfg.train.out_dir, "log.jsonl")

    def state_dict(self) -> dict:
        return {"config": self.cfg.to_dict(), "model": self.core.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(), "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch, "step": self.step,
                "epoch_sums": {k: v.item() for k, v in (self.epoch_sums or {}).items()},
                "world_size": self.dist.world_size, "rng": rng_state()}

    def load_state_dict(self, state: dict, log=print) -> None:
        """state_dict() of a run with the same model config (read from ckpt_path) -> this Run."""
        path = self.ckpt_path
        checkpoint.require_entries(state, path, ("config", "model", "optimizer", "scheduler", "scaler", "rng"))
        check_same_model(state, self.cfg.model, path)
        problem = state_mismatch(self.core.state_dict(), state["model"])
        if problem:  # named here in one line: torch would list every tensor on a line of its own
            raise CheckpointError(f"{path} holds weights that do not fit its own model configuration: {problem}")
        try:
            self.core.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            if state["scaler"] or not self.scaler.is_enabled():
                self.scaler.load_state_dict(state["scaler"])
            else:   # saved by a run without loss scaling (float32 or bfloat16): a fresh scale
                log(f"{path} was saved without loss scaling; float16 starts with a fresh GradScaler")
            self.epoch, self.batch_in_epoch = state["epoch"], state["batch_in_epoch"]
            self.step = state["step"]
            self.epoch_sums = {k: torch.tensor(v, device=self.device) for k, v in state["epoch_sums"].items()}
            set_rng_state(state["rng"])
        except (AttributeError, KeyError, RuntimeError, TypeError, ValueError) as e:
            raise CheckpointError(f"{path} does not fit this model or this version of cpstn: {e}") from e
        self.scheduler.milestones = Counter(self.cfg.train.lr_steps)  # lr steps may move on resume
        if state["world_size"] != self.dist.world_size and self.batch_in_epoch:
            log(f"warning: {path} was written by {state['world_size']} process(es), resuming with "
                f"{self.dist.world_size}: the rest of epoch {self.epoch + 1} sees another data order")
        self.saved_step = self.step
        log(f"resumed {path}: epoch {self.epoch + 1}, {self.batch_in_epoch} batches in, step {self.step}")

    def save_checkpoint(self) -> None:
        """Rank 0 writes state_dict() to ckpt_path, atomically, if every tensor in it is finite."""
        if self.dist.is_main:
            state = self.state_dict()
            check_state(self, state)
            checkpoint.save(state, self.ckpt_path)
            self.saved_step = self.step

    def close(self) -> None:
        """Release the run folder (at the end of training.main)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def check_same_model(state: dict, model_cfg, path: str) -> None:
    """CheckpointError naming the differing fields if `state` was written for another model config.
    The saved config is read as Config.from_dict reads it, so a run saved before a model field
    existed resumes with the value that field had then instead of failing on it."""
    try:
        saved = dataclasses.asdict(Config.from_dict(state["config"]).model)
    except (AttributeError, TypeError, ValueError):   # not a config this version reads: compare as saved
        saved = state["config"].get("model")             # (require_entries made "config" a dict)
        saved = saved if isinstance(saved, dict) else {}
    current = dataclasses.asdict(model_cfg)
    diff = [f"{k}: {saved.get(k)!r} in the checkpoint, {v!r} now" for k, v in current.items()
            if _tuples(saved.get(k)) != _tuples(v)]
    if diff:
        raise CheckpointError(f"{path} was written by another model configuration ({'; '.join(diff)}); "
                              "resume with the same model settings or choose another --out-dir")


def rng_state() -> dict:
    """torch (+CUDA), numpy and python RNG states, as tensors and plain types (weights_only-safe)."""
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(),
             "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(x):
    """random.setstate wants the nested tuples back (serialization may turn them into lists)."""
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x
