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
    """The same function as `graph_conv`, written as two large batched matmuls in the
    cheaper order for the shape; the bias passes through the graph as the (Cout,V)
    table sum_k b[k,c] colsum_v(A[k,v,w]). What runs when the extension is missing.
    Measured on CPU (benchmarks/bench_graph_conv.py) against variants with conv2d,
    one (V, K*V) graph matmul plus a permute, or a separate bias add.
    """
    K, Cout, Cin = weight.shape
    N, _, T, V = x.shape
    b_out = None if bias is None else torch.matmul(bias.t(), A.sum(dim=1)).view(1, Cout, 1, V)
    if Cin <= Cout:
        # graph first: XA_k = X A_k as one broadcast matmul, laid out (N, K*Cin, T*V) ...
        xa = torch.matmul(x.reshape(N, 1, Cin * T, V), A.unsqueeze(0)).view(N, K * Cin, T * V)
        # ... then channels: [W_1 .. W_K] (Cout, K*Cin) @ XA, the bias fused into the product
        w_cat = weight.transpose(0, 1).reshape(1, Cout, K * Cin).expand(N, Cout, K * Cin)
        if b_out is None:
            return torch.bmm(w_cat, xa).view(N, Cout, T, V)
        return torch.baddbmm(b_out.expand(1, Cout, T, V).reshape(1, Cout, T * V), w_cat, xa).view(N, Cout, T, V)
    # channels first: Z = [W_1; ..; W_K] (K*Cout, Cin) @ X, then (N*Cout*T, K*V) @ A as (K*V, V)
    z = torch.bmm(weight.reshape(1, K * Cout, Cin).expand(N, K * Cout, Cin), x.reshape(N, Cin, T * V))
    z = z.view(N, K, Cout * T, V).transpose(1, 2).reshape(N * Cout * T, K * V)
    y = torch.mm(z, A.reshape(K * V, V)).view(N, Cout, T, V)
    return y if b_out is None else y + b_out


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
                     step: torch.Tensor, R: torch.Tensor, T_out: int, reflect: bool = False) -> torch.Tensor:
    """Batched temporal resample (linear interpolation, clamped to the valid
    frames, negative step = reversed playback) followed by a per-sample 3x3 map.
    reflect: positions are folded into the valid frames by ping-pong playback
    (period 2*(valid-1), q = p - period*floor(p/period)) instead of clamped.

    x (N,3,T,V,M), valid_frames (N,) int64, start (N,), step (N,), R (N,3,3) -> (N,3,T_out,V,M)
    """
    if T_out < 1:
        raise ValueError(f"T_out must be >= 1, got {T_out}")
    N, C, T, V, M = x.shape
    if T == 0:  # every sample has valid_frames 0: nothing to gather from
        return x.new_zeros(N, C, T_out, V, M)
    vf = valid_frames.to(device=x.device, dtype=torch.long)
    j = torch.arange(T_out, device=x.device, dtype=x.dtype)
    p = start.to(x.dtype).view(N, 1) + j.view(1, T_out) * step.to(x.dtype).view(N, 1)
    last = (vf - 1).clamp(min=0).to(x.dtype).view(N, 1)
    if reflect:
        period = 2 * last
        q = p - period * torch.floor(p / period)
        p = torch.where(last > 0, torch.where(q > last, period - q, q), torch.zeros_like(p))
    # where(p > 0), not clamp: NaN (a bad start or step) goes to frame 0 as in the kernels
    p = torch.minimum(torch.where(p > 0, p, torch.zeros_like(p)), last)
    i0 = p.floor()
    frac = (p - i0).view(N, 1, T_out, 1, 1)
    i0 = i0.long()
    i1 = torch.minimum(i0 + 1, last.long())
    gather = lambda idx: torch.gather(x, 2, idx.view(N, 1, T_out, 1, 1).expand(N, C, T_out, V, M))
    lo, hi = gather(i0), gather(i1)
    clip = lo + frac * (hi - lo)
    out = torch.einsum("nij,njtvm->nitvm", R.to(x.dtype), clip)
    # where, not a product: a sample with no valid frames is zero even if frame 0 holds inf/NaN
    return torch.where((vf > 0).view(N, 1, 1, 1, 1), out, out.new_zeros(()))
