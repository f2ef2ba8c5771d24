"""The labelled pretext view of a batch: playback speed, a spatial transform, playback direction.

Shapes: clips x (N,3,T,V,M), valid lengths L (N,); the view is (N,3,T_p,V,M) with
T_p = cfg.pretext_frames (0: cfg.T_out); labels (N,) int64.

Temporal label, cfg.pretext_pace:
  "stride"  (default) the view plays the clip at s source frames per output frame,
            s = cfg.pretext_strides[pace_label] (1..4 at the native 30 fps): output frame
            j shows source frame start + j*s. The label is a playback speed, the same
            for every clip length. A clip shorter than the s*(T_p-1)+1 frames the view
            spans is played back and forth (ping-pong: positions reflect at the first
            and last valid frame), so its speed stays s frames per output frame; clamping
            would freeze the tail, and only fast classes would show frozen frames.
            Every stride is drawn for every clip: the label never depends on L.
  "crop"    the first design, kept to reproduce earlier results: the view covers the
            fraction cfg.pretext_paces[pace_label] of the clip, resampled to T_p frames,
            so its real speed also depends on L, which the network never sees.
Spatial label, cfg.pretext_spatial:
  "freeze"   (default) which body part (none, left arm, right arm, left leg, right leg,
             head) has its articulation removed: the part moves rigidly with its anchor
             joint, held in its first-frame pose, keeping its own high-frequency jitter
             (view minus its temporal moving average) so sensor noise does not give the
             answer away. Whether a still part is "frozen" depends on the action, so the
             task has no static shortcut and cannot be solved perfectly.
  "swap"     which body part (none, or one of the same five) moves as that part of another
             clip of the batch, carried over in the body's own frame and scaled to the
             receiver's limb length (part_swap.py): only the coordination of the part with
             the rest of the body tells, so the task needs to know how actions move the body.
  "mask"     one of the five parts is cut out of the view (its joints sit on its anchor)
             and a decoder on the feature map says where they were (masked_part.py):
             a regression, its labels are the masked part and the view before masking.
  "rotation" the first design: one of cfg.pretext_rotations_deg about the camera axis;
             an upright body gives the answer away through the gravity direction.
  "none"     no spatial task.
Direction (cfg.pretext_reverse, on by default): dir_label 1 plays the view backwards.
Relative viewpoint (cfg.pretext_viewpoint, needs the contrastive views): the pretext view is
seen from the query's viewpoint turned by cfg.pretext_viewpoint_deg[view_label] about the
vertical (y) axis, R = Ry(yaw) @ R_query_rotation @ own shear; a head on both views' features
says which yaw (pretext.py). Only the body's orientation relative to the other view tells,
so the encoder has to represent how a body looks when the camera moves round it.

Viewpoint (cfg.pretext_shear, cfg.pretext_rotate_deg): a shear and a rotation about each axis,
drawn as for the contrastive query, so the labels must be read from any viewpoint.

Parameters come from one (N,10) block of uniforms of the caller's generator:
pace class, start offset, spatial class, direction, 6 shear entries; with
cfg.pretext_rotate_deg > 0 an (N,3) block of angles follows (none is drawn at 0, so
configs without it replay exactly), with cfg.pretext_viewpoint an (N,) block for the yaw
class (unused angles are still drawn, so the other draws do not move); "swap" then draws one batch offset r in 1..N-1
(the donor of sample n is n + r mod N). The view is one
`ops.skeleton_augment` call (reflect=True for ping-pong playback in stride mode).
"""
from typing import Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F

from . import ops
from .config import AugmentConfig
from .masked_part import mask_view, part_tables
from .part_swap import swap_parts

UNIFORMS = 10
PART_CLASSES = 6             # none + the 5 parts of graph.BODY_PARTS (arms, legs, head): freeze, swap
SMOOTH_FRAMES = 5            # moving-average window that separates motion from jitter


def spatial_classes(cfg: AugmentConfig) -> int:
    """Number of spatial classes (0: no spatial classification task)."""
    if cfg.pretext_spatial in ("none", "mask"):
        return 0
    if cfg.pretext_spatial == "rotation":
        return len(cfg.pretext_rotations_deg)
    return PART_CLASSES


def mask_parts(cfg: AugmentConfig) -> int:
    """Number of body parts the "mask" task chooses from (0: another spatial task)."""
    return PART_CLASSES - 1 if cfg.pretext_spatial == "mask" else 0


def viewpoint_classes(cfg: AugmentConfig) -> int:
    """Number of relative-viewpoint classes (0: the task is off)."""
    return len(cfg.pretext_viewpoint_deg) if cfg.pretext_viewpoint else 0


def pace_classes(cfg: AugmentConfig) -> int:
    return len(cfg.pretext_strides if cfg.pretext_pace == "stride" else cfg.pretext_paces)


def view_frames(cfg: AugmentConfig) -> int:
    return cfg.pretext_frames or cfg.T_out


def stride_starts(L: np.ndarray, strides: np.ndarray, offset: np.ndarray, T_p: int) -> np.ndarray:
    """(N,) valid lengths, strides, offsets in [0,1) -> (N,) integer first frames, uniform over
    the room the view leaves in the clip (0 when it does not fit: it then plays back and forth)."""
    room = np.maximum(np.maximum(L - 1, 0) - strides * (T_p - 1), 0)
    return np.minimum(np.floor(offset * (room + 1)), room)


def _freeze_anchors(part: np.ndarray, V: int) -> np.ndarray:
    """(N,) part classes (0 = none) -> (N,V) joint each slot follows (itself unless frozen)."""
    anchors, _ = part_tables(V)
    return np.vstack([np.arange(V), anchors.numpy()])[part]


def freeze_parts(view: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """view (N,3,T,V,M), anchors (N,V) long -> view with every joint j whose anchor a != j
    replaced by smooth[a](t) + smooth[j](0) - smooth[a](0) + jitter[j](t)."""
    N, C, T, V, M = view.shape
    flat = view.permute(0, 1, 3, 4, 2).reshape(N, C * V * M, T)
    k = min(SMOOTH_FRAMES, T) | 1                                            # odd window
    smooth = F.avg_pool1d(F.pad(flat, (k // 2, k // 2), mode="replicate") if T > 1 else flat,
                          k if T > 1 else 1, stride=1).view(N, C, V, M, T).permute(0, 1, 4, 2, 3)
    jitter = view - smooth
    idx = anchors.view(N, 1, 1, V, 1).expand(N, C, T, V, M)
    anchor_smooth = torch.gather(smooth, 3, idx)                             # (N,C,T,V,M)
    frozen = anchor_smooth + (smooth[:, :, :1] - anchor_smooth[:, :, :1]) + jitter
    moved = (anchors != torch.arange(V, device=anchors.device)).view(N, 1, 1, V, 1)
    return torch.where(moved, frozen, view)


def _classes(u: np.ndarray, k: int) -> np.ndarray:
    return np.minimum((u * k).astype(np.int64), k - 1)


def pretext_view(x: torch.Tensor, valid_frames: torch.Tensor, L: np.ndarray, generator: torch.Generator,
                 cfg: AugmentConfig, planar: bool = False,
                 query_deg: Optional[np.ndarray] = None) -> Dict[str, torch.Tensor]:
    """valid_frames (N,) int64 on x's device, L the same as float64 numpy ->
    {'pretext': (N,3,T_p,V,M), 'pace_label', and 'spatial_label' / 'dir_label' / 'view_label'
    when on; "mask": 'mask_label' and 'mask_target' (the view before masking)}.
    planar: x holds 2D clips padded with a zero z (augment.make_views); the shear stays in-plane.
    query_deg: (N,3) rotation angles of the contrastive query (augment.sample_params), which
    cfg.pretext_viewpoint needs."""
    from .augment import axis_rotation, crop_to_steps, view_matrices
    N, V, T_p = x.shape[0], x.shape[3], view_frames(cfg)
    u = torch.rand(N, UNIFORMS, generator=generator, dtype=torch.float64).numpy()
    labels = {"pace_label": _classes(u[:, 0], pace_classes(cfg))}
    if cfg.pretext_pace == "stride":   # integer positions: frames are read as they are, never blended
        step = np.asarray(cfg.pretext_strides, dtype=np.float64)[labels["pace_label"]]
        start = stride_starts(L, step, u[:, 1], T_p)
    else:
        ratio = np.asarray(cfg.pretext_paces, dtype=np.float64)[labels["pace_label"]]
        start, step = crop_to_steps(L, ratio, u[:, 1], T_p)
    if cfg.pretext_reverse:   # the same positions from the last one backwards (also when reflected)
        labels["dir_label"] = _classes(u[:, 3], 2)
        back = labels["dir_label"] == 1
        start, step = np.where(back, start + step * (T_p - 1), start), np.where(back, -step, step)
    deg = None                                     # no angles are drawn at 0: earlier runs replay
    if cfg.pretext_rotate_deg > 0:
        deg = (2 * torch.rand(N, 3, generator=generator, dtype=torch.float64).numpy() - 1) * cfg.pretext_rotate_deg
    if cfg.pretext_viewpoint:
        if query_deg is None or planar:
            raise ValueError("augment.pretext_viewpoint turns the contrastive query's viewpoint about the vertical "
                             "axis: it needs 3D clips and the contrastive views (the query's angles, query_deg)")
        labels["view_label"] = _classes(torch.rand(N, generator=generator, dtype=torch.float64).numpy(),
                                        viewpoint_classes(cfg))
        yaw = np.asarray(cfg.pretext_viewpoint_deg, dtype=np.float64)[labels["view_label"]]
        deg = query_deg
    R = view_matrices(u[:, 4:10], cfg.pretext_shear, deg, planar)
    if cfg.pretext_viewpoint:
        R = axis_rotation(yaw, 1) @ R
    n_spatial = spatial_classes(cfg)
    if n_spatial:
        labels["spatial_label"] = _classes(u[:, 2], n_spatial)
    if cfg.pretext_spatial == "rotation":
        R = axis_rotation(np.asarray(cfg.pretext_rotations_deg, dtype=np.float64)[labels["spatial_label"]], 2) @ R
    p = torch.from_numpy(np.concatenate([start[:, None], step[:, None], R.reshape(N, 9)], 1)).to(x.device)
    view = ops.skeleton_augment(x, valid_frames, p[:, 0], p[:, 1], p[:, 2:].view(N, 3, 3), T_p,
                                reflect=cfg.pretext_pace == "stride")
    if cfg.pretext_spatial == "freeze":
        anchors = torch.from_numpy(_freeze_anchors(labels["spatial_label"], V)).to(x.device)
        view = freeze_parts(view, anchors)
    if cfg.pretext_spatial == "mask":
        labels["mask_label"] = _classes(u[:, 2], mask_parts(cfg))
        target, view = view, mask_view(view, torch.from_numpy(labels["mask_label"]).to(x.device))
    if cfg.pretext_spatial == "swap":
        shift = torch.randint(1, N, (1,), generator=generator).item() if N > 1 else 0
        donor = (torch.arange(N) + shift) % N
        view = swap_parts(view, torch.from_numpy(labels["spatial_label"]).to(x.device), donor.to(x.device))
    out = {"pretext": view}
    if cfg.pretext_spatial == "mask":
        out["mask_target"] = target
    out.update({k: torch.from_numpy(v).to(x.device) for k, v in labels.items()})
    return out
