"""Batched augmentation: contrastive and pretext views of a whole batch of clips.

Shapes: clips x (N,3,T,V,M), valid_frames (N,) int64 (frames after them are
padding); every view is (N,3,T_out,V,M) on x's device, labels are (N,) int64.

Each view is one `ops.skeleton_augment` call: a temporal crop resampled to
T_out frames plus a per-sample 3x3 matrix R = rotation @ shear. Parameters are
drawn on the CPU from an explicit torch.Generator, one block of uniforms per
batch for the views in a fixed order (key, query, pretext), so the same
generator state gives the same views in the main process, in DataLoader
workers and on every rank. Every range comes from config.AugmentConfig:

  key      mild:   shear key_shear, crop ratio U[key_crop], rotation up to +-key_rotate_deg
  query    strong: shear query_shear, rotation up to +-query_rotate_deg about each axis, crop U[query_crop]
  pretext  labelled: rotation class among pretext_rotations_deg about the camera (z) axis,
           pace class among pretext_paces (fraction of the valid clip covered),
           playback direction class when pretext_reverse (dir_label 1 = reversed)
"""
from typing import Dict, Tuple

import numpy as np
import torch

from . import ops
from .config import AugmentConfig
from .data.common import valid_frames_of  # noqa: F401  (one implementation for numpy and torch)

_UNIFORMS_PER_VIEW = 11  # crop ratio, crop offset, 6 shear entries, 3 angles (or 3 pretext classes)


def crop_to_steps(L: np.ndarray, ratio: np.ndarray, offset: np.ndarray,
                  T_out: int) -> Tuple[np.ndarray, np.ndarray]:
    """Crop covering `ratio` of L valid frames, at relative `offset` in [0,1] of the
    room left, resampled to T_out frames -> (start, step), float64 arrays of the
    broadcast shape of the inputs ((N,) per view).

    The crop spans positions start .. start + ratio*L - 1 (never less than one frame);
    with T_out = 1 the single output frame is the middle of the crop.
    """
    span = np.maximum(ratio * L - 1, 0)                  # first to last sampled position
    start = offset * np.maximum(L - 1 - span, 0)
    if T_out == 1:
        return start + span / 2, np.zeros_like(span)
    return start, span / (T_out - 1)


def shear_matrices(u: np.ndarray, amplitude) -> np.ndarray:
    """(...,6) uniforms in [0,1) -> (...,3,3) shear: ones on the diagonal, off-diagonal
    entries uniform in [-amplitude, amplitude] (the SkeletonCLR/AimCLR shear).
    amplitude: a float, or an array broadcasting against (...,1)."""
    S = np.ones(u.shape[:-1] + (9,))
    S[..., [1, 2, 3, 5, 6, 7]] = (2 * u - 1) * amplitude
    return S.reshape(u.shape[:-1] + (3, 3))


def axis_rotation(deg: np.ndarray, axis: int) -> np.ndarray:
    """(...) angles in degrees -> (...,3,3) right-handed rotations about axis 0 (x), 1 (y) or 2 (z)."""
    rad = np.deg2rad(deg)
    c, s = np.cos(rad), np.sin(rad)
    i, j = ((1, 2), (2, 0), (0, 1))[axis]
    R = np.zeros(rad.shape + (3, 3))
    R[..., axis, axis] = 1
    R[..., i, i], R[..., j, j], R[..., i, j], R[..., j, i] = c, c, -s, s
    return R


def rotation_matrices(deg: np.ndarray) -> np.ndarray:
    """(...,3) angles in degrees about x, y, z -> (...,3,3) = Rx @ Ry @ Rz."""
    return axis_rotation(deg[..., 0], 0) @ axis_rotation(deg[..., 1], 1) @ axis_rotation(deg[..., 2], 2)


def _classes(u: np.ndarray, k: int) -> np.ndarray:
    return np.minimum((u * k).astype(np.int64), k - 1)


def view_names(contrastive: bool = True, pretext: bool = True) -> Tuple[str, ...]:
    return (("key", "query") if contrastive else ()) + (("pretext",) if pretext else ())


def sample_params(L: np.ndarray, generator: torch.Generator, cfg: AugmentConfig,
                  names: Tuple[str, ...] = ("key", "query", "pretext")):
    """Parameters of the views `names` of a batch with L (N,) valid frames ->
    start (K,N), step (K,N), R (K,N,3,3) float64 and the pretext labels (N,) int64.

    One (K,N,11) block of uniforms from `generator`: per sample and view a crop
    ratio, a crop offset, 6 shear entries and 3 rotation angles (pretext: rotation,
    pace and direction classes). All views are computed together in float64 numpy:
    on vectors this small, per-call overhead is what costs, so fewer calls is faster.
    """
    K, N = len(names), L.shape[0]
    u = torch.rand(K, N, _UNIFORMS_PER_VIEW, generator=generator, dtype=torch.float64).numpy()
    ratio, deg, shear = np.empty((K, N)), np.zeros((K, N, 3)), np.empty((K, 1, 1))
    labels = {}
    for k, name in enumerate(names):
        if name == "pretext":
            labels["rot_label"] = _classes(u[k, :, 8], len(cfg.pretext_rotations_deg))
            labels["pace_label"] = _classes(u[k, :, 9], len(cfg.pretext_paces))
            ratio[k] = np.asarray(cfg.pretext_paces, dtype=np.float64)[labels["pace_label"]]
            deg[k, :, 2] = np.asarray(cfg.pretext_rotations_deg, dtype=np.float64)[labels["rot_label"]]
            shear[k] = cfg.pretext_shear
        else:  # contrastive: crop ratio U[crop], rotation up to +-rotate_deg about each axis
            lo, hi = getattr(cfg, f"{name}_crop")
            ratio[k] = lo + (hi - lo) * u[k, :, 0]
            deg[k] = (2 * u[k, :, 8:11] - 1) * getattr(cfg, f"{name}_rotate_deg")
            shear[k] = getattr(cfg, f"{name}_shear")
    start, step = crop_to_steps(L, ratio, u[:, :, 1], cfg.T_out)
    R = rotation_matrices(deg) @ shear_matrices(u[:, :, 2:8], shear)
    if "pretext" in names and cfg.pretext_reverse:
        k = names.index("pretext")
        reverse = _classes(u[k, :, 10], 2)
        # reversed playback: the same positions, from the last one backwards
        start[k] = np.where(reverse == 1, start[k] + step[k] * (cfg.T_out - 1), start[k])
        step[k] = np.where(reverse == 1, -step[k], step[k])
        labels["dir_label"] = reverse
    return start, step, R, labels


def check_config(cfg: AugmentConfig) -> None:
    """ValueError naming the field for ranges the samplers cannot use."""
    if cfg.T_out < 1:
        raise ValueError(f"augment.T_out must be >= 1, got {cfg.T_out}")
    for name in ("key_crop", "query_crop"):
        lo, hi = getattr(cfg, name)
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"augment.{name} must satisfy 0 < low <= high <= 1, got {(lo, hi)}")
    if not cfg.pretext_paces or not all(0 < p <= 1 for p in cfg.pretext_paces):
        raise ValueError(f"augment.pretext_paces must be fractions in (0, 1], got {cfg.pretext_paces}")
    if not cfg.pretext_rotations_deg:
        raise ValueError("augment.pretext_rotations_deg must name at least one angle")
    for name in ("key_shear", "query_shear", "pretext_shear", "key_rotate_deg", "query_rotate_deg"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"augment.{name} must be >= 0, got {getattr(cfg, name)}")


def _apply_all(x, vf_dev, start, step, R, T_out):
    """One op call per view; one host->device copy for all parameters (the op casts them to x's dtype)."""
    K, N = start.shape
    p = np.concatenate([start.reshape(K, N, 1), step.reshape(K, N, 1), R.reshape(K, N, 9)], 2)
    p = torch.from_numpy(p).to(x.device)
    return [ops.skeleton_augment(x, vf_dev, p[k, :, 0], p[k, :, 1], p[k, :, 2:].view(N, 3, 3), T_out)
            for k in range(K)]


def _valid_frames(valid_frames, x):
    vf_cpu = torch.as_tensor(valid_frames, dtype=torch.int64).cpu()
    if vf_cpu.shape != (x.shape[0],):
        raise ValueError(f"valid_frames must have shape ({x.shape[0]},) to match x, got {tuple(vf_cpu.shape)}")
    return vf_cpu.to(x.device), vf_cpu.numpy().astype(np.float64)


def make_views(x: torch.Tensor, valid_frames: torch.Tensor, generator: torch.Generator,
               cfg: AugmentConfig, contrastive: bool = True, pretext: bool = True) -> Dict[str, torch.Tensor]:
    """All views of a batch: 'key', 'query' (contrastive), 'pretext', 'rot_label',
    'pace_label' and, with cfg.pretext_reverse, 'dir_label' (pretext). On x's device."""
    check_config(cfg)
    if generator.device.type != "cpu":
        raise ValueError(f"generator must be a CPU torch.Generator, got one on {generator.device}")
    vf_dev, L = _valid_frames(valid_frames, x)
    names = view_names(contrastive, pretext)
    start, step, R, labels = sample_params(L, generator, cfg, names)
    views = dict(zip(names, _apply_all(x, vf_dev, start, step, R, cfg.T_out)))
    views.update({k: torch.from_numpy(v).to(x.device) for k, v in labels.items()})
    return views


def resize(x: torch.Tensor, valid_frames: torch.Tensor, T_out: int) -> torch.Tensor:
    """The whole valid clip resampled to T_out frames, nothing else (evaluation input)."""
    if T_out < 1:
        raise ValueError(f"T_out must be >= 1, got {T_out}")
    vf_dev, L = _valid_frames(valid_frames, x)
    start, step = crop_to_steps(L, np.ones_like(L), np.zeros_like(L), T_out)
    R = np.broadcast_to(np.eye(3), (len(L), 3, 3))
    return _apply_all(x, vf_dev, start[None], step[None], R[None], T_out)[0]
