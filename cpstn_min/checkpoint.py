"""Checkpoints: atomic writes, safe loads.

A checkpoint is a dict {"config": Config.to_dict(), "model": state_dict, ...};
train.py adds optimizer, scheduler, RNG and data-order state for --resume.
Loads use weights_only=True so a crafted file cannot run code.
"""
import os

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
