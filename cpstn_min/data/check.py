"""An up-front scan for NaN and inf (train.py --check-data).

Clips are checked when they are loaded, which on a large dataset can be epochs into a
run; the scan reads every clip once, in chunks of a memory-mapped array, and names
the first bad one before anything is trained.
"""
import numpy as np
from tqdm import tqdm

from ..errors import DataError


def check_finite(dataset, chunk: int = 256) -> None:
    """DataError naming the first clip of `dataset` (a SkeletonArrayDataset) with NaN or inf."""
    data = dataset.data
    for s in tqdm(range(0, len(dataset), chunk), desc=f"checking {dataset.name or 'the data'}", leave=False,
                  disable=len(dataset) <= 4 * chunk):
        block = np.asarray(data[s:s + chunk])
        finite = np.isfinite(block).reshape(len(block), -1).all(axis=1)
        if not finite.all():
            raise DataError(f"{dataset.name}: clip {s + int(np.argmin(finite))} contains NaN or inf")
