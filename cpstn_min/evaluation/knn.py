"""Cosine kNN classifier on L2-normalised features.

For each test feature the k most similar training features (cosine similarity
s) vote for their labels with weight exp(s / temperature); the class scores
are the summed votes. temperature 0.07 (the InstDisc / MoCo kNN monitor value)
makes close neighbours count much more than far ones; a large temperature
approaches a plain majority vote. Inputs: features (N,D), labels (N,) int64.
"""
from typing import Dict, Sequence

import torch
import torch.nn.functional as F


@torch.no_grad()
def knn_scores_for(train_x, train_y, test_x, num_classes: int, ks: Sequence[int],
                   temperature: float = 0.07, chunk: int = 1024) -> Dict[int, torch.Tensor]:
    """-> {k: (N_test, num_classes) summed vote weights} for several k from one neighbour search."""
    if min(ks) < 1 or temperature <= 0:
        raise ValueError(f"k must be >= 1 and temperature > 0, got k={list(ks)}, temperature={temperature}")
    train_x = F.normalize(train_x.float(), dim=1)
    test_x = F.normalize(test_x.float(), dim=1)
    k_max = min(max(ks), train_x.shape[0])
    scores = {k: torch.zeros(test_x.shape[0], num_classes) for k in ks}
    for i in range(0, test_x.shape[0], chunk):               # chunks bound the (chunk, N_train) matrix
        sim = test_x[i:i + chunk] @ train_x.T                 # (B, N_train) cosine similarities
        top_sim, top_idx = sim.topk(k_max, dim=1)             # (B, k_max), most similar first
        weights, votes = (top_sim / temperature).exp(), train_y[top_idx]
        for k in ks:
            scores[k][i:i + chunk].scatter_add_(1, votes[:, :k], weights[:, :k])
    return scores


def knn_scores(train_x, train_y, test_x, num_classes: int, k: int = 20, temperature: float = 0.07,
               chunk: int = 1024) -> torch.Tensor:
    """-> (N_test, num_classes) summed vote weights of the k nearest; argmax is the prediction."""
    return knn_scores_for(train_x, train_y, test_x, num_classes, [k], temperature, chunk)[k]
