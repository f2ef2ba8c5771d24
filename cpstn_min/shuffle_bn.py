"""Batch norm over groups of the batch, MoCo's shuffle BN on one process.

Without it the query and the key of a clip are batch-normalized over the same clips (the
current batch), while the queue's negatives were normalized over earlier batches: the batch's
own statistics can then tell the positive from the negatives, a shortcut MoCo (He et al.
2020) removes by normalizing keys on other GPUs than their queries. On one process the same is
had by encoding the query view in G contiguous groups and the key view in G groups drawn after a
random permutation, so a clip's key is normalized with other clips than its query
(`model.shuffle_bn_groups`; 1 = the whole batch, as SkeletonCLR/AimCLR do).
"""
import torch
import torch.nn as nn


def grouped_forward(net: nn.Module, x: torch.Tensor, groups: int, shuffle: bool) -> torch.Tensor:
    """net(x) run on `groups` equal parts of the batch (batch norm sees one part at a time),
    outputs in x's order. shuffle: the parts are cut from a random permutation (global RNG, which
    checkpoints save, so a resumed run draws the same ones)."""
    if groups == 1:
        return net(x)
    n = x.shape[0]
    if n % groups:
        raise ValueError(f"a batch of {n} clips does not split into model.shuffle_bn_groups={groups} "
                         "equal groups")
    if not shuffle:
        return torch.cat([net(part) for part in x.chunk(groups)])
    order = torch.randperm(n, device=x.device)
    out = torch.cat([net(part) for part in x[order].chunk(groups)])
    return out[torch.argsort(order)]
