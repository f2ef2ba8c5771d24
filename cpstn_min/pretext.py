"""Pretext branch: classification heads on pooled query-encoder features of the pretext view.

Tasks (labels come from augment.make_views / pretext_views.py): 'spatial' = which
spatial transform (a frozen body part, or an in-plane rotation), 'pace' = which
playback speed, optionally 'dir' = forward or reversed playback.
Features (N,D) -> logits (N,classes).
"""
from typing import Dict, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .pretext_views import pace_classes, spatial_classes

LABEL_KEYS = {"spatial": "spatial_label", "pace": "pace_label", "dir": "dir_label"}


def pretext_classes(augment_cfg) -> Dict[str, int]:
    """Number of classes of each pretext task implied by the augmentation config."""
    classes = {"pace": pace_classes(augment_cfg)}
    if spatial_classes(augment_cfg):
        classes["spatial"] = spatial_classes(augment_cfg)
    if augment_cfg.pretext_reverse:
        classes["dir"] = 2
    return classes


def head(in_dim: int, num_classes: int, hidden: int) -> nn.Module:
    """A linear classifier, or a one-hidden-layer MLP so task-specific detail can stay in the head."""
    if hidden <= 0:
        return nn.Linear(in_dim, num_classes)
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes))


class PretextHeads(nn.Module):
    def __init__(self, feature_dim: int, classes: Dict[str, int], hidden: int = 256):
        super().__init__()
        unknown = set(classes) - set(LABEL_KEYS)
        if unknown:
            raise ValueError(f"unknown pretext tasks {sorted(unknown)}; known: {sorted(LABEL_KEYS)}")
        self.heads = nn.ModuleDict({name: head(feature_dim, n, hidden) for name, n in classes.items()})

    def forward(self, features: torch.Tensor, views: dict) -> Dict[str, Tuple[torch.Tensor, torch.Tensor]]:
        """features (N,D), views with '<task>_label' (N,) int64 -> {task: (CE loss, accuracy)}."""
        out = {}
        for name, h in self.heads.items():
            labels = views[LABEL_KEYS[name]].to(features.device)
            logits = h(features).float()                                     # (N,classes)
            acc = (logits.detach().argmax(dim=1) == labels).float().mean()
            out[name] = (F.cross_entropy(logits, labels), acc)
        return out
