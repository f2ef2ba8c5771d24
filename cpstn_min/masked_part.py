"""The "mask" pretext task: one body part is cut out of the view, and a decoder says where it was.

Shapes: view (N,C,T,V,M); part (N,) int64 in 0..P-1 (P = len(graph.BODY_PARTS[...]):
left arm, right arm, left leg, right leg, head); the encoder's feature map of the
masked view (N*M,C',T',V).

The view: every joint of the part is moved onto the part's anchor (where it meets the
trunk) in every frame, so the part is gone and nothing about its motion is left.
The target: where each of the part's joints was relative to its anchor, averaged over
the frames each feature-map step covers (T -> T'). A 1x1-convolution decoder reads
the feature map at every joint and time step, plus a learned offset per joint; the loss is the mean squared error on
the masked joints of the bodies present, in decimetres. The score is R^2, the share
of the masked joints' variance (around their batch mean per joint, coordinate and step)
that the decoder explains: 0 is what predicting the average pose gives. Legs that stand
still are easy, an arm that gestures is not: reading it off the rest of the body needs
the action, so the task is neither trivial nor saturated.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .graph import body_parts

DECIMETRES = 10.0


def part_tables(num_joints: int):
    """-> (anchors (P,V) int64: the joint each slot follows when part p is masked, itself
    otherwise; masked (P,V) bool)."""
    parts = body_parts(num_joints)
    anchors = np.tile(np.arange(num_joints), (len(parts), 1))
    for p, (_, joints, anchor) in enumerate(parts):
        anchors[p, list(joints)] = anchor
    return torch.from_numpy(anchors), torch.from_numpy(anchors != np.arange(num_joints))


def mask_view(view: torch.Tensor, part: torch.Tensor) -> torch.Tensor:
    """view (N,C,T,V,M), part (N,) -> the view with the part's joints moved onto its anchor."""
    N, C, T, V, M = view.shape
    anchors, _ = part_tables(V)
    idx = anchors.to(view.device)[part].view(N, 1, 1, V, 1).expand(N, C, T, V, M)
    return torch.gather(view, 3, idx)


class MaskedPartHead(nn.Module):
    """Feature map (N*M,C,T',V) -> each joint's offset from its part's anchor (3 per joint and step)."""

    def __init__(self, in_channels: int, hidden: int = 64, num_joints: int = 25):
        super().__init__()
        hidden = hidden if hidden > 0 else in_channels
        self.decode = nn.Sequential(nn.Conv2d(in_channels, hidden, 1), nn.ReLU(inplace=True),
                                    nn.Conv2d(hidden, 3, 1))
        # the decoder is shared by all joints; each joint's typical offset is its own parameter
        self.joint_offset = nn.Parameter(torch.zeros(3, 1, num_joints))

    def forward(self, feature_map: torch.Tensor, views: dict):
        """views: 'mask_target' (N,3,T,V,M) the view before masking, 'mask_label' (N,) -> (loss, R^2)."""
        target, part = views["mask_target"], views["mask_label"]
        N, C, T, V, M = target.shape
        pred = (self.decode(feature_map) + self.joint_offset).float()            # (N*M,3,T',V)
        Tp = pred.shape[2]
        pred = pred.view(N, M, 3, Tp, V)
        tgt = F.adaptive_avg_pool2d(target.permute(0, 4, 1, 2, 3).reshape(N * M, C, T, V).float(), (Tp, V))
        tgt = tgt.view(N, M, C, Tp, V)
        anchors, masked = (t.to(target.device)[part] for t in part_tables(V))   # (N,V)
        rel = DECIMETRES * (tgt - torch.gather(tgt, 4, anchors.view(N, 1, 1, 1, V).expand_as(tgt)))
        present = (target != 0).flatten(1, 3).any(1)                              # (N,M) bodies in the clip
        w = (masked[:, None] & present[..., None]).to(pred.dtype)[:, :, None, None, :]   # (N,M,1,1,V)
        w = w.expand_as(pred)
        count = w.sum().clamp(min=1)
        loss = (w * (pred - rel) ** 2).sum() / count
        with torch.no_grad():
            mean = (w * rel).sum((0, 1)) / w.sum((0, 1)).clamp(min=1)           # (3,T',V)
            spread = (w * (rel - mean) ** 2).sum()
            r2 = 1 - (w * (pred - rel) ** 2).sum() / spread.clamp(min=1e-12)
        return loss, r2
