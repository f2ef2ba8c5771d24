"""Checkpoints: atomic writes, safe loads.

A checkpoint is a dict {"config": Config.to_dict(), "model": state_dict, ...};
training checkpoints (save_run / restore_run) add optimizer, scheduler, AMP scaler,
epoch, step, position in the epoch's data order and RNG states for --resume.
Loads use weights_only=True so a crafted file cannot run code.
"""
import dataclasses
import os
import random
from collections import Counter

import numpy as np
import torch

from .config import Config
from .encoder import STGCNEncoder


class CheckpointError(Exception):
    """Missing, unreadable or incompatible checkpoint."""


def save_atomic(obj, path: str) -> None:
    """Write to a temp file, fsync, then rename: a crash never leaves half a checkpoint."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: str, map_location="cpu") -> dict:
    if not os.path.isfile(path):
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated file, foreign pickle, ...
        raise CheckpointError(f"cannot read checkpoint {path}: {e}") from e


def build_encoder(model_cfg) -> STGCNEncoder:
    return STGCNEncoder(in_channels=model_cfg.in_channels, hidden_channels=model_cfg.hidden_channels,
                        feature_dim=model_cfg.feature_dim, layout=model_cfg.layout,
                        strategy=model_cfg.strategy)


def encoder_from_checkpoint(path: str, map_location="cpu"):
    """-> (query encoder with pretrained weights, Config of the run that wrote it)."""
    ckpt = load(path, map_location)
    cfg = Config.from_dict(ckpt["config"])
    encoder = build_encoder(cfg.model)
    prefix = "encoder_q."
    state = {k[len(prefix):]: v for k, v in ckpt["model"].items() if k.startswith(prefix)}
    try:
        encoder.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: encoder weights do not match its config: {e}") from e
    return encoder, cfg


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


def check_same_model(ckpt: dict, model_cfg, path: str) -> None:
    """CheckpointError naming the differing fields if `ckpt` was written for another model config."""
    saved = ckpt.get("config", {}).get("model", {})
    current = dataclasses.asdict(model_cfg)
    diff = [f"{k}: {saved.get(k)!r} in the checkpoint, {v!r} now" for k, v in current.items()
            if _tuples(saved.get(k)) != _tuples(v)]
    if diff:
        raise CheckpointError(f"{path} was written by another model configuration ({'; '.join(diff)}); "
                              "resume with the same model settings or choose another --out-dir")


def save_run(run) -> None:
    """Rank 0 writes everything `restore_run` needs (run: train.Run) to run.ckpt_path."""
    if not run.dist.is_main:
        return
    save_atomic({
        "config": run.cfg.to_dict(), "model": run.core.state_dict(),
        "optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict(), "epoch": run.epoch, "batch_in_epoch": run.batch_in_epoch,
        "step": run.step, "epoch_sums": {k: v.item() for k, v in (run.epoch_sums or {}).items()},
        "world_size": run.dist.world_size, "rng": rng_state(),
    }, run.ckpt_path)


def restore_run(run, log=print) -> None:
    """Model (query and key encoders, queue, pointer), optimizer, scheduler, AMP scaler,
    position in the data order and RNG states of run.ckpt_path -> run (a freshly built train.Run)."""
    path = run.ckpt_path
    ckpt = load(path)
    check_same_model(ckpt, run.cfg.model, path)
    try:
        run.core.load_state_dict(ckpt["model"])
        run.optimizer.load_state_dict(ckpt["optimizer"])
        run.scheduler.load_state_dict(ckpt["scheduler"])
        run.scaler.load_state_dict(ckpt["scaler"])
        run.epoch, run.batch_in_epoch, run.step = ckpt["epoch"], ckpt["batch_in_epoch"], ckpt["step"]
        run.epoch_sums = {k: torch.tensor(v, device=run.device) for k, v in ckpt["epoch_sums"].items()}
        set_rng_state(ckpt["rng"])
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"{path} does not fit this model or this version of cpstn: {e}") from e
    run.scheduler.milestones = Counter(run.cfg.train.lr_steps)  # lr steps may move on resume
    if ckpt["world_size"] != run.dist.world_size and run.batch_in_epoch:
        log(f"warning: {path} was written by {ckpt['world_size']} process(es), resuming with "
            f"{run.dist.world_size}: the rest of epoch {run.epoch + 1} sees another data order")
    log(f"resumed {path}: epoch {run.epoch + 1}, {run.batch_in_epoch} batches in, step {run.step}")
