"""Class-balanced label subsets for semi-supervised evaluation.

`balanced_subset` keeps the same number of labelled clips from every class:
round(fraction * N / C), at least 1 and at most the class's size, drawn with a
fixed seed. The chosen indices are saved to JSON so every model evaluated on a
split sees the same labels; `load_or_make_subset` reuses a saved file and
checks that it belongs to the same training split. Labels: (N,) int64.
"""
import json
import os

import numpy as np

from ..atomic import atomic_write
from ..errors import EvalError


def balanced_subset(labels, num_classes: int, fraction: float, seed: int) -> np.ndarray:
    """-> sorted training indices, the same count per class (capped by the class size)."""
    if not 0 < fraction <= 1:
        raise EvalError(f"--label-fraction must lie in (0, 1], got {fraction}")
    labels = np.asarray(labels, dtype=np.int64)
    per_class = max(1, int(round(fraction * len(labels) / num_classes)))
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        chosen.append(rng.permutation(members)[:per_class])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def subset_file(out_dir: str, data_cfg, fraction: float, seed: int) -> str:
    pct = f"{100 * fraction:g}pct"
    return os.path.join(out_dir, f"label_subset_{data_cfg.dataset}_{data_cfg.split}_{pct}_seed{seed}.json")


def save_subset(path: str, indices, labels, fraction: float, seed: int, data_cfg) -> None:
    record = {"dataset": data_cfg.dataset, "split": data_cfg.split, "fraction": fraction,
              "seed": seed, "num_train": int(len(labels)), "indices": [int(i) for i in indices],
              "labels": [int(labels[i]) for i in indices]}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path, "w") as f:
        json.dump(record, f)


def load_subset(path: str, labels):
    """-> (indices, fraction) of a saved subset; it must fit this training split (same size, labels)."""
    try:
        with open(path) as f:
            record = json.load(f)
        indices = np.asarray(record["indices"], dtype=np.int64)
        saved_labels = np.asarray(record["labels"], dtype=np.int64)
        num_train, fraction = int(record["num_train"]), float(record["fraction"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EvalError(f"cannot read label subset {path}: {e}") from e
    labels = np.asarray(labels)
    if num_train != len(labels) or (len(indices) and indices.max() >= len(labels)) \
            or not np.array_equal(labels[indices], saved_labels):
        raise EvalError(f"label subset {path} was made for another training split "
                        f"({num_train} clips; this one has {len(labels)})")
    return indices, fraction


def load_or_make_subset(path: str, labels, num_classes: int, fraction: float, seed: int,
                        data_cfg, log=print) -> np.ndarray:
    if os.path.isfile(path):
        indices, _ = load_subset(path, labels)
        log(f"label subset: {len(indices)} clips from {path}")
        return indices
    indices = balanced_subset(labels, num_classes, fraction, seed)
    save_subset(path, indices, labels, fraction, seed, data_cfg)
    log(f"label subset: {len(indices)} clips ({fraction:g} of {len(labels)}, class-balanced, "
        f"seed {seed}) saved to {path}")
    return indices
