"""Per-sample numpy augmentation in the style of AimCLR/CrosSCLR feeders: the
baseline that cpstn's batched op replaces (benchmarks only).

Every view of every clip is built in Python, one sample at a time, the way
those feeders do it in Dataset.__getitem__: keep the valid frames, reflect-pad
them by L//6 at both ends and take a random window of L frames, crop a random
ratio, resize to T_out frames by linear interpolation, then multiply every xyz
vector by a shear matrix with np.dot (six `random.uniform` draws, as there) and,
for the strong view, rotate about each axis in turn with np.matmul.

clip (3,T,V,M) float32, L valid frames -> each view (3,T_out,V,M)
"""
import random

import numpy as np


def temporal_pad_crop(clip, rng, padding_ratio=6):
    """Reflect-pad T//padding_ratio frames at both ends, then a random window of T frames."""
    T = clip.shape[1]
    pad = T // padding_ratio
    padded = np.concatenate((clip[:, :pad][:, ::-1], clip, clip[:, T - pad:][:, ::-1]), axis=1)
    begin = rng.integers(0, 2 * pad + 1)
    return padded[:, begin:begin + T]


def crop_resize(clip, rng, ratio_range, T_out):
    """Random crop of ratio U[ratio_range] of the frames, resized to T_out frames (linear)."""
    T = clip.shape[1]
    ratio = rng.uniform(*ratio_range)
    length = min(max(int(np.floor(T * ratio)), 1), T)
    begin = rng.integers(0, T - length + 1)
    return resize(clip[:, begin:begin + length], T_out)


def resize(clip, T_out):
    T = clip.shape[1]
    pos = np.linspace(0, T - 1, T_out)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, T - 1)
    w = (pos - i0)[None, :, None, None]
    return clip[:, i0] * (1 - w) + clip[:, i1] * w


def shear(clip, py_rng, amplitude):
    s = [py_rng.uniform(-amplitude, amplitude) for _ in range(6)]
    S = np.array([[1, s[0], s[1]], [s[2], 1, s[3]], [s[4], s[5], 1]])
    return np.dot(clip.transpose(1, 2, 3, 0), S.T).transpose(3, 0, 1, 2).astype(np.float32)


def axis_rotation(axis, deg):
    c, s = np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))
    if axis == 0:
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == 1:
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def rotate(clip, axes_and_degrees):
    """Rotate about one axis after another (z first, so the product is Rx Ry Rz)."""
    seq = clip.transpose(1, 2, 3, 0)  # (T,V,M,C)
    for axis, deg in axes_and_degrees:
        seq = np.matmul(seq, axis_rotation(axis, deg).T)
    return seq.transpose(3, 0, 1, 2)


class AimCLRStyleFeeder:
    """views(i) -> (key, query, pretext, rot_label, pace_label) for clip i, all numpy."""

    def __init__(self, data, valid_frames, T_out=50, seed=0, shear_amplitude=0.5, max_rotate_deg=30.0,
                 key_crop=(0.9, 1.0), query_crop=(0.5, 1.0), rotations=(0, 90, 180, 270),
                 paces=(0.25, 0.5, 0.75, 1.0)):
        self.data, self.valid_frames, self.T_out = data, valid_frames, T_out
        self.rng, self.py_rng = np.random.default_rng(seed), random.Random(seed)
        self.shear_amplitude, self.max_rotate_deg = shear_amplitude, max_rotate_deg
        self.key_crop, self.query_crop = key_crop, query_crop
        self.rotations, self.paces = rotations, paces

    def views(self, i):
        clip = np.asarray(self.data[i][:, :max(int(self.valid_frames[i]), 1)])
        rng, a = self.rng, self.shear_amplitude
        key = crop_resize(temporal_pad_crop(clip, rng), rng, self.key_crop, self.T_out)
        key = shear(key, self.py_rng, a)
        query = crop_resize(temporal_pad_crop(clip, rng), rng, self.query_crop, self.T_out)
        degrees = [self.py_rng.uniform(-self.max_rotate_deg, self.max_rotate_deg) for _ in range(3)]
        query = rotate(shear(query, self.py_rng, a), [(2, degrees[2]), (1, degrees[1]), (0, degrees[0])])
        rot_label = self.py_rng.randrange(len(self.rotations))
        pace_label = self.py_rng.randrange(len(self.paces))
        pace = self.paces[pace_label]
        pretext = crop_resize(clip, rng, (pace, pace), self.T_out)
        pretext = rotate(pretext, [(2, self.rotations[rot_label])])
        return (key, query.astype(np.float32), pretext.astype(np.float32), rot_label, pace_label)

    def batch(self, indices):
        """What a DataLoader gives the training loop: per-sample views, then stacked."""
        items = [self.views(i) for i in indices]
        return [np.stack([item[k] for item in items]) for k in range(5)]
