"""Samples/s of one full CP-STN pretraining step: extension kernels vs plain-PyTorch reference,
float32 and mixed precision, with FLOPs per step, achieved GFLOP/s and the fraction of peak.

    python benchmarks/bench_train_step.py                    # batch 64, default encoder, 50 frames, float32
    python benchmarks/bench_train_step.py --amp              # the same step under --amp (bfloat16 on a CPU)
    python benchmarks/bench_train_step.py --precisions float32,amp --backends extension   # fp32 vs amp
    python benchmarks/bench_train_step.py --device cuda --batch-size 128

A step is training.train_step: views from the raw clips (augment.make_views), query and
pretext views through the query encoder, key view through the key encoder, InfoNCE +
pretext losses, backward, SGD, EMA update and enqueue (--no-pretext: the SkeletonCLR step).
Every (backend, precision) row has its own identical model and batch; the rows alternate
within one process (ops reads CPSTN_BACKEND on every call); the table shows medians over
--repeats steps after --warmup steps each. Input clips: (N,3,--clip-frames,25,2), valid
lengths uniform in 40..clip-frames, zero after. FLOPs and the peak: roofline.py (the peak of
a row is the large-GEMM rate of its autocast dtype, float32 for float32 rows).
"""
import argparse
import copy
import os
import statistics
import sys
import time
import types

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import machine_summary  # noqa: E402
from roofline import counted_flops, measured_peaks  # noqa: E402
from cpstn_min import distributed, ops, training  # noqa: E402
from cpstn_min.config import Config  # noqa: E402
from cpstn_min.config_checks import AMP_DTYPES  # noqa: E402
from cpstn_min.model import CPSTN  # noqa: E402
from cpstn_min.pretext import pretext_classes  # noqa: E402
from cpstn_min.training import allocator, precision  # noqa: E402

BACKENDS = ("extension", "reference")


def make_run(cfg: Config, core: CPSTN, device: torch.device) -> training.Run:
    """The parts of a training run that train_step touches (no scheduler; a loader stand-in
    whose dataset holds joint clips)."""
    tc = cfg.train
    opt = torch.optim.SGD([p for p in core.parameters() if p.requires_grad], lr=tc.lr,
                          momentum=tc.momentum, weight_decay=tc.weight_decay)
    scaler = precision.resolve(tc.amp, tc.amp_dtype, device).grad_scaler()
    loader = types.SimpleNamespace(dataset=types.SimpleNamespace(stream="joint"))
    return training.Run(cfg, distributed.DistInfo(), device, None, loader, core, core, opt, None, scaler,
                        torch.Generator())


def use_backend(backend: str) -> None:
    if backend == "reference":
        os.environ["CPSTN_BACKEND"] = "reference"
    else:
        os.environ.pop("CPSTN_BACKEND", None)


def timed_step(run: training.Run, clips, valid_frames, backend: str) -> float:
    use_backend(backend)
    if run.device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = training.train_step(run, clips, valid_frames)
    out["loss"].item()  # waits for the device
    return time.perf_counter() - t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--frames", type=int, default=50, help="T_out of every view")
    p.add_argument("--clip-frames", type=int, default=300, help="frames of the raw input clips")
    p.add_argument("--hidden-channels", type=int, default=16)
    p.add_argument("--feature-dim", type=int, default=256)
    p.add_argument("--queue-size", type=int, default=32768)
    p.add_argument("--no-pretext", action="store_true", help="contrastive only (the SkeletonCLR step)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", action="store_true", help="every row under --amp (same as --precisions amp)")
    p.add_argument("--amp-dtype", choices=AMP_DTYPES, default="auto", help="the autocast dtype of amp rows")
    p.add_argument("--precisions", default=None, help="comma-separated of float32, amp (default: float32, "
                                                      "or amp with --amp)")
    p.add_argument("--backends", default=",".join(BACKENDS), help=f"comma-separated of {', '.join(BACKENDS)}")
    p.add_argument("--malloc", choices=("keep", "default"), default="keep",
                   help="CPU: keep freed memory for reuse as train_step does (training/allocator.py), or "
                        "glibc's default (large blocks returned to the kernel, page faults on reuse)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    precisions = (args.precisions or ("amp" if args.amp else "float32")).split(",")
    backends = args.backends.split(",")
    if set(precisions) - {"float32", "amp"} or set(backends) - set(BACKENDS):
        sys.exit("bench_train_step: --precisions takes float32,amp and --backends extension,reference")

    if args.malloc == "default":
        allocator.leave_default()
    cfg = Config()
    cfg.augment.T_out, cfg.model.hidden_channels = args.frames, args.hidden_channels
    cfg.model.feature_dim, cfg.model.pretext = args.feature_dim, not args.no_pretext
    cfg.model.queue_size, cfg.train.batch_size = args.queue_size, args.batch_size
    cfg.train.amp_dtype = args.amp_dtype
    torch.manual_seed(0)
    core = CPSTN(cfg.model, cfg.model.queue_size, pretext_classes(cfg.augment)).to(device)
    runs, autocast_dtype = {}, {}
    for prec in precisions:
        for b in backends:
            c = copy.deepcopy(cfg)
            c.train.amp = prec == "amp"
            runs[b, prec] = make_run(c, copy.deepcopy(core), device)
            resolved = runs[b, prec].precision
            autocast_dtype[b, prec] = str(resolved.dtype or torch.float32).replace("torch.", "")
    g = torch.Generator().manual_seed(0)
    N, T = args.batch_size, args.clip_frames
    valid = torch.randint(40, T + 1, (N,), generator=g)
    clips = torch.randn(N, 3, T, 25, 2, generator=g) * (torch.arange(T).view(1, 1, T, 1, 1) <
                                                         valid.view(N, 1, 1, 1, 1))

    os.environ.pop("CPSTN_BACKEND", None)
    print(machine_summary(device))
    gc_path = ops.graph_conv_path(torch.empty(0, device=device))
    print(f"device {device} ({torch.get_num_threads()} threads), extension backend: {ops.backend(device)} "
          f"(graph_conv: {gc_path} in float32); "
          f"batch {N}, views {args.frames} frames from {T}-frame clips, hidden {args.hidden_channels}, "
          f"features {args.feature_dim}, queue {args.queue_size}, "
          f"{'contrastive only (--no-pretext)' if args.no_pretext else 'contrastive + pretext'}; "
          f"malloc {args.malloc}; precisions "
          + ", ".join(f"{p} = {runs[backends[0], p].precision.describe()}" for p in precisions))
    if ops.backend(device) == "reference":
        print("warning: the extension is not built for this device, both rows use the reference ops")
    # FLOPs of one step, counted once per precision on a throwaway copy (the count does not
    # depend on the dtype; a counted step also moves the model, so not on the timed runs)
    flops = {}
    for prec in precisions:
        probe = copy.deepcopy(runs[backends[0], prec])
        flops[prec] = counted_flops(lambda: training.train_step(probe, clips, valid))
    times = {key: [] for key in runs}
    for i in range(args.warmup + args.repeats):
        for key, run in runs.items():  # alternate, so load changes on a shared machine hit all alike
            t = timed_step(run, clips, valid, key[0])
            if i >= args.warmup:
                times[key].append(t)
            print(f"  {'warmup' if i < args.warmup else 'step'} {i + 1}/{args.warmup + args.repeats} "
                  f"{key[0]} {key[1]}: {t:.2f} s", file=sys.stderr, flush=True)
    os.environ.pop("CPSTN_BACKEND", None)
    peaks = measured_peaks(device, sorted(set(autocast_dtype.values())))

    med = {key: statistics.median(ts) for key, ts in times.items()}
    base = min(med, key=med.get) if len(med) > 1 else None
    print(f"\nFLOPs per step: " + ", ".join(f"{p} {flops[p] / 1e9:.1f} GFLOP" for p in precisions)
          + "; peak (torch.mm n=2048, this run): " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items()))
    print(f"{'backend':<20}{'median s/step':>15}{'samples/s':>12}{'GFLOP/s':>9}{'of peak':>9}   all steps (s)")
    for key in runs:
        b, prec = key
        label = b if len(precisions) == 1 else f"{b}/{prec}"
        rate = flops[prec] / med[key] / 1e9
        print(f"{label:<20}{med[key]:>15.3f}{N / med[key]:>12.1f}{rate:>9.1f}{rate / peaks[autocast_dtype[key]]:>9.0%}   "
              + " ".join(f"{t:.2f}" for t in times[key]))
    for key in runs:
        if key != base:
            print(f"speedup {'/'.join(base)} vs {'/'.join(key)}: {med[key] / med[base]:.2f}x")
    if ("extension", precisions[0]) in med and ("reference", precisions[0]) in med:
        e, r = med["extension", precisions[0]], med["reference", precisions[0]]
        print(f"speedup extension vs reference: {r / e:.2f}x")


if __name__ == "__main__":
    main()
