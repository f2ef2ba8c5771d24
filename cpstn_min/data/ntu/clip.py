"""From parsed `.skeleton` bodies to a fixed-shape clip, and the optional centring.

clip_from_skeleton(SkeletonFile) -> (L,M,25,3) float32: the M (=2) most active bodies,
most active first, over the L frames in which at least one of them is present (frames
without a kept body are dropped, so a clip has no holes and frame 0 shows a body).
Activity of a body = sum over joints and axes of the variance of its positions over the
frames it appears in (the usual NTU choice: the performer moves, a background body or a
false detection barely does). Absent bodies are zeros.

centre_clip(clip (3,T,V,M)) subtracts the position of the spine joint (joint 2, middle of
the spine) of the first body present in frame 0 from every present body in every frame:
the whole clip moves by one vector, so motion through the room is kept.
"""
import numpy as np

from ..base import DataError

SPINE_JOINT = 1          # 0-based index of joint 2, "middle of the spine"


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


def clip_from_skeleton(sk, max_bodies: int = 2) -> np.ndarray:
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


def centre_clips(clips: np.ndarray) -> np.ndarray:
    """clips (N,3,T,V,M); returns centred copies (absent bodies stay zero)."""
    present = np.abs(clips).sum(axis=(1, 3)) > 0                   # (N,T,M)
    first = np.argmax(present[:, 0], axis=1)                         # first body present in frame 0
    origin = clips[np.arange(len(clips)), :, 0, SPINE_JOINT, first]  # (N,3)
    origin = np.where(present[:, 0].any(axis=1)[:, None], origin, 0)
    moved = clips - origin[:, :, None, None, None]
    return np.where(present[:, None, :, None, :], moved, 0).astype(clips.dtype)


def centre_clip(clip: np.ndarray) -> np.ndarray:
    """clip (3,T,V,M); returns a centred copy (absent bodies stay zero)."""
    return centre_clips(clip[None])[0]


def valid_frames_of(data: np.ndarray) -> np.ndarray:
    """data (N,3,T,V,M) -> (N,) int64: index of the last frame with a non-zero value, plus 1."""
    nonzero = (data != 0).any(axis=(1, 3, 4))                     # (N,T)
    last = nonzero.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
    return np.where(nonzero.any(axis=1), last, 0).astype(np.int64)
