"""Every config value checked once, where the config is resolved: a bad one is a one-line
UsageError naming its flag (or its config field), before anything is built or written.

check_config(Config) runs on every config train.py's flags and files make (and in
training.prepare, for configs built in Python); check_eval_config(EvalConfig) on eval.py's,
check_device on both devices. Types first (a
config file can hold a string where a number belongs), then ranges.
"""
import dataclasses
import math
import typing
from typing import Dict

import torch

from .augment import check_config as check_augment
from .config import Config, EvalConfig
from .encoder import INITS, STRIDES
from .errors import UsageError
from .pretext import PACE_POOLS, SPATIAL_POOLS

AMP_DTYPES = ("auto", "bfloat16", "float16")   # train.amp_dtype (training/precision.py)


def check_config(cfg: Config, flags: Dict[str, str] = None) -> Config:
    """cfg, or a UsageError; flags maps "section.field" to the flag that sets it."""
    name = _namer(flags or {})
    for section in dataclasses.fields(cfg):
        _check_types(getattr(cfg, section.name), f"{section.name}.", name)
    d, m, t = cfg.data, cfg.model, cfg.train
    _at_least(name("data.num_workers"), d.num_workers, 0)
    _at_least(name("data.synthetic_train"), d.synthetic_train, 1)
    _at_least(name("data.synthetic_val"), d.synthetic_val, 1)
    _within(name("data.synthetic_style"), d.synthetic_style, 0, 1)
    for field in ("in_channels", "hidden_channels", "feature_dim", "proj_dim", "queue_size"):
        _at_least(name(f"model.{field}"), getattr(m, field), 1)
    _at_least(name("model.pretext_hidden"), m.pretext_hidden, 0)
    if not 0 <= m.pretext_block <= len(STRIDES):
        raise UsageError(f"{name('model.pretext_block')} must be in 0..{len(STRIDES)} (the encoder's blocks; "
                         f"0: the last), got {m.pretext_block}")
    if m.spatial_pool not in SPATIAL_POOLS:
        raise UsageError(f"{name('model.spatial_pool')} must be one of {', '.join(SPATIAL_POOLS)}, "
                         f"got {m.spatial_pool!r}")
    if m.pace_pool not in PACE_POOLS:
        raise UsageError(f"{name('model.pace_pool')} must be one of {', '.join(PACE_POOLS)}, "
                         f"got {m.pace_pool!r}")
    if m.init not in INITS:
        raise UsageError(f"{name('model.init')} must be one of {', '.join(INITS)}, got {m.init!r}")
    _within(name("model.momentum"), m.momentum, 0, 1)
    _positive(name("model.temperature"), m.temperature)
    for field in ("lambda_spatial", "lambda_pace", "lambda_dir", "lambda_view", "pretext_weight_start",
                  "pretext_weight_end"):
        _finite(name(f"model.{field}"), getattr(m, field))
        _at_least(name(f"model.{field}"), getattr(m, field), 0)
    if cfg.augment.pretext_viewpoint and m.pretext and not m.contrastive:
        raise UsageError(f"{name('augment.pretext_viewpoint')} compares the pretext view with the contrastive "
                         f"query view: it needs the contrastive branch (drop {name('model.contrastive')})")
    _at_least(name("train.epochs"), t.epochs, 1)
    _at_least(name("train.batch_size"), t.batch_size, 1)
    _at_least(name("model.shuffle_bn_groups"), m.shuffle_bn_groups, 1)
    if t.batch_size % m.shuffle_bn_groups:
        raise UsageError(f"{name('train.batch_size')} {t.batch_size} does not split into "
                         f"{name('model.shuffle_bn_groups')}={m.shuffle_bn_groups} equal groups")
    if m.shuffle_bn_groups > 1 and cfg.augment.pretext_viewpoint and m.pretext:
        raise UsageError(f"{name('model.shuffle_bn_groups')} > 1 is not implemented with "
                         f"{name('augment.pretext_viewpoint')} (its query pass is split at the heads' block)")
    _positive(name("train.lr"), t.lr)
    _within(name("train.momentum"), t.momentum, 0, 1)
    _finite(name("train.weight_decay"), t.weight_decay)
    _at_least(name("train.weight_decay"), t.weight_decay, 0)
    for step in t.lr_steps:
        _at_least(name("train.lr_steps"), step, 1)
    for field in ("seed", "init_seed"):   # numpy's seed range; init_seed None: the seed's weights
        value = getattr(t, field)
        if value is not None and not 0 <= value < 2 ** 32:
            raise UsageError(f"{name(f'train.{field}')} must be in [0, 2**32), got {value}")
    if t.amp_dtype not in AMP_DTYPES:
        raise UsageError(f"{name('train.amp_dtype')} must be one of {', '.join(AMP_DTYPES)}, got {t.amp_dtype!r}")
    _at_least(name("train.save_every"), t.save_every, 0)
    _at_least(name("train.log_every"), t.log_every, 1)
    try:
        check_augment(cfg.augment)
    except ValueError as e:
        field = str(e).split(" ", 1)[0]
        raise UsageError(str(e).replace(field, name(field), 1)) from None
    return cfg


def check_eval_config(e: EvalConfig) -> EvalConfig:
    """e, or a UsageError naming eval.py's flag."""
    name = _namer(EVAL_FLAGS)
    _check_types(e, "", name)
    check_device(e.device)   # also when cached features would leave the device unused
    _at_least(name("batch_size"), e.batch_size, 1)
    _at_least(name("linear_epochs"), e.linear_epochs, 1)
    _at_least(name("finetune_epochs"), e.finetune_epochs, 1)
    if e.linear_lr is not None:
        _positive(name("linear_lr"), e.linear_lr)
    _positive(name("finetune_lr"), e.finetune_lr)
    _at_least(name("knn_k"), e.knn_k, 1)
    _positive(name("knn_temperature"), e.knn_temperature)
    if not 0 < e.label_fraction <= 1:
        raise UsageError(f"{name('label_fraction')} must be in (0, 1], got {e.label_fraction}")
    for field in ("linear_batch_size", "finetune_batch_size", "finetune_eval_every"):
        _at_least(name(field), getattr(e, field), 1)
    for field in ("seed", "subset_seed"):   # numpy's generators take no negative seed
        _at_least(name(field), getattr(e, field), 0)
    for w in e.ensemble_weights:   # their signs and count: ensemble.py, which knows the runs
        _finite(name("ensemble_weights"), w)
    return e


def check_device(name: str) -> torch.device:
    """--device NAME as a torch.device this machine has."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise UsageError(f"bad --device {name!r}: {e}") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"--device {name}: only cpu and cuda are supported")
    return device


# eval.py's flag of each EvalConfig field that a flag sets
EVAL_FLAGS = {"batch_size": "--batch-size", "linear_epochs": "--epochs", "finetune_epochs": "--epochs",
              "linear_lr": "--lr", "finetune_lr": "--lr", "knn_k": "--k", "knn_temperature": "--temperature",
              "label_fraction": "--label-fraction", "ensemble_weights": "--weights", "seed": "--seed",
              "subset_seed": "--subset-seed"}


def _namer(flags: Dict[str, str]):
    return lambda field: f"{flags[field]} ({field})" if field in flags else field


def _check_types(obj, prefix: str, name) -> None:
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if not _fits(value, hints[f.name]):
            raise UsageError(f"{name(prefix + f.name)} must be {_describe(hints[f.name])}, "
                             f"got {value!r} ({type(value).__name__})")


def _fits(value, hint) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        return any(_fits(value, a) for a in args)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:   # an integer is a fine float (JSON and TOML write 1 for 1.0)
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        return " or ".join(_describe(a) for a in args)
    if origin is tuple:
        many = {int: "integers", float: "numbers", str: "strings"}.get(args[0], "values")
        return f"a list of {many}" if args[-1] is Ellipsis else f"a list of {len(args)} {many}"
    return {type(None): "none", bool: "true or false", int: "an integer", float: "a number",
            str: "a string"}.get(hint, getattr(hint, "__name__", str(hint)))


def _finite(name: str, value) -> None:
    if not math.isfinite(value):
        raise UsageError(f"{name} must be a finite number, got {value}")


def _at_least(name: str, value, low) -> None:
    if value < low:
        raise UsageError(f"{name} must be >= {low}, got {value}")


def _positive(name: str, value) -> None:
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{name} must be a finite number > 0, got {value}")


def _within(name: str, value, low, high) -> None:
    if not low <= value <= high:   # NaN fails too
        raise UsageError(f"{name} must be in [{low}, {high}], got {value}")
