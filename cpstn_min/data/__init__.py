"""Datasets: `build_dataset(cfg.data, train)` for every source.

synthetic        generated NTU-25-joint actions (embedded default, cpstn_min.data.synthetic)
ntu60 / ntu120   prepared NTU RGB+D arrays or the layouts users already have (cpstn_min.data.ntu)
"""
from ..errors import DataError
from .base import SkeletonArrayDataset

DATASETS = ("synthetic", "ntu60", "ntu120")


def build_dataset(cfg, train: bool) -> SkeletonArrayDataset:
    """cfg: config.DataConfig. Returns the training (train=True) or evaluation split."""
    if cfg.dataset == "synthetic":
        from .synthetic.dataset import synthetic_dataset
        return synthetic_dataset(cfg, train)
    if cfg.dataset in ("ntu60", "ntu120"):
        from .ntu.dataset import ntu_dataset
        return ntu_dataset(cfg, train)
    raise DataError(f"unknown dataset {cfg.dataset!r}; choose one of {DATASETS}")
