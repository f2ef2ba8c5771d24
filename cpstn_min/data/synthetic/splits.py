"""Splits of the synthetic dataset, like NTU RGB+D 60's: who performs and where the camera stands.

"xsub"   disjoint performers: NTU-60's 20 training performer ids out of 40 train, the rest validate
"xview"  disjoint camera yaws: train |yaw| in [0, 15) or [30, 45] deg, validation [15, 30);
         all 40 performers in both
Performer ids here are 0-based; yaws are (n,) degrees.
"""
import numpy as np

from ..common import NTU60_XSUB_TRAIN_PERFORMERS

NUM_PERFORMERS = 40
XSUB_TRAIN_PERFORMERS = NTU60_XSUB_TRAIN_PERFORMERS      # 1-based, all <= NUM_PERFORMERS
YAW_LIMIT, XVIEW_VAL_YAW = 45.0, (15.0, 30.0)
SPLITS = ("xsub", "xview")


def performer_pool(split: str, train: bool) -> np.ndarray:
    """0-based performer ids a split draws from."""
    if split == "xview":
        return np.arange(NUM_PERFORMERS)
    in_train = np.isin(np.arange(1, NUM_PERFORMERS + 1), XSUB_TRAIN_PERFORMERS)
    return np.flatnonzero(in_train == train)


def sample_yaw(rng: np.random.Generator, n: int, split: str, train: bool) -> np.ndarray:
    """(n,) camera yaw in degrees, in the split's sectors."""
    lo, hi = XVIEW_VAL_YAW
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    if split == "xsub":
        return rng.uniform(-YAW_LIMIT, YAW_LIMIT, n)
    if not train:
        return sign * rng.uniform(lo, hi, n)
    a = rng.uniform(0, YAW_LIMIT - (hi - lo), n)            # |yaw| in [0, lo) or [hi, limit]
    return sign * np.where(a < lo, a, a + (hi - lo))
