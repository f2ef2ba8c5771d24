"""ST-GCN encoder forward+backward: samples/s, FLOPs, achieved GFLOP/s and the fraction of the
machine's peak for the dtype, float32 and bfloat16 autocast, beside the conv2d+einsum spec.

    python benchmarks/bench_encoder.py [--device cuda] [--batch-size 64] [--dtypes float32,bfloat16] [--json FILE]

The default encoder (hidden 16 -> 256 features, the SkeletonCLR/AimCLR setting) on random
clips (B,3,--frames,25,2); one call = forward, sum of squares, backward. bfloat16/float16
mean autocast (training/precision.py): convolutions, matrix products and the graph_conv kernel
in that dtype with float32 weights. "spec float32" is the same encoder with graph_conv as
ST-GCN writes it (conv2d + einsum, reference.graph_conv, AimCLR's formulation) in float32:
the in-repo stand-in for the peer's encoder. Every row is timed in interleaved rounds in one
process (medians); FLOPs and the peak: roofline.py.
"""
import argparse
import contextlib
import json
import os
import sys
from unittest import mock

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved_medians, machine_summary  # noqa: E402
from bench_ceilings import checked_device  # noqa: E402
from roofline import DTYPES, counted_flops, measured_peaks  # noqa: E402
from cpstn_min import ops, reference  # noqa: E402
from cpstn_min.encoder import STGCNEncoder  # noqa: E402
from cpstn_min.training import allocator  # noqa: E402


def step_fn(enc, clips, device, dtype, spec=False):
    autocast = torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext()

    def run():
        with contextlib.ExitStack() as stack:
            if spec:  # the fallback path, running the conv2d+einsum spec
                stack.enter_context(mock.patch.dict(os.environ, {"CPSTN_BACKEND": "reference"}))
                stack.enter_context(mock.patch.object(reference, "graph_conv_composed", reference.graph_conv))
            enc.zero_grad(set_to_none=True)
            with autocast:
                out = enc(clips)
            out.float().square().sum().backward()
    return run


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, default=128, help="clips (two bodies each)")
    p.add_argument("--frames", type=int, default=50)
    p.add_argument("--hidden-channels", type=int, default=16)
    p.add_argument("--dtypes", default="float32,bfloat16", help=f"comma-separated, of {','.join(DTYPES)}")
    p.add_argument("--no-spec", action="store_true", help="leave out the conv2d+einsum spec row")
    p.add_argument("--malloc", choices=("default", "keep"), default="default",
                   help="CPU: glibc's default, or keep freed memory for reuse as train_step does "
                        "(training/allocator.py)")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    device, card = checked_device(args.device, "bench_encoder")
    if args.malloc == "keep":
        allocator.keep_freed_memory()
    names = args.dtypes.split(",")
    torch.manual_seed(0)
    enc = STGCNEncoder(hidden_channels=args.hidden_channels).to(device)
    clips = torch.randn(args.batch_size, 3, args.frames, 25, 2, device=device)
    fns = {name: step_fn(enc, clips, device, DTYPES[name]) for name in names}
    if not args.no_spec:
        fns["spec float32"] = step_fn(enc, clips, device, torch.float32, spec=True)
    flops = {name: counted_flops(fn) for name, fn in fns.items()}
    peaks = measured_peaks(device, sorted({n.split()[-1] for n in fns}))
    ms = interleaved_medians(fns, args.repeats, device, warmup=2)
    peaks_after = measured_peaks(device, peaks)   # the load may change while the rows run
    peaks = {k: max(v, peaks_after[k]) for k, v in peaks.items()}
    record = {"device": card, "machine": machine_summary(device), "backend": ops.backend(device),
              "graph_conv_float32": ops.graph_conv_path(torch.empty(0, device=device)),
              "batch_size": args.batch_size, "frames": args.frames, "hidden_channels": args.hidden_channels,
              "peak_gflops": peaks, "results": {}}
    print(record["machine"])
    print(f"encoder fwd+bwd, ({args.batch_size},3,{args.frames},25,2), hidden {args.hidden_channels}, "
          f"{device}, backend {record['backend']} (graph_conv: {record['graph_conv_float32']} in float32), "
          f"malloc {args.malloc}, median of {args.repeats} interleaved "
          f"rounds; peak = "
          + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items()) + " (torch.mm n=2048, this run)")
    print(f"  {'':13} {'ms':>9} {'samples/s':>10} {'GFLOP':>7} {'GFLOP/s':>8} {'of peak':>8} {'x spec':>7}")
    for name, fn in fns.items():
        gflops = flops[name] / (ms[name] * 1e-3) / 1e9
        r = {"ms": ms[name], "samples_per_s": args.batch_size / (ms[name] * 1e-3), "flop": flops[name],
             "tflops": gflops / 1e3, "of_peak": gflops / peaks[name.split()[-1]]}
        if "spec float32" in ms:
            r["speedup_vs_spec_float32"] = ms["spec float32"] / ms[name]
        if name in DTYPES:
            record["results"][name] = r
        else:
            record["spec_float32"] = r
        print(f"  {name:<13} {ms[name]:9.1f} {r['samples_per_s']:10.1f} {flops[name] / 1e9:7.1f} {gflops:8.1f} "
              f"{r['of_peak']:8.0%} " + (f"{r['speedup_vs_spec_float32']:6.2f}x" if "spec float32" in ms else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
