"""Roofline figures shared by the benchmarks: FLOPs of what they time, the achieved GFLOP/s,
and the fraction of this machine's peak for the dtype.

Peak = the practical one, measured in the same run: the rate of a large square matrix
product (torch.mm, n=2048, random data) in the dtype, median of a few calls: on a CPU,
MKL (float32) or oneDNN (bfloat16) at their best. Unlike the clock-based figure (cores x
FMA pipes x vector lanes x 2 x clock, which needs the pipe count and the sustained clock
under AVX-512, neither of which torch reports), it is measured under the same load from
other processes as the figures it divides. FLOPs are counted by
torch.utils.flop_counter on the plain-PyTorch path (CPSTN_BACKEND=reference), since the
counter cannot see inside the fused ops, which do the same multiply-adds.
"""
import os
from unittest import mock

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench_ceilings import matmul_tflops

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def counted_flops(fn) -> int:
    """FLOPs of fn() on the plain-PyTorch path (matrix products and convolutions)."""
    with mock.patch.dict(os.environ, {"CPSTN_BACKEND": "reference"}), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def measured_peaks(device: torch.device, dtypes, n: int = 2048, repeats: int = 5) -> dict:
    """{dtype name: GFLOP/s of an (n,n) @ (n,n) product} for each dtype name."""
    torch.backends.cuda.matmul.allow_tf32 = False
    return {name: matmul_tflops(device, n, DTYPES[name], repeats)["tflops"] * 1e3 for name in dtypes}


def rate_line(flop: float, ms: float, peak_gflops: float) -> str:
    """'228.3 GFLOP, 90.1 GFLOP/s, 45% of peak'."""
    rate = flop / (ms * 1e-3) / 1e9
    return f"{flop / 1e9:.1f} GFLOP, {rate:.1f} GFLOP/s, {rate / peak_gflops:.0%} of peak"
