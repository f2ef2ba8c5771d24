"""What a benchmark's seed spread is made of: the initial weights, or the rest.

    python experiments/seed_spread.py experiments/results/ablation_paired.json \
        --swaps runs/init/s1i3 runs/init/s3i1 ...

The first part reads an ablation's JSON (experiments/ablation.py --results X.md writes X.json) and
prints, for each split and column, the seed-to-seed standard deviation of SkeletonCLR and of CP-STN,
that of their paired difference (same seed: same initial weights, data order and views) and the
correlation of the two methods across seeds. A spread the two methods share comes from something the
seed sets for both; pairing removes it from the comparison.

--swaps: ablation folders made with `--seeds S --set train.init_seed=I` (the weights of seed I,
the data order and views of seed S). Each of their runs is printed beside the runs of seed S and of
seed I from the JSON: if the swapped run scores like seed I, the initial weights carry the spread.
"""
import argparse
import glob
import json
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

COLUMNS = ("knn", "recipe", "probe")
PAIR = ("skeletonclr", "cpstn")


def by_key(runs) -> dict:
    """{(split, seed, variant): run} of an ablation JSON's runs."""
    return {(r["split"], r["seed"], r["variant"]): r for r in runs}


def spread_rows(runs) -> list:
    """[(split, column, seeds, sd SkeletonCLR, sd CP-STN, sd of the paired difference, correlation)]
    over the seeds that have both methods (at least 3, so that a correlation means something)."""
    runs, rows = by_key(runs), []
    for split in sorted({k[0] for k in runs}):
        seeds = sorted(s for (sp, s, v) in runs if sp == split and v == PAIR[0] and (sp, s, PAIR[1]) in runs)
        if len(seeds) < 3:
            continue
        for column in COLUMNS:
            a = [runs[split, s, PAIR[0]][column] for s in seeds]
            b = [runs[split, s, PAIR[1]][column] for s in seeds]
            d = [y - x for x, y in zip(a, b)]
            rows.append((split, column, len(seeds), statistics.stdev(a), statistics.stdev(b),
                         statistics.stdev(d), statistics.correlation(a, b)))
    return rows


def swapped_runs(folders) -> list:
    """[(split, seed, init_seed, variant, run)] of every result.json under the --swaps folders."""
    found = []
    for folder in folders:
        for path in sorted(glob.glob(os.path.join(folder, "*", "seed*", "*", "result.json"))):
            with open(path) as f:
                run = json.load(f)
            init = [s.split("=", 1)[1] for s in run.get("settings", {}).get("set", []) if s.startswith("train.init_seed=")]
            if not init:
                raise SystemExit(f"error: {path} was not made with --set train.init_seed=N")
            found.append((run["split"], run["seed"], int(init[0]), run["variant"], run))
    return found


def cells(run) -> str:
    return " / ".join(f"{run[c]:.1f}" for c in COLUMNS) if run else "–"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ablation_json", help="an ablation's --results JSON (its runs)")
    p.add_argument("--swaps", nargs="*", default=[], help="ablation folders made with --set train.init_seed=N")
    args = p.parse_args(argv)
    with open(args.ablation_json) as f:
        runs = json.load(f)["runs"]
    print("| split | column | seeds | sd SkeletonCLR | sd CP-STN | sd of CP-STN − SkeletonCLR | correlation |")
    print("|---|---|---|---|---|---|---|")
    for split, column, n, sa, sb, sd, r in spread_rows(runs):
        print(f"| {split} | {column} | {n} | {sa:.1f} | {sb:.1f} | {sd:.1f} | {r:+.2f} |")
    if args.swaps:
        known = by_key(runs)
        print("\n| split | method | data order and views of seed | weights of seed | swapped run "
              "(kNN / recipe / standardized) | seed's own run | weights' seed's own run |")
        print("|---|---|---|---|---|---|---|")
        for split, seed, init, variant, run in swapped_runs(args.swaps):
            print(f"| {split} | {variant} | {seed} | {init} | {cells(run)} | "
                  f"{cells(known.get((split, seed, variant)))} | {cells(known.get((split, init, variant)))} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
