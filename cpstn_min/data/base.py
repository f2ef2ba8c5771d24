"""The dataset class every source (synthetic, NTU layouts) ends in.

Clips are stored as arrays (N,3,T,V,M) float32 (memory-mapped for big files),
with valid frame counts (N,) and labels (N,). Items are raw clips: augmentation
happens later, batched, on the training device (cpstn_min.augment).
"""
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError   # defined with the other user errors; still importable from here


class SkeletonArrayDataset(Dataset):
    """Item i -> (clip (C,T,V,M) float32 tensor, valid_frames int, label int, index int);
    C = 3 (x,y,z), or 2 (x,y) for 2D custom data. The class attributes say what the clips are:
    their joint layout (graph.LAYOUTS), the stream they hold (streams.py; a precomputed stream
    file holds bone or motion) and the action names (None: the class ids)."""
    layout = "ntu-rgb+d"
    stream = "joint"
    class_names = None

    def __init__(self, data, valid_frames, labels, num_classes: int, name: str = ""):
        if data.ndim != 5 or data.shape[1] not in (2, 3):
            raise DataError(f"{name}: data must have shape (N,C,T,V,M) with C = 3 (or 2 for 2D), "
                            f"got {tuple(data.shape)}")
        n = data.shape[0]
        valid_frames = np.asarray(valid_frames, dtype=np.int64)
        labels = np.asarray(labels, dtype=np.int64)
        if valid_frames.shape != (n,) or labels.shape != (n,):
            raise DataError(f"{name}: {n} clips but {valid_frames.shape[0]} valid-frame counts "
                            f"and {labels.shape[0]} labels")
        if n and (labels.min() < 0 or labels.max() >= num_classes):
            raise DataError(f"{name}: labels must lie in [0, {num_classes - 1}], "
                            f"found {labels.min()}..{labels.max()}")
        if n and (valid_frames.min() < 0 or valid_frames.max() > data.shape[2]):
            raise DataError(f"{name}: valid frame counts must lie in [0, {data.shape[2]}]")
        self.data, self.valid_frames, self.labels = data, valid_frames, labels
        self.num_classes, self.name = num_classes, name

    @property
    def clip_shape(self):
        return tuple(self.data.shape[1:])

    def __len__(self):
        return self.data.shape[0]

    def __getitem__(self, i):
        clip = np.array(self.data[i], dtype=np.float32)  # a writable copy, also out of a read-only memory map
        if not np.isfinite(clip).all():
            raise DataError(f"{self.name}: clip {i} contains NaN or inf")
        return torch.from_numpy(clip), int(self.valid_frames[i]), int(self.labels[i]), i
