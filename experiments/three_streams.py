"""Three-stream study on the synthetic benchmark: joint, bone and motion alone, and their ensemble.

    python experiments/three_streams.py --splits xsub            # the README table
    python experiments/three_streams.py --variant skeletonclr --weights 0.6 0.6 0.4 --splits xsub

For each split and seed, pretrains the --variant row of experiments/ablation.py once per
stream (its settings plus data.stream=<stream>, each stream in <out-dir>/<stream>/, resumable
and reused like the ablation's runs), evaluates each with the ablation's columns (linear
probe, the same on standardized features, kNN), then fuses the three runs of that seed with
eval.py's --ensemble (softmax probabilities of the linear probes / normalized kNN votes,
--weights, default equal). Prints and writes a markdown table of top-1 accuracy, mean ±
sample standard deviation over seeds, to --results (every number in --results with .json)
and into README.md between `<!-- streams:start -->` and `<!-- streams:end -->`. Every
other flag is the ablation's (python experiments/ablation.py --help).
"""
import argparse
import dataclasses
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from cpstn_min.config import EvalConfig  # noqa: E402
from cpstn_min.errors import UsageError, run_cli  # noqa: E402
from cpstn_min.evaluation import evaluate  # noqa: E402
from cpstn_min.streams import STREAMS  # noqa: E402
from experiments import ablation  # noqa: E402
from experiments.stats import mean_std  # noqa: E402
from experiments.tables import write_between, write_json, write_text  # noqa: E402

START, END = "<!-- streams:start -->", "<!-- streams:end -->"
PRETRAINED = [v for v, (_, settings) in ablation.VARIANTS.items() if isinstance(settings, dict)]  # not random/supervised


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=True)
    p.add_argument("--variant", default="cpstn",
                   help=f"the ablation row pretrained on every stream: {' | '.join(PRETRAINED)} (default cpstn)")
    p.add_argument("--weights", nargs="+", default=None, metavar="W",
                   help="ensemble weights of joint, bone, motion (default: equal)")
    p.add_argument("--results", default=os.path.join(ROOT, "experiments", "results", "three_streams.md"))
    p.add_argument("--readme", default=os.path.join(ROOT, "README.md"),
                   help="README whose streams markers receive the table ('' to skip)")
    return p


def check_own(own) -> None:
    """--variant and --weights, checked before any training (UsageError naming the flag)."""
    if own.variant not in PRETRAINED:
        raise UsageError(f"--variant must be one of {', '.join(PRETRAINED)}, got {own.variant!r}")
    if own.weights is not None:
        try:
            own.weights = [float(w) for w in own.weights]
        except ValueError:
            raise UsageError(f"--weights must be numbers, got {' '.join(own.weights)}") from None
        if len(own.weights) != len(STREAMS) or min(own.weights) < 0 or sum(own.weights) <= 0:
            raise UsageError(f"--weights: one weight >= 0 per stream ({', '.join(STREAMS)}), not all 0; "
                             f"got {own.weights}")


def stream_args(args, stream: str):
    """The ablation's arguments for one stream: its own run folder, data.stream set."""
    return argparse.Namespace(**{**vars(args), "out_dir": os.path.join(args.out_dir, stream),
                                 "set": list(args.set) + [f"data.stream={stream}"]})


def ensemble_top1(args, own, split: str, seed: int, runs) -> dict:
    """Every ablation column's top-1 of the fused runs (run folders) of one split and seed."""
    out_dir = os.path.join(args.out_dir, "ensemble", split, f"seed{seed}")
    base = EvalConfig(ensemble=tuple(runs), ensemble_weights=tuple(own.weights or ()), out_dir=out_dir,
                      seed=seed, device=args.device, progress=False).with_epochs(args.probe_epochs)
    top1 = {}
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "eval.log"), "a") as log_file:
        log = lambda *a: print(*a, file=log_file, flush=True)  # noqa: E731
        for column, (_, fields) in ablation.COLUMNS.items():
            top1[column] = evaluate(dataclasses.replace(base, **fields), log=log)["top1"]
    return top1


def markdown_table(rows, args, own, command: str, minutes: float) -> str:
    cols = [(s, c) for s in args.splits for c in ablation.COLUMNS]
    lines = ["| input | " + " | ".join(f"{s} {ablation.COLUMNS[c][0]}" for s, c in cols) + " |",
             "|" + "---|" * (len(cols) + 1)]
    weights = own.weights or [1.0] * len(STREAMS)
    labels = [(s, f"{s} stream alone") for s in STREAMS]
    labels.append(("ensemble", "ensemble (" + " + ".join(f"{w:g} {s}" for w, s in zip(weights, STREAMS)) + ")"))
    for key, label in labels:
        cells = [mean_std([r[c] for r in rows if r["input"] == key and r["split"] == s]) for s, c in cols]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    seeds = ("seeds " if len(args.seeds) > 1 else "seed ") + ", ".join(map(str, args.seeds))
    notes = (f"\nTop-1 accuracy (%) on the synthetic test split, mean ± sample standard deviation over {seeds}. "
             f"Each stream: the {ablation.VARIANTS[own.variant][0]} row of the ablation pretrained on that "
             f"stream ({args.epochs} epochs, batch {args.batch_size}, {args.synthetic_train} training clips, "
             f"ST-GCN hidden {args.hidden_channels} -> {args.feature_dim}-d, {args.frames} frames, queue "
             f"{args.queue_size}{''.join(', ' + item for item in args.set)}); columns as in the ablation "
             f"({args.probe_epochs}-epoch probes, kNN k=20). Ensemble: the three runs of the same seed fused "
             f"by `eval.py --ensemble` (softmax probabilities of the linear probes, normalized kNN votes). "
             f"Made by `{command}`: {minutes:.0f} min of runs.\n")
    return "\n".join(lines) + "\n" + notes


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    own, rest = build_parser().parse_known_args(argv)
    args = ablation.build_parser().parse_args(rest)
    check_own(own)
    command = " ".join(["python experiments/three_streams.py", *ablation.result_flags(argv)])
    per_stream = {s: stream_args(args, s) for s in STREAMS}
    for s in STREAMS:   # a bad --set stops before any training
        ablation.pretrain_config(per_stream[s], args.splits[0], args.seeds[0], own.variant, args.out_dir)
    rows, seconds, done = [], 0.0, {}
    for split in args.splits:
        for seed in args.seeds:
            runs = []
            for s in STREAMS:
                r = ablation.run_one(per_stream[s], split, seed, own.variant, done.setdefault(s, {}))
                rows.append({"input": s, "split": split, "seed": seed, **{c: r[c] for c in ablation.COLUMNS}})
                runs.append(os.path.dirname(r["checkpoint"]))
                seconds += r["total_s"]
            t0 = time.time()
            rows.append({"input": "ensemble", "split": split, "seed": seed,
                         **ensemble_top1(args, own, split, seed, runs)})
            seconds += time.time() - t0
    table = markdown_table(rows, args, own, command, seconds / 60)
    write_text(own.results, table)
    write_json(os.path.splitext(own.results)[0] + ".json", {"args": {**vars(args), **vars(own)}, "rows": rows})
    print(table)
    written = own.readme and write_between(own.readme, START, END, table)
    print(f"wrote {own.results}" + (f" and the table in {own.readme}" if written else ""))


if __name__ == "__main__":
    sys.exit(run_cli(main, "rerun the same command to continue"))
