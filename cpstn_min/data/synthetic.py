"""Synthetic NTU-25-joint action dataset: the embedded default and the test bed.

`synthetic_dataset(cfg, train)` -> SkeletonArrayDataset with
  data (N,3,300,25,2) float32: x,y,z in metres, Kinect v2 camera space (x to the
      camera's left, y up, z = depth, performers 2.6..4.2 m away), by default moved
      like prepared NTU data (cfg.center: spine joint of frame 0 at the origin); zero after each
      clip's valid length, in short dropouts, and for the second body of
      single-person actions;
  valid_frames (N,) in 40..300 (30 fps); labels (N,) in [0, 26) (motions.CLASS_NAMES).
Splits (like NTU RGB+D 60): "xsub" = disjoint performers (NTU's 20 training performer
ids out of 40), "xview" = disjoint camera yaws (train |yaw| in [0, 15) or [30, 45] deg,
validation [15, 30); all 40 performers in both). The dataset also carries .performers
(N,2) and .camera_yaw (N,) (see `generate`).
Arrays are cached as .npy in <root>/synthetic, root = cfg.cache_dir, $CPSTN_CACHE or
~/.cache/cpstn, named by every generation parameter (including a hash of the
generator's source; older versions' files are removed), written atomically and
opened memory-mapped.
Summary, timing and raw-joint baselines: `python -m cpstn_min.data.synthetic`.
"""
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from . import motions, skeleton_model as sk
from .base import DataError, SkeletonArrayDataset
from .ntu_clip import centre_clips
from .motions import ACTIONS, D

MAX_FRAMES, MIN_FRAMES, FPS = 300, 40, 30
NUM_PERFORMERS = 40
XSUB_TRAIN_PERFORMERS = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
YAW_LIMIT, XVIEW_VAL_YAW = 45.0, (15.0, 30.0)
SPLITS = ("xsub", "xview")
CHUNK = 16                 # clips rendered together
META = ("labels", "valid_frames", "performers", "camera_yaw")     # per-clip arrays next to the data
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


def performer_pool(split: str, train: bool) -> np.ndarray:
    """0-based performer ids a split draws from."""
    if split == "xview":
        return np.arange(NUM_PERFORMERS)
    in_train = np.isin(np.arange(1, NUM_PERFORMERS + 1), XSUB_TRAIN_PERFORMERS)
    return np.flatnonzero(in_train == train)


def sample_yaw(rng: np.random.Generator, n: int, split: str, train: bool) -> np.ndarray:
    """(n,) camera yaw in degrees, in the split's sectors."""
    lo, hi = XVIEW_VAL_YAW
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    if split == "xsub":
        return rng.uniform(-YAW_LIMIT, YAW_LIMIT, n)
    if not train:
        return sign * rng.uniform(lo, hi, n)
    a = rng.uniform(0, YAW_LIMIT - (hi - lo), n)            # |yaw| in [0, lo) or [hi, limit]
    return sign * np.where(a < lo, a, a + (hi - lo))


def _render(action, clip: dict, frames: int, rng: np.random.Generator, people: dict) -> np.ndarray:
    """Clips described by per-clip parameters (m,...) -> joints (m,3,frames,25,2) float32."""
    m = clip["length"].shape[0]
    t = np.arange(frames)[None, :]
    s = np.clip(t / (clip["length"][:, None] - 1.0), 0.0, 1.0)
    a0, a1 = clip["start"][:, None], clip["end"][:, None]
    u = 3 * np.clip((s - a0) / (a1 - a0), 0.0, 1.0)          # uneven speed: 3 pieces, random knots
    piece = np.minimum(u.astype(np.int64), 2)
    lo, hi = (np.take_along_axis(clip["knots"], piece + k, 1) for k in (0, 1))
    u = lo + (u - piece) * (hi - lo)
    who = clip["who"].T                                        # (B,m) performer ids
    poses = [sk.rest_pose({k: v[w] for k, v in people.items() if k != "lengths"}, t / FPS, rng)
             for w in who]
    draw = motions.Draw(rng, clip["amp"][:, None], clip["separation"][:, None])
    action.animate(poses[0], poses[1] if len(poses) > 1 else None, u, draw)
    keep = (t < clip["length"][:, None]) & ~sk.dropouts(rng, clip["length"], t)
    out = np.zeros((m, 3, frames, sk.NUM_JOINTS, 2), dtype=np.float32)
    for body, (pose, w) in enumerate(zip(poses, who)):
        J = sk.forward_kinematics(pose, people["lengths"][w])           # (m,T,25,3)
        cam = J @ clip["A"][:, body, None].transpose(0, 1, 3, 2) + clip["b"][:, body, None, None]
        cam = sk.kinect_noise(rng, cam.astype(np.float32), t / FPS, clip["length"])
        out[..., body] = (cam * keep[:, :, None, None]).transpose(0, 3, 1, 2)
    swap = clip["swap"]                                        # Kinect's body order is arbitrary
    out[swap] = out[swap][..., ::-1]
    return out


def _knots(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,4) increasing 0..1: how much of the action each third of its duration covers."""
    steps = np.cumsum(rng.uniform(0.6, 1.4, (n, 3)), 1)
    return np.concatenate([np.zeros((n, 1)), steps / steps[:, -1:]], 1)


def _generate_class(action_id: int, rows: np.ndarray, rng: np.random.Generator, people: dict,
                    split: str, train: bool, out: np.ndarray, meta: dict, center: bool):
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
    A, b = sk.camera_transforms(rng, yaw, separation, bodies)
    clip = dict(who=np.stack(who, 1), length=length, start=start, end=end, knots=_knots(rng, n),
                amp=people["amp"][who[0], 0] * rng.uniform(0.85, 1.15, n), separation=separation, A=A, b=b,
                swap=(rng.random(n) < 0.5) & (bodies == 2))
    # render clips of similar length together, only up to the longest of each group
    for group in np.array_split(np.argsort(length, kind="stable"), -(-n // CHUNK)):
        frames = int(length[group].max())
        part = {k: v[group] for k, v in clip.items()}
        clips = _render(action, part, frames, rng, people)
        out[rows[group], :, :frames] = centre_clips(clips) if center else clips
    meta["valid_frames"][rows], meta["camera_yaw"][rows] = length, yaw
    meta["performers"][rows, :bodies] = np.where(clip["swap"][:, None], clip["who"][:, ::-1], clip["who"])


def generate(seed: int, split: str, train: bool, n: int, out: np.ndarray, center: bool = True) -> dict:
    """Fills out (n,3,T,25,2) float32, zero on entry. Returns per-clip arrays: labels (n,)
    (classes balanced), valid_frames (n,), performers (n,2) 0-based ids (-1 = no second
    body), camera_yaw (n,) degrees. center: move each clip as prepared NTU data is moved
    (ntu_clip.centre_clips: spine joint of frame 0 to the origin), else keep camera space."""
    part = 1 if train else 0
    people = performers(seed)
    labels = np.random.default_rng([seed, SPLITS.index(split), part]).permutation(np.arange(n) % NUM_CLASSES)
    meta = dict(labels=labels.astype(np.int64), valid_frames=np.zeros(n, np.int64),
                performers=np.full((n, 2), -1, np.int64), camera_yaw=np.zeros(n))
    for c in range(NUM_CLASSES):
        rng = np.random.default_rng([seed, SPLITS.index(split), part, 1 + c])
        _generate_class(c, np.flatnonzero(labels == c), rng, people, split, train, out, meta, center)
    return meta


def _source_hash() -> str:
    h = hashlib.sha1()
    for module in (sk, motions):
        h.update(Path(module.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:10]


def cache_root(cfg) -> Path:
    root = cfg.cache_dir or os.environ.get("CPSTN_CACHE") or Path.home() / ".cache" / "cpstn"
    return Path(root).expanduser() / "synthetic"


def cache_stem(cfg, train: bool) -> str:
    params = dict(split=cfg.split, part="train" if train else "val", seed=int(cfg.synthetic_seed),
                  clips=_num_clips(cfg, train), frames=MAX_FRAMES, center=bool(cfg.center),
                  code=_source_hash())
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return f"{params['split']}_{params['part']}_n{params['clips']}_seed{params['seed']}_{digest}"


def _num_clips(cfg, train: bool) -> int:
    return int(cfg.synthetic_train if train else cfg.synthetic_val)


def _replace_atomic(tmp: Path, path: Path):
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _load_cached(stem: Path, n: int):
    """(data memory-mapped (n,3,T,25,2), meta dict) or None when absent or unreadable."""
    if not Path(f"{stem}.data.npy").exists():       # data is written last: present => all present
        return None
    try:
        meta = {k: np.load(f"{stem}.{k}.npy") for k in META}
        data = np.load(f"{stem}.data.npy", mmap_mode="r")
    except (OSError, ValueError):
        return None
    if data.shape != (n, 3, MAX_FRAMES, sk.NUM_JOINTS, 2) or any(len(v) != n for v in meta.values()):
        return None
    return data, meta


def _generate_cached(cfg, train: bool, stem: Path, n: int):
    stem.parent.mkdir(parents=True, exist_ok=True)
    names = META + ("data",)                         # data last: it marks a complete entry
    tmps = {k: Path(f"{stem}.{k}.npy.{os.getpid()}.tmp") for k in names}
    try:
        data = np.lib.format.open_memmap(tmps["data"], mode="w+", dtype=np.float32,
                                         shape=(n, 3, MAX_FRAMES, sk.NUM_JOINTS, 2))
        meta = generate(int(cfg.synthetic_seed), cfg.split, train, n, data, cfg.center)
        data.flush()
        del data
        for name in META:
            with open(tmps[name], "wb") as f:
                np.save(f, meta[name])
        for name in names:
            _replace_atomic(tmps[name], Path(f"{stem}.{name}.npy"))
    finally:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)
    # entries of older generator versions for the same split, size and seed are stale
    prefix = stem.name.rsplit("_", 1)[0]
    for old in stem.parent.glob(f"{prefix}_*.npy"):
        if not old.name.startswith(stem.name + "."):
            old.unlink(missing_ok=True)
    return _load_cached(stem, n)


def synthetic_dataset(cfg, train: bool) -> SkeletonArrayDataset:
    """cfg: config.DataConfig (split, synthetic_train/val, synthetic_seed, cache_dir)."""
    if cfg.split not in SPLITS:
        raise DataError(f"synthetic dataset: split must be one of {SPLITS}, got {cfg.split!r}")
    n = _num_clips(cfg, train)
    if n < NUM_CLASSES:
        raise DataError(f"synthetic dataset: {'synthetic_train' if train else 'synthetic_val'} = {n} "
                        f"clips, need at least {NUM_CLASSES} (one per class)")
    stem = cache_root(cfg) / cache_stem(cfg, train)
    arrays = _load_cached(stem, n)
    if arrays is None:
        try:
            arrays = _generate_cached(cfg, train, stem, n)
        except OSError as e:     # unwritable cache: still usable, just not cached
            warnings.warn(f"cannot cache the synthetic dataset in {stem.parent} ({e}); generating in memory")
            data = np.zeros((n, 3, MAX_FRAMES, sk.NUM_JOINTS, 2), dtype=np.float32)
            arrays = data, generate(int(cfg.synthetic_seed), cfg.split, train, n, data, cfg.center)
    data, meta = arrays
    ds = SkeletonArrayDataset(data, meta["valid_frames"], meta["labels"], NUM_CLASSES,
                              name=f"synthetic {cfg.split} {'train' if train else 'val'}")
    ds.performers, ds.camera_yaw = meta["performers"], meta["camera_yaw"]
    return ds


def resample(data: np.ndarray, valid_frames: np.ndarray, frames: int) -> np.ndarray:
    """(N,3,T,V,M) -> (N,3,frames,V,M): nearest frames spread over each clip's valid length."""
    t = np.rint(np.linspace(0.0, 1.0, frames)[None, :] * (valid_frames[:, None] - 1)).astype(np.int64)
    return np.moveaxis(data[np.arange(len(data))[:, None], :, t], 1, 2)


def raw_joint_baselines(train: tuple, val: tuple, frames: int = 16, epochs: int = 300) -> dict:
    """Accuracy of simple classifiers on raw joints resampled to `frames` frames:
    train/val = (data, valid_frames, labels). Shows the task is learnable but not trivial."""
    import torch
    x_tr, x_va = (resample(d, v, frames).reshape(len(d), -1) for d, v, _ in (train, val))
    mean, std = x_tr.mean(0), x_tr.std(0) + 1e-6
    x_tr, x_va = (x_tr - mean) / std, (x_va - mean) / std
    y_tr, y_va = train[2], val[2]
    centroids = np.stack([x_tr[y_tr == c].mean(0) for c in range(NUM_CLASSES)])
    nearest = ((x_va[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)
    torch.manual_seed(0)
    X, Y = torch.from_numpy(x_tr).float(), torch.from_numpy(y_tr)
    linear = torch.nn.Linear(X.shape[1], NUM_CLASSES)
    opt = torch.optim.Adam(linear.parameters(), lr=1e-3, weight_decay=1e-3)
    for _ in range(epochs):      # full-batch logistic regression
        opt.zero_grad()
        torch.nn.functional.cross_entropy(linear(X), Y).backward()
        opt.step()
    with torch.no_grad():
        logistic = linear(torch.from_numpy(x_va).float()).argmax(1).numpy()
    return {"chance": 1.0 / NUM_CLASSES, "nearest centroid": float((nearest == y_va).mean()),
            "logistic regression": float((logistic == y_va).mean())}


def main(argv=None):
    import argparse
    import time
    p = argparse.ArgumentParser(description="Generate the synthetic dataset in memory (no cache), "
                                            "print its classes, timing and raw-joint baselines.")
    p.add_argument("--split", choices=SPLITS, default="xsub")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train", type=int, default=1200)
    p.add_argument("--val", type=int, default=600)
    args = p.parse_args(argv)
    parts = []
    for train, n in ((True, args.train), (False, args.val)):
        data = np.zeros((n, 3, MAX_FRAMES, sk.NUM_JOINTS, 2), dtype=np.float32)
        start = time.perf_counter()
        meta = generate(args.seed, args.split, train, n, data)
        valid = meta["valid_frames"]
        seconds = time.perf_counter() - start
        print(f"{args.split} {'train' if train else 'val'}: {n} clips in {seconds:.1f} s, "
              f"valid frames {valid.min()}..{valid.max()} (median {int(np.median(valid))})")
        parts.append((data, valid, meta["labels"]))
    for c, action in enumerate(ACTIONS):
        print(f"  {c:2d} {action.name}{' (two persons)' if action.two_person else ''}")
    for name, acc in raw_joint_baselines(*parts).items():
        print(f"{name}: {100 * acc:.1f}%")


if __name__ == "__main__":
    main()
