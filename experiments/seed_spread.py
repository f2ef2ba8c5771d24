"""What a benchmark's seed spread is made of: the initial weights, or the rest.

    python experiments/seed_spread.py experiments/results/ablation_paired.json \
        --swaps runs/init/s1i3 runs/init/s3i1 ...

The first part reads an ablation's JSON (experiments/ablation.py --results X.md writes X.json) and
prints, for each split and column, the seed-to-seed standard deviation of SkeletonCLR and of CP-STN,
that of their paired difference (same seed: same initial weights, data order and views) and the
correlation of the two methods across seeds. A spread the two methods share comes from something the
seed sets for both; pairing removes it from the comparison. The last column tests whether the two
methods spread alike (Pitman-Morgan, paired): its t, and whether it rejects equal spread at 5%.

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

from cpstn_min.errors import UsageError, run_cli  # noqa: E402
from experiments.ablation import COLUMNS, settings_of  # noqa: E402
from experiments.ablation_table import paired_values  # noqa: E402
from experiments.tables import by_key, read_runs  # noqa: E402
from experiments.stats import equal_spread_t, t_975  # noqa: E402


def spread_rows(runs) -> list:
    """[(split, column, seeds, sd SkeletonCLR, sd CP-STN, sd of the paired difference, correlation,
    equal-spread t)] where both methods ran on the same seeds, at least 3 (so that a correlation means
    something); t > 0: SkeletonCLR spreads more (stats.equal_spread_t, on seeds - 2 degrees of freedom)."""
    rows = []
    for split in sorted({r["split"] for r in runs}):
        for column in COLUMNS:
            cpstn, skeletonclr = paired_values(runs, split, column)
            if len(cpstn) < 3:
                continue
            d = [y - x for x, y in zip(skeletonclr, cpstn)]
            rows.append((split, column, len(cpstn), statistics.stdev(skeletonclr), statistics.stdev(cpstn),
                         statistics.stdev(d), statistics.correlation(skeletonclr, cpstn),
                         equal_spread_t(skeletonclr, cpstn)[0]))
    return rows


def swapped_runs(folders) -> list:
    """[(split, seed, init_seed, variant, run)] of every result.json under the --swaps folders."""
    found = []
    for folder in folders:
        for path in sorted(glob.glob(os.path.join(folder, "*", "seed*", "*", "result.json"))):
            with open(path) as f:
                run = json.load(f)
            init = settings_of(run.get("settings", {}).get("set", [])).get("train.init_seed")
            if init is None:
                raise UsageError(f"{path} was not made with --set train.init_seed=N")
            found.append((run["split"], run["seed"], int(init), run["variant"], run))
    return found


def cells(run) -> str:
    return " / ".join(f"{run[c]:.1f}" for c in COLUMNS) if run else "–"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ablation_json", help="an ablation's --results JSON (its runs)")
    p.add_argument("--swaps", nargs="*", default=[], help="ablation folders made with --set train.init_seed=N")
    args = p.parse_args(argv)
    runs = read_runs(args.ablation_json)
    print("| split | column | seeds | sd SkeletonCLR | sd CP-STN | sd of CP-STN − SkeletonCLR | correlation "
          "| Pitman-Morgan t (spreads differ at 5%?) |")
    print("|---|---|---|---|---|---|---|---|")
    for split, column, n, sa, sb, sd, r, t in spread_rows(runs):
        verdict = "yes" if abs(t) > t_975(n - 2) else "no"
        print(f"| {split} | {column} | {n} | {sa:.1f} | {sb:.1f} | {sd:.1f} | {r:+.2f} | {t:+.2f} ({verdict}) |")
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
    sys.exit(run_cli(main))
