"""A screen's runs against saved benchmark runs of the same seeds: what a setting changes.

    python experiments/paired_screen.py runs/screen --against experiments/results/ablation_paired10.json

A screen is an ablation made with `--variants cpstn --set FIELD=VALUE` (or any variant) in its own
folder. Every result.json under it is paired, by split and seed, with the runs of the same seed in
one or more ablations' results JSON: today's CP-STN and the SkeletonCLR baseline (or only those
named by --references), made with the same seed's data order, views and initial weights. A run
made with one thread reproduces a saved run of the same configuration to the last digit (README
"Time"), so the saved runs stand in for rerunning them. Prints per run its three columns and its
differences from each reference, then per split the mean difference and its 95% confidence interval,
and the seed spread of the run and of each reference with a test that they spread alike.

New seeds need new references: run `--variants skeletonclr` at the same seeds into a folder of its
own, then pass its results JSON after the saved one and `--references skeletonclr`.
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
from experiments.ablation import COLUMNS  # noqa: E402
from experiments.tables import by_key, read_runs  # noqa: E402
from experiments.stats import difference_cell, equal_spread_t, t_975  # noqa: E402

REFERENCES = ("cpstn", "skeletonclr")


def screen_runs(sources) -> list:
    """The screen's runs, sorted by split and seed: every result.json under <folder>/<split>/seed<N>/
    <variant>/ of each folder, or the runs of a results JSON (the table.json its ablation wrote, or a
    copy kept under experiments/results/). A screen may come in parts (seeds 1-10, then 11-20); a run
    found twice is refused."""
    return sorted(union(sources, runs_of, "found in"), key=lambda r: (r["split"], r["seed"]))


def union(sources, read, where: str) -> list:
    """The runs that read(source) gives for every source; a (split, seed, variant) given by two
    sources is refused, since which of the two stands for it would be unclear."""
    runs, seen = [], {}
    for source in sources:
        for run in read(source):
            key = (run["split"], run["seed"], run["variant"])
            if key in seen:
                raise UsageError(f"{key[0]} seed {key[1]} {key[2]}: {where} both {seen[key]} and {source}")
            seen[key] = source
            runs.append(run)
    return runs


def runs_of(source: str) -> list:
    if os.path.isfile(source):
        return read_runs(source)
    paths = sorted(glob.glob(os.path.join(source, "*", "seed*", "*", "result.json")))
    if not paths:
        raise UsageError(f"{source}: no runs (<split>/seed<N>/<variant>/result.json) under it")
    runs = []
    for path in paths:
        with open(path) as f:
            runs.append(json.load(f))
    return runs


def saved_runs(paths) -> list:
    """The runs of several ablations' results JSON, each (split, seed, variant) held by one of them."""
    return union(paths, read_runs, "held by")


def paired(runs, saved, references=REFERENCES) -> list:
    """[(run, {reference: saved run of the same split and seed})] for every run whose seed has all
    `references` saved. A run without them, or whose benchmark settings (epochs, width, clips, ...: all
but --set) differ from theirs, is refused: it could not be paired."""
    known = by_key(saved)
    out = []
    for run in runs:
        refs = {v: known.get((run["split"], run["seed"], v)) for v in references}
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


LABELS = {"cpstn": "today's CP-STN", "skeletonclr": "SkeletonCLR"}


def table(pairs, references=REFERENCES) -> list:
    minus = " | ".join(f"− {LABELS[v]}" for v in references)
    lines = [f"| split | seed | run (kNN / recipe / standardized) | heads, last epoch (%) | {minus} |",
             "|---|---|---|---|" + "---|" * len(references)]
    for run, refs in pairs:
        heads = ", ".join(f"{t} {100 * a:.1f}" for t, a in sorted(run.get("heads", {}).items())) or "–"
        lines.append(f"| {run['split']} | {run['seed']} | {cells(run)} | {heads} | "
                     + " | ".join(differences(run, refs[v]) for v in references) + " |")
    lines += ["", "| split | seeds | column | " + " | ".join(f"− {LABELS[v]} [95% CI]" for v in references) + " |",
              "|---|---|---|" + "---|" * len(references)]
    for split, group in by_split(pairs):
        seeds = seed_ranges([run["seed"] for run, _ in group])
        for column, (label, _) in COLUMNS.items():
            values = [run[column] for run, _ in group]
            lines.append(f"| {split} | {seeds} | {label} | "
                         + " | ".join(difference_cell(values, [refs[v][column] for _, refs in group])
                                      for v in references) + " |")
    return lines + [""] + spread_table(pairs, references)


def by_split(pairs):
    """(split, its pairs) for each split, in order."""
    for split in sorted({run["split"] for run, _ in pairs}):
        yield split, [(run, refs) for run, refs in pairs if run["split"] == split]


def seed_ranges(seeds) -> str:
    """[1, 2, 3, 5, 7, 8] -> '1-3, 5, 7-8': twenty seeds stay readable in a table cell."""
    spans = []
    for seed in sorted(seeds):
        if spans and seed == spans[-1][1] + 1:
            spans[-1][1] = seed
        else:
            spans.append([seed, seed])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def spread_table(pairs, references) -> list:
    """Per split and column, the seed standard deviation of the run and of each reference over the
    same seeds, and the Pitman-Morgan t of run against reference (t < 0: the run spreads less)."""
    lines = ["| split | column | run sd | " + " | ".join(f"{LABELS[v]} sd (t)" for v in references) + " |",
             "|---|---|---|" + "---|" * len(references)]
    for split, group in by_split(pairs):
        if len(group) < 3:
            continue                          # the test needs three pairs
        for column, (label, _) in COLUMNS.items():
            mine = [run[column] for run, _ in group]
            cells = []
            for v in references:
                theirs = [refs[v][column] for _, refs in group]
                t, dof = equal_spread_t(mine, theirs)
                star = "*" if abs(t) > t_975(dof) else ""
                cells.append(f"{statistics.stdev(theirs):.1f} ({t:+.1f}{star})")
            lines.append(f"| {split} | {label} | {statistics.stdev(mine):.1f} | " + " | ".join(cells) + " |")
    return lines + ["", "sd: sample standard deviation over the seeds above; t: Pitman-Morgan, * rejects equal "
                    "spread at 5%."]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("screen", nargs="+", help="the screen's ablation folder (its --out-dir) or results JSON; "
                                             "several for a screen run in parts")
    p.add_argument("--against", required=True, nargs="+", metavar="JSON",
                   help="ablations' results JSON holding the references' runs of the same seeds")
    p.add_argument("--references", nargs="+", choices=REFERENCES, default=list(REFERENCES),
                   help="which saved runs to compare with (default: both)")
    p.add_argument("--seeds", nargs="+", type=int, help="only the screen's runs of these seeds (default: all)")
    args = p.parse_args(argv)
    references = tuple(args.references)
    runs = [r for r in screen_runs(args.screen) if args.seeds is None or r["seed"] in args.seeds]
    if not runs:
        raise UsageError(f"the screen has no runs of seeds {args.seeds}")
    pairs = paired(runs, saved_runs(args.against), references)
    print("\n".join(table(pairs, references)))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
