"""Ablation on the synthetic benchmark: what each part of CP-STN adds, against baselines and a ceiling.

    python experiments/ablation.py                  # the README table, both splits
    python experiments/ablation.py --quick          # a smaller, labelled variant for iterating
    python experiments/ablation.py --splits xsub --set model.pretext_block=7

For each split (xsub, xview) and seed, the rows of VARIANTS: SkeletonCLR (contrastive
only), pretext only and CP-STN pretrained through training.main(Config) with the same
data, epochs and seed; a random-init encoder; a supervised ST-GCN trained from scratch
(the ceiling); plus chance and a logistic regression on raw joints. Columns (COLUMNS,
through evaluation.evaluate(EvalConfig)): kNN, the SkeletonCLR/AimCLR linear recipe and
the default standardized probe, all on frozen features, then the paired difference
CP-STN - SkeletonCLR with its 95% confidence interval, and each pretext head's final
training accuracy. Writes the markdown table to --results (every run's numbers in the
.json beside it) and into README.md between `<!-- ablation:start -->` and `<!-- ablation:end -->`.

Runs go side by side, one process per CPU thread by default (--jobs; experiments/parallel_runs.py),
each writing its training output to RUN/pretrain.log. Runs are resumable: each finished run
leaves RUN/result.json and is skipped next time if it was made with the same settings (--fresh
redoes them); an interrupted pretraining resumes from its checkpoint. A pretrained run whose
RUN/config.json differs from the configuration it would get now in a field it reads (a default
in config.py changed since) is trained again (experiments/run_config.py).
"""
import argparse
import contextlib
import dataclasses
import functools
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from cpstn_min import training  # noqa: E402
from cpstn_min.config import Config, EvalConfig, decay_at_80pct  # noqa: E402
from cpstn_min.errors import UsageError, run_cli  # noqa: E402
from cpstn_min.evaluation import evaluate  # noqa: E402
from cpstn_min.pretext import pretext_classes  # noqa: E402
from cpstn_min.config_checks import check_config  # noqa: E402
from cpstn_min.training.args import FLAG_OF, apply  # noqa: E402
from cpstn_min.training.pretext_weight import scheduled  # noqa: E402
from cpstn_min.data import build_dataset  # noqa: E402
from cpstn_min.data.synthetic.baselines import raw_joint_baselines  # noqa: E402
from experiments.ablation_table import markdown_table, ratio_to_supervised  # noqa: E402
from experiments.parallel_runs import run_parallel  # noqa: E402
from experiments.run_config import saved_config_changes  # noqa: E402
from experiments.tables import without_flags, write_between, write_json, write_text  # noqa: E402

# rows: name -> (table label, how the row is made: a dict of pretraining settings on top of the
# shared ones (as for --set), "random" (a random-init encoder of the RANDOM_INIT_OF run's
# configuration) or "supervised" (that configuration trained end to end with labels: the ceiling))
VARIANTS = {
    "random": ("random-init encoder", "random"),
    "skeletonclr": ("SkeletonCLR baseline (contrastive only, `--no-pretext`)", {"model.pretext": False}),
    "pretext": ("pretext tasks only (`--no-contrastive`)", {"model.contrastive": False}),
    "cpstn": ("CP-STN (contrastive + pretext)", {}),
    "supervised": ("supervised ST-GCN from scratch (labels; end to end)", "supervised"),
}
RANDOM_INIT_OF = "cpstn"
# --jobs: which rows start first when several runs are ready, longest first by their measured times
# (one thread each, README "Time": supervised 13.9 min, CP-STN 9.7, SkeletonCLR 7.3, pretext only
# 5.5, random 0.4)
LONGEST_FIRST = ("supervised", "cpstn", "skeletonclr", "pretext", "random")
# columns (for each split): name -> (header, EvalConfig fields) on frozen features: kNN, the
# SkeletonCLR/AimCLR linear recipe (lr 3.0 on raw features), and the default probe on standardized
# features, which converges on every encoder. The name is the key of the column's top-1 in
# result.json; the supervised row fills "probe" with its own end-to-end accuracy.
COLUMNS = {
    "knn": ("kNN", {"protocol": "knn"}),
    "recipe": ("linear, recipe", {"protocol": "linear", "linear_probe": "recipe"}),
    "probe": ("linear, standardized", {"protocol": "linear", "linear_probe": "standardized"}),
}
# flags that change a run's numbers: a saved result made with other values is not reused
RUN_SETTINGS = ("epochs", "batch_size", "synthetic_train", "synthetic_val", "hidden_channels",
                "feature_dim", "frames", "queue_size", "probe_epochs", "supervised_epochs",
                "lambda_spatial", "lambda_pace", "lr", "moco_momentum", "set")
# what a saved run that predates a setting was made with (the SkeletonCLR/AimCLR recipe's values)
PREDATED_SETTINGS = {"lr": 0.1, "moco_momentum": 0.999}
# how the pretraining is optimised: rows that do not pretrain (random init, supervised) give the same
# numbers whatever these are, so their saved runs are reused when only these change
PRETRAINING_ONLY = ("epochs", "lr", "moco_momentum")
RENAMED_SETTINGS = {"train_clips": "synthetic_train", "val_clips": "synthetic_val", "t_out": "frames"}
# flags that say where things go or how fast they are made, not what the numbers are
WHERE_FLAGS = ("--out-dir", "--results", "--readme", "--jobs")
START, END = "<!-- ablation:start -->", "<!-- ablation:end -->"
# --quick: a smaller benchmark for iterating (about a tenth of the compute), never written to the README
QUICK = {"seeds": [1], "splits": ["xsub"], "synthetic_train": 1300, "epochs": 8, "supervised_epochs": 15,
         "out_dir": "runs/ablation_quick", "readme": "",
         "results": os.path.join(ROOT, "experiments", "results", "ablation_quick.md")}


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--splits", nargs="+", default=["xsub", "xview"])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--quick", action="store_true",
                   help=f"a smaller benchmark for iterating, labelled as such: {QUICK} (flags given win)")
    p.add_argument("--epochs", type=int, default=12, help="pretraining epochs (lr x0.1 at 80%%)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.02,
                   help="pretraining SGD lr (the recipe's 0.1 left seeds 20-30 points apart at this length)")
    p.add_argument("--moco-momentum", type=float, default=0.99,
                   help="key-encoder EMA (the recipe's 0.999 averages over more steps than the run has)")
    p.add_argument("--synthetic-train", type=int, default=2600, help="synthetic training clips per split")
    p.add_argument("--synthetic-val", type=int, default=1300, help="synthetic test clips per split")
    p.add_argument("--hidden-channels", type=int, default=8, help="ST-GCN width (paper setting: 16)")
    p.add_argument("--feature-dim", type=int, default=128, help="pooled feature size (paper setting: 256)")
    p.add_argument("--frames", type=int, default=32, help="frames per view (paper setting: 50)")
    p.add_argument("--queue-size", type=int, default=1024)
    p.add_argument("--probe-epochs", type=int, default=100, help="linear-probe epochs (lr x0.1 at 80%%)")
    p.add_argument("--supervised-epochs", type=int, default=30,
                   help="epochs of the supervised row (finetune protocol from random init)")
    p.add_argument("--lambda-spatial", type=float, default=1.0, help="weight of the spatial pretext loss")
    p.add_argument("--lambda-pace", type=float, default=1.0, help="weight of the pace pretext loss")
    p.add_argument("--set", nargs="+", default=[], metavar="SECTION.FIELD=VALUE",
                   help="any other pretraining setting, e.g. augment.query_rotate_deg=15 (config.py names)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--jobs", type=int, default=None,
                   help="runs at once, each in its own process with an equal share of the CPU threads "
                        "(about 1.5 GB of memory each; its training output goes to RUN/pretrain.log). "
                        "Default: one per CPU thread torch uses on --device cpu, 1 on a GPU")
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
    cfg.train.lr, cfg.model.momentum = args.lr, args.moco_momentum
    cfg.train.lr_steps = decay_at_80pct(args.epochs)
    cfg.train.device, cfg.train.out_dir = args.device, out_dir
    check_config(cfg, FLAG_OF)   # this script's own flags (--lr, --epochs, ...) share train.py's names
    kind = VARIANTS[variant][1]
    values = {**(kind if isinstance(kind, dict) else {}), **settings_of(args.set)}
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


def evaluate_run(checkpoint: str, out_dir: str, args, seed: int, kind) -> dict:
    """Every column's top-1 through evaluation.evaluate (the supervised row: its own accuracy
    after end-to-end training, in "probe"); log lines go to out_dir/eval.log."""
    base = EvalConfig(checkpoint=checkpoint, random_init=kind in ("random", "supervised"), out_dir=out_dir,
                      seed=seed, device=args.device, progress=False).with_epochs(args.probe_epochs)
    top1 = dict.fromkeys(COLUMNS)
    with open(os.path.join(out_dir, "eval.log"), "a") as log_file:
        log = lambda *a: print(*a, file=log_file, flush=True)  # noqa: E731
        if kind == "supervised":
            ecfg = dataclasses.replace(base, protocol="finetune", finetune_epochs=args.supervised_epochs,
                                       finetune_milestones=decay_at_80pct(args.supervised_epochs))
            record = evaluate(ecfg, log=log)
            return {**top1, "probe": record["top1"], "num_classes": record["num_classes"]}
        for column, (_, fields) in COLUMNS.items():
            record = evaluate(dataclasses.replace(base, **fields), log=log)
            top1[column] = record["top1"]
            top1["num_classes"] = record["num_classes"]
    return top1


def pretext_heads(run_dir: str) -> dict:
    """{task: training accuracy of the last epoch} from the run's log.jsonl ({} without heads)."""
    path = os.path.join(run_dir, "log.jsonl")
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        epochs = [r for r in map(json.loads, f) if r.get("type") == "epoch"]
    last = epochs[-1] if epochs else {}
    return {k[len("acc_"):]: v for k, v in last.items() if k.startswith("acc_") and k != "acc_nce"}


def saved_result(path: str, settings: dict, pretrained: bool = True):
    """The result.json of an earlier run made with `settings` and every column, else UsageError.
    pretrained=False (a random or supervised row): PRETRAINING_ONLY settings are not compared;
    pretrained=True: --set is not compared here, the saved config.json is (run_one)."""
    with open(path) as f:
        saved = json.load(f)
    # a setting the saved run predates had its default value then (PREDATED_SETTINGS where the default
    # changed since); some flags were renamed since
    defaults = vars(build_parser().parse_args([]))
    old = {RENAMED_SETTINGS.get(k, k): v for k, v in saved.get("settings", {}).items()}
    old = {**{k: defaults[k] for k in RUN_SETTINGS}, **PREDATED_SETTINGS, **old}
    # a pretrained row's --set is judged by the configuration it resolves to (run_config, in run_one):
    # a run made with --set X=Y is the run a later default X=Y makes
    not_compared = ("set",) if pretrained else PRETRAINING_ONLY
    changed = [f"--{k.replace('_', '-')} {old[k]} there, {v} now" for k, v in settings.items()
               if old[k] != v and k not in not_compared]
    missing = [c for c in COLUMNS if c not in saved]
    if missing:
        changed.append(f"no {' / '.join(missing)} result")
    if changed:
        raise UsageError(f"{path} was made with other settings ({', '.join(changed)}); "
                         f"pass --fresh to redo it or choose another --out-dir")
    return saved


def run_one(args, split: str, seed: int, variant: str, done: dict) -> dict:
    """Pretrain (unless random / supervised) and evaluate one row; done: (split, seed, variant) -> result."""
    if (split, seed, variant) in done:
        return done[split, seed, variant]
    run_dir = os.path.join(args.out_dir, split, f"seed{seed}", variant)
    result_path = os.path.join(run_dir, "result.json")
    settings = {k: getattr(args, k) for k in RUN_SETTINGS}
    kind = VARIANTS[variant][1]
    cfg = None if isinstance(kind, str) else pretrain_config(args, split, seed, variant, run_dir)
    if os.path.isfile(result_path) and not args.fresh:
        saved = saved_result(result_path, settings, pretrained=cfg is not None)
        # a default in config.py may have changed since the run was made
        stale = saved_config_changes(run_dir, cfg.to_dict()) if cfg is not None else []
        if not stale:
            done[split, seed, variant] = saved
            return saved
        tqdm.write(f"{run_dir}: made with another configuration ({'; '.join(stale)}); training it again")
        cfg.train.resume, cfg.train.overwrite = False, True
    os.makedirs(run_dir, exist_ok=True)
    t0 = time.time()
    if isinstance(kind, str):   # the RANDOM_INIT_OF run's configuration, fresh weights
        checkpoint = run_one(args, split, seed, RANDOM_INIT_OF, done)["checkpoint"]
        pretrain_s = 0.0
    else:
        checkpoint = training.main(cfg, log=lambda *a: None)
        pretrain_s = time.time() - t0
    result = {"split": split, "seed": seed, "variant": variant, "checkpoint": checkpoint,
              "settings": settings, **evaluate_run(checkpoint, run_dir, args, seed, kind),
              "heads": pretext_heads(run_dir), "pretrain_s": pretrain_s, "total_s": time.time() - t0}
    write_json(result_path, result)
    done[split, seed, variant] = result
    return result


def run_in_worker(args, job, threads: int) -> dict:
    """run_one in a --jobs worker process: its share of the threads, its output in RUN/pretrain.log
    (progress bars of runs side by side would garble the terminal)."""
    torch.set_num_threads(threads)
    split, seed, variant = job
    run_dir = os.path.join(args.out_dir, split, f"seed{seed}", variant)
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "pretrain.log"), "a") as out, \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        return run_one(args, split, seed, variant, {})


def run_all(args, jobs: list) -> list:
    """Every job's result, in jobs' order: one after another, or --jobs at a time. A random or
    supervised row starts after its RANDOM_INIT_OF run (trained too if not asked for: it names the
    configuration they share)."""
    workers = min(args.jobs, len(jobs))
    if workers <= 1:
        done = {}
        for job in tqdm(jobs, desc="ablation runs", unit="run"):
            run_one(args, *job, done)
        return [done[job] for job in jobs]
    needs = {job: (*job[:2], RANDOM_INIT_OF) for job in jobs if isinstance(VARIANTS[job[2]][1], str)}
    everything = list(dict.fromkeys(jobs + list(needs.values())))
    threads = max(1, torch.get_num_threads() // workers)
    print(f"{workers} runs at once, {threads} thread{'s' * (threads > 1)} each; "
          f"their training output goes to RUN/pretrain.log", flush=True)
    bar = tqdm(total=len(jobs), desc="ablation runs", unit="run")
    results = run_parallel(functools.partial(run_in_worker, args, threads=threads), everything, workers,
                           rank=lambda job: LONGEST_FIRST.index(job[2]), needs=needs,
                           on_done=lambda job, result: bar.update(job in jobs))
    bar.close()
    return [results[job] for job in jobs]


def raw_joint_accuracy(args, split: str) -> float:
    """Top-1 (%) of a logistic regression on raw joints of the same clips (cached per split)."""
    path = os.path.join(args.out_dir, split, "raw_joints.json")
    key = {"synthetic_train": args.synthetic_train, "synthetic_val": args.synthetic_val, "set": args.set}
    if os.path.isfile(path) and not args.fresh:
        with open(path) as f:
            saved = json.load(f)
        if saved["settings"] == key:
            return saved["top1"]
    data = pretrain_config(args, split, args.seeds[0], RANDOM_INIT_OF, path).data
    parts = [build_dataset(data, train) for train in (True, False)]
    top1 = 100 * raw_joint_baselines(*[(d.data, d.valid_frames, d.labels) for d in parts])["logistic regression"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_json(path, {"settings": key, "top1": top1})
    return top1


def pretext_text(args) -> str:
    """The pretext tasks of the CP-STN rows, as the config resolves them (defaults + --set)."""
    cfg = apply(Config(), settings_of(args.set))
    spatial = cfg.augment.pretext_spatial
    # the rule PretextHeads applies: only a 'spatial' classifier (not the mask decoder) reads per joint
    reads_joints = cfg.model.spatial_pool == "joints" and "spatial" in pretext_classes(cfg.augment)
    per_joint = " on one feature vector per joint" if reads_joints else ""
    over_time = " on the features over time" if cfg.model.pace_pool == "frames" else ""
    tasks = f"pace (weight {args.lambda_pace:g}{over_time})" + (
        "" if spatial == "none" else f" and {spatial} (weight {args.lambda_spatial:g}{per_joint})")
    if cfg.augment.pretext_reverse:
        tasks += f" and playback direction (weight {cfg.model.lambda_dir:g}{over_time})"
    if cfg.augment.pretext_viewpoint:
        yaws = "/".join(f"{d:g}" for d in cfg.augment.pretext_viewpoint_deg)
        tasks += f" and relative viewpoint (yaw {yaws}° from the query's, weight {cfg.model.lambda_view:g})"
    m = cfg.model
    if scheduled(m):
        tasks += (f", every weight times a factor going from {m.pretext_weight_start:g} to "
                  f"{m.pretext_weight_end:g} over training (half cosine)")
    elif m.pretext_weight_start != 1:
        tasks += f", every weight times {m.pretext_weight_start:g}"
    block = m.pretext_block
    a = cfg.augment
    view = (f", pretext view rotated up to ±{a.pretext_rotate_deg:g}° about each axis and sheared {a.pretext_shear:g}"
            if a.pretext_rotate_deg or a.pretext_shear else ", pretext view unrotated and unsheared")
    return f"pretext {tasks}, heads after {f'encoder block {block}' if block else 'the last block'}{view}"


def notes(args, command: str, minutes: float, ratios: dict) -> str:
    seeds = ("seeds " if len(args.seeds) > 1 else "seed ") + ", ".join(map(str, args.seeds))
    ceiling = "; ".join(f"{s}: {100 * r:.0f}%" for s, r in ratios.items() if r is not None)
    return (f"\n{'**Quick variant (for iterating, not the benchmark).** ' if args.quick else ''}"
            f"Top-1 accuracy (%) on the synthetic test split ({args.synthetic_val} clips), mean ± sample standard "
            f"deviation over {seeds} (the seed sets data order, augmentation and initialisation). Pretraining: "
            f"{args.epochs} epoch{'s' * (args.epochs != 1)}, batch {args.batch_size}, {args.synthetic_train} "
            f"training clips, ST-GCN hidden {args.hidden_channels} -> {args.feature_dim}-d features, {args.frames} "
            f"frames, SGD lr {args.lr:g}, key-encoder momentum {args.moco_momentum:g}, queue {args.queue_size}, "
            f"{pretext_text(args)}{''.join(', ' + item for item in args.set)}. kNN: cosine, k=20, votes "
            f"exp(cos/0.07). Linear, recipe: SkeletonCLR/AimCLR's SGD lr 3.0 on raw frozen features, "
            f"{args.probe_epochs} epochs. Linear, standardized: the default probe, features standardized over "
            f"the training set, SGD lr 0.3, {args.probe_epochs} epochs. Supervised: the same encoder and a "
            f"linear classifier trained from scratch with all labels ({args.supervised_epochs} epochs, "
            f"eval.py's finetune protocol); its end-to-end accuracy stands in the standardized column. "
            f"Logistic regression on raw joints: 16 resampled frames, standardized. The paired row gives "
            f"CP-STN minus SkeletonCLR seed by seed, its mean and 95% confidence interval (Student's t)."
            f"{' CP-STN linear (standardized) / supervised: ' + ceiling + '.' if ceiling else ''} "
            f"Made by `{command}`: {minutes:.0f} min of runs.\n")


def write_readme(readme: str, table: str) -> bool:
    return write_between(readme, START, END, table)


def result_flags(argv):
    """argv without the flags that only say where things go (they do not change the numbers)."""
    return without_flags(argv, WHERE_FLAGS)


def parse_args(argv):
    args = build_parser().parse_args(argv)
    if args.jobs is None:
        args.jobs = torch.get_num_threads() if args.device == "cpu" else 1
    if args.jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
    if args.quick:   # the preset, except where a flag was given
        given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
        for k, v in QUICK.items():
            if k not in given:
                setattr(args, k, v)
    return args


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    command = " ".join(["python experiments/ablation.py", *result_flags(argv)])
    pretrain_config(args, args.splits[0], args.seeds[0], RANDOM_INIT_OF, args.out_dir)  # bad --set: stop now
    jobs = [(s, seed, v) for s in args.splits for seed in args.seeds   # random rows reuse a pretrained run
            for v in sorted(args.variants, key=lambda v: isinstance(VARIANTS[v][1], str))]
    results = run_all(args, jobs)
    raw = {s: raw_joint_accuracy(args, s) for s in args.splits}
    compute_minutes = sum(r["total_s"] for r in results) / 60   # summed over resumed sessions too
    labels = {v: VARIANTS[v][0] for v in VARIANTS}
    table = markdown_table(results, raw, args.splits, args.variants, labels, {c: h for c, (h, _) in COLUMNS.items()})
    table += notes(args, command, compute_minutes, {s: ratio_to_supervised(results, s) for s in args.splits})
    write_text(args.results, table)
    write_json(os.path.splitext(args.results)[0] + ".json", {"args": vars(args), "runs": results, "raw_joints": raw})
    print(table)
    print(f"wrote {args.results}" + (f" and the table in {args.readme}" if write_readme(args.readme, table)
                                      else " (README not updated: no file or no ablation markers)"))


if __name__ == "__main__":
    sys.exit(run_cli(main, "rerun the same command to continue"))
