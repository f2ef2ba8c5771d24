"""From parsed `.skeleton` bodies to a fixed-shape clip.

clip_from_skeleton(SkeletonFile) -> (L,M,25,3) float32: the M (=2) most active bodies,
most active first, over the L frames in which at least one of them is present (frames
without a kept body are dropped, so a clip has no holes and frame 0 shows a body).
Activity of a body = sum over joints and axes of the variance of its positions over the
frames it appears in (the usual NTU choice: the performer moves, a background body or a
false detection barely does). Absent bodies are zeros. Centring: common.centre_clip.
"""
import numpy as np

from ...errors import DataError
from ..common import MAX_BODIES


def most_active(xyz, body_of, n_bodies, keep):
    """xyz (K,V,3) positions of body blocks, body_of (K,) body index of each block.
    Returns the indices of the `keep` most active bodies, most active first (ties: first seen)."""
    flat = xyz.reshape(len(xyz), -1).astype(np.float64)
    count = np.bincount(body_of, minlength=n_bodies).astype(np.float64)
    mean = np.zeros((n_bodies, flat.shape[1]))
    np.add.at(mean, body_of, flat)
    mean /= np.maximum(count, 1)[:, None]
    spread = np.zeros(n_bodies)
    np.add.at(spread, body_of, ((flat - mean[body_of]) ** 2).sum(1))
    motion = spread / np.maximum(count, 1)
    return np.argsort(-motion, kind="stable")[:keep]


def clip_from_skeleton(sk, max_bodies: int = MAX_BODIES) -> np.ndarray:
    """sk: skeleton_text.SkeletonFile. Returns (L,max_bodies,25,3) float32, L >= 1."""
    if len(sk.block_frame) == 0:
        raise DataError(f"no body in any of the {sk.frame_count} frames")
    kept = most_active(sk.xyz, sk.block_body, len(sk.body_ids), max_bodies)
    slot = np.full(len(sk.body_ids), -1)
    slot[kept] = np.arange(len(kept))
    blocks = np.flatnonzero(slot[sk.block_body] >= 0)
    frames, t = np.unique(sk.block_frame[blocks], return_inverse=True)
    out = np.zeros((len(frames), max_bodies) + sk.xyz.shape[1:], np.float32)
    out[t, slot[sk.block_body[blocks]]] = sk.xyz[blocks]
    return out

