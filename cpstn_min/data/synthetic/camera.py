"""The Kinect v2 camera that records the synthetic performers, with its tracking errors.

`camera_transforms` maps the performer frame (body.py: x = the performer's left, y up)
to camera space (x to the camera's left, y up, z = depth, metres); joints there are
(m,T,25,3). `kinect_noise` adds jitter, drift and limb glitches, `dropouts` marks
lost frames (n,T).
"""
import numpy as np

from .body import (L_ANKLE, L_ELBOW, L_FOOT, L_HAND, L_HAND_TIP, L_KNEE, L_SHOULDER, L_THUMB, L_WRIST, MID_SPINE,
                   NUM_JOINTS, R_ANKLE, R_ELBOW, R_FOOT, R_HAND, R_HAND_TIP, R_KNEE, R_SHOULDER, R_THUMB, R_WRIST,
                   normalize, rotation)

# Kinect-like joint noise (m): hands, thumbs and tips jitter most, then wrists and feet
NOISE = np.full(NUM_JOINTS, 0.006, dtype=np.float32)
NOISE[[L_WRIST, R_WRIST, L_ANKLE, R_ANKLE]] = 0.012
NOISE[[L_FOOT, R_FOOT]] = 0.015
NOISE[[L_HAND, R_HAND, L_HAND_TIP, R_HAND_TIP, L_THUMB, R_THUMB]] = 0.025


def _camera(rng: np.random.Generator, yaw_deg: np.ndarray):
    """Kinect-like camera per clip: on a circle around the scene at the given yaw, 2.6..4.2 m
    away, 0.6..1.3 m high, tilted toward the hips. Returns (M (n,3,3) rows = camera x (its
    left), y (up), z (view) axes in world coordinates, position (n,3))."""
    n = yaw_deg.shape[0]
    theta, dist = np.deg2rad(yaw_deg), rng.uniform(2.6, 4.2, n)
    height, aim_y = rng.uniform(0.6, 1.3, n), rng.uniform(0.8, 1.0, n)
    aim = np.stack([rng.uniform(-0.3, 0.3, n), aim_y, rng.uniform(-0.3, 0.3, n)], -1)
    pitch = np.arctan2(height - aim_y, dist) + np.deg2rad(rng.normal(0, 2, n))
    view = -np.stack([np.sin(theta), np.zeros(n), np.cos(theta)], -1)   # horizontal
    up = np.array([0.0, 1.0, 0.0])
    position = aim - dist[:, None] * view
    position[:, 1] = height
    c, s = np.cos(pitch)[:, None], np.sin(pitch)[:, None]
    return np.stack([np.cross(up, view), s * view + c * up, c * view - s * up], 1), position


def camera_transforms(rng: np.random.Generator, yaw_deg: np.ndarray, separation: np.ndarray, bodies: int):
    """Affine maps performer frame -> camera space: (A (n,B,3,3), b (n,B,3)). One performer
    roughly faces the camera's home direction; two face each other across the scene centre."""
    n = yaw_deg.shape[0]
    M, position = _camera(rng, yaw_deg)
    if bodies == 1:
        facing, x = [np.deg2rad(rng.normal(0, 12, n))], [np.zeros(n)]
    else:
        facing = [np.deg2rad(90 + rng.normal(0, 5, n)), np.deg2rad(-90 + rng.normal(0, 5, n))]
        x = [-separation / 2, separation / 2]
    A, b = [], []
    for f, x0 in zip(facing, x):
        A.append(M @ rotation(f, 1))
        offset = np.stack([x0, np.zeros(n), np.zeros(n)], -1) - position
        b.append((M @ offset[..., None])[..., 0])
    return np.stack(A, 1), np.stack(b, 1)


def dropouts(rng: np.random.Generator, lengths: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """(n,T) bool: up to 2 gaps of 1..6 lost frames in 30% of clips, never the first or last."""
    n = lengths.shape[0]
    count = np.where(rng.random(n) < 0.3, rng.integers(1, 3, n), 0)
    lost = np.zeros((n, frames.shape[1]), dtype=bool)
    for g in range(2):
        start = rng.integers(1, lengths - 7)[:, None]
        size = rng.integers(1, 7, n)[:, None]
        lost |= (g < count)[:, None] & (frames >= start) & (frames < start + size)
    return lost


def kinect_noise(rng: np.random.Generator, cam: np.ndarray, seconds: np.ndarray, length: np.ndarray):
    """Tracking errors added to joints cam (m,T,25,3) float32 in place (also returned):
    white jitter, a slow drift along a random direction per joint, a constant offset per clip
    and joint, and in 30% of clips one limb collapsing toward the body for 3..15 frames."""
    m, T = cam.shape[:2]
    shape, f32 = (m, 1, NUM_JOINTS, 1), np.float32
    omega = (2 * np.pi * rng.uniform(0.3, 2.0, shape)).astype(f32)
    drift = np.sin(omega * seconds.astype(f32)[..., None, None] + rng.uniform(0, 6.3, shape).astype(f32))
    noise = rng.standard_normal(cam.shape, dtype=f32)
    noise += drift * normalize(rng.standard_normal((m, 1, NUM_JOINTS, 3))).astype(f32)
    noise *= NOISE[:, None]
    cam += noise
    cam += rng.normal(0, 0.008, (m, 1, NUM_JOINTS, 3)).astype(f32)
    limbs = np.array([[L_SHOULDER, L_ELBOW, L_WRIST, L_HAND, L_HAND_TIP, L_THUMB],
                      [R_SHOULDER, R_ELBOW, R_WRIST, R_HAND, R_HAND_TIP, R_THUMB],
                      [L_KNEE, L_ANKLE, L_FOOT, L_FOOT, L_FOOT, L_FOOT],      # repeats pad the rows
                      [R_KNEE, R_ANKLE, R_FOOT, R_FOOT, R_FOOT, R_FOOT]])
    limb = limbs[rng.integers(0, 4, m)]                                         # (m,6)
    start = rng.integers(0, np.maximum(1, length - 15))[:, None]
    t = np.arange(T)[None, :]
    on = (rng.random(m) < 0.3)[:, None] & (t >= start) & (t < start + rng.integers(3, 16, (m, 1)))
    pull = (on * rng.uniform(0.3, 0.9, (m, 1)))[:, :, None, None]               # (m,T,1,1)
    rows = np.arange(m)[:, None]
    joints = cam[rows, :, limb].transpose(0, 2, 1, 3)                           # (m,T,6,3)
    cam[rows, :, limb] = (joints + pull * (cam[:, :, None, MID_SPINE] - joints)).transpose(0, 2, 1, 3)
    return cam
