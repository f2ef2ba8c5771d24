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
  pretext  labelled playback speed, spatial transform and direction, seen from a viewpoint drawn
           like the query's (pretext_shear, pretext_rotate_deg), or with pretext_viewpoint from the
           query's own viewpoint turned by a labelled yaw: pretext_views.py
           (drawn after the contrastive views, from its own block of uniforms)

2D clips (N,2,T,V,M), x,y in the image plane (custom data from 2D pose estimators): the
kernel works on 3 channels, so a zero z channel is added and R is kept in the image plane
(`in_plane`): rotations about the camera axis z only (the angles about x and y are drawn
but set to 0, so the same generator gives the same draws in 2D and 3D) and shear within
x,y only (the four entries that would mix z in are 0). z stays zero and is dropped again,
so every view is (N,2,T_out,V,M). Crops, the pretext pace and the "freeze" task act on
frames and joints and work unchanged; the "rotation" pretext task is already in-plane.
"""
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from . import ops
from .config import AugmentConfig
from .data.common import valid_frames_of  # noqa: F401  (one implementation for numpy and torch)
from .pretext_views import pretext_view

_UNIFORMS_PER_VIEW = 11  # crop ratio, crop offset, 6 shear entries, 3 angles


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


def in_plane(S: np.ndarray) -> np.ndarray:
    """(...,3,3) -> a copy with the entries that mix z with x,y set to 0 (2D clips)."""
    S = S.copy()
    S[..., 2, :2] = 0
    S[..., :2, 2] = 0
    return S


def rotation_matrices(deg: np.ndarray) -> np.ndarray:
    """(...,3) angles in degrees about x, y, z -> (...,3,3) = Rx @ Ry @ Rz."""
    return axis_rotation(deg[..., 0], 0) @ axis_rotation(deg[..., 1], 1) @ axis_rotation(deg[..., 2], 2)


def view_matrices(shear_u: np.ndarray, shear, deg: Optional[np.ndarray], planar: bool) -> np.ndarray:
    """The viewpoint of a view, rotation @ shear: (...,6) shear uniforms, the shear amplitude (as for
    shear_matrices), (...,3) angles in degrees or None (no rotation) -> (...,3,3). planar (2D clips
    padded with a zero z): rotation about the camera axis only, no shear into or out of z."""
    S = shear_matrices(shear_u, shear)
    if planar:
        S = in_plane(S)
    if deg is None:
        return S
    if planar:
        deg = deg.copy()
        deg[..., :2] = 0
    return rotation_matrices(deg) @ S


CONTRASTIVE_VIEWS = ("key", "query")
PRETEXT_SPATIAL = ("freeze", "swap", "mask", "rotation", "none")


def view_ranges(cfg: AugmentConfig, name: str):
    """(crop ratio range, shear amplitude, max rotation in degrees) of a contrastive view."""
    if name == "key":
        return cfg.key_crop, cfg.key_shear, cfg.key_rotate_deg
    if name == "query":
        return cfg.query_crop, cfg.query_shear, cfg.query_rotate_deg
    raise ValueError(f"unknown contrastive view {name!r}; known: {CONTRASTIVE_VIEWS}")


def sample_params(L: np.ndarray, generator: torch.Generator, cfg: AugmentConfig,
                  names: Tuple[str, ...] = CONTRASTIVE_VIEWS, planar: bool = False, angles: bool = False):
    """Parameters of the contrastive views `names` of a batch with L (N,) valid frames ->
    start (K,N), step (K,N), R (K,N,3,3) float64; with angles=True also the (K,N,3) rotation
    angles in degrees that R was made with (the relative-viewpoint task turns the query's).

    One (K,N,11) block of uniforms from `generator`: per sample and view a crop
    ratio, a crop offset, 6 shear entries and 3 rotation angles. All views are
    computed together in float64 numpy: on vectors this small, per-call overhead
    is what costs, so fewer calls is faster.
    """
    K, N = len(names), L.shape[0]
    u = torch.rand(K, N, _UNIFORMS_PER_VIEW, generator=generator, dtype=torch.float64).numpy()
    ratio, deg, shear = np.empty((K, N)), np.zeros((K, N, 3)), np.empty((K, 1, 1))
    for k, name in enumerate(names):  # crop ratio U[crop], rotation up to +-rotate_deg about each axis
        (lo, hi), shear[k], rotate_deg = view_ranges(cfg, name)
        ratio[k] = lo + (hi - lo) * u[k, :, 0]
        deg[k] = (2 * u[k, :, 8:11] - 1) * rotate_deg
    start, step = crop_to_steps(L, ratio, u[:, :, 1], cfg.T_out)
    R = view_matrices(u[:, :, 2:8], shear, deg, planar)
    return (start, step, R, deg) if angles else (start, step, R)


def check_config(cfg: AugmentConfig) -> None:
    """ValueError naming the field for ranges the samplers cannot use."""
    if cfg.T_out < 1:
        raise ValueError(f"augment.T_out must be >= 1, got {cfg.T_out}")
    for name in ("key_crop", "query_crop"):
        lo, hi = getattr(cfg, name)
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"augment.{name} must satisfy 0 < low <= high <= 1, got {(lo, hi)}")
    if cfg.pretext_frames < 0:
        raise ValueError(f"augment.pretext_frames must be >= 0 (0: T_out), got {cfg.pretext_frames}")
    if cfg.pretext_pace not in ("stride", "crop"):
        raise ValueError(f"augment.pretext_pace must be 'stride' or 'crop', got {cfg.pretext_pace!r}")
    if not cfg.pretext_strides or not all(isinstance(s, int) and s >= 1 for s in cfg.pretext_strides):
        raise ValueError(f"augment.pretext_strides must be integers >= 1, got {cfg.pretext_strides}")
    if not cfg.pretext_paces or not all(0 < p <= 1 for p in cfg.pretext_paces):
        raise ValueError(f"augment.pretext_paces must be fractions in (0, 1], got {cfg.pretext_paces}")
    if cfg.pretext_spatial not in PRETEXT_SPATIAL:
        raise ValueError(f"augment.pretext_spatial must be one of {', '.join(PRETEXT_SPATIAL)}, "
                         f"got {cfg.pretext_spatial!r}")
    if not cfg.pretext_rotations_deg:
        raise ValueError("augment.pretext_rotations_deg must name at least one angle")
    if cfg.pretext_viewpoint and len(set(cfg.pretext_viewpoint_deg)) < 2:
        raise ValueError(f"augment.pretext_viewpoint_deg must name at least two different yaws, "
                         f"got {cfg.pretext_viewpoint_deg}")
    for name, value in (("key_shear", cfg.key_shear), ("query_shear", cfg.query_shear),
                        ("pretext_shear", cfg.pretext_shear), ("key_rotate_deg", cfg.key_rotate_deg),
                        ("query_rotate_deg", cfg.query_rotate_deg),
                        ("pretext_rotate_deg", cfg.pretext_rotate_deg)):
        if value < 0:
            raise ValueError(f"augment.{name} must be >= 0, got {value}")


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


def _with_z(x: torch.Tensor) -> torch.Tensor:
    """(N,C,T,V,M) with C = 3, or C = 2 padded with a zero z channel (the kernel takes 3)."""
    if x.dim() != 5 or x.shape[1] not in (2, 3):
        raise ValueError(f"clips must be (N,3,T,V,M) or 2D (N,2,T,V,M), got {tuple(x.shape)}")
    return torch.cat([x, x.new_zeros(x[:, :1].shape)], 1) if x.shape[1] == 2 else x


def make_views(x: torch.Tensor, valid_frames: torch.Tensor, generator: torch.Generator,
               cfg: AugmentConfig, contrastive: bool = True, pretext: bool = True) -> Dict[str, torch.Tensor]:
    """All views of a batch: 'key', 'query' (contrastive), 'pretext' with 'pace_label' and,
    when those tasks are on, 'spatial_label' and 'dir_label' (pretext). On x's device.
    2D clips (N,2,T,V,M) give 2D views, augmented in the image plane (module docstring)."""
    check_config(cfg)
    if generator.device.type != "cpu":
        raise ValueError(f"generator must be a CPU torch.Generator, got one on {generator.device}")
    C, x = x.shape[1], _with_z(x)
    vf_dev, L = _valid_frames(valid_frames, x)
    views, query_deg = {}, None
    if contrastive:
        start, step, R, deg = sample_params(L, generator, cfg, planar=C == 2, angles=True)
        views.update(zip(CONTRASTIVE_VIEWS, _apply_all(x, vf_dev, start, step, R, cfg.T_out)))
        query_deg = deg[CONTRASTIVE_VIEWS.index("query")]
    if pretext:
        views.update(pretext_view(x, vf_dev, L, generator, cfg, planar=C == 2, query_deg=query_deg))
    return {k: v[:, :C] if v.dim() == 5 else v for k, v in views.items()}


def resize(x: torch.Tensor, valid_frames: torch.Tensor, T_out: int) -> torch.Tensor:
    """The whole valid clip resampled to T_out frames, nothing else (evaluation input)."""
    if T_out < 1:
        raise ValueError(f"T_out must be >= 1, got {T_out}")
    C, x = x.shape[1], _with_z(x)
    vf_dev, L = _valid_frames(valid_frames, x)
    start, step = crop_to_steps(L, np.ones_like(L), np.zeros_like(L), T_out)
    R = np.broadcast_to(np.eye(3), (len(L), 3, 3))
    return _apply_all(x, vf_dev, start[None], step[None], R[None], T_out)[0][:, :C]
