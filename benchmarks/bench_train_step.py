"""Samples/s of one full CP-STN pretraining step, extension kernels vs plain-PyTorch reference.

    python benchmarks/bench_train_step.py                    # batch 64, default encoder, 50 frames
    python benchmarks/bench_train_step.py --device cuda --batch-size 128

A step is training.train_step: views from the raw clips (augment.make_views), query and
pretext views through the query encoder, key view through the key encoder, InfoNCE +
pretext losses, backward, SGD, EMA update and enqueue. The two backends alternate
within one process (ops reads CPSTN_BACKEND on every call) on two identical models and
batches; the table shows medians over --repeats steps after --warmup steps each.
Input clips: (N,3,--clip-frames,25,2), valid lengths uniform in 40..clip-frames, zero after.
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

from cpstn_min import distributed, ops, training  # noqa: E402
from cpstn_min.config import Config  # noqa: E402
from cpstn_min.model import CPSTN  # noqa: E402
from cpstn_min.pretext import pretext_classes  # noqa: E402
from cpstn_min.training import precision  # noqa: E402

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


def timed_step(run: training.Run, clips, valid_frames, backend: str) -> float:
    if backend == "reference":
        os.environ["CPSTN_BACKEND"] = "reference"
    else:
        os.environ.pop("CPSTN_BACKEND", None)
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
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", action="store_true")
    args = p.parse_args(argv)
    device = torch.device(args.device)

    cfg = Config()
    cfg.augment.T_out, cfg.model.hidden_channels = args.frames, args.hidden_channels
    cfg.model.feature_dim = args.feature_dim
    cfg.model.queue_size, cfg.train.batch_size, cfg.train.amp = args.queue_size, args.batch_size, args.amp
    torch.manual_seed(0)
    core = CPSTN(cfg.model, cfg.model.queue_size, pretext_classes(cfg.augment)).to(device)
    runs = {"extension": make_run(cfg, core, device),
            "reference": make_run(cfg, copy.deepcopy(core), device)}
    g = torch.Generator().manual_seed(0)
    N, T = args.batch_size, args.clip_frames
    valid = torch.randint(40, T + 1, (N,), generator=g)
    clips = torch.randn(N, 3, T, 25, 2, generator=g) * (torch.arange(T).view(1, 1, T, 1, 1) <
                                                         valid.view(N, 1, 1, 1, 1))

    os.environ.pop("CPSTN_BACKEND", None)
    print(f"device {device} ({torch.get_num_threads()} threads), extension backend: {ops.backend(device)}; "
          f"batch {N}, views {args.frames} frames from {T}-frame clips, hidden {args.hidden_channels}, "
          f"features {args.feature_dim}, "
          f"queue {args.queue_size}{', amp' if args.amp else ''}")
    if ops.backend(device) == "reference":
        print("warning: the extension is not built for this device, both rows use the reference ops")
    times = {b: [] for b in BACKENDS}
    for i in range(args.warmup + args.repeats):
        for b in BACKENDS:  # alternate, so load changes on a shared machine hit both alike
            t = timed_step(runs[b], clips, valid, b)
            if i >= args.warmup:
                times[b].append(t)
            print(f"  {'warmup' if i < args.warmup else 'step'} {i + 1}/{args.warmup + args.repeats} "
                  f"{b}: {t:.2f} s", file=sys.stderr, flush=True)
    os.environ.pop("CPSTN_BACKEND", None)

    med = {b: statistics.median(times[b]) for b in BACKENDS}
    print(f"\n{'backend':<11}{'median s/step':>15}{'samples/s':>12}   all steps (s)")
    for b in BACKENDS:
        print(f"{b:<11}{med[b]:>15.3f}{N / med[b]:>12.1f}   " + " ".join(f"{t:.2f}" for t in times[b]))
    print(f"speedup extension vs reference: {med['reference'] / med['extension']:.2f}x")


if __name__ == "__main__":
    main()
