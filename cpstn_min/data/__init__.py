"""Datasets: `build_dataset(cfg.data, train)` for every source.

synthetic        generated NTU-25-joint actions (embedded default, cpstn_min.data.synthetic)
ntu60 / ntu120   prepared NTU RGB+D arrays or the layouts users already have (cpstn_min.data.ntu)

Every source ends in a SkeletonArrayDataset: clips (N,3,T,V,M) float32, V = 25 joints,
M = 2 bodies; an item is (clip (3,T,V,M), valid_frames, label, index).

    __init__.py     build_dataset, DATASETS
    base.py         SkeletonArrayDataset (DataError comes from cpstn_min.errors)
    common.py       facts both worlds share: clip shape, NTU-60 xsub performers, the cache
                    folder, centring, valid_frames_of
    mapped.py       memory-mapped arrays: MappedArray, MappedSkeletonDataset, atomic_open_memmap
    safe_pickle.py  restricted unpickler for user-supplied pickles
    synthetic/      the generated dataset: body.py (kinematic skeleton), camera.py (Kinect camera,
                    noise, dropouts), motions.py (the 26 actions), splits.py (xsub/xview),
                    generator.py (generate), dataset.py (synthetic_dataset and its cache),
                    baselines.py (raw-joint baselines), __main__.py (summary CLI)
    ntu/            NTU RGB+D 60/120: skeleton_text.py (.skeleton parser), clip.py (most active
                    bodies -> clip), splits.py (names, official splits), missing.py (samples to
                    skip), shards.py + prepare.py (python -m cpstn_min.data.ntu.prepare),
                    layouts.py + pyskl.py (readers of the layouts on disk), dataset.py (ntu_dataset)
"""
from ..errors import DataError
from .base import SkeletonArrayDataset

DATASETS = ("synthetic", "ntu60", "ntu120")


def build_dataset(cfg, train: bool) -> SkeletonArrayDataset:
    """cfg: config.DataConfig. Returns the training (train=True) or evaluation split."""
    if cfg.dataset == "synthetic":
        from .synthetic.dataset import synthetic_dataset
        return synthetic_dataset(cfg, train)
    if cfg.dataset in ("ntu60", "ntu120"):
        from .ntu.dataset import ntu_dataset
        return ntu_dataset(cfg, train)
    raise DataError(f"unknown dataset {cfg.dataset!r}; choose one of {DATASETS}")
