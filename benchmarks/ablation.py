"""Ablation on the synthetic benchmark: what each part of CP-STN adds.

    python benchmarks/ablation.py            # same as: python eval.py --ablation

For each split (xsub, xview) and seed, pretrains three models with the same
data, epochs and seed — SkeletonCLR (contrastive only, model.pretext=False),
pretext only (model.contrastive=False) and CP-STN (both) — and evaluates them
and a randomly initialised encoder with the linear probe and kNN on frozen
features (eval.py's code path). Prints and writes a markdown table of top-1
accuracy, mean ± sample standard deviation over seeds, to --results (and
--results with .json: every run's numbers), and into README.md between
`<!-- ablation:start -->` and `<!-- ablation:end -->`.

Runs are resumable: each finished run leaves RUN/result.json and is skipped
next time (--fresh redoes them); an interrupted pretraining resumes from its
checkpoint. The default size (smaller model, clips and epochs than the paper
setting) takes about half an hour on 2 CPU cores; --epochs, --train-clips,
--hidden-channels, --seeds and --splits scale it.
"""
import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tqdm import tqdm  # noqa: E402

from cpstn_min import train_args  # noqa: E402
from cpstn_min.config import Config  # noqa: E402

VARIANTS = {  # name -> (table label, model.contrastive, model.pretext); None: not pretrained
    "random": ("random-init encoder", None, None),
    "skeletonclr": ("SkeletonCLR baseline (contrastive only, `--no-pretext`)", True, False),
    "pretext": ("pretext tasks only (`--no-contrastive`)", False, True),
    "cpstn": ("CP-STN (contrastive + pretext)", True, True),
}
# column -> (header, eval.py flags): the linear-probe recipe, the same probe on standardized
# features (the recipe's lr 3.0 does not converge on every encoder's features here), kNN
PROTOCOLS = {"linear": ("linear", ["--protocol", "linear"]),
             "linear_std": ("linear, std. features", ["--protocol", "linear", "--standardize"]),
             "knn": ("kNN", ["--protocol", "knn"])}
# flags that change a run's numbers: a saved result made with other values is not reused
RUN_SETTINGS = ("epochs", "batch_size", "train_clips", "val_clips", "hidden_channels", "feature_dim",
                "t_out", "queue_size", "probe_epochs", "lambda_spatial", "lambda_pace", "set")
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
    p.add_argument("--train-clips", type=int, default=600, help="synthetic training clips per split")
    p.add_argument("--val-clips", type=int, default=300, help="synthetic test clips per split")
    p.add_argument("--hidden-channels", type=int, default=8, help="ST-GCN width (paper setting: 16)")
    p.add_argument("--feature-dim", type=int, default=128, help="pooled feature size (paper setting: 256)")
    p.add_argument("--t-out", type=int, default=32, help="frames per view (paper setting: 50)")
    p.add_argument("--queue-size", type=int, default=256)
    p.add_argument("--probe-epochs", type=int, default=100, help="linear-probe epochs (lr x0.1 at 80%%)")
    p.add_argument("--lambda-spatial", type=float, default=1.0, help="weight of the rotation pretext loss")
    p.add_argument("--lambda-pace", type=float, default=1.0, help="weight of the pace pretext loss")
    p.add_argument("--set", nargs="+", default=[], metavar="SECTION.FIELD=VALUE",
                   help="any other pretraining setting, e.g. augment.query_rotate_deg=15 (config.py names)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out-dir", default="runs/ablation")
    p.add_argument("--results", default=os.path.join(ROOT, "benchmarks", "results", "ablation.md"))
    p.add_argument("--readme", default=os.path.join(ROOT, "README.md"),
                   help="README whose ablation markers receive the table ('' to skip)")
    p.add_argument("--fresh", action="store_true", help="redo runs that already have results")
    return p


def pretrain_config(args, split: str, seed: int, contrastive: bool, pretext: bool, out_dir: str) -> Config:
    cfg = Config()
    cfg.data.dataset, cfg.data.split = "synthetic", split
    cfg.data.synthetic_train, cfg.data.synthetic_val = args.train_clips, args.val_clips
    cfg.augment.T_out = args.t_out
    cfg.model.hidden_channels, cfg.model.feature_dim = args.hidden_channels, args.feature_dim
    cfg.model.queue_size = args.queue_size
    cfg.model.lambda_spatial, cfg.model.lambda_pace = args.lambda_spatial, args.lambda_pace
    cfg.model.contrastive, cfg.model.pretext = contrastive, pretext
    cfg.train.epochs, cfg.train.batch_size, cfg.train.seed = args.epochs, args.batch_size, seed
    cfg.train.lr_steps = (max(1, round(0.8 * args.epochs)),)
    cfg.train.device, cfg.train.out_dir = args.device, out_dir
    try:
        cfg = train_args.apply(cfg, settings_of(args.set))
    except train_args.UsageError as e:
        raise SystemExit(f"error: --set: {e}") from None
    # an interrupted pretraining continues; --fresh starts it again
    cfg.train.resume = os.path.isfile(os.path.join(out_dir, "checkpoint.pt")) and not args.fresh
    cfg.train.overwrite = args.fresh
    return cfg


def settings_of(items) -> dict:
    """--set items 'section.field=value' -> {'section.field': value}, each value parsed as
    JSON (a bare word stays a string), for train_args.apply."""
    values = {}
    for item in items:
        path, sep, text = item.partition("=")
        if not sep:
            raise SystemExit(f"error: --set {item!r}: expected SECTION.FIELD=VALUE")
        try:
            values[path] = json.loads(text)
        except ValueError:
            values[path] = text
    return values


def evaluate_run(checkpoint: str, out_dir: str, args, seed: int, random_init: bool) -> dict:
    """Linear probe and kNN through eval.py's own code path; log lines go to out_dir/eval.log."""
    import eval as eval_cli
    top1 = {}
    with open(os.path.join(out_dir, "eval.log"), "a") as log_file:
        log = lambda *a: print(*a, file=log_file, flush=True)  # noqa: E731
        for column, (_, flags) in PROTOCOLS.items():
            argv = ["--checkpoint", checkpoint, *flags, "--out-dir", out_dir, "--seed", str(seed),
                    "--epochs", str(args.probe_epochs), "--device", args.device, "--quiet"] \
                + (["--random-init"] if random_init else [])
            record = eval_cli.evaluate(eval_cli.build_parser().parse_args(argv), log=log)
            top1[column] = record["top1"]
            top1["num_classes"] = record["num_classes"]
    return top1


def run_one(args, split: str, seed: int, variant: str, done: dict) -> dict:
    """Pretrain (unless random) and evaluate one model; done: (split, seed, variant) -> result."""
    import train
    if (split, seed, variant) in done:
        return done[split, seed, variant]
    run_dir = os.path.join(args.out_dir, split, f"seed{seed}", variant)
    result_path = os.path.join(run_dir, "result.json")
    settings = {k: getattr(args, k) for k in RUN_SETTINGS}
    if os.path.isfile(result_path) and not args.fresh:
        with open(result_path) as f:
            saved = json.load(f)
        # a setting the saved run predates had its default value then
        defaults = vars(build_parser().parse_args([]))
        old = {**{k: defaults[k] for k in RUN_SETTINGS}, **saved.get("settings", {})}
        changed = ", ".join(f"--{k.replace('_', '-')} {old[k]} there, {v} now"
                            for k, v in settings.items() if old[k] != v)
        missing = [c for c in PROTOCOLS if c not in saved]
        if missing:
            changed += (", " if changed else "") + f"no {' / '.join(missing)} result"
        if changed:
            raise SystemExit(f"error: {result_path} was made with other settings ({changed}); "
                             f"pass --fresh to redo it or choose another --out-dir")
        done[split, seed, variant] = saved
        return saved
    os.makedirs(run_dir, exist_ok=True)
    t0 = time.time()
    _, contrastive, pretext = VARIANTS[variant]
    if contrastive is None:   # random init: the CP-STN run's configuration, fresh weights
        checkpoint = run_one(args, split, seed, "cpstn", done)["checkpoint"]
        pretrain_s = 0.0
    else:
        checkpoint = train.main(pretrain_config(args, split, seed, contrastive, pretext, run_dir))
        pretrain_s = time.time() - t0
    result = {"split": split, "seed": seed, "variant": variant, "checkpoint": checkpoint, "settings": settings,
              **evaluate_run(checkpoint, run_dir, args, seed, random_init=contrastive is None),
              "pretrain_s": pretrain_s, "total_s": time.time() - t0}
    with open(result_path, "w") as f:
        json.dump(result, f, indent=2)
    done[split, seed, variant] = result
    return result


def mean_std(values) -> str:
    if not values:
        return "–"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {spread:.1f}"


def markdown_table(results, args, command: str, minutes: float) -> str:
    cols = [(s, p) for s in args.splits for p in PROTOCOLS]
    header = "| method | " + " | ".join(f"{s} {PROTOCOLS[p][0]}" for s, p in cols) + " |"
    lines = [header, "|" + "---|" * (len(cols) + 1)]
    classes = {r["split"]: r["num_classes"] for r in results}
    lines.append("| chance | " + " | ".join(f"{100 / classes[s]:.1f}" if s in classes else "–"
                                           for s, _ in cols) + " |")
    for variant in args.variants:
        cells = [mean_std([r[p] for r in results if r["variant"] == variant and r["split"] == s])
                 for s, p in cols]
        lines.append(f"| {VARIANTS[variant][0]} | " + " | ".join(cells) + " |")
    seeds = ("seeds " if len(args.seeds) > 1 else "seed ") + ", ".join(map(str, args.seeds))
    notes = (f"\nTop-1 accuracy (%) on the synthetic test split, mean ± sample standard deviation over "
             f"{seeds} (the seed sets data order, augmentation and initialisation). Pretraining: "
             f"{args.epochs} epoch{'s' * (args.epochs != 1)}, batch {args.batch_size}, {args.train_clips} training clips, ST-GCN "
             f"hidden {args.hidden_channels} -> {args.feature_dim}-d features, {args.t_out} frames, queue "
             f"{args.queue_size}, pretext loss weights spatial {args.lambda_spatial:g} / pace {args.lambda_pace:g}"
             f"{''.join(', ' + item for item in args.set)}. "
             f"Linear probe: frozen encoder, features extracted once, SGD lr 3.0, {args.probe_epochs} epochs "
             f"(the recipe), and the same on features standardized over the training set. "
             f"kNN: cosine, k=20, votes exp(cos/0.07). "
             f"Made by `{command}`: {minutes:.0f} min of runs.\n")
    return "\n".join(lines) + "\n" + notes


def write_readme(readme: str, table: str) -> bool:
    if not readme or not os.path.isfile(readme):
        return False
    text = open(readme).read()
    if START not in text or END not in text:
        return False
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    with open(readme, "w") as f:
        f.write(f"{head}{START}\n{table}{END}{tail}")
    return True


def result_flags(argv):
    """argv without the flags that only say where things go (they do not change the numbers)."""
    kept, args = [], iter(argv)
    for arg in args:
        name, inline, _ = arg.partition("=")
        if name in WHERE_FLAGS:
            if not inline:
                next(args, None)        # its value is the next word
            continue
        kept.append(arg)
    return kept


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    command = " ".join(["python eval.py --ablation", *result_flags(argv)])
    jobs = [(s, seed, v) for s in args.splits for seed in args.seeds
            for v in sorted(args.variants, key=lambda v: v == "random")]   # random reuses the CP-STN run
    done = {}
    results = [run_one(args, *job, done) for job in tqdm(jobs, desc="ablation runs", unit="run")]
    compute_minutes = sum(r["total_s"] for r in results) / 60   # summed over resumed sessions too
    table = markdown_table(results, args, command, compute_minutes)
    os.makedirs(os.path.dirname(os.path.abspath(args.results)), exist_ok=True)
    with open(args.results, "w") as f:
        f.write(table)
    with open(os.path.splitext(args.results)[0] + ".json", "w") as f:
        json.dump({"args": vars(args), "runs": results}, f, indent=2)
    print(table)
    print(f"wrote {args.results}" + (f" and the table in {args.readme}" if write_readme(args.readme, table)
                                      else " (README not updated: no file or no ablation markers)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
