"""Datasets: `build_dataset(cfg.data, train)` for every source.

synthetic        generated NTU-25-joint actions (embedded default, cpstn_min.data.synthetic)
ntu60 / ntu120   prepared NTU RGB+D arrays or the layouts users already have (cpstn_min.data.ntu)
custom           your own (N,C,T,V,M) arrays, 2D or 3D, in any graph.LAYOUTS layout (custom.py)

Every source ends in a SkeletonArrayDataset: clips (N,C,T,V,M) float32 (C = 3, or 2 for 2D
custom data; V = 25 joints and M = 2 bodies for synthetic and NTU data); an item is
(clip (C,T,V,M), valid_frames, label, index). A dataset also says its joint `layout`, the
`stream` its arrays hold and its `class_names` (the action names reports print).

    __init__.py     build_dataset, DATASETS
    base.py         SkeletonArrayDataset (DataError comes from cpstn_min.errors)
    common.py       facts both worlds share: clip shape, NTU-60 xsub performers, the cache
                    folder, centring, valid_frames_of
    mapped.py       memory-mapped arrays: MappedArray, MappedSkeletonDataset, atomic_open_memmap
    safe_pickle.py  restricted unpickler for user-supplied pickles
    custom.py       --dataset custom: DIR/{train,val}_data.npy + _label.npy, --layout NAME
    synthetic/      the generated dataset: body.py (kinematic skeleton), camera.py (Kinect camera,
                    noise, dropouts), motions.py (the 26 actions), splits.py (xsub/xview),
                    generator.py (generate), dataset.py (synthetic_dataset and its cache),
                    baselines.py (raw-joint baselines), __main__.py (summary CLI)
    ntu/            NTU RGB+D 60/120: skeleton_text.py (.skeleton parser), clip.py (most active
                    bodies -> clip), splits.py (names, official splits), missing.py (samples to
                    skip), shards.py + prepare.py (python -m cpstn_min.data.ntu.prepare),
                    layouts.py + pyskl.py (readers of the layouts on disk), dataset.py (ntu_dataset),
                    classes.py (the official action names)
"""
from ..errors import DataError, UsageError
from .base import SkeletonArrayDataset

DATASETS = ("synthetic", "ntu60", "ntu120", "custom")


def build_dataset(cfg, train: bool) -> SkeletonArrayDataset:
    """cfg: config.DataConfig. Returns the training (train=True) or evaluation split."""
    from ..streams import check_stream
    check_stream(cfg.stream)
    if cfg.dataset == "custom":
        from .custom import custom_dataset
        return custom_dataset(cfg, train)
    if cfg.layout not in (None, SkeletonArrayDataset.layout):
        raise UsageError(f"--layout {cfg.layout}: {cfg.dataset} clips have the {SkeletonArrayDataset.layout} "
                         f"layout (--layout is for --dataset custom)")
    if cfg.dataset == "synthetic":
        from .synthetic.dataset import synthetic_dataset
        from .synthetic.motions import CLASS_NAMES
        ds = synthetic_dataset(cfg, train)
        ds.class_names = CLASS_NAMES
        return ds
    if cfg.dataset in ("ntu60", "ntu120"):
        from .ntu.dataset import ntu_dataset
        return ntu_dataset(cfg, train)
    raise DataError(f"unknown dataset {cfg.dataset!r}; choose one of {DATASETS}")
