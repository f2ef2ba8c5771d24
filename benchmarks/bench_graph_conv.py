"""Fused graph convolution vs plain PyTorch, forward and forward+backward.

Columns, at the ST-GCN layer shapes of the default encoder (64 clips x 2 bodies,
N=128, K=3, V=25, the NTU spatial graph):
  reference  conv2d 1x1 to K*Cout channels + einsum (reference.graph_conv, the spec)
  composed   the best plain-PyTorch order (reference.graph_conv_composed, the fallback)
  fused      torch.ops.cpstn.graph_conv (the C++/CUDA kernels)
Times are medians of interleaved repeats in ms; fwd+bwd computes all four gradients.
Memory: forward "extra" = peak bytes allocated during the call minus the output itself
(so intermediates); fwd+bwd = peak above the start (see _timing.py for how).
--dtype bfloat16/float16: x and grad_out in that dtype, the parameters float32, every approach
under autocast (what train.py --amp runs); the fused kernel reads the parameters in float32.
Roofline columns: the FLOPs of the composed order (the fused kernel's order; roofline.py counts
them), the fused kernel's forward+backward GFLOP/s and its fraction of the measured peak
(a large matrix product in the dtype, this run).
Then the whole encoder forward+backward (64 clips, T=50, float32) with the extension vs
CPSTN_BACKEND=reference (the composed fallback) and vs the conv2d+einsum spec.

    python benchmarks/bench_graph_conv.py [--quick] [--device cpu|cuda] [--dtype D] [--repeats R] [--threads T]
"""
import argparse
import contextlib
import os
import sys
from unittest import mock

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import geomean, interleaved_medians, machine_summary, peak_bytes  # noqa: E402
from roofline import DTYPES, counted_flops, measured_peaks  # noqa: E402

from cpstn_min import ops, reference  # noqa: E402
from cpstn_min.encoder import STGCNEncoder  # noqa: E402
from cpstn_min.graph import Graph  # noqa: E402

LAYERS = [(3, 16, 50), (16, 16, 50), (16, 32, 50), (32, 64, 25), (64, 256, 13)]  # (Cin, Cout, T)
MB = 2.0 ** 20


def fused(x, w, b, A):
    return torch.ops.cpstn.graph_conv.default(x, w, b, A)


APPROACHES = {"reference": reference.graph_conv, "composed": reference.graph_conv_composed, "fused": fused}


def layer_inputs(Cin, Cout, T, N, device, dtype=torch.float32):
    """x and grad_out in dtype, the parameters float32 (as autocast hands them to the kernel)."""
    g = torch.Generator().manual_seed(0)
    A = torch.tensor(Graph("ntu-rgb+d", "spatial").A)
    x = torch.randn(N, Cin, T, 25, generator=g)
    w = (torch.rand(3, Cout, Cin, generator=g) * 2 - 1) / Cin ** 0.5  # the 1x1 conv's init scale
    b = (torch.rand(3, Cout, generator=g) * 2 - 1) / Cin ** 0.5
    grad_out = torch.randn(N, Cout, T, 25, generator=g)
    return [t.to(device) for t in (x.to(dtype), w, b, A, grad_out.to(dtype))]


def under_autocast(fn, device, dtype):
    if dtype == torch.float32:
        return fn

    def run(*args):
        with torch.autocast(device.type, dtype=dtype):
            return fn(*args)
    return run


def bench_layers(N, repeats, device, dtype=torch.float32):
    name = str(dtype).replace("torch.", "")
    peak = measured_peaks(device, [name])[name]
    print(f"\ngraph conv layers, N={N}, K=3, V=25 ({device.type}, {name}); times in ms (median of {repeats}), "
          f"ratio = other / fused, memory in MB; peak {peak:.0f} GFLOP/s ({name} torch.mm n=2048, this run)")
    head = (f"{'Cin->Cout T':>13} | {'ref':>7} {'comp':>7} {'fused':>7} {'x ref':>6} {'x comp':>6} |"
            f" {'ref':>7} {'comp':>7} {'fused':>7} {'x ref':>6} {'x comp':>6} | {'out':>5} "
            f"{'extra fwd: ref':>14} {'comp':>5} {'fused':>5} | {'peak fwd+bwd: ref':>17} {'comp':>5} {'fused':>5} |"
            f" {'GFLOP f+b':>9} {'GFLOP/s':>7} {'of peak':>7}")
    print(f"{'':13} | {'forward':^38} | {'forward + backward':^38} |")
    print(head)
    ratios = {key: [] for key in ("f_ref", "f_comp", "fb_ref", "fb_comp")}
    for Cin, Cout, T in LAYERS:
        x, w, b, A, g = layer_inputs(Cin, Cout, T, N, device, dtype)
        leaves = [t.clone().requires_grad_() for t in (x, w, b, A)]
        calls = {}
        for name, fn in APPROACHES.items():
            fn = under_autocast(fn, device, dtype)
            calls[name, "f"] = lambda fn=fn: fn(x, w, b, A)
            calls[name, "fb"] = lambda fn=fn: torch.autograd.grad(fn(*leaves), leaves, g)
        with torch.no_grad():
            want = reference.graph_conv(x.double(), w.double(), b.double(), A.double())
            err = (fused(x, w, b, A).double() - want).abs().max().item() / want.abs().max().item()
        # float32: sums in another order; 16 bits: the output rounded once (tests/test_graph_conv_half.py)
        tol = 1e-4 if dtype == torch.float32 else 2 * 2.0 ** -(8 if dtype == torch.bfloat16 else 11)
        assert err < tol, f"fused output differs from the reference (relative error {err:.2e})"
        flop = counted_flops(calls["composed", "fb"])
        ms = interleaved_medians(calls, repeats, device)
        out_mb = want.numel() * x.element_size() / MB
        extra = {name: peak_bytes(calls[name, "f"], device) / MB - out_mb for name in APPROACHES}
        peak_mb = {name: peak_bytes(calls[name, "fb"], device) / MB for name in APPROACHES}
        rate = flop / (ms["fused", "fb"] * 1e-3) / 1e9
        r = {"f_ref": ms["reference", "f"] / ms["fused", "f"], "f_comp": ms["composed", "f"] / ms["fused", "f"],
             "fb_ref": ms["reference", "fb"] / ms["fused", "fb"],
             "fb_comp": ms["composed", "fb"] / ms["fused", "fb"]}
        for key, v in r.items():
            ratios[key].append(v)
        print(f"{f'{Cin}->{Cout} T{T}':>13} | {ms['reference', 'f']:7.1f} {ms['composed', 'f']:7.1f} "
              f"{ms['fused', 'f']:7.1f} {r['f_ref']:6.2f} {r['f_comp']:6.2f} | {ms['reference', 'fb']:7.1f} "
              f"{ms['composed', 'fb']:7.1f} {ms['fused', 'fb']:7.1f} {r['fb_ref']:6.2f} {r['fb_comp']:6.2f} | "
              f"{out_mb:5.1f} {extra['reference']:14.1f} {extra['composed']:5.1f} {extra['fused']:5.1f} | "
              f"{peak_mb['reference']:17.1f} {peak_mb['composed']:5.1f} {peak_mb['fused']:5.1f} | "
              f"{flop / 1e9:9.2f} {rate:7.1f} {rate / peak:7.0%}")
        if device.type == "cuda":
            print(f"{'':13}   fused achieved bandwidth: {bandwidth_line(x, w, b, A, want, ms)}")
    gm = {key: geomean(v) for key, v in ratios.items()}
    print(f"{'geo-mean':>13} | {'':23} {gm['f_ref']:6.2f} {gm['f_comp']:6.2f} | {'':23} {gm['fb_ref']:6.2f} "
          f"{gm['fb_comp']:6.2f} |")
    return gm


def bandwidth_line(x, w, b, A, y, ms):
    """Least traffic of the fused op (read inputs, write outputs once) over its time,
    against the card's peak (2 x memory clock x bus width) where torch reports them."""
    nbytes = lambda *ts: sum(t.numel() * t.element_size() for t in ts)
    fwd = nbytes(x, w, b, A, y) / (ms["fused", "f"] * 1e-3) / 1e9
    # forward + backward: the forward's traffic, then read grad_out and the inputs, write the grads
    fwdbwd = (2 * nbytes(x, w, b, A, y) + nbytes(x, w, b, A)) / (ms["fused", "fb"] * 1e-3) / 1e9
    props = torch.cuda.get_device_properties(x.device)
    clock, width = getattr(props, "memory_clock_rate", 0), getattr(props, "memory_bus_width", 0)
    peak = f" of {2 * clock * 1e3 * width / 8 / 1e9:.0f} GB/s peak" if clock and width else ""
    return f"forward {fwd:.0f} GB/s, forward+backward {fwdbwd:.0f} GB/s{peak}"


def one_pass_stand_in(x, weight, bias, A):
    """Not a graph conv: one pass over x to an output of the right shape, connected to every
    input so the backward pass keeps its shape. Timing the encoder with it bounds what any
    graph conv kernel can gain on the encoder (the rest of the network stays)."""
    N, _, T, V = x.shape
    s = x.mean(1, keepdim=True) + weight.sum() + A.sum() + (0 if bias is None else bias.sum())
    return s.expand(N, weight.shape[1], T, V).contiguous()


@contextlib.contextmanager
def graph_conv_backend(which):
    """"fused": the extension; "composed": CPSTN_BACKEND=reference (the ops fallback);
    "reference": the same fallback path running the conv2d+einsum spec instead;
    "stand-in": the fallback path running one_pass_stand_in."""
    patches = contextlib.ExitStack()
    if which == "fused":  # the kernel, also where ops.graph_conv would pick the composed order
        patches.enter_context(mock.patch.dict(os.environ, {"CPSTN_GRAPH_CONV": "kernel"}))
    else:
        patches.enter_context(mock.patch.dict(os.environ, {"CPSTN_BACKEND": "reference"}))
    if which in ("reference", "stand-in"):
        replacement = reference.graph_conv if which == "reference" else one_pass_stand_in
        patches.enter_context(mock.patch.object(reference, "graph_conv_composed", replacement))
    with patches:
        yield


def bench_encoder(clips, T, repeats, device):
    torch.manual_seed(0)
    enc = STGCNEncoder().to(device)
    data = torch.randn(clips, 3, T, 25, 2, device=device)

    def step(which):
        def run():
            with graph_conv_backend(which):
                enc.zero_grad(set_to_none=True)
                enc(data).square().sum().backward()
        return run

    ms = interleaved_medians({w: step(w) for w in ("fused", "composed", "reference", "stand-in")}, repeats, device)
    print(f"\nencoder forward+backward, ({clips},3,{T},25,2), {device.type}, median of {repeats} (ms)")
    print(f"  extension {ms['fused']:.0f} | CPSTN_BACKEND=reference (composed) {ms['composed']:.0f} "
          f"-> x{ms['composed'] / ms['fused']:.2f} | conv2d+einsum spec {ms['reference']:.0f} "
          f"-> x{ms['reference'] / ms['fused']:.2f}")
    print(f"  graph conv replaced by a one-pass stand-in {ms['stand-in']:.0f}: no graph conv kernel can beat "
          f"x{ms['composed'] / ms['stand-in']:.2f} over composed, x{ms['reference'] / ms['stand-in']:.2f} over the spec")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes and 2 repeats: a smoke run")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--repeats", type=int, default=None, help="timing rounds (default 7, 2 with --quick)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    p.add_argument("--dtype", choices=list(DTYPES), default="float32",
                   help="x and grad_out dtype (16-bit: under autocast, parameters float32; float16 on CUDA)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if ops.backend(device) == "reference":
        sys.exit(f"the extension has no kernel for {device.type} here (backend: reference); build it first: "
                 "pip install --no-build-isolation -e .")
    repeats = args.repeats or (2 if args.quick else 7)
    print(machine_summary(device))
    if args.dtype == "float16" and device.type == "cpu":
        sys.exit("--dtype float16: the CPU kernel has bfloat16 and float32 (float16 is CUDA only)")
    bench_layers(8 if args.quick else 128, repeats, device, DTYPES[args.dtype])
    bench_encoder(2 if args.quick else 64, 20 if args.quick else 50, max(2, repeats // 2 + 1), device)


if __name__ == "__main__":
    main()
