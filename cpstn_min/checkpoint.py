"""Checkpoint files: atomic saves, safe loads.

`save(obj, path)` writes any dict of tensors and plain values through
atomic.atomic_write, so a crash never leaves half a file; `load(path)` reads it
back with torch.load(weights_only=True), so a crafted file cannot run code.
What goes into a checkpoint is the business of the object saved: each one has a
`state_dict` (training.state.Run, CPSTN, ...); pretrained.py reads an encoder back.
`require_entries` checks the layout of a loaded checkpoint before anything indexes it.
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
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"cannot read checkpoint {path}: the file is empty (0 bytes)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated file, foreign pickle, ...
        raise CheckpointError(f"cannot read checkpoint {path}: {_reason(e)}") from e


def require_entries(ckpt, path: str, entries=("config", "model")) -> dict:
    """`ckpt` if it is a dict whose `entries` are dicts; else a CheckpointError naming the first that is not."""
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} is not a cpstn checkpoint: it holds a {type(ckpt).__name__}, not a dict")
    for name in entries:
        if name not in ckpt:
            raise CheckpointError(f"{path} is not a cpstn checkpoint: it has no {name!r} entry")
        if not isinstance(ckpt[name], dict):
            raise CheckpointError(f"{path} is not a cpstn checkpoint: its {name!r} entry is a "
                                  f"{type(ckpt[name]).__name__}, not a dict")
    return ckpt


def _reason(e: Exception) -> str:
    """torch.load's error in a few words: its weights_only refusal spans paragraphs of advice
    (to load with weights_only=False, which would run the file's code) that must not reach users,
    and a damaged file can fail anywhere in the unpickler with a bare IndexError or the like."""
    if isinstance(e, OSError):
        return e.strerror or str(e)
    text = str(e)
    if "Weights only load failed" in text:
        detail = text.split("WeightsUnpickler error:", 1)[-1].split("Check the documentation", 1)[0]
    else:
        detail = f"{type(e).__name__}: {next((line for line in text.splitlines() if line.strip()), '')}"
    detail = " ".join(detail.split())[:120]
    return ("not a PyTorch checkpoint of tensors and plain values (a damaged or cut-short file, another format, "
            "or objects that could run code, which are never loaded)" + (f": {detail}" if detail else ""))
