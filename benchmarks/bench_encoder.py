"""ST-GCN encoder forward+backward: samples/s and achieved FLOP/s, float32 and bfloat16 autocast.

    python benchmarks/bench_encoder.py --device cuda --batch-size 128 [--dtypes float32,bfloat16] [--json FILE]

The default encoder (hidden 16 -> 256 features, the SkeletonCLR/AimCLR setting) on random
clips (B,3,--frames,25,2); one call = forward, sum of squares, backward. bfloat16 means
autocast: convolutions and matrix products in bfloat16, the graph_conv kernel in float32 (its
autocast rule). FLOPs are counted once per dtype by torch.utils.flop_counter on the
plain-PyTorch path (CPSTN_BACKEND=reference), since the counter cannot see inside the fused
op, which does the same multiply-adds; achieved FLOP/s = that count over the timed call with
the extension. Medians of --repeats calls (CUDA events on a GPU).
"""
import argparse
import contextlib
import json
import os
import sys
from unittest import mock

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_ceilings import checked_device, median_ms  # noqa: E402
from cpstn_min import ops  # noqa: E402
from cpstn_min.encoder import STGCNEncoder  # noqa: E402

DTYPES = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


def step_fn(enc, clips, device, dtype):
    autocast = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()

    def run():
        enc.zero_grad(set_to_none=True)
        with autocast:
            out = enc(clips)
        out.float().square().sum().backward()
    return run


def counted_flops(fn) -> int:
    with mock.patch.dict(os.environ, {"CPSTN_BACKEND": "reference"}), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, default=128, help="clips (two bodies each)")
    p.add_argument("--frames", type=int, default=50)
    p.add_argument("--hidden-channels", type=int, default=16)
    p.add_argument("--dtypes", default="float32,bfloat16", help=f"comma-separated, of {','.join(DTYPES)}")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    device, card = checked_device(args.device, "bench_encoder")
    torch.manual_seed(0)
    enc = STGCNEncoder(hidden_channels=args.hidden_channels).to(device)
    clips = torch.randn(args.batch_size, 3, args.frames, 25, 2, device=device)
    record = {"device": card,
              "backend": ops.backend(device), "batch_size": args.batch_size, "frames": args.frames,
              "hidden_channels": args.hidden_channels, "results": {}}
    print(f"encoder fwd+bwd, ({args.batch_size},3,{args.frames},25,2), hidden {args.hidden_channels}, "
          f"{device}, backend {record['backend']}, median of {args.repeats}")
    for name in args.dtypes.split(","):
        fn = step_fn(enc, clips, device, DTYPES[name])
        flops = counted_flops(fn)
        ms = median_ms(fn, device, args.repeats, warmup=3)
        r = {"ms": ms, "samples_per_s": args.batch_size / (ms * 1e-3), "flop": flops,
             "tflops": flops / (ms * 1e-3) / 1e12}
        record["results"][name] = r
        print(f"  {name:<9} {ms:9.2f} ms  {r['samples_per_s']:9.1f} samples/s  {flops / 1e9:8.1f} GFLOP  "
              f"{r['tflops']:7.2f} TFLOP/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
