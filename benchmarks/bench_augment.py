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
With a GPU and the CUDA build, (b) and (c) also run on it (clips already there).

usage: python benchmarks/bench_augment.py [--batch-size 64] [--clip-frames 300] [--frames 50]
                                          [--repeats 15] [--threads 1]
"""
import argparse
import contextlib
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
    args = ap.parse_args()
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
    rows = [("(a) per-sample numpy feeder, Python loop", cpu), ("(b) batched torch reference", cpu)]
    fns = {rows[0]: lambda: feeder.batch(range(N)), rows[1]: views_on(x, "reference")}
    if has_kernel("CPU"):
        rows.append(("(c) skeleton_augment kernel", cpu))
        fns[rows[-1]] = views_on(x, "")
    med = interleaved_medians(fns, args.repeats, cpu, warmup=2)
    if torch.cuda.is_available():
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
    if torch.cuda.is_available():
        print(machine_summary(torch.device("cuda")))
    a_ms = med[rows[0]]
    print(f"{'path':<42} {'device':<7} {'ms/batch':>9} {'(a)/this':>9} {'(b)/this':>9} {'GB/s':>7}")
    for row in rows:
        name, dev = row
        t = med[row]
        b_ms = med.get(("(b) batched torch reference", dev))
        vs_b = f"{b_ms / t:8.1f}x" if name.startswith("(c)") and b_ms else ""
        gbs = f"{3 * view_bytes / t / 1e6:7.1f}" if not name.startswith("(a)") else ""
        print(f"{name:<42} {dev.type:<7} {t:9.2f} {a_ms / t:8.1f}x {vs_b:>9} {gbs:>7}")


if __name__ == "__main__":
    main()
