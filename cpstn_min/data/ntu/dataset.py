"""NTU RGB+D 60/120: `ntu_dataset(cfg, train)` finds the layout in cfg.data_root and opens it.

Layouts (cfg.data_format, or "auto" to detect): prepared (our prepare tool), stgcn
(ST-GCN/AimCLR .npy + label .pkl), ctrgcn (NTU60_CS.npz-style), pyskl (annotation pickle);
see layouts.py and pyskl.py. Every layout gives clips (N,3,T,25,M) float32, memory-mapped,
never read whole; items are (clip (3,T,25,M), valid_frames, label, index). The datasets carry
the official action names (classes.py); cfg.stream picks the ST-GCN layout's precomputed
bone / motion files when a folder has no joint files.
"""
import glob
import os

from ...errors import DataError
from ..common import cache_dir
from .classes import class_names
from .layouts import MANIFEST, CTRGCN_FILES, ctrgcn_file, load_ctrgcn, load_prepared, load_stgcn, stgcn_files
from .splits import DATASETS
from .pyskl import load_pyskl

LOADERS = {"prepared": load_prepared, "stgcn": load_stgcn, "ctrgcn": load_ctrgcn, "pyskl": load_pyskl}
FORMATS = ("auto",) + tuple(LOADERS)


def how_to_get(dataset, split, root="DIR") -> str:
    return (f"Expected in {root} one of:\n"
            f"  prepared:  {MANIFEST} + {split}/train_data.npy ...  - make it from the raw .skeleton files with\n"
            f"             python -m cpstn_min.data.ntu.prepare --dataset {dataset} --raw-dir <nturgb+d_skeletons> "
            f"--out {root}\n"
            f"  ST-GCN/AimCLR:  {split}/train_data.npy (or train_data_joint.npy, train_position.npy) + "
            f"{split}/train_label.pkl (and val_*)\n"
            f"  CTR-GCN:   {CTRGCN_FILES[(dataset, split)]}\n"
            f"  pyskl:     {dataset}_3danno.pkl (or pass the .pkl / .npz file itself as --data-root)")


def detect_format(root, dataset, split, stream="joint") -> str:
    if os.path.isfile(root):
        if root.endswith(".npz"):
            return "ctrgcn"
        if root.endswith(".pkl"):
            return "pyskl"
        raise DataError(f"{root}: --data-root must be a folder, an .npz (CTR-GCN) or a .pkl (pyskl) file")
    if os.path.exists(os.path.join(root, MANIFEST)):
        return "prepared"
    if os.path.isdir(os.path.join(root, ".partial")):
        raise DataError(f"{root}: an unfinished `cpstn_min.data.ntu.prepare` run (no {MANIFEST} yet); run the same "
                        f"prepare command again to resume it")
    if stgcn_files(root, split, "train", stream) or stgcn_files(root, split, "val", stream):
        return "stgcn"
    if ctrgcn_file(root, dataset, split):
        return "ctrgcn"
    if _pyskl_file(root):
        return "pyskl"
    raise DataError(f"no {dataset} data found in {root}.\n" + how_to_get(dataset, split, root))


def _pyskl_file(root):
    found = [p for p in sorted(glob.glob(os.path.join(root, "*.pkl"))) if not p.endswith("_label.pkl")]
    if len(found) > 1:
        raise DataError(f"{root}: several annotation pickles ({', '.join(map(os.path.basename, found))}); "
                        f"pass one of them as --data-root")
    return found[0] if found else None


def ntu_dataset(cfg, train: bool):
    """cfg: config.DataConfig with dataset 'ntu60' | 'ntu120'. Raises DataError on any problem."""
    if cfg.dataset not in DATASETS:
        raise DataError(f"unknown NTU dataset {cfg.dataset!r}; choose one of {sorted(DATASETS)}")
    info = DATASETS[cfg.dataset]
    if cfg.split not in info["splits"]:
        raise DataError(f"{cfg.dataset} has the splits {info['splits']}, not {cfg.split!r}")
    if not cfg.data_root:
        raise DataError(f"--dataset {cfg.dataset} needs --data-root.\n" + how_to_get(cfg.dataset, cfg.split))
    root = os.path.expanduser(cfg.data_root)
    if not os.path.exists(root):
        raise DataError(f"data root {root} does not exist.\n" + how_to_get(cfg.dataset, cfg.split, root))
    fmt = cfg.data_format
    if fmt == "auto":
        fmt = detect_format(root, cfg.dataset, cfg.split, cfg.stream)
    if fmt not in LOADERS:
        raise DataError(f"unknown data format {fmt!r}; choose one of {FORMATS}")
    if fmt == "pyskl" and os.path.isdir(root):
        root = _pyskl_file(root)
        if root is None:
            raise DataError(f"{cfg.data_root}: no pyskl annotation .pkl found")
    if fmt == "prepared" and not os.path.isdir(root):
        raise DataError(f"{root}: the prepared layout is a folder with {MANIFEST}")
    extra = {"stream": cfg.stream} if fmt == "stgcn" else {}
    ds = LOADERS[fmt](root, cfg.dataset, cfg.split, train, info["num_classes"], cache_dir(cfg), **extra)
    ds.class_names = class_names(info["num_classes"])
    return ds
