"""Ablation on the synthetic benchmark: what each part of CP-STN adds.

    python experiments/ablation.py                       # the README table (about half an hour)
    python experiments/ablation.py --splits xsub --set augment.pretext_shear=0.5

For each split (xsub, xview) and seed, pretrains one model per row of VARIANTS
with the same data, epochs and seed — SkeletonCLR (contrastive only), pretext
only and CP-STN (both) — through training.main(Config), and evaluates them and
a randomly initialised encoder with every column of COLUMNS (linear probe, the
same on standardized features, kNN on frozen features) through
evaluation.evaluate(EvalConfig). Prints and writes a markdown table of top-1
accuracy, mean ± sample standard deviation over seeds, to --results (and
--results with .json: every run's numbers), and into README.md between
`<!-- ablation:start -->` and `<!-- ablation:end -->`.

Runs are resumable: each finished run leaves RUN/result.json and is skipped
next time if it was made with the same settings (--fresh redoes them); an
interrupted pretraining resumes from its checkpoint. --epochs,
--synthetic-train, --hidden-channels, --seeds and --splits scale it.
"""
import argparse
import dataclasses
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tqdm import tqdm  # noqa: E402

from cpstn_min import training  # noqa: E402
from cpstn_min.config import Config, EvalConfig, decay_at_80pct  # noqa: E402
from cpstn_min.errors import UsageError, run_cli  # noqa: E402
from cpstn_min.evaluation import evaluate  # noqa: E402
from cpstn_min.training.args import apply  # noqa: E402
from experiments.tables import mean_std, without_flags, write_between, write_json, write_text  # noqa: E402

# rows: name -> (table label, pretraining settings on top of the shared ones, as for --set;
# None: a random-init encoder of the RANDOM_INIT_OF run's configuration, not pretrained)
VARIANTS = {
    "random": ("random-init encoder", None),
    "skeletonclr": ("SkeletonCLR baseline (contrastive only, `--no-pretext`)", {"model.pretext": False}),
    "pretext": ("pretext tasks only (`--no-contrastive`)", {"model.contrastive": False}),
    "cpstn": ("CP-STN (contrastive + pretext)", {}),
}
RANDOM_INIT_OF = "cpstn"
# columns (for each split): name -> (header, EvalConfig fields): the linear-probe recipe, the same
# probe on standardized features (the recipe's lr 3.0 does not converge on every encoder's
# features here), kNN. The name is the key of the column's top-1 in result.json.
COLUMNS = {
    "linear": ("linear", {"protocol": "linear"}),
    "linear_std": ("linear, std. features", {"protocol": "linear", "linear_standardize": True}),
    "knn": ("kNN", {"protocol": "knn"}),
}
# flags that change a run's numbers: a saved result made with other values is not reused
RUN_SETTINGS = ("epochs", "batch_size", "synthetic_train", "synthetic_val", "hidden_channels",
                "feature_dim", "frames", "queue_size", "probe_epochs", "lambda_spatial", "lambda_pace", "set")
RENAMED_SETTINGS = {"train_clips": "synthetic_train", "val_clips": "synthetic_val", "t_out": "frames"}
WHERE_FLAGS = ("--out-dir", "--results", "--readme")
START, END = "<!-- ablation:start -->", "<!-- ablation:end -->"


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--splits", nargs="+", default=["xsub", "xview"])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--epochs", type=int, default=10, help="pretraining epochs (lr x0.1 at 80%%)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--synthetic-train", type=int, default=600, help="synthetic training clips per split")
    p.add_argument("--synthetic-val", type=int, default=300, help="synthetic test clips per split")
    p.add_argument("--hidden-channels", type=int, default=8, help="ST-GCN width (paper setting: 16)")
    p.add_argument("--feature-dim", type=int, default=128, help="pooled feature size (paper setting: 256)")
    p.add_argument("--frames", type=int, default=32, help="frames per view (paper setting: 50)")
    p.add_argument("--queue-size", type=int, default=256)
    p.add_argument("--probe-epochs", type=int, default=100, help="linear-probe epochs (lr x0.1 at 80%%)")
    p.add_argument("--lambda-spatial", type=float, default=1.0, help="weight of the spatial pretext loss")
    p.add_argument("--lambda-pace", type=float, default=1.0, help="weight of the pace pretext loss")
    p.add_argument("--set", nargs="+", default=[], metavar="SECTION.FIELD=VALUE",
                   help="any other pretraining setting, e.g. augment.query_rotate_deg=15 (config.py names)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out-dir", default="runs/ablation")
    p.add_argument("--results", default=os.path.join(ROOT, "experiments", "results", "ablation.md"))
    p.add_argument("--readme", default=os.path.join(ROOT, "README.md"),
                   help="README whose ablation markers receive the table ('' to skip)")
    p.add_argument("--fresh", action="store_true", help="redo runs that already have results")
    return p


def pretrain_config(args, split: str, seed: int, variant: str, out_dir: str) -> Config:
    """The pretraining Config of one row (a pretrained VARIANTS entry) on one split and seed."""
    cfg = Config()
    cfg.data.dataset, cfg.data.split = "synthetic", split
    cfg.data.synthetic_train, cfg.data.synthetic_val = args.synthetic_train, args.synthetic_val
    cfg.augment.T_out = args.frames
    cfg.model.hidden_channels, cfg.model.feature_dim = args.hidden_channels, args.feature_dim
    cfg.model.queue_size = args.queue_size
    cfg.model.lambda_spatial, cfg.model.lambda_pace = args.lambda_spatial, args.lambda_pace
    cfg.train.epochs, cfg.train.batch_size, cfg.train.seed = args.epochs, args.batch_size, seed
    cfg.train.lr_steps = decay_at_80pct(args.epochs)
    cfg.train.device, cfg.train.out_dir = args.device, out_dir
    values = {**VARIANTS[variant][1], **settings_of(args.set)}
    try:
        cfg = apply(cfg, values)
    except UsageError as e:
        raise UsageError(f"--set: {e}") from None
    # an interrupted pretraining continues; --fresh starts it again
    cfg.train.resume = os.path.isfile(os.path.join(out_dir, "checkpoint.pt")) and not args.fresh
    cfg.train.overwrite = args.fresh
    return cfg


def settings_of(items) -> dict:
    """--set items 'section.field=value' -> {'section.field': value}, each value parsed as
    JSON (a bare word stays a string), for training.args.apply."""
    values = {}
    for item in items:
        path, sep, text = item.partition("=")
        if not sep:
            raise UsageError(f"--set {item!r}: expected SECTION.FIELD=VALUE")
        try:
            values[path] = json.loads(text)
        except ValueError:
            values[path] = text
    return values


def evaluate_run(checkpoint: str, out_dir: str, args, seed: int, random_init: bool) -> dict:
    """Every column's top-1 through evaluation.evaluate; log lines go to out_dir/eval.log."""
    base = EvalConfig(checkpoint=checkpoint, random_init=random_init, out_dir=out_dir, seed=seed,
                      device=args.device, progress=False).with_epochs(args.probe_epochs)
    top1 = {}
    with open(os.path.join(out_dir, "eval.log"), "a") as log_file:
        log = lambda *a: print(*a, file=log_file, flush=True)  # noqa: E731
        for column, (_, fields) in COLUMNS.items():
            record = evaluate(dataclasses.replace(base, **fields), log=log)
            top1[column] = record["top1"]
            top1["num_classes"] = record["num_classes"]
    return top1


def saved_result(path: str, settings: dict):
    """The result.json of an earlier run made with `settings` and every column, else UsageError."""
    with open(path) as f:
        saved = json.load(f)
    # a setting the saved run predates had its default value then; some flags were renamed since
    defaults = vars(build_parser().parse_args([]))
    old = {RENAMED_SETTINGS.get(k, k): v for k, v in saved.get("settings", {}).items()}
    old = {**{k: defaults[k] for k in RUN_SETTINGS}, **old}
    changed = [f"--{k.replace('_', '-')} {old[k]} there, {v} now" for k, v in settings.items() if old[k] != v]
    missing = [c for c in COLUMNS if c not in saved]
    if missing:
        changed.append(f"no {' / '.join(missing)} result")
    if changed:
        raise UsageError(f"{path} was made with other settings ({', '.join(changed)}); "
                         f"pass --fresh to redo it or choose another --out-dir")
    return saved


def run_one(args, split: str, seed: int, variant: str, done: dict) -> dict:
    """Pretrain (unless random) and evaluate one model; done: (split, seed, variant) -> result."""
    if (split, seed, variant) in done:
        return done[split, seed, variant]
    run_dir = os.path.join(args.out_dir, split, f"seed{seed}", variant)
    result_path = os.path.join(run_dir, "result.json")
    settings = {k: getattr(args, k) for k in RUN_SETTINGS}
    if os.path.isfile(result_path) and not args.fresh:
        done[split, seed, variant] = saved_result(result_path, settings)
        return done[split, seed, variant]
    os.makedirs(run_dir, exist_ok=True)
    t0 = time.time()
    random_init = VARIANTS[variant][1] is None
    if random_init:   # the RANDOM_INIT_OF run's configuration, fresh weights
        checkpoint = run_one(args, split, seed, RANDOM_INIT_OF, done)["checkpoint"]
        pretrain_s = 0.0
    else:
        checkpoint = training.main(pretrain_config(args, split, seed, variant, run_dir))
        pretrain_s = time.time() - t0
    result = {"split": split, "seed": seed, "variant": variant, "checkpoint": checkpoint,
              "settings": settings, **evaluate_run(checkpoint, run_dir, args, seed, random_init),
              "pretrain_s": pretrain_s, "total_s": time.time() - t0}
    write_json(result_path, result)
    done[split, seed, variant] = result
    return result


def markdown_table(results, args, command: str, minutes: float) -> str:
    cols = [(s, c) for s in args.splits for c in COLUMNS]
    header = "| method | " + " | ".join(f"{s} {COLUMNS[c][0]}" for s, c in cols) + " |"
    lines = [header, "|" + "---|" * (len(cols) + 1)]
    classes = {r["split"]: r["num_classes"] for r in results}
    lines.append("| chance | " + " | ".join(f"{100 / classes[s]:.1f}" if s in classes else "–"
                                           for s, _ in cols) + " |")
    for variant in args.variants:
        cells = [mean_std([r[c] for r in results if r["variant"] == variant and r["split"] == s])
                 for s, c in cols]
        lines.append(f"| {VARIANTS[variant][0]} | " + " | ".join(cells) + " |")
    seeds = ("seeds " if len(args.seeds) > 1 else "seed ") + ", ".join(map(str, args.seeds))
    notes = (f"\nTop-1 accuracy (%) on the synthetic test split, mean ± sample standard deviation over "
             f"{seeds} (the seed sets data order, augmentation and initialisation). Pretraining: "
             f"{args.epochs} epoch{'s' * (args.epochs != 1)}, batch {args.batch_size}, "
             f"{args.synthetic_train} training clips, ST-GCN hidden {args.hidden_channels} -> {args.feature_dim}-d features, "
             f"{args.frames} frames, queue {args.queue_size}, pretext loss weights rot {args.lambda_spatial:g} / "
             f"pace {args.lambda_pace:g}{''.join(', ' + item for item in args.set)}. "
             f"Linear probe: frozen encoder, features extracted once, SGD lr 3.0, {args.probe_epochs} epochs "
             f"(the recipe), and the same on features standardized over the training set. "
             f"kNN: cosine, k=20, votes exp(cos/0.07). "
             f"Made by `{command}`: {minutes:.0f} min of runs.\n")
    return "\n".join(lines) + "\n" + notes


def write_readme(readme: str, table: str) -> bool:
    return write_between(readme, START, END, table)


def result_flags(argv):
    """argv without the flags that only say where things go (they do not change the numbers)."""
    return without_flags(argv, WHERE_FLAGS)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    command = " ".join(["python experiments/ablation.py", *result_flags(argv)])
    pretrain_config(args, args.splits[0], args.seeds[0], RANDOM_INIT_OF, args.out_dir)  # bad --set: stop now
    jobs = [(s, seed, v) for s in args.splits for seed in args.seeds   # random rows reuse a pretrained run
            for v in sorted(args.variants, key=lambda v: VARIANTS[v][1] is None)]
    done = {}
    results = [run_one(args, *job, done) for job in tqdm(jobs, desc="ablation runs", unit="run")]
    compute_minutes = sum(r["total_s"] for r in results) / 60   # summed over resumed sessions too
    table = markdown_table(results, args, command, compute_minutes)
    write_text(args.results, table)
    write_json(os.path.splitext(args.results)[0] + ".json", {"args": vars(args), "runs": results})
    print(table)
    print(f"wrote {args.results}" + (f" and the table in {args.readme}" if write_readme(args.readme, table)
                                      else " (README not updated: no file or no ablation markers)"))


if __name__ == "__main__":
    sys.exit(run_cli(main, "rerun the same command to continue"))
