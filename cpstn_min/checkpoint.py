"""Checkpoint files: atomic saves, safe loads.

`save(obj, path)` writes any dict of tensors and plain values through
atomic.atomic_write, so a crash never leaves half a file; `load(path)` reads it
back with torch.load(weights_only=True), so a crafted file cannot run code.
What goes into a checkpoint is the business of the object saved: each one has a
`state_dict` (training.state.Run, CPSTN, ...); pretrained.py reads an encoder back.
"""
import os

import torch

from .atomic import atomic_write
from .errors import CheckpointError


def save(obj, path: str) -> None:
    with atomic_write(path) as f:
        torch.save(obj, f)


def load(path: str, map_location="cpu") -> dict:
    if not os.path.isfile(path):
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated file, foreign pickle, ...
        raise CheckpointError(f"cannot read checkpoint {path}: {e}") from e
