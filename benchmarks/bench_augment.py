"""Augmentation speed: the three views (key, query, pretext) of one batch.

A batch of clips (N,3,T,25,2) with random valid lengths 30..T becomes three
views (N,3,T_out,25,2):
  (a) per-sample numpy feeder called in a Python loop (aimclr_style_feeder.py)
  (b) augment.make_views on the batched torch reference (CPSTN_BACKEND=reference)
  (c) augment.make_views on the cpstn::skeleton_augment kernel
(b) and (c) include drawing the parameters. Rounds time (a), (b), (c) back to
back (benchmarks/_timing.py), so machine noise reaches all of them; the table
shows medians and ratios from the same run. GB/s counts the least traffic a
view needs: its output written once and two source frames read per output frame.
--device: auto (default) runs (a), (b), (c) on the CPU and, with a GPU and the CUDA
build, (b) and (c) on it too (clips already there); cpu only the CPU rows; cuda the
feeder (a) on the CPU as the per-sample baseline and (b), (c) on the GPU.

usage: python benchmarks/bench_augment.py [--batch-size 64] [--clip-frames 300] [--frames 50]
                                          [--repeats 15] [--threads 1] [--device auto|cpu|cuda]
                                          [--json FILE]
"""
import argparse
import contextlib
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved_medians, machine_summary  # noqa: E402
from aimclr_style_feeder import AimCLRStyleFeeder  # noqa: E402
from cpstn_min import augment, ops  # noqa: E402
from cpstn_min.config import AugmentConfig  # noqa: E402


@contextlib.contextmanager
def backend_env(value):
    old = os.environ.get("CPSTN_BACKEND")
    os.environ["CPSTN_BACKEND"] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ["CPSTN_BACKEND"]
        else:
            os.environ["CPSTN_BACKEND"] = old


def has_kernel(dispatch_key):
    return ops.extension_loaded() and torch._C._dispatch_has_kernel_for_dispatch_key(
        "cpstn::skeleton_augment", dispatch_key)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=64, help="clips per batch")
    ap.add_argument("--clip-frames", type=int, default=300, help="frames of the raw input clips")
    ap.add_argument("--frames", type=int, default=50, help="T_out of every view")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads; 1 (default) compares one core with the one-core feeder, "
                         "0 keeps torch's default")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                    help="where (b) and (c) run; (a) is numpy on the CPU (default auto: CPU, and CUDA when present)")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_augment: --device cuda, but CUDA is not available here")
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    N, T, V, M = args.batch_size, args.clip_frames, 25, 2
    g = torch.Generator().manual_seed(0)
    L = torch.randint(min(30, T), T + 1, (N,), generator=g)
    x = torch.randn(N, 3, T, V, M, generator=g) * (torch.arange(T).view(1, 1, T, 1, 1) < L.view(N, 1, 1, 1, 1))
    cfg = AugmentConfig(T_out=args.frames)
    feeder = AimCLRStyleFeeder(x.numpy(), L.numpy(), T_out=args.frames)

    def views_on(xd, backend):
        def run():
            with backend_env(backend):
                return augment.make_views(xd, L, g, cfg)
        return run

    cpu = torch.device("cpu")
    rows = [("(a) per-sample numpy feeder, Python loop", cpu)]
    fns = {rows[0]: lambda: feeder.batch(range(N))}
    if args.device != "cuda":
        rows.append(("(b) batched torch reference", cpu))
        fns[rows[-1]] = views_on(x, "reference")
        if has_kernel("CPU"):
            rows.append(("(c) skeleton_augment kernel", cpu))
            fns[rows[-1]] = views_on(x, "")
    med = interleaved_medians(fns, args.repeats, cpu, warmup=2)
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if use_cuda:
        cuda = torch.device("cuda")
        xc = x.to(cuda)
        gpu = {("(b) batched torch reference", cuda): views_on(xc, "reference")}
        if has_kernel("CUDA"):
            gpu[("(c) skeleton_augment kernel", cuda)] = views_on(xc, "")
        rows += list(gpu)
        med.update(interleaved_medians(gpu, args.repeats, cuda, warmup=3))

    # bytes a view must move at least: write the output, read two source frames per output frame
    view_bytes = N * 3 * args.frames * V * M * x.element_size() * 3
    print(f"{N} clips (3,{T},{V},{M}), valid frames {min(30, T)}..{T} -> key, query, pretext views at "
          f"T_out {args.frames}; median of {args.repeats} interleaved rounds")
    print(machine_summary(cpu))
    if use_cuda:
        print(machine_summary(torch.device("cuda")))
    a_ms = med[rows[0]]
    print(f"{'path':<42} {'device':<7} {'ms/batch':>9} {'(a)/this':>9} {'(b)/this':>9} {'GB/s':>7}")
    table = []
    for row in rows:
        name, dev = row
        t = med[row]
        b_ms = med.get(("(b) batched torch reference", dev))
        vs_b = b_ms / t if name.startswith("(c)") and b_ms else None
        gbs = 3 * view_bytes / t / 1e6 if not name.startswith("(a)") else None
        table.append({"path": name, "device": dev.type, "ms": t, "vs_a": a_ms / t, "vs_b": vs_b, "gbs": gbs})
        print(f"{name:<42} {dev.type:<7} {t:9.2f} {a_ms / t:8.1f}x "
              f"{f'{vs_b:8.1f}x' if vs_b else '':>9} {f'{gbs:7.1f}' if gbs else '':>7}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch_size": N, "clip_frames": T, "frames": args.frames, "repeats": args.repeats,
                       "views": 3, "least_bytes_per_batch": 3 * view_bytes, "rows": table}, f, indent=2)


if __name__ == "__main__":
    main()
