"""MoCo v2 contrastive branch: momentum key network, queue of keys, InfoNCE logits.

Shapes: query/key features (N,C) L2-normalized, queue (K,C), logits (N,1+K)
with the positive in column 0. In a multi-process run every rank enqueues the
keys of all ranks (all-gathered), so the queue is identical on every rank.
"""
import copy
from typing import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import distributed
from .shuffle_bn import grouped_forward


class MoCo(nn.Module):
    """Holds the key network (a copy of the query network, updated only by EMA) and the queue.

    query_net: the module whose copy becomes the key network (encoder + projector); the
    query network itself is not stored here, its parameters are passed to momentum_update.
    bn_groups > 1: keys are batch-normalized in that many shuffled groups (shuffle_bn.py).
    """

    def __init__(self, query_net: nn.Module, dim: int, queue_size: int,
                 momentum: float = 0.999, temperature: float = 0.07, bn_groups: int = 1):
        super().__init__()
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if bn_groups < 1:
            raise ValueError(f"bn_groups must be >= 1, got {bn_groups}")
        self.m, self.T, self.bn_groups = momentum, temperature, bn_groups
        self.encoder_k = copy.deepcopy(query_net)
        for p in self.encoder_k.parameters():
            p.requires_grad_(False)  # never touched by the optimizer
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, dim), dim=1))  # (K,C)
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def momentum_update(self, query_params: Iterable[torch.Tensor]) -> None:
        """theta_k <- m * theta_k + (1 - m) * theta_q, all parameters in two fused ops."""
        k_params = list(self.encoder_k.parameters())
        q_params = [p.detach() for p in query_params]
        if len(k_params) != len(q_params):
            raise ValueError(f"{len(q_params)} query parameters for {len(k_params)} key parameters")
        torch._foreach_mul_(k_params, self.m)
        torch._foreach_add_(k_params, q_params, alpha=1.0 - self.m)

    @torch.no_grad()
    def keys(self, x_k: torch.Tensor) -> torch.Tensor:
        """(N,C,T,V,M) key view -> (N,dim) normalized keys (float32)."""
        return F.normalize(grouped_forward(self.encoder_k, x_k, self.bn_groups, shuffle=True).float(), dim=1)

    def logits(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """q (N,C) normalized queries with grad, k (N,C) keys -> (N,1+K) logits / T."""
        l_pos = torch.einsum("nc,nc->n", q, k).unsqueeze(-1)                 # (N,1)
        l_neg = torch.einsum("nc,kc->nk", q, self.queue.clone().detach())   # (N,K)
        return torch.cat([l_pos, l_neg], dim=1) / self.T                    # (N,1+K)

    @torch.no_grad()
    def enqueue(self, k: torch.Tensor) -> None:
        """Write the keys of every rank at the pointer (wrapping around), advance it."""
        k = distributed.all_gather_cat(k)                                    # (world*N,C)
        K, n = self.queue.shape[0], k.shape[0]
        rows = (self.queue_ptr + torch.arange(n, device=k.device)) % K
        # as if written one by one: a batch larger than the queue leaves its last K keys
        self.queue[rows[-K:]] = k[-K:].to(self.queue.dtype)
        self.queue_ptr.copy_((self.queue_ptr + n) % K)

    def forward(self, q: torch.Tensor, x_k: torch.Tensor, query_params: Iterable[torch.Tensor]):
        """q (N,C) normalized query features, x_k the key view -> (loss, top-1 accuracy).

        Order as in MoCo: EMA update, keys, logits against the current queue, then enqueue.
        """
        self.momentum_update(query_params)
        k = self.keys(x_k)                                                   # (N,C)
        logits = self.logits(q.float(), k)                                   # (N,1+K)
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        self.enqueue(k)
        loss = F.cross_entropy(logits, labels)
        acc = (logits.detach().argmax(dim=1) == 0).float().mean()
        return loss, acc
