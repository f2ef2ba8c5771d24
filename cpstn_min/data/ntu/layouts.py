"""Readers for the NTU layouts on disk, each -> MappedSkeletonDataset with clips (N,3,T,25,M).

prepared  our `prepare` output: manifest.json, <split>/{train,val}_data.npy (N,3,T,25,2)
          float32 + <split>/{train,val}_meta.npz (names, labels, valid_frames, bodies)
stgcn     ST-GCN/AimCLR/CrosSCLR: [<split>/]{train,val}_data_joint.npy (N,3,T,25,M) (AimCLR's
          50-frame copies: {train,val}_position.npy) + {train,val}_label.pkl = (names, labels)
ctrgcn    CTR-GCN/InfoGCN: NTU60_CS.npz / NTU60_CV.npz / NTU120_CSub.npz / NTU120_CSet.npz with
          x_train, x_test (N,T,150) in (T, body, joint, xyz) order, y_train, y_test one-hot
"""
import dataclasses
import json
import os

import numpy as np

from ...errors import DataError
from ..mapped import MappedSkeletonDataset, cache_file, npy_array, npz_member_array
from ..safe_pickle import safe_load

MANIFEST = "manifest.json"
PREPARED_FORMAT = "cpstn-ntu-prepared"
STGCN_DATA = ("{part}_data_joint.npy", "{part}_position.npy")
STGCN_LABEL = "{part}_label.pkl"
CTRGCN_FILES = {("ntu60", "xsub"): "NTU60_CS.npz", ("ntu60", "xview"): "NTU60_CV.npz",
                ("ntu120", "xsub"): "NTU120_CSub.npz", ("ntu120", "xset"): "NTU120_CSet.npz"}


def load_prepared(root, dataset, split, train, num_classes, cache_dir):
    path = os.path.join(root, MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read the manifest: {e}") from None
    if manifest.get("format") != PREPARED_FORMAT:
        raise DataError(f"{path}: not a manifest written by cpstn_min.data.ntu.prepare")
    if manifest.get("dataset") != dataset:
        raise DataError(f"{root} holds {manifest.get('dataset')} data, but --dataset is {dataset}")
    if split not in manifest.get("splits", {}):
        raise DataError(f"{root} has splits {sorted(manifest.get('splits', {}))}, not {split!r}")
    part = "train" if train else "val"
    entry = manifest["splits"][split][part]
    data_path, meta_path = os.path.join(root, entry["data"]), os.path.join(root, entry["meta"])
    for p in (data_path, meta_path):
        if not os.path.exists(p):
            raise DataError(f"{p} is missing although {path} lists it; run prepare again")
    source = npy_array(data_path, "the clip array")
    try:
        with np.load(meta_path, allow_pickle=False) as meta:
            labels, valid = meta["labels"], meta["valid_frames"]
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{meta_path}: cannot read labels/valid_frames: {e}") from None
    if not source.shape or source.shape[0] != entry["count"] or len(labels) != entry["count"]:
        raise DataError(f"{data_path}: holds {source.shape[0] if source.shape else 0} clips and {meta_path} "
                        f"{len(labels)} labels, but the manifest says {entry['count']}; run prepare again")
    return MappedSkeletonDataset(source, labels, num_classes, data_path, valid_frames=valid)


def stgcn_files(root, split, part):
    """(data, label) paths of the ST-GCN layout in root/<split>/ or root/, or None."""
    for folder in (os.path.join(root, split), root):
        for pattern in STGCN_DATA:
            data = os.path.join(folder, pattern.format(part=part))
            if os.path.isfile(data):
                return data, os.path.join(folder, STGCN_LABEL.format(part=part))
    return None


def load_stgcn(root, dataset, split, train, num_classes, cache_dir):
    part = "train" if train else "val"
    files = stgcn_files(root, split, part)
    if files is None:
        expected = " or ".join(os.path.join(root, split, p.format(part=part)) for p in STGCN_DATA)
        raise DataError(f"ST-GCN layout: {expected} not found (nor directly in {root})")
    data_path, label_path = files
    if not os.path.isfile(label_path):
        raise DataError(f"ST-GCN layout: {label_path} not found next to {data_path}")
    labels = _stgcn_labels(label_path, num_classes)
    source = npy_array(data_path, "the clip array")
    if source.shape and source.shape[0] != len(labels):
        raise DataError(f"{data_path} holds {source.shape[0]} clips but {label_path} has {len(labels)} labels")
    return MappedSkeletonDataset(source, labels, num_classes, data_path,
                                 cache_file=cache_file(os.path.join(cache_dir, "valid_frames"), source, "valid"))


def _stgcn_labels(path, num_classes):
    obj = safe_load(path)
    if not (isinstance(obj, (tuple, list)) and len(obj) == 2):
        raise DataError(f"{path}: expected a pickled (sample_names, labels) pair, got {type(obj).__name__}")
    names, labels = obj
    try:
        labels = np.asarray(labels)
    except ValueError:
        labels = np.zeros(0, object)
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(names) != len(labels):
        raise DataError(f"{path}: expected {len(names)} integer labels matching {len(names)} sample names, "
                        f"got {labels.dtype} array of shape {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        hint = " (NTU-120 labels? use --dataset ntu120)" if num_classes == 60 and labels.max() < 120 else ""
        raise DataError(f"{path}: labels must lie in [0, {num_classes - 1}], found "
                        f"{labels.min()}..{labels.max()}{hint}")
    return labels


def ctrgcn_file(root, dataset, split):
    """The CTR-GCN .npz for (dataset, split): root itself if it is a file, else looked up in root."""
    want = CTRGCN_FILES[(dataset, split)]
    if os.path.isfile(root):
        other = {v.lower(): k for k, v in CTRGCN_FILES.items()}.get(os.path.basename(root).lower())
        if other and other != (dataset, split):
            raise DataError(f"{root} is the {other[0]} {other[1]} file, but --dataset {dataset} --split {split} "
                            f"needs {want}")
        return root
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else ():
        if name.lower() == want.lower():
            return os.path.join(root, name)
    return None


def load_ctrgcn(root, dataset, split, train, num_classes, cache_dir):
    path = ctrgcn_file(root, dataset, split)
    if path is None:
        raise DataError(f"CTR-GCN layout: {os.path.join(root, CTRGCN_FILES[(dataset, split)])} not found")
    part = "train" if train else "test"
    source = npz_member_array(path, f"x_{part}", os.path.join(cache_dir, "npz"))
    if len(source.shape) != 3 or source.shape[2] != 150:
        raise DataError(f"{path}: x_{part} has shape {source.shape}, expected (N,T,150) = "
                        f"2 bodies x 25 joints x xyz per frame")
    source = dataclasses.replace(source, ctrgcn=True)
    labels = _one_hot_labels(path, f"y_{part}", source.shape[0], num_classes)
    return MappedSkeletonDataset(source, labels, num_classes, f"{path} [x_{part}]",
                                 cache_file=cache_file(os.path.join(cache_dir, "valid_frames"), source, "valid"))


def _one_hot_labels(path, key, n, num_classes):
    try:
        with np.load(path, allow_pickle=False) as z:
            y = z[key]
    except KeyError:
        raise DataError(f"{path}: has no array {key!r}") from None
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read {key}: {e}") from None
    if y.ndim == 1 and y.dtype.kind in "iu":
        labels = y.astype(np.int64)
    elif y.ndim == 2:
        if y.shape[1] != num_classes:
            raise DataError(f"{path}: {key} has {y.shape[1]} classes, the dataset has {num_classes}")
        hot = y > 0
        bad = np.flatnonzero(hot.sum(1) != 1)
        if bad.size:
            raise DataError(f"{path}: {key} row {bad[0]} is not one-hot ({int(hot[bad[0]].sum())} entries > 0)")
        labels = hot.argmax(1)
    else:
        raise DataError(f"{path}: {key} has shape {y.shape}, expected one-hot (N,{num_classes}) or (N,) labels")
    if len(labels) != n:
        raise DataError(f"{path}: {n} clips but {len(labels)} labels in {key}")
    return labels
