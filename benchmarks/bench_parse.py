"""Files/s of the .skeleton parser vs a plain line-by-line reader, and of the whole prepare run.

    python benchmarks/bench_parse.py                  # 300 generated files, all cores for prepare
    python benchmarks/bench_parse.py --files 500 --workers 4

Files come from tests/ntu_fixtures.py (Kinect-like values, CRLF): lengths 40..130 frames
(NTU-60 averages ~80), one body, or two in every 5th file (mutual actions are 11 of 60
classes). The plain reader is what a straightforward port of the official format reader
does: walk every line in Python and convert all 12 fields of each joint line with float().
Both read the same files from the page cache; medians over --repeats passes. The last
line is prepare's own estimate for the 56,880 files of NTU-60.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from cpstn_min.data.ntu.prepare import NTU60_FILES, prepare  # noqa: E402
from cpstn_min.data.ntu.skeleton_text import parse_skeleton  # noqa: E402
from ntu_fixtures import make_sample, sample_name, skeleton_text  # noqa: E402


def plain_reader(path):
    """Line-by-line reference: every field of every joint line through float()."""
    with open(path) as f:
        lines = f.read().splitlines()
    i, frames = 1, []
    for _ in range(int(lines[0])):
        bodies = int(lines[i])
        i += 1
        for _ in range(bodies):
            i += 2
            frames.append([[float(v) for v in lines[i + j].split()] for j in range(25)])
            i += 25
    return np.asarray(frames)[..., :3]


def write_files(folder, n, seed=0):
    rng = np.random.default_rng(seed)
    paths = []
    for k in range(n):
        name = sample_name(1 + k % 17, 1 + k % 3, 1 + k % 40, 1 + (k // 40) % 2, 1 + k % 60)
        amps = (0.3, 0.2) if k % 5 == 0 else (0.3,)
        frames, _ = make_sample(rng, frames=int(rng.integers(40, 131)), amplitudes=amps)
        path = os.path.join(folder, name + ".skeleton")
        with open(path, "w", newline="") as f:
            f.write(skeleton_text(frames, rng))
        paths.append(path)
    return sorted(set(paths))


def files_per_second(fn, paths, repeats):
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for p in paths:
            fn(p)
        rates.append(len(paths) / (time.perf_counter() - start))
    return statistics.median(rates)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw")
        os.makedirs(raw)
        paths = write_files(raw, args.files)
        size = sum(os.path.getsize(p) for p in paths) / len(paths) / 1e3
        for p in paths[:5]:                                     # both readers agree
            np.testing.assert_allclose(parse_skeleton(p).xyz, plain_reader(p), rtol=1e-6)
        ours = files_per_second(parse_skeleton, paths, args.repeats)
        plain = files_per_second(plain_reader, paths, args.repeats)
        print(f"{len(paths)} files, {size:.0f} kB each on average; one process, median of {args.repeats}")
        print(f"{'reader':<28}{'files/s':>10}{'NTU-60 (min)':>14}")
        for label, rate in (("plain line-by-line", plain), ("cpstn parse_skeleton", ours)):
            print(f"{label:<28}{rate:>10.0f}{NTU60_FILES / rate / 60:>14.1f}")
        print(f"speed-up: {ours / plain:.1f}x")
        print("prepare, end to end (parse in workers + write the split arrays):")
        prepare("ntu60", raw, os.path.join(tmp, "out"), workers=args.workers)


if __name__ == "__main__":
    main()
