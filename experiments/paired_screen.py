"""A screen's runs against saved benchmark runs of the same seeds: what a setting changes.

    python experiments/paired_screen.py runs/screen --against experiments/results/ablation_paired10.json

A screen is an ablation made with `--variants cpstn --set FIELD=VALUE` (or any variant) in its own
folder. Every result.json under it is paired, by split and seed, with the runs of the same seed in
an ablation's results JSON: today's CP-STN and the SkeletonCLR baseline, made with the same seed's
data order, views and initial weights. A run made with one thread reproduces a saved run of the same
configuration to the last digit (README "Time"), so the saved runs stand in for rerunning them.
Prints per run its three columns and its differences from both, then per split the mean difference
and its 95% confidence interval.
"""
import argparse
import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from cpstn_min.errors import UsageError, run_cli  # noqa: E402
from experiments.ablation import COLUMNS  # noqa: E402
from experiments.tables import by_key, read_runs  # noqa: E402
from experiments.stats import difference_cell  # noqa: E402

REFERENCES = ("cpstn", "skeletonclr")


def screen_runs(folder: str) -> list:
    """Every result.json under folder/<split>/seed<N>/<variant>/, sorted by split and seed."""
    runs = []
    for path in glob.glob(os.path.join(folder, "*", "seed*", "*", "result.json")):
        with open(path) as f:
            runs.append(json.load(f))
    if not runs:
        raise UsageError(f"{folder}: no runs (<split>/seed<N>/<variant>/result.json) under it")
    return sorted(runs, key=lambda r: (r["split"], r["seed"]))


def paired(runs, saved) -> list:
    """[(run, {reference: saved run of the same split and seed})] for every run whose seed has both
    references saved. A run without them, or whose benchmark settings (epochs, width, clips, ...: all
but --set) differ from theirs, is refused: it could not be paired."""
    known = by_key(saved)
    out = []
    for run in runs:
        refs = {v: known.get((run["split"], run["seed"], v)) for v in REFERENCES}
        missing = [v for v, r in refs.items() if r is None]
        if missing:
            raise UsageError(f"{run['split']} seed {run['seed']}: no saved {', '.join(missing)} run of that seed "
                             "to pair with")
        for v, ref in refs.items():   # only the screen's --set may differ: same length, width, data, ...
            mine, theirs = (without_set(r.get("settings", {})) for r in (run, ref))
            if mine != theirs:
                changed = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
                raise UsageError(f"{run['split']} seed {run['seed']}: the saved {v} run was made with other "
                                 f"benchmark settings ({', '.join(changed)}); pair a screen only with runs "
                                 "that differ from it in --set")
        out.append((run, refs))
    return out


def without_set(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k != "set"}


def cells(run) -> str:
    return " / ".join(f"{run[c]:.1f}" for c in COLUMNS)


def differences(run, ref) -> str:
    return " / ".join(f"{run[c] - ref[c]:+.1f}" for c in COLUMNS)


def table(pairs) -> list:
    lines = ["| split | seed | run (kNN / recipe / standardized) | heads, last epoch (%) | − today's CP-STN "
             "| − SkeletonCLR |", "|---|---|---|---|---|---|"]
    for run, refs in pairs:
        heads = ", ".join(f"{t} {100 * a:.1f}" for t, a in sorted(run.get("heads", {}).items())) or "–"
        lines.append(f"| {run['split']} | {run['seed']} | {cells(run)} | {heads} | {differences(run, refs['cpstn'])} "
                     f"| {differences(run, refs['skeletonclr'])} |")
    lines += ["", "| split | seeds | column | − today's CP-STN [95% CI] | − SkeletonCLR [95% CI] |",
              "|---|---|---|---|---|"]
    for split in sorted({run["split"] for run, _ in pairs}):
        group = [(run, refs) for run, refs in pairs if run["split"] == split]
        seeds = ", ".join(str(run["seed"]) for run, _ in group)
        for column, (label, _) in COLUMNS.items():
            values = [run[column] for run, _ in group]
            lines.append(f"| {split} | {seeds} | {label} | "
                         + " | ".join(difference_cell(values, [refs[v][column] for _, refs in group])
                                      for v in REFERENCES) + " |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("screen", help="the screen's ablation folder (its --out-dir)")
    p.add_argument("--against", required=True, help="an ablation's results JSON holding both methods' runs "
                                                    "of the same seeds")
    args = p.parse_args(argv)
    saved = read_runs(args.against)
    print("\n".join(table(paired(screen_runs(args.screen), saved))))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
