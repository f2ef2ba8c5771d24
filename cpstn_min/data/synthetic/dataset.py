"""`synthetic_dataset(cfg, train)`: the synthetic split as a SkeletonArrayDataset, cached on disk.

Arrays are cached as .npy in <root>/synthetic, root = common.cache_dir(cfg) (cfg.cache_dir,
$CPSTN_CACHE or ~/.cache/cpstn), named by every generation parameter (including a hash of
the source of this package and common.py; older versions' files are removed), written
atomically and opened memory-mapped: data (N,3,300,25,2) float32 plus the per-clip arrays
of generator.generate (labels, valid_frames, performers, camera_yaw).
"""
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np

from ...atomic import atomic_write
from ...errors import DataError
from .. import common
from ..base import SkeletonArrayDataset
from ..mapped import atomic_open_memmap
from .generator import CLIP_SHAPE, MAX_FRAMES, NUM_CLASSES, generate
from .splits import SPLITS

META = ("labels", "valid_frames", "performers", "camera_yaw")     # per-clip arrays next to the data


def source_files() -> list:
    """The files whose code shapes the cached arrays: every module of this package and
    common.py (centring). Editing any of them gives new cache names."""
    return sorted(Path(__file__).parent.glob("*.py")) + [Path(common.__file__)]


def _source_hash() -> str:
    h = hashlib.sha1()
    for path in source_files():
        h.update(path.read_bytes())
    return h.hexdigest()[:10]


def cache_root(cfg) -> Path:
    """The synthetic dataset's folder in the cache (common.cache_dir)."""
    return common.cache_dir(cfg) / "synthetic"


def cache_stem(cfg, train: bool) -> str:
    params = dict(split=cfg.split, part="train" if train else "val", seed=int(cfg.synthetic_seed),
                  clips=_num_clips(cfg, train), frames=MAX_FRAMES, center=bool(cfg.center),
                  style=float(cfg.synthetic_style), code=_source_hash())
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return f"{params['split']}_{params['part']}_n{params['clips']}_seed{params['seed']}_{digest}"


def _num_clips(cfg, train: bool) -> int:
    return int(cfg.synthetic_train if train else cfg.synthetic_val)


def _load_cached(stem: Path, n: int):
    """(data memory-mapped (n,3,T,25,2), meta dict) or None when absent or unreadable."""
    if not Path(f"{stem}.data.npy").exists():       # data is written last: present => all present
        return None
    try:
        meta = {k: np.load(f"{stem}.{k}.npy") for k in META}
        data = np.load(f"{stem}.data.npy", mmap_mode="r")
    except (OSError, ValueError):
        return None
    if data.shape != (n,) + CLIP_SHAPE or any(len(v) != n for v in meta.values()):
        return None
    return data, meta


def _generate(cfg, train: bool, data: np.ndarray) -> dict:
    """Fills data (zero on entry) with the split cfg names; returns generate's per-clip arrays."""
    return generate(int(cfg.synthetic_seed), cfg.split, train, len(data), data, cfg.center, cfg.synthetic_style)


def _generate_cached(cfg, train: bool, stem: Path, n: int):
    stem.parent.mkdir(parents=True, exist_ok=True)
    # the data file is renamed into place last: it marks a complete entry
    with atomic_open_memmap(f"{stem}.data.npy", np.float32, (n,) + CLIP_SHAPE) as data:
        meta = _generate(cfg, train, data)
        for name in META:
            with atomic_write(f"{stem}.{name}.npy") as f:
                np.save(f, meta[name])
    # entries of older generator versions for the same split, size and seed are stale
    prefix = stem.name.rsplit("_", 1)[0]
    for old in stem.parent.glob(f"{prefix}_*.npy"):
        if not old.name.startswith(stem.name + "."):
            old.unlink(missing_ok=True)
    return _load_cached(stem, n)


def synthetic_dataset(cfg, train: bool) -> SkeletonArrayDataset:
    """cfg: config.DataConfig (split, synthetic_train/val, synthetic_seed, synthetic_style, cache_dir)."""
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
            data = np.zeros((n,) + CLIP_SHAPE, dtype=np.float32)
            arrays = data, _generate(cfg, train, data)
    data, meta = arrays
    ds = SkeletonArrayDataset(data, meta["valid_frames"], meta["labels"], NUM_CLASSES,
                              name=f"synthetic {cfg.split} {'train' if train else 'val'}")
    ds.performers, ds.camera_yaw = meta["performers"], meta["camera_yaw"]
    return ds
