"""Why the CPU graph_conv kernel computes bfloat16 in float32: the GEMMs it could call, at its
per-sample shapes, float32 vs bfloat16, in GFLOP/s.

    python benchmarks/bench_bf16_gemm.py [--repeats 5]

sgemm_ and gemm_bf16bf16f32_ are the Fortran entry points of the MKL inside torch's CPU library
(what graph_conv_blas.cpp calls; bfloat16 operands, float32 sums); torch.mm bfloat16 goes to
oneDNN where it chooses to. Shapes (M, N, K), row-major C = A @ B: the channel mix of the
last encoder layer (64->256, T=13: Cout x TV x K*Cin), of a middle one (16->16, T=50), and a
graph multiply (Cin*T x V x V, V=25). One call per row is timed in a loop of `calls`, medians
of --repeats, all rows in one process.
"""
import argparse
import ctypes
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import machine_summary  # noqa: E402

SHAPES = [(256, 325, 192, 20), (16, 1250, 48, 200), (800, 25, 25, 500)]   # M, N, K, calls per timing


def fortran(name):
    lib = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))
    return getattr(lib, name, None)


def blas_call(f, M, N, K, a, b, c):
    """Row-major C = A @ B through a column-major BLAS: C^T = B^T A^T."""
    no = ctypes.c_char(b"N")
    ints = [ctypes.c_int(v) for v in (N, M, K, N, K, N)]
    one, zero = ctypes.c_float(1), ctypes.c_float(0)
    f(ctypes.byref(no), ctypes.byref(no), ctypes.byref(ints[0]), ctypes.byref(ints[1]), ctypes.byref(ints[2]),
      ctypes.byref(one), ctypes.c_void_p(b.data_ptr()), ctypes.byref(ints[3]), ctypes.c_void_p(a.data_ptr()),
      ctypes.byref(ints[4]), ctypes.byref(zero), ctypes.c_void_p(c.data_ptr()), ctypes.byref(ints[5]))


def gflops(fn, flop, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return flop / statistics.median(ts) / 1e9


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    sgemm, bgemm = fortran("sgemm_"), fortran("gemm_bf16bf16f32_")
    print(machine_summary(torch.device("cpu")))
    print(f"{'M x N x K':>16} {'sgemm_':>8} {'gemm_bf16bf16f32_':>18} {'torch.mm f32':>13} {'torch.mm bf16':>14}  GFLOP/s")
    for M, N, K, calls in SHAPES:
        a, b, c = torch.randn(M, K), torch.randn(K, N), torch.empty(M, N)
        ab, bb = a.bfloat16(), b.bfloat16()
        flop = 2 * M * N * K * calls
        loop = lambda f: (lambda: [f() for _ in range(calls)])  # noqa: E731
        rows = [gflops(loop(lambda: blas_call(sgemm, M, N, K, a, b, c)), flop, args.repeats) if sgemm else None,
                gflops(loop(lambda: blas_call(bgemm, M, N, K, ab, bb, c)), flop, args.repeats) if bgemm else None,
                gflops(loop(lambda: torch.mm(a, b)), flop, args.repeats),
                gflops(loop(lambda: torch.mm(ab, bb)), flop, args.repeats)]
        cells = [f"{r:.1f}" if r is not None else "absent" for r in rows]
        print(f"{f'{M} x {N} x {K}':>16} {cells[0]:>8} {cells[1]:>18} {cells[2]:>13} {cells[3]:>14}")


if __name__ == "__main__":
    main()
