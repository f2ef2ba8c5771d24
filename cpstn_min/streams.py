"""Input streams: what the encoder sees of a clip — joints, bones or motion (3s-AimCLR / 3s-CrosSCLR).

Shapes: clips (N,C,T,V,M), C = 3 (x,y,z) or 2 (x,y); every stream has the clip's shape.

  joint   the coordinates themselves
  bone    joint minus its parent joint (graph.parent_joints: the neighbour one hop closer to
          the layout's centre); the centre's own bone is zero. For ntu-rgb+d these are the
          NTU bone pairs of the peers' bone streams.
  motion  the frame difference x[t+1] - x[t], zero on the last valid frame. Streams are
          computed on clips whose every frame is valid: the training views (augment.make_views
          resamples the valid frames only) and the evaluation input (augment.resize), so the
          last valid frame is the last frame T-1.

Training computes the stream after augmentation, on the training device, for every view
(`views_to_stream`); evaluation and export wrap the encoder in `StreamEncoder`, which
takes the same resized joint clips as a joint-stream encoder. Both are a few batched torch
ops, the same code for every sample. A dataset read from precomputed stream files (the
peers' `_data_bone.npy`, ...) already holds its stream: `to_compute` then says there is
nothing left to compute.
"""
from functools import lru_cache
from typing import Dict

import torch
import torch.nn as nn

from .errors import UsageError
from .graph import LAYOUTS, parent_joints

STREAMS = ("joint", "bone", "motion")


def check_stream(stream: str, what: str = "--stream") -> str:
    """The stream name, or UsageError naming `what`."""
    if stream not in STREAMS:
        raise UsageError(f"{what} must be one of {', '.join(STREAMS)}, got {stream!r}")
    return stream


def to_compute(stream: str, stored: str = "joint") -> str:
    """Which stream is left to compute from clips that hold `stored` ('joint' means: none)."""
    if stored == "joint":
        return stream
    if stored == stream:
        return "joint"
    raise UsageError(f"the data holds the precomputed {stored} stream, but the model learns the {stream} "
                     f"stream; pass --stream {stored}, or give the joint files")


@lru_cache(maxsize=None)
def _parents(layout: str, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(parent_joints(layout)).to(device)


def bone(x: torch.Tensor, parents: torch.Tensor) -> torch.Tensor:
    """x (N,C,T,V,M), parents (V,) long -> x[..., v, :] - x[..., parents[v], :]."""
    return x - x.index_select(3, parents)


def motion(x: torch.Tensor) -> torch.Tensor:
    """x (N,C,T,V,M) -> x[:, :, t+1] - x[:, :, t], with zeros for the last frame."""
    return torch.cat([x[:, :, 1:] - x[:, :, :-1], torch.zeros_like(x[:, :, :1])], dim=2)


def to_stream(x: torch.Tensor, stream: str, layout: str) -> torch.Tensor:
    """Joint clips x (N,C,T,V,M), every frame valid -> the `stream` of them (same shape)."""
    if stream == "joint":
        return x
    if stream == "bone":
        return bone(x, _parents(layout, x.device))
    if stream == "motion":
        return motion(x)
    raise UsageError(f"unknown stream {stream!r}; choose one of {', '.join(STREAMS)}")


def views_to_stream(views: Dict[str, torch.Tensor], stream: str, layout: str) -> Dict[str, torch.Tensor]:
    """augment.make_views' dict with every clip (5-D tensor) turned into `stream`; labels unchanged."""
    if stream == "joint":
        return views
    return {k: to_stream(v, stream, layout) if v.dim() == 5 else v for k, v in views.items()}


class StreamEncoder(nn.Module):
    """(N,C,T,V,M) joint clips, every frame valid -> the encoder's features of their `stream`.

    Only plain torch ops (index_select, sub, cat), so a traced or ONNX-exported copy holds no
    cpstn op; `feature_dim` and `A` are the wrapped encoder's."""

    def __init__(self, encoder: nn.Module, stream: str, layout: str):
        super().__init__()
        check_stream(stream)
        if layout not in LAYOUTS:
            raise UsageError(f"unknown layout {layout!r}; choose one of {', '.join(sorted(LAYOUTS))}")
        self.encoder, self.stream = encoder, stream
        self.register_buffer("parents", torch.from_numpy(parent_joints(layout)), persistent=False)

    @property
    def feature_dim(self) -> int:
        return self.encoder.feature_dim

    @property
    def A(self) -> torch.Tensor:
        return self.encoder.A

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stream == "bone":
            x = bone(x, self.parents)
        elif self.stream == "motion":
            x = motion(x)
        return self.encoder(x)


def with_stream(encoder: nn.Module, stream: str, layout: str) -> nn.Module:
    """The encoder itself for the joint stream, else a StreamEncoder around it."""
    return encoder if stream == "joint" else StreamEncoder(encoder, stream, layout)
