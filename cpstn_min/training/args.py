"""train.py's command line: flags and config files -> Config.

Precedence (lowest first): dataclass defaults, the synthetic-demo scaling (only
for the synthetic dataset), `--config FILE` (JSON or TOML with the sections of
config.json: data, augment, model, train), then flags. With --resume the run's
own saved config replaces the defaults and the demo scaling, so a resumed run
continues with the settings it started with unless a flag says otherwise.
"""
import argparse
import dataclasses
import json
import os
from typing import Dict, List, Optional

from .. import checkpoint
from ..config import Config, TrainConfig
from ..config_checks import check_config
from ..errors import CheckpointError, UsageError

# flag, config path, type (None: a switch storing the value after "="; a list: several values), help
FLAGS = [
    ("--dataset", "data.dataset", str, "synthetic | ntu60 | ntu120 | custom"),
    ("--data-root", "data.data_root", str, "prepared NTU data folder (python -m cpstn_min.data.ntu.prepare), "
                                           "or a custom dataset's folder"),
    ("--layout", "data.layout", str, "custom data: joint layout ntu-rgb+d | openpose | coco17 | mediapipe33"),
    ("--stream", "data.stream", str, "input stream the encoder learns: joint | bone | motion"),
    ("--data-format", "data.data_format", str, "auto | prepared | stgcn | ctrgcn | pyskl"),
    ("--split", "data.split", str, "xsub | xview | xset"),
    ("--num-workers", "data.num_workers", int, "DataLoader worker processes"),
    ("--synthetic-train", "data.synthetic_train", int, "synthetic: clips in the training split"),
    ("--synthetic-style", "data.synthetic_style", float, "synthetic: 0..1, how much each performer does "
     "each action their own way (0, the default: every clip draws its motion afresh)"),
    ("--cache-dir", "data.cache_dir", str, "where generated (synthetic) or converted (NTU) arrays are cached"),
    ("--frames", "augment.T_out", int, "frames of every view (clips are resampled to this length)"),
    ("--pretext-reverse", "augment.pretext_reverse=True", None, "also predict playback direction (the default)"),
    ("--no-pretext-reverse", "augment.pretext_reverse=False", None, "no playback-direction task"),
    ("--pretext-viewpoint", "augment.pretext_viewpoint=True", None, "also predict by which yaw the pretext "
                                                                   "view was turned from the query's viewpoint"),
    ("--pretext-spatial", "augment.pretext_spatial", str, "spatial pretext task: none | freeze | swap | mask | rotation"),
    ("--pretext-rotate-deg", "augment.pretext_rotate_deg", float, "rotate the pretext view up to +-this many "
                                                                  "degrees about each axis (0: not at all)"),
    ("--pretext-block", "model.pretext_block", int, "pretext heads read the features after this encoder block "
                                                    "(0: the last)"),
    ("--spatial-pool", "model.spatial_pool", str, "what the spatial head reads: mean (over time and joints) | "
                                                  "joints (over time only: one vector per joint)"),
    ("--pace-pool", "model.pace_pool", str, "what the pace and direction heads read: frames (over joints "
                                            "only: 8 spans of time; the default) | mean (over time and joints)"),
    ("--hidden-channels", "model.hidden_channels", int, "ST-GCN width of the first blocks"),
    ("--feature-dim", "model.feature_dim", int, "pooled encoder features"),
    ("--queue-size", "model.queue_size", int, "MoCo queue length (capped to the dataset size)"),
    ("--moco-momentum", "model.momentum", float, "EMA momentum of the key encoder"),
    ("--temperature", "model.temperature", float, "InfoNCE temperature"),
    ("--shuffle-bn-groups", "model.shuffle_bn_groups", int, "batch-normalize queries and keys in this many "
                                                           "groups, the keys' shuffled (1: whole batch)"),
    ("--no-contrastive", "model.contrastive=False", None, "pretext-only model"),
    ("--no-pretext", "model.pretext=False", None, "contrastive only (SkeletonCLR baseline)"),
    ("--lambda-spatial", "model.lambda_spatial", float, "weight of the spatial pretext loss"),
    ("--lambda-pace", "model.lambda_pace", float, "weight of the pace loss"),
    ("--pretext-weight-start", "model.pretext_weight_start", float, "pretext weights are multiplied by this "
                                                                    "at the start of training ..."),
    ("--pretext-weight-end", "model.pretext_weight_end", float, "... and by this at the end (half cosine "
                                                                "between; 1 and 1: fixed weights)"),
    ("--epochs", "train.epochs", int, "training epochs"),
    ("--batch-size", "train.batch_size", int, "global batch size (split across processes)"),
    ("--lr", "train.lr", float, "SGD learning rate"),
    ("--weight-decay", "train.weight_decay", float, "SGD weight decay"),
    ("--lr-steps", "train.lr_steps", [int], "epochs at which the lr is multiplied by 0.1"),
    ("--seed", "train.seed", int, "seed of initialisation, data order and augmentation"),
    ("--init-seed", "train.init_seed", int, "seed of the initial weights alone (default: --seed)"),
    ("--device", "train.device", str, "cpu | cuda | cuda:N"),
    ("--amp", "train.amp=True", None, "mixed precision: autocast in --amp-dtype, float32 weights"),
    ("--amp-dtype", "train.amp_dtype", str, "with --amp: auto (bfloat16 on CPUs and on GPUs that have it, else "
                                             "float16) | bfloat16 | float16 (CUDA only, with loss scaling)"),
    ("--out-dir", "train.out_dir", str, "run folder: checkpoint.pt, config.json, log.jsonl"),
    ("--resume", "train.resume=True", None, "continue from OUT_DIR/checkpoint.pt"),
    ("--overwrite", "train.overwrite=True", None, "start afresh even if OUT_DIR holds a checkpoint"),
    ("--save-every", "train.save_every", int, "also checkpoint every N steps (0: only per epoch)"),
    ("--log-every", "train.log_every", int, "log metrics every N steps"),
    ("--check-data", "train.check_data=True", None, "scan every training clip for NaN/inf before training"),
]

FLAG_OF = {path.split("=")[0]: flag for flag, path, _, _ in FLAGS}   # "train.epochs" -> "--epochs"

RECIPE_EPOCHS, RECIPE_LR_STEPS = TrainConfig.epochs, TrainConfig.lr_steps

# The SkeletonCLR/AimCLR recipe scaled so `python train.py` (pretraining + linear probe on
# the synthetic dataset) takes minutes on a 2-core CPU: fewer epochs (the lr step keeps its
# place at 5/6), half the batch, shorter views and a narrower encoder (~6x fewer FLOPs/clip).
# lr 0.02 and key momentum 0.99: with the recipe's 0.1 / 0.999, runs this short swung by up to
# 30 kNN points between seeds on the synthetic benchmark (README "Results").
SYNTHETIC_DEMO = {
    "train.epochs": 8,
    "train.batch_size": 64,
    "train.lr": 0.02,
    "augment.T_out": 32,
    "model.hidden_channels": 8,
    "model.feature_dim": 128,
    "model.momentum": 0.99,
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="CP-STN pretraining. No arguments: the synthetic demo (a scaled-down recipe).",
        epilog="Multi-process: torchrun --nproc_per_node N train.py [flags]")
    p.add_argument("--config", help="JSON or TOML file with data/augment/model/train sections")
    defaults = Config().to_dict()
    for flag, path, typ, text in FLAGS:
        dest = path.split("=")[0]
        section, name = dest.split(".")
        text = f"{text} [{dest}, default {defaults[section][name]}]".replace("%", "%%")
        if typ is None:
            p.add_argument(flag, dest=dest, action="store_const", const=path.split("=")[1] == "True",
                           default=argparse.SUPPRESS, help=text)
        else:
            many = isinstance(typ, list)
            p.add_argument(flag, dest=dest, type=typ[0] if many else typ, nargs="+" if many else None,
                           metavar=name.upper(), default=argparse.SUPPRESS, help=text)
    return p


def read_config_file(path: str) -> Dict[str, object]:
    """-> {"section.field": value} from a JSON or TOML file."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if path.endswith(".toml"):
            try:
                import tomllib
            except ImportError:  # Python 3.10
                raise UsageError(f"{path}: TOML config files need Python >= 3.11; use JSON") from None
            tree = tomllib.loads(raw.decode())
        else:
            tree = json.loads(raw)
    except (OSError, ValueError) as e:  # tomllib/json errors are ValueErrors
        raise UsageError(f"cannot read config file {path}: {e}") from e
    if not isinstance(tree, dict):
        raise UsageError(f"config file {path}: expected sections data/augment/model/train")
    sections = {f.name for f in dataclasses.fields(Config)}
    flat = {}
    for section, values in tree.items():
        if section not in sections or not isinstance(values, dict):
            raise UsageError(f"config file {path}: unknown section {section!r} "
                             f"(expected {sorted(sections)} each holding fields)")
        flat.update({f"{section}.{k}": v for k, v in values.items()})
    return flat


def apply(cfg: Config, values: Dict[str, object]) -> Config:
    """Set "section.field" values on a copy of cfg; unknown fields and bad values are a UsageError."""
    d = cfg.to_dict()
    for path, value in values.items():
        section, _, name = path.partition(".")
        if name not in d.get(section, {}):
            raise UsageError(f"unknown config field {path!r}")
        d[section][name] = value
    try:
        cfg = Config.from_dict(d)
    except (TypeError, ValueError) as e:
        raise UsageError(f"bad config: {e}") from e
    return check_config(cfg, FLAG_OF)


def scale_lr_steps(epochs: int, steps=RECIPE_LR_STEPS, recipe_epochs=RECIPE_EPOCHS):
    """The recipe's lr steps moved to the same fraction of a shorter/longer run (250/300 -> 5/6)."""
    return tuple(max(1, round(s * epochs / recipe_epochs)) for s in steps)


def resolve(values: Dict[str, object], log=print) -> Config:
    """Defaults (or the resumed run's config) + demo scaling + explicit values -> Config."""
    out_dir = values.get("train.out_dir", TrainConfig.out_dir)
    if values.get("train.resume"):
        path = os.path.join(out_dir, "checkpoint.pt")
        if not os.path.isfile(path):
            raise UsageError(f"--resume: no checkpoint at {path} to resume from (see --out-dir)")
        ckpt = checkpoint.require_entries(checkpoint.load(path), path)
        try:
            saved = Config.from_dict(ckpt["config"])
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{path} holds no usable run configuration: {e}") from e
        return apply(saved, {"train.out_dir": out_dir, "train.overwrite": False, **values})
    cfg = apply(Config(), values)
    scaled = {}
    if cfg.data.dataset == "synthetic":
        scaled = {k: v for k, v in SYNTHETIC_DEMO.items() if k not in values}
    epochs = values.get("train.epochs", scaled.get("train.epochs", cfg.train.epochs))
    if "train.lr_steps" not in values and epochs != RECIPE_EPOCHS:
        scaled["train.lr_steps"] = scale_lr_steps(epochs)
    if scaled:
        before = cfg.to_dict()
        cfg = apply(cfg, scaled)
        changes = ", ".join(f"{k} {before[k.split('.')[0]][k.split('.')[1]]} -> {v}"
                            for k, v in scaled.items())
        log(f"recipe scaled{' for the synthetic demo' if cfg.data.dataset == 'synthetic' else ''}: "
            f"{changes} (flags override)")
    return cfg


def config_from_args(argv: Optional[List[str]] = None, log=print) -> Config:
    args = vars(build_parser().parse_args(argv))
    config_file = args.pop("config", None)
    values = read_config_file(config_file) if config_file else {}
    values.update(args)  # flags win over the file
    return resolve(values, log)
