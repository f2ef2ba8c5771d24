"""Readers for the NTU layouts on disk, each -> MappedSkeletonDataset with clips (N,3,T,25,M).

prepared  our `prepare` output: manifest.json, <split>/{train,val}_data.npy (N,3,T,25,2)
          float32 + <split>/{train,val}_meta.npz (names, labels, valid_frames, bodies)
stgcn     ST-GCN/AimCLR/CrosSCLR: [<split>/]<part>_<name>.npy (N,3,T,25,M) float32 + <part>_label.pkl
          = (sample names, labels), part = train / val. The names their tools write (STGCN_DATA):
          joints  _data.npy (tools/ntu_gendata.py: (N,3,300,25,2)), _data_joint.npy (the same,
                  renamed by the 2s-AGCN family), _position.npy (AimCLR's / CrosSCLR's 50-frame
                  copies; their folder may hold <part>_label.npy (N,1) int64 instead of the pickle)
          bone    _data_bone.npy;  motion  _data_joint_motion.npy, _motion.npy (AimCLR)
          Joints are preferred: the streams are then computed after augmentation (streams.py).
          A precomputed bone or motion file is read only for --stream bone / motion when there
          are no joints; the dataset then says which stream it holds (`.stream`).
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
STGCN_DATA = {   # stream the array holds -> the file names the peers' tools give it, first found wins
    "joint": ("{part}_data_joint.npy", "{part}_data.npy", "{part}_position.npy"),
    "bone": ("{part}_data_bone.npy",),
    "motion": ("{part}_data_joint_motion.npy", "{part}_motion.npy"),
}
STGCN_LABEL = "{part}_label.pkl"
STGCN_LABEL_NPY = "{part}_label.npy"     # AimCLR's preprocess_ntu.py: (N,1) int64
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


def stgcn_files(root, split, part, stream="joint"):
    """(data, label, stream the data holds) of the ST-GCN layout in root/<split>/ or root/, or None.
    Joint files first; files of a precomputed `stream` only when there are none."""
    for held in dict.fromkeys(("joint", stream)):
        for folder in (os.path.join(root, split), root):
            for pattern in STGCN_DATA[held]:
                data = os.path.join(folder, pattern.format(part=part))
                if os.path.isfile(data):
                    label = os.path.join(folder, STGCN_LABEL.format(part=part))
                    npy_label = os.path.join(folder, STGCN_LABEL_NPY.format(part=part))
                    if not os.path.isfile(label) and os.path.isfile(npy_label):
                        label = npy_label
                    return data, label, held
    return None


def load_stgcn(root, dataset, split, train, num_classes, cache_dir, stream="joint"):
    part = "train" if train else "val"
    files = stgcn_files(root, split, part, stream)
    if files is None:
        expected = ", ".join(p.format(part=part) for p in STGCN_DATA["joint"])
        other = [s for s in STGCN_DATA if s != stream and s != "joint" and stgcn_files(root, split, part, s)]
        hint = f"; it holds the precomputed {other[0]} stream: pass --stream {other[0]}" if other else ""
        raise DataError(f"ST-GCN layout: none of {expected} found in {os.path.join(root, split)} "
                        f"(nor directly in {root}){hint}")
    data_path, label_path, held = files
    if not os.path.isfile(label_path):
        raise DataError(f"ST-GCN layout: {label_path} not found next to {data_path}")
    labels = _stgcn_labels(label_path, num_classes)
    source = npy_array(data_path, "the clip array")
    if source.shape and source.shape[0] != len(labels):
        raise DataError(f"{data_path} holds {source.shape[0]} clips but {label_path} has {len(labels)} labels")
    ds = MappedSkeletonDataset(source, labels, num_classes, data_path,
                               cache_file=cache_file(os.path.join(cache_dir, "valid_frames"), source, "valid"))
    ds.stream = held
    return ds


def _stgcn_labels(path, num_classes):
    if path.endswith(".npy"):      # AimCLR's (N,1) int64 label array
        try:
            labels = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: cannot read the labels: {e}") from None
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DataError(f"{path}: expected (N,) or (N,1) integer labels, got {labels.dtype} {labels.shape}")
        names = labels
    else:
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
        ntu120 = num_classes == 60 and labels.min() >= 0 and labels.max() < 120   # only too large
        hint = " (NTU-120 labels? use --dataset ntu120)" if ntu120 else ""
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
