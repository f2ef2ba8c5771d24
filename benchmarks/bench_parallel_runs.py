"""Wall time of the ablation's runs made one after another (every thread to each run) against
side by side (experiments/ablation.py --jobs: one process per run, threads shared out).

    python benchmarks/bench_parallel_runs.py                 # 2 SkeletonCLR runs, 2 epochs, 640 clips
    python benchmarks/bench_parallel_runs.py --variants cpstn supervised --epochs 3

Each round makes the same runs, from scratch in a fresh folder, once each way through
ablation.run_all (pretraining and every evaluation column of the benchmark's model); the
ways alternate round by round so that load from other processes hits both alike. Prints the
median wall time of each way and their ratio, from the same run. A first round per way is a
warm-up (it also generates and caches the synthetic clips).
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import machine_summary  # noqa: E402
from experiments import ablation  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", nargs="+", default=["skeletonclr"], choices=list(ablation.VARIANTS))
    p.add_argument("--seeds", nargs="+", default=["1", "2"], help="one run per seed and variant")
    p.add_argument("--epochs", default="2")
    p.add_argument("--synthetic-train", default="640")
    p.add_argument("--repeats", type=int, default=3, help="timed rounds per way (median reported)")
    p.add_argument("--jobs", type=int, default=torch.get_num_threads(), help="runs at once, side by side")
    a = p.parse_args(argv)
    threads = torch.get_num_threads()
    scratch = tempfile.mkdtemp(prefix="bench_parallel_runs_")
    shared = ["--splits", "xsub", "--seeds", *a.seeds, "--variants", *a.variants, "--epochs", a.epochs,
              "--supervised-epochs", a.epochs, "--synthetic-train", a.synthetic_train, "--synthetic-val", "260",
              "--probe-epochs", "10", "--fresh", "--readme", "", "--set", f"data.cache_dir={scratch}/cache"]
    ways = {f"one after another ({threads} threads each)": 1, f"{a.jobs} side by side": a.jobs}
    times = {way: [] for way in ways}
    print(machine_summary(torch.device("cpu")))
    for round_ in range(a.repeats + 1):
        for way, jobs in ways.items():
            torch.set_num_threads(threads)
            argv = shared + ["--jobs", str(jobs), "--out-dir", f"{scratch}/r{round_}_{jobs}",
                             "--results", f"{scratch}/r{round_}_{jobs}.md"]
            args = ablation.parse_args(argv)
            jobs_list = [("xsub", int(seed), v) for seed in a.seeds for v in a.variants]
            t0 = time.perf_counter()
            ablation.run_all(args, jobs_list)
            if round_:   # round 0 warms up
                times[way].append(time.perf_counter() - t0)
    torch.set_num_threads(threads)
    shutil.rmtree(scratch, ignore_errors=True)   # the runs' folders and the clip cache
    medians = {way: statistics.median(ts) for way, ts in times.items()}
    runs = len(a.seeds) * len(a.variants)
    print(f"{runs} runs ({' '.join(a.variants)}; {a.epochs} epochs, {a.synthetic_train} clips), "
          f"median of {a.repeats} rounds:")
    for way, s in medians.items():
        print(f"  {way:<40} {s:7.1f} s")
    one, side = medians.values()
    print(f"  one after another / side by side: {one / side:.2f}x")


if __name__ == "__main__":
    main()
