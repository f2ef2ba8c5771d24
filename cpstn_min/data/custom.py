"""Your own skeletons: `custom_dataset(cfg, train)` for --dataset custom --data-root DIR --layout NAME.

    DIR/train_data.npy, DIR/val_data.npy     (N,C,T,V,M) float: C = 3 (x,y,z) or 2 (x,y, e.g. from
                                             a 2D pose estimator), V = the joints of the layout,
                                             M bodies; frames after a clip's end and absent
                                             bodies are zero, as in the NTU arrays
    DIR/train_label.npy, DIR/val_label.npy   (N,) (or (N,1)) integers 0..K-1, every class present
                                             in the training split
    DIR/class_names.txt                      optional: K lines, the action names for the reports

Layouts: graph.LAYOUTS (ntu-rgb+d, openpose, coco17, mediapipe33). Valid frames come from the
zero padding (computed once, cached like the ST-GCN layout's). Arrays are memory-mapped, never
read whole. Every problem is one DataError naming the file: a missing file (the val split
included: evaluation needs it), wrong rank or channel count, V that does not fit the layout,
labels that are not 0..K-1. 2D clips: see augment.py (in-plane augmentation).
"""
import os

import numpy as np

from ..errors import DataError, UsageError
from ..graph import LAYOUTS
from .common import cache_dir
from .mapped import MappedSkeletonDataset, cache_file, npy_array

PARTS = ("train", "val")
NAMES_FILE = "class_names.txt"


def custom_files(root):
    """{part: (data path, label path)} of the custom layout in root."""
    return {p: (os.path.join(root, f"{p}_data.npy"), os.path.join(root, f"{p}_label.npy")) for p in PARTS}


def check_layout(layout) -> str:
    if layout is None:
        raise UsageError(f"--dataset custom needs --layout, one of {', '.join(sorted(LAYOUTS))}")
    if layout not in LAYOUTS:
        raise UsageError(f"--layout must be one of {', '.join(sorted(LAYOUTS))}, got {layout!r}")
    return layout


def _labels(path):
    try:
        y = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path}: cannot read the labels as a .npy array: {e}") from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{path}: labels must be (N,) integers 0..K-1, got {y.dtype} array of shape {y.shape}")
    return y.astype(np.int64)


def num_classes_of(train_labels, path) -> int:
    """K from the training labels, which must be 0..K-1 with every class present."""
    if not len(train_labels):
        raise DataError(f"{path}: the training split has no clips")
    k = int(train_labels.max()) + 1
    missing = sorted(set(range(k)) - set(np.unique(train_labels).tolist()))
    if train_labels.min() < 0 or missing:
        found = f"found {train_labels.min()}..{train_labels.max()}"
        gap = f", classes {missing[:10]}{' ...' if len(missing) > 10 else ''} never occur" if missing else ""
        hint = " (1-based labels? subtract 1)" if missing == [0] else ""
        raise DataError(f"{path}: labels must be 0..K-1 with every class in the training split; "
                        f"{found}{gap}{hint}")
    return k


def _class_names(root, k):
    path = os.path.join(root, NAMES_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        names = tuple(line.strip() for line in f if line.strip())
    if len(names) != k:
        raise DataError(f"{path}: {len(names)} names, but the labels have {k} classes")
    return names


def _check_array(source, path, layout, n):
    shape = source.shape
    if len(shape) != 5:
        raise DataError(f"{path}: expected 5 dimensions (N,C,T,V,M), got shape {shape}")
    if shape[1] not in (2, 3):
        raise DataError(f"{path}: C = {shape[1]} channels in (N,C,T,V,M) {shape}; expected 3 (x,y,z) or 2 (x,y)")
    v = LAYOUTS[layout][0]
    if shape[3] != v:
        fits = [name for name, (joints, _, _) in LAYOUTS.items() if joints == shape[3]]
        hint = f" (it fits --layout {fits[0]})" if fits else ""
        raise DataError(f"{path}: V = {shape[3]} joints in (N,C,T,V,M) {shape}, but layout {layout} "
                        f"has {v}{hint}")
    if shape[0] != n:
        raise DataError(f"{path} holds {shape[0]} clips but its label file has {n} labels")


def custom_dataset(cfg, train: bool) -> MappedSkeletonDataset:
    """cfg: config.DataConfig with dataset 'custom', data_root and layout."""
    layout = check_layout(cfg.layout)
    if not cfg.data_root:
        raise DataError("--dataset custom needs --data-root DIR holding train_data.npy, train_label.npy, "
                        "val_data.npy and val_label.npy")
    root = os.path.expanduser(cfg.data_root)
    if not os.path.isdir(root):
        raise DataError(f"{root}: not a folder (--dataset custom reads DIR/{{train,val}}_{{data,label}}.npy)")
    files = custom_files(root)
    for part in PARTS:
        for path in files[part]:
            if not os.path.isfile(path):
                need = " (evaluation needs the val split)" if part == "val" else ""
                raise DataError(f"{path} not found: a custom dataset is {root}/{{train,val}}_data.npy "
                                f"+ {{train,val}}_label.npy{need}")
    train_labels = _labels(files["train"][1])
    k = num_classes_of(train_labels, files["train"][1])
    part = "train" if train else "val"
    data_path, label_path = files[part]
    labels = train_labels if train else _labels(label_path)
    if len(labels) and (labels.min() < 0 or labels.max() >= k):
        raise DataError(f"{label_path}: labels must lie in 0..{k - 1} (the training split's classes), "
                        f"found {labels.min()}..{labels.max()}")
    source = npy_array(data_path, "the clip array")
    _check_array(source, data_path, layout, len(labels))
    ds = MappedSkeletonDataset(source, labels, k, data_path, num_joints=LAYOUTS[layout][0], channels=(2, 3),
                               cache_file=cache_file(os.path.join(cache_dir(cfg), "valid_frames"), source, "valid"))
    ds.layout, ds.class_names = layout, _class_names(root, k)
    return ds
