"""Timing and memory helpers shared by the benchmark scripts.

Timing: the approaches being compared run in interleaved rounds (a, b, c, a, b, c, ...)
so that load from other processes on a shared machine hits all of them alike; each
figure is the median over the rounds, and ratios are taken within one run.

Memory: the peak number of bytes a call allocates above what was live before it.
On CPU this replays the allocator events torch.profiler records with
profile_memory=True (every tensor allocation and free, in order); on CUDA it is
torch.cuda.max_memory_allocated after a reset.
"""
import math
import os
import platform
import statistics
import time
from typing import Callable, Dict

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_medians(fns: Dict[str, Callable[[], object]], repeats: int, device: torch.device,
                        warmup: int = 1) -> Dict[str, float]:
    """Median wall time in ms of each fn, measured in `repeats` interleaved rounds."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            synchronize(device)
            t0 = time.perf_counter()
            fn()
            synchronize(device)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) * 1e3 for name, ts in times.items()}


def peak_bytes(fn: Callable[[], object], device: torch.device) -> int:
    """Peak bytes allocated by fn() above what was allocated before it (results included,
    since they are freed only when fn returns)."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]")
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


def geomean(values) -> float:
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values))


def machine_summary(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = " load average %.1f" % os.getloadavg()[0] if hasattr(os, "getloadavg") else ""
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads,{load}"
