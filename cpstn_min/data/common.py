"""Facts both data worlds (synthetic/ and ntu/) share, written once.

Clips are (N,3,T,V,M) arrays: x,y,z; frames; V = 25 NTU joints (Kinect v2 order); M = 2
bodies, absent bodies and padding frames all zero. Here: the NTU-25 clip shape, NTU-60's
xsub training performers (the synthetic xsub split reuses them), the cache folder,
centring on the spine joint of frame 0 (prepare and the synthetic generator alike), and
the valid length of a clip (the dataset readers and augment.valid_frames_of).
"""
import os
from pathlib import Path

import numpy as np

NUM_JOINTS = 25          # V of every clip: the Kinect v2 skeleton of NTU RGB+D
MAX_BODIES = 2           # M: a clip keeps at most two bodies
SPINE_JOINT = 1          # 0-based index of joint 2, "middle of the spine": the centring origin
# NTU RGB+D 60 cross-subject: the 20 training performer ids (1-based) of the official protocol
NTU60_XSUB_TRAIN_PERFORMERS = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)


def cache_dir(cfg) -> Path:
    """Where generated and converted arrays are kept: cfg.cache_dir (config.DataConfig), else
    $CPSTN_CACHE, else ~/.cache/cpstn."""
    root = cfg.cache_dir or os.environ.get("CPSTN_CACHE") or Path.home() / ".cache" / "cpstn"
    return Path(root).expanduser()


def centre_clips(clips: np.ndarray) -> np.ndarray:
    """clips (N,3,T,V,M) -> centred copies: each clip moves by one vector, the position of the
    spine joint of the first body present in frame 0, so motion through the room is kept;
    absent bodies stay zero."""
    present = np.abs(clips).sum(axis=(1, 3)) > 0                   # (N,T,M)
    first = np.argmax(present[:, 0], axis=1)                         # first body present in frame 0
    origin = clips[np.arange(len(clips)), :, 0, SPINE_JOINT, first]  # (N,3)
    origin = np.where(present[:, 0].any(axis=1)[:, None], origin, 0)
    moved = clips - origin[:, :, None, None, None]
    return np.where(present[:, None, :, None, :], moved, 0).astype(clips.dtype)


def centre_clip(clip: np.ndarray) -> np.ndarray:
    """clip (3,T,V,M); returns a centred copy (absent bodies stay zero)."""
    return centre_clips(clip[None])[0]


def valid_frames_of(data):
    """data (N,3,T,V,M), a numpy array or a torch tensor -> (N,) int64 of the same kind (a tensor
    on data's device): one past the last frame holding any non-zero value, 0 if there is none."""
    n, c, t, v, m = data.shape
    present = (data != 0).reshape(n, c, t, v * m).any(3).any(1)    # (N,T); the same calls in numpy and torch
    seen = present.cumsum(1)                                         # present frames up to each frame
    count = present.sum(1)
    # frames before the last present one are those that have not yet seen every present frame
    return (seen < count[:, None]).sum(1) + (count > 0)
