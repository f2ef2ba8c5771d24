"""Plain-PyTorch versions of every cpstn op.

These are the specification the C++/CUDA kernels must match (tests compare
against them) and the fallbacks `cpstn_min.ops` uses when the extension is
missing. Shapes: features (N,C,T,V), data (N,C,T,V,M), adjacency (K,V,V).
"""
from typing import Optional

import torch
import torch.nn.functional as F


def graph_conv(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
               A: torch.Tensor) -> torch.Tensor:
    """ST-GCN spatial unit as ST-GCN writes it: 1x1 conv to K*Cout channels, then
    a sum over partitions of a (V x V) graph multiply. Materializes (N,K*Cout,T,V).

    x (N,Cin,T,V), weight (K,Cout,Cin), bias (K,Cout) or None, A (K,V,V) -> (N,Cout,T,V)
    """
    K, Cout, Cin = weight.shape
    N, _, T, V = x.shape
    b = None if bias is None else bias.reshape(K * Cout)
    z = F.conv2d(x, weight.reshape(K * Cout, Cin, 1, 1), b)  # (N, K*Cout, T, V)
    z = z.view(N, K, Cout, T, V)
    return torch.einsum("nkctv,kvw->nctw", z, A).contiguous()


def graph_conv_composed(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                        A: torch.Tensor) -> torch.Tensor:
    """The same function as `graph_conv`, written as two large matmuls in the
    cheaper order for the shape. This is what runs when the extension is missing.
    """
    K, Cout, Cin = weight.shape
    N, _, T, V = x.shape
    if Cin <= Cout:
        # graph first: (N*Cin*T, V) @ (V, K*V), then channels: (Cout, K*Cin) @ (K*Cin, T*V)
        a_cat = A.permute(1, 0, 2).reshape(V, K * V)
        xa = torch.matmul(x.reshape(N, Cin * T, V), a_cat)                      # (N, Cin*T, K*V)
        xa = xa.view(N, Cin, T, K, V).permute(0, 3, 1, 2, 4).reshape(N, K * Cin, T * V)
        w_cat = weight.permute(1, 0, 2).reshape(Cout, K * Cin)
        y = torch.matmul(w_cat, xa).view(N, Cout, T, V)
    else:
        # channels first: (K*Cout, Cin) @ (Cin, T*V), then graph: sum_k (.., V) @ (V, V)
        z = torch.matmul(weight.reshape(K * Cout, Cin), x.reshape(N, Cin, T * V))  # (N, K*Cout, T*V)
        z = z.view(N, K, Cout * T, V).permute(0, 2, 1, 3).reshape(N, Cout * T, K * V)
        y = torch.matmul(z, A.reshape(K * V, V)).view(N, Cout, T, V)
    if bias is not None:
        # the bias passes through the graph multiply as b[k,c] * colsum_v(A[k,v,w])
        y = y + torch.matmul(bias.t(), A.sum(dim=1)).view(1, Cout, 1, V)
    return y


def graph_conv_loop(x, weight, bias, A):
    """The DESIGN.md formula read literally (slow; tests only)."""
    K, Cout, Cin = weight.shape
    N, _, T, V = x.shape
    y = x.new_zeros(N, Cout, T, V)
    for k in range(K):
        for c in range(Cout):
            z = (weight[k, c].view(1, Cin, 1, 1) * x).sum(dim=1)  # (N,T,V)
            if bias is not None:
                z = z + bias[k, c]
            for w in range(V):
                y[:, c, :, w] += (z * A[k, :, w].view(1, 1, V)).sum(dim=-1)
    return y


def skeleton_augment(x: torch.Tensor, valid_frames: torch.Tensor, start: torch.Tensor,
                     step: torch.Tensor, R: torch.Tensor, T_out: int) -> torch.Tensor:
    """Batched temporal resample (linear interpolation, clamped to the valid
    frames, negative step = reversed playback) followed by a per-sample 3x3 map.

    x (N,3,T,V,M), valid_frames (N,) int64, start (N,), step (N,), R (N,3,3) -> (N,3,T_out,V,M)
    """
    if T_out < 1:
        raise ValueError(f"T_out must be >= 1, got {T_out}")
    N, C, T, V, M = x.shape
    vf = valid_frames.to(device=x.device, dtype=torch.long)
    j = torch.arange(T_out, device=x.device, dtype=x.dtype)
    p = start.to(x.dtype).view(N, 1) + j.view(1, T_out) * step.to(x.dtype).view(N, 1)
    last = (vf - 1).clamp(min=0).to(x.dtype).view(N, 1)
    p = torch.minimum(p.clamp(min=0), last)
    i0 = p.floor()
    frac = (p - i0).view(N, 1, T_out, 1, 1)
    i0 = i0.long()
    i1 = torch.minimum(i0 + 1, last.long())
    gather = lambda idx: torch.gather(x, 2, idx.view(N, 1, T_out, 1, 1).expand(N, C, T_out, V, M))
    lo, hi = gather(i0), gather(i1)
    clip = lo + frac * (hi - lo)
    out = torch.einsum("nij,njtvm->nitvm", R.to(x.dtype), clip)
    return out * (vf > 0).to(x.dtype).view(N, 1, 1, 1, 1)
