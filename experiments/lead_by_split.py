"""Is CP-STN's lead over SkeletonCLR different on the two splits, or one lead seen twice?

    python experiments/lead_by_split.py experiments/results/ablation_paired10.json

Reads an ablation's JSON (both methods, both splits, the same seeds) and prints, per column, the
lead CP-STN − SkeletonCLR on each split, the lead over both splits (per seed the mean of the two
splits' leads), and the gap xsub lead − xview lead: each a mean over seeds with its 95% confidence
interval. A seed is the unit: it sets both splits' initial weights, so the two leads of a seed are
paired. A gap whose interval holds zero means the runs do not show that the splits differ.
"""
import argparse
import os
import sys
from typing import Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from cpstn_min.errors import UsageError, run_cli  # noqa: E402
from experiments.ablation import COLUMNS  # noqa: E402
from experiments.tables import by_key, read_runs  # noqa: E402
from experiments.stats import difference_cell  # noqa: E402

SPLITS = ("xsub", "xview")


def leads(runs, column: str) -> Dict[str, Dict[int, float]]:
    """{split: {seed: CP-STN − SkeletonCLR}} over the seeds where both methods ran on that split."""
    known = by_key(runs)
    return {split: {seed: known[(split, seed, "cpstn")][column] - known[(split, seed, "skeletonclr")][column]
                    for (s, seed, v) in known if s == split and v == "cpstn"
                    and (split, seed, "skeletonclr") in known} for split in SPLITS}


def rows(runs) -> List[tuple]:
    """[(column, seeds, xsub lead, xview lead, lead over both splits, xsub − xview)] as table cells,
    over the seeds both splits have."""
    out = []
    for column in COLUMNS:
        by_split = leads(runs, column)
        seeds = sorted(set(by_split["xsub"]) & set(by_split["xview"]))
        if len(seeds) < 2:
            raise UsageError(f"{column}: both methods on both splits with at least 2 common seeds are needed, "
                             f"got seeds {sorted(by_split['xsub'])} (xsub) and {sorted(by_split['xview'])} (xview)")
        x, v = ([by_split[s][seed] for seed in seeds] for s in SPLITS)
        zeros = [0.0] * len(seeds)
        both = [(a + b) / 2 for a, b in zip(x, v)]
        out.append((column, len(seeds), difference_cell(x, zeros), difference_cell(v, zeros),
                    difference_cell(both, zeros), difference_cell(x, v)))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ablation_json", help="an ablation's --results JSON (its runs)")
    args = p.parse_args(argv)
    runs = read_runs(args.ablation_json)
    print("| column | seeds | xsub: CP-STN − SkeletonCLR | xview | both splits (mean of the two) "
          "| xsub lead − xview lead |")
    print("|---|---|---|---|---|---|")
    for column, n, x, v, both, gap in rows(runs):
        print(f"| {COLUMNS[column][0]} | {n} | {x} | {v} | {both} | {gap} |")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
