"""Frozen pooled features of a whole dataset, extracted once and cached.

`dataset_features` runs the encoder in eval mode over every clip of a dataset,
each resized to T_out frames without augmentation (augment.resize), and returns
features (N,D) float32 and labels (N,) int64 on the CPU. The result is saved
under `cache_dir`, keyed by a hash of the encoder weights, the data
configuration and T_out, so the linear probe and kNN reuse it instead of
running the encoder again.
"""
import dataclasses
import hashlib
import json
import os
from typing import Optional

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from .. import checkpoint


def weights_fingerprint(module: torch.nn.Module) -> str:
    """Hash of every parameter and buffer: same weights <-> same cached features."""
    h = hashlib.sha1()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def cache_path(cache_dir: str, encoder, data_cfg, train: bool, T_out: int, num_clips: int) -> str:
    key = json.dumps({"weights": weights_fingerprint(encoder), "data": dataclasses.asdict(data_cfg),
                      "train": train, "T_out": T_out, "clips": num_clips}, sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    split = "train" if train else "test"
    return os.path.join(cache_dir, f"{data_cfg.dataset}-{data_cfg.split}-{split}-{digest}.pt")


@torch.no_grad()
def extract_features(encoder, dataset, T_out: int, batch_size: int = 256, device="cpu",
                     num_workers: int = 0, desc: str = "features", progress: bool = True):
    """-> (outputs (N,D) float32, labels (N,) int64), both on the CPU, in dataset order.

    `encoder` is any module taking (B,3,T_out,V,M) clips: the encoder (features) or
    encoder + classifier (logits, used by finetune.py)."""
    from ..augment import resize
    encoder.eval().to(device)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    feats, labels = [], []
    for clip, valid, label, _ in tqdm(loader, desc=desc, unit="batch", leave=False, disable=not progress):
        clip = clip.to(device, non_blocking=True)
        x = resize(clip, valid.to(device), T_out)                # (B,3,T_out,V,M)
        feats.append(encoder(x).float().cpu())                    # (B,D)
        labels.append(label)
    if not feats:
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.int64)
    return torch.cat(feats), torch.cat(labels).long()


def dataset_features(encoder, dataset, data_cfg, train: bool, T_out: int, cache_dir: Optional[str],
                     batch_size: int = 256, device="cpu", log=print, progress: bool = True):
    """extract_features with an on-disk cache (cache_dir None: always extract)."""
    split = "train" if train else "test"
    path = cache_path(cache_dir, encoder, data_cfg, train, T_out, len(dataset)) if cache_dir else None
    if path and os.path.isfile(path):
        cached = checkpoint.load(path)
        if cached["features"].shape[0] == len(dataset):
            log(f"{split} features: loaded from cache {path}")
            return cached["features"], cached["labels"]
    feats, labels = extract_features(encoder, dataset, T_out, batch_size, device,
                                     data_cfg.num_workers, f"{split} features", progress)
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        checkpoint.save({"features": feats, "labels": labels}, path)
        log(f"{split} features: extracted once and cached in {path}")
    return feats, labels
