"""The synthetic NTU-25-joint actions: performers, cameras and clips, deterministic from a seed.

`generate(seed, split, train, n, out)` fills out (n,3,300,25,2) float32 (zero on entry):
x,y,z in metres, Kinect v2 camera space (x to the camera's left, y up, z = depth,
performers 2.6..4.2 m away), by default moved like prepared NTU data (center: spine
joint of frame 0 at the origin); zero after each clip's valid length, in short
dropouts, and for the second body of single-person actions. It returns the per-clip
arrays labels (n,) in [0, 26) (motions.CLASS_NAMES), valid_frames (n,) in 40..300
(30 fps), performers (n,2) and camera_yaw (n,). Splits: splits.py. Each class draws
from its own generator, seeded by (seed, split, part, class).
"""
import numpy as np

from ..common import MAX_BODIES, NUM_JOINTS, centre_clips
from . import body as sk, camera, motions
from .motions import ACTIONS, D
from .splits import NUM_PERFORMERS, SPLITS, performer_pool, sample_yaw

MAX_FRAMES, MIN_FRAMES, FPS = 300, 40, 30
CLIP_SHAPE = (3, MAX_FRAMES, NUM_JOINTS, MAX_BODIES)     # one clip of the arrays generate fills
CHUNK = 16                 # clips rendered together
NUM_CLASSES = len(ACTIONS)


def performers(seed: int) -> dict:
    """Traits of the NUM_PERFORMERS performers, shared by both splits of a seed:
    'lengths' (P,25) bone lengths; style arrays (P,1)."""
    rng = np.random.default_rng([seed, 7919])
    P = NUM_PERFORMERS
    return dict(lengths=sk.performer_lengths(rng, P),
                arm_el=D * rng.uniform(4, 14, (P, 1)), arm_az=D * rng.uniform(60, 100, (P, 1)),
                elbow=D * rng.uniform(8, 25, (P, 1)), stance=D * rng.uniform(3, 9, (P, 1)),
                slouch=D * rng.uniform(0, 8, (P, 1)), head=D * rng.uniform(-3, 8, (P, 1)),
                amp=rng.uniform(0.7, 1.3, (P, 1)), tempo=rng.uniform(0.8, 1.25, (P, 1)))


STYLE_DRAWS = 64           # per performer and action: more than any action draws (motions.Draw cycles)


def action_styles(seed: int) -> np.ndarray:
    """(P, classes, STYLE_DRAWS) quantiles in [0, 1): how each performer does each action
    (motions.Draw). Its own random stream, so the traits above are the same with or without it."""
    rng = np.random.default_rng([seed, 7919, 2])
    return rng.random((NUM_PERFORMERS, NUM_CLASSES, STYLE_DRAWS))


def _render(action, clip: dict, frames: int, rng: np.random.Generator, people: dict,
            style: float = 0.0) -> np.ndarray:
    """Clips described by per-clip parameters (m,...) -> joints (m,3,frames,25,2) float32;
    style: how strongly the first performer's own way of doing the action shows (motions.Draw)."""
    m = clip["length"].shape[0]
    t = np.arange(frames)[None, :]
    s = np.clip(t / (clip["length"][:, None] - 1.0), 0.0, 1.0)
    a0, a1 = clip["start"][:, None], clip["end"][:, None]
    u = 3 * np.clip((s - a0) / (a1 - a0), 0.0, 1.0)          # uneven speed: 3 pieces, random knots
    piece = np.minimum(u.astype(np.int64), 2)
    lo, hi = (np.take_along_axis(clip["knots"], piece + k, 1) for k in (0, 1))
    u = lo + (u - piece) * (hi - lo)
    who = clip["who"].T                                        # (B,m) performer ids
    poses = [sk.rest_pose({k: v[w] for k, v in people.items() if k not in ("lengths", "styles")}, t / FPS, rng)
             for w in who]
    draw = motions.Draw(rng, clip["amp"][:, None], clip["separation"][:, None], clip["style"], style)
    action.animate(poses[0], poses[1] if len(poses) > 1 else None, u, draw)
    keep = (t < clip["length"][:, None]) & ~camera.dropouts(rng, clip["length"], t)
    out = np.zeros((m, 3, frames, NUM_JOINTS, MAX_BODIES), dtype=np.float32)
    for body, (pose, w) in enumerate(zip(poses, who)):
        J = sk.forward_kinematics(pose, people["lengths"][w])           # (m,T,25,3)
        cam = J @ clip["A"][:, body, None].transpose(0, 1, 3, 2) + clip["b"][:, body, None, None]
        cam = camera.kinect_noise(rng, cam.astype(np.float32), t / FPS, clip["length"])
        out[..., body] = (cam * keep[:, :, None, None]).transpose(0, 3, 1, 2)
    swap = clip["swap"]                                        # Kinect's body order is arbitrary
    out[swap] = out[swap][..., ::-1]
    return out


def _knots(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,4) increasing 0..1: how much of the action each third of its duration covers."""
    steps = np.cumsum(rng.uniform(0.6, 1.4, (n, 3)), 1)
    return np.concatenate([np.zeros((n, 1)), steps / steps[:, -1:]], 1)


def _generate_class(action_id: int, rows: np.ndarray, rng: np.random.Generator, people: dict,
                    split: str, train: bool, out: np.ndarray, meta: dict, center: bool, style: float):
    """Renders clips of one action into out[rows] (zero-filled), fills meta[...][rows]."""
    action, n = ACTIONS[action_id], len(rows)
    bodies = 2 if action.two_person else 1
    pool = performer_pool(split, train)
    pick = rng.integers(0, len(pool), n)
    who = [pool[pick], pool[(pick + rng.integers(1, len(pool), n)) % len(pool)]][:bodies]  # partner differs
    tempo = people["tempo"][who[0], 0] * np.exp(rng.uniform(np.log(0.5), np.log(1.6), n))
    start, end = rng.uniform(0, 0.35, n), rng.uniform(0.65, 1.0, n)
    length = np.clip(np.round(action.frames * tempo / (end - start)), MIN_FRAMES, MAX_FRAMES).astype(np.int64)
    separation = rng.uniform(*(action.separation or (0.0, 0.0)), n)
    yaw = sample_yaw(rng, n, split, train)
    A, b = camera.camera_transforms(rng, yaw, separation, bodies)
    clip = dict(who=np.stack(who, 1), length=length, start=start, end=end, knots=_knots(rng, n),
                amp=people["amp"][who[0], 0] * rng.uniform(0.85, 1.15, n), separation=separation, A=A, b=b,
                swap=(rng.random(n) < 0.5) & (bodies == 2), style=people["styles"][who[0], action_id])
    # render clips of similar length together, only up to the longest of each group
    for group in np.array_split(np.argsort(length, kind="stable"), -(-n // CHUNK)):
        frames = int(length[group].max())
        part = {k: v[group] for k, v in clip.items()}
        clips = _render(action, part, frames, rng, people, style)
        out[rows[group], :, :frames] = centre_clips(clips) if center else clips
    meta["valid_frames"][rows], meta["camera_yaw"][rows] = length, yaw
    meta["performers"][rows, :bodies] = np.where(clip["swap"][:, None], clip["who"][:, ::-1], clip["who"])


def generate(seed: int, split: str, train: bool, n: int, out: np.ndarray, center: bool = True,
             style: float = 0.0) -> dict:
    """Fills out (n,3,T,25,2) float32, zero on entry. Returns per-clip arrays: labels (n,)
    (classes balanced), valid_frames (n,), performers (n,2) 0-based ids (-1 = no second
    body), camera_yaw (n,) degrees. center: move each clip as prepared NTU data is moved
    (common.centre_clips: spine joint of frame 0 to the origin), else keep camera space.
    style in [0, 1]: how much each performer does an action their own way (motions.Draw);
    0 leaves every clip's draws fresh, as before the option existed."""
    part = 1 if train else 0
    people = dict(performers(seed), styles=action_styles(seed))
    labels = np.random.default_rng([seed, SPLITS.index(split), part]).permutation(np.arange(n) % NUM_CLASSES)
    meta = dict(labels=labels.astype(np.int64), valid_frames=np.zeros(n, np.int64),
                performers=np.full((n, 2), -1, np.int64), camera_yaw=np.zeros(n))
    for c in range(NUM_CLASSES):
        rng = np.random.default_rng([seed, SPLITS.index(split), part, 1 + c])
        _generate_class(c, np.flatnonzero(labels == c), rng, people, split, train, out, meta, center, style)
    return meta
