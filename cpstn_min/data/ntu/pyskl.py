"""pyskl / mmaction2 skeleton annotation pickles (e.g. ntu60_3danno.pkl, ntu120_3danno.pkl).

File: {'split': {'xsub_train': [frame_dir, ...], 'xsub_val': [...], ...},
       'annotations': [{'frame_dir': str, 'label': int, 'keypoint': (M,T,V,C) float,
                        'total_frames': int, ...}, ...]}
with V=25 and C=3 for the 3D NTU skeletons. A pickle cannot be memory-mapped, so the
requested split is converted once (restricted unpickler, then clip by clip) into
(N,3,T,25,2) float32 .npy arrays in the cache folder, T = max(300, longest clip);
later runs map those. Clips with more than 2 bodies keep the 2 most active.
"""
import hashlib
import os

import numpy as np
from tqdm import tqdm

from ...atomic import atomic_write
from ...errors import DataError
from ..common import MAX_BODIES as M, NUM_JOINTS as V
from ..mapped import MappedSkeletonDataset, atomic_open_memmap, npy_array
from ..safe_pickle import safe_load
from .clip import most_active

MIN_FRAMES = 300
_VERSION = 1                 # bump when the conversion changes, to invalidate old caches


def load_pyskl(path, dataset, split, train, num_classes, cache_dir):
    part = "train" if train else "val"
    st = os.stat(path)
    tag = hashlib.sha1(f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{_VERSION}".encode())
    out_dir = os.path.join(cache_dir, "pyskl", tag.hexdigest()[:16])
    files = {p: (os.path.join(out_dir, f"{split}_{p}_data.npy"), os.path.join(out_dir, f"{split}_{p}_meta.npz"))
             for p in ("train", "val")}
    if not os.path.exists(files[part][1]):                 # meta is written last: it marks a complete part
        _convert(path, split, num_classes, files)
    data_path, meta_path = files[part]
    with np.load(meta_path, allow_pickle=False) as meta:
        labels, valid = meta["labels"], meta["valid_frames"]
    return MappedSkeletonDataset(npy_array(data_path, "converted clips"), labels, num_classes,
                                 f"{path} [{split}_{part}]", valid_frames=valid)


def _convert(path, split, num_classes, files):
    obj = safe_load(path)
    if not (isinstance(obj, dict) and isinstance(obj.get("split"), dict)
            and isinstance(obj.get("annotations"), list)):
        raise DataError(f"{path}: expected a pyskl annotation dict with 'split' and 'annotations'")
    by_name = {}
    for k, a in enumerate(obj["annotations"]):
        if not (isinstance(a, dict) and {"frame_dir", "label", "keypoint"} <= set(a)):
            raise DataError(f"{path}: annotation {k} lacks 'frame_dir', 'label' or 'keypoint'")
        by_name[a["frame_dir"]] = a
    for part, (data_path, meta_path) in files.items():
        key = f"{split}_{part}"
        if key not in obj["split"]:
            raise DataError(f"{path}: no split {key!r}; it has {sorted(obj['split'])}")
        names = list(obj["split"][key])
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise DataError(f"{path}: split {key} names {len(unknown)} samples without annotation, "
                            f"e.g. {unknown[0]!r}")
        _write_part(path, [by_name[n] for n in names], num_classes, data_path, meta_path, key)


def _keypoints(path, a):
    kp = a["keypoint"]
    name = a["frame_dir"]
    if not isinstance(kp, np.ndarray) or kp.ndim != 4 or kp.dtype.kind != "f":
        raise DataError(f"{path}: {name}: keypoint must be a float array (M,T,V,C), "
                        f"got {getattr(kp, 'dtype', type(kp).__name__)} {getattr(kp, 'shape', '')}")
    if kp.shape[2] != V or kp.shape[3] != 3:
        hint = " (2D keypoints: use the 3D annotation file, e.g. ntu60_3danno.pkl)" if kp.shape[3] == 2 else ""
        raise DataError(f"{path}: {name}: keypoint has shape {kp.shape}, expected (M,T,{V},3){hint}")
    if not np.isfinite(kp).all():
        raise DataError(f"{path}: {name}: keypoint contains NaN or inf")
    if kp.shape[0] > M:                                     # keep the 2 most active bodies
        present = np.abs(kp).sum(axis=(2, 3)) > 0           # (M,T)
        body, frame = np.nonzero(present)
        kp = kp[most_active(kp[body, frame], body, kp.shape[0], M)]
    return kp


def _write_part(path, anns, num_classes, data_path, meta_path, key):
    T = max([MIN_FRAMES] + [a["keypoint"].shape[1] for a in anns if isinstance(a["keypoint"], np.ndarray)
                            and a["keypoint"].ndim == 4])
    odd = next((a for a in anns if isinstance(a["label"], bool) or not isinstance(a["label"], (int, np.integer))),
               None)
    if odd is not None:
        raise DataError(f"{path}: {odd['frame_dir']}: label must be an integer, got "
                        f"{repr(odd['label'])[:40]} ({type(odd['label']).__name__})")
    labels = np.array([a["label"] for a in anns], dtype=np.int64)
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise DataError(f"{path}: {anns[bad[0]]['frame_dir']}: label {labels[bad[0]]} outside [0, {num_classes - 1}]")
    os.makedirs(os.path.dirname(data_path), exist_ok=True)
    valid = np.zeros(len(anns), np.int64)
    with atomic_open_memmap(data_path, np.float32, (len(anns), 3, T, V, M)) as data:
        for i, a in enumerate(tqdm(anns, desc=f"converting {key}", disable=len(anns) < 1000)):
            kp = _keypoints(path, a)                        # (m,t,V,3)
            data[i, :, :kp.shape[1], :, :kp.shape[0]] = kp.transpose(3, 1, 2, 0)
            valid[i] = kp.shape[1]
    with atomic_write(meta_path) as f:                      # after the data: it marks a complete part
        np.savez(f, labels=labels, valid_frames=valid, names=np.array([str(a["frame_dir"]) for a in anns]))
