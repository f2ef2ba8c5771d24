"""Pretext branch: heads on the query encoder's feature map of the pretext view.

Tasks (labels come from augment.make_views / pretext_views.py): 'spatial' = which
spatial transform (a frozen or swapped body part, or an in-plane rotation), 'pace' =
which playback speed, 'dir' = forward or reversed playback (augment.pretext_reverse, on by
default): classifiers on pooled features (N,D) -> logits (N,classes); with spatial_pool "joints"
the spatial classifier reads the feature map averaged over time only, (N,D*V): averaged over the
joints too, which part was frozen or swapped is no longer in the features; with pace_pool
"frames" the pace and direction classifiers read the map averaged over the joints only, in
FRAME_BINS steps of time, (N,D*FRAME_BINS), so how the features change over the view reaches
them. 'mask' = where the joints of a body part that was masked out of the view are: a per-joint
decoder on the feature map (masked_part.py).
'view' = by which yaw the pretext view's viewpoint was turned from the contrastive query's: a
classifier on both views' features side by side (pooled as the spatial head's), so it needs the
query's feature map at the same block.
Every head returns (loss, score): the classifiers' score is top-1 accuracy, the mask
head's the fraction of the masked joints' variance it explains (R^2; 0 = predicting
their mean).
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .encoder import pool_map
from .masked_part import MaskedPartHead
from .pretext_views import mask_parts, pace_classes, spatial_classes, viewpoint_classes

LABEL_KEYS = {"spatial": "spatial_label", "pace": "pace_label", "dir": "dir_label", "mask": "mask_label",
              "view": "view_label"}
SPATIAL_POOLS = ("mean", "joints")   # model.spatial_pool
PACE_POOLS = ("mean", "frames")      # model.pace_pool
# time steps the "frames" pool keeps: a fixed number, so the head's size does not depend on the
# view length or the block (block 7 of a 32-frame view has 16 steps: pairs of them are averaged)
FRAME_BINS = 8


def pretext_classes(augment_cfg) -> Dict[str, int]:
    """Number of classes (for 'mask': of body parts) of each pretext task the augmentation config implies."""
    classes = {"pace": pace_classes(augment_cfg)}
    if mask_parts(augment_cfg):
        classes["mask"] = mask_parts(augment_cfg)
    elif spatial_classes(augment_cfg):
        classes["spatial"] = spatial_classes(augment_cfg)
    if augment_cfg.pretext_reverse:
        classes["dir"] = 2
    if viewpoint_classes(augment_cfg):
        classes["view"] = viewpoint_classes(augment_cfg)
    return classes


def head(in_dim: int, num_classes: int, hidden: int) -> nn.Module:
    """A linear classifier, or a one-hidden-layer MLP so task-specific detail can stay in the head."""
    if hidden <= 0:
        return nn.Linear(in_dim, num_classes)
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes))


def joint_pool(feature_map: torch.Tensor, N: int) -> torch.Tensor:
    """Feature map (N*M,C,T,V) -> (N,C*V): mean over time, then over the M bodies."""
    per_joint = feature_map.mean(dim=2)
    return per_joint.view(N, -1, *per_joint.shape[1:]).mean(dim=1).flatten(1)


def frame_pool(feature_map: torch.Tensor, N: int) -> torch.Tensor:
    """Feature map (N*M,C,T,V) -> (N,C*FRAME_BINS): mean over the joints, T averaged into FRAME_BINS
    equal spans of time, then mean over the M bodies."""
    per_frame = F.adaptive_avg_pool1d(feature_map.mean(dim=3), FRAME_BINS)
    return per_frame.view(N, -1, *per_frame.shape[1:]).mean(dim=1).flatten(1)


POOLS = {"mean": pool_map, "joints": joint_pool, "frames": frame_pool}


class PretextHeads(nn.Module):
    def __init__(self, feature_dim: int, classes: Dict[str, int], hidden: int = 256, num_joints: int = 25,
                 spatial_pool: str = "mean", pace_pool: str = "mean"):
        super().__init__()
        unknown = set(classes) - set(LABEL_KEYS)
        if unknown:
            raise ValueError(f"unknown pretext tasks {sorted(unknown)}; known: {sorted(LABEL_KEYS)}")
        if spatial_pool not in SPATIAL_POOLS:
            raise ValueError(f"spatial_pool must be one of {SPATIAL_POOLS}, got {spatial_pool!r}")
        if pace_pool not in PACE_POOLS:
            raise ValueError(f"pace_pool must be one of {PACE_POOLS}, got {pace_pool!r}")
        # what each classifier reads: "mean" (pool_map), "joints" (joint_pool) or "frames" (frame_pool)
        self.reads = {name: spatial_pool if name in ("spatial", "view") else
                      pace_pool if name in ("pace", "dir") else "mean" for name in classes if name != "mask"}
        width = {"mean": 1, "joints": num_joints, "frames": FRAME_BINS}
        in_dims = {name: feature_dim * width[kind] for name, kind in self.reads.items()}
        if "view" in in_dims:
            in_dims["view"] *= 2                                  # pretext and query features side by side
        self.heads = nn.ModuleDict({name: MaskedPartHead(feature_dim, hidden, num_joints) if name == "mask"
                                    else head(in_dims[name], n, hidden) for name, n in classes.items()})

    def pool(self, name: str, feature_map: torch.Tensor, N: int) -> torch.Tensor:
        """What the classifier of task `name` reads of a feature map: (N,C), (N,C*V) or (N,C*FRAME_BINS)."""
        return POOLS[self.reads[name]](feature_map, N)

    def forward(self, feature_map: torch.Tensor, views: dict,
                query_map: Optional[torch.Tensor] = None) -> Dict[str, Tuple[torch.Tensor, torch.Tensor]]:
        """feature_map (N*M,C,T',V) of the pretext view, views with '<task>_label' (N,) int64,
        query_map: the query view's feature map at the same block (the 'view' task)
        -> {task: (loss, score)}."""
        N = views["pace_label"].shape[0]
        if "view" in self.heads and query_map is None:
            raise ValueError("the relative-viewpoint head needs query_map, the query view's feature map")
        pooled = {kind: POOLS[kind](feature_map, N) for kind in set(self.reads.values())}   # each once
        out = {}
        for name, h in self.heads.items():
            if name == "mask":
                out[name] = h(feature_map, views)
                continue
            features = pooled[self.reads[name]]
            if name == "view":
                features = torch.cat([features, self.pool(name, query_map, N)], 1)
            labels = views[LABEL_KEYS[name]].to(feature_map.device)
            logits = h(features).float()   # (N,classes)
            acc = (logits.detach().argmax(dim=1) == labels).float().mean()
            out[name] = (F.cross_entropy(logits, labels), acc)
        return out
