"""Whether a saved pretraining run was made with the configuration it would get now.

A benchmark's flags (experiments/ablation.py RUN_SETTINGS) do not name every field: when a
default in cpstn_min/config.py changes, a saved run made under the old default would be
reused as if nothing had changed. Each run folder holds the Config it was made with
(config.json, written by training); this compares it with today's, field by field, over
the fields the run reads (a SkeletonCLR run never draws a pretext view, so the pretext
fields do not matter to it).
"""
import json
import os
from typing import List

from cpstn_min.config import Config

# where a run goes and how it reports, not what it learns
NOT_RESULTS = {"train.out_dir", "train.resume", "train.overwrite", "train.device", "train.log_every",
               "train.save_every", "train.check_data", "data.cache_dir", "data.num_workers"}
PRETEXT_FIELDS = ("augment.pretext_", "model.lambda_", "model.pretext_hidden", "model.pretext_block",
                  "model.pretext_weight", "model.loss_weighting", "model.spatial_pool",
                  "model.pace_pool")
CONTRASTIVE_FIELDS = ("augment.key_", "augment.query_", "model.proj_dim", "model.mlp", "model.queue_size",
                      "model.momentum", "model.temperature", "model.shuffle_bn_groups")


def flat(config: dict) -> dict:
    """{'section': {'field': value}} -> {'section.field': value}, lists and tuples alike (JSON)."""
    return {f"{s}.{k}": v for s, fields in json.loads(json.dumps(config)).items() for k, v in fields.items()}


def read_fields(config: dict) -> set:
    """The fields of a flat config that its run reads (the branches it has switched on)."""
    unread = [] if config.get("model.pretext", True) else list(PRETEXT_FIELDS)
    unread += [] if config.get("model.contrastive", True) else list(CONTRASTIVE_FIELDS)
    return {k for k in config if k not in NOT_RESULTS and not k.startswith(tuple(unread))}


def config_changes(saved: dict, now: dict) -> List[str]:
    """Fields the run reads whose value differs: ['augment.pretext_rotate_deg 0.0 there, 30.0 now', ...].
    The saved config is read as a resumed run reads it (Config.from_dict: fields it predates get the
    value they had then, through config.upgrade)."""
    saved, now = flat(Config.from_dict(saved).to_dict()), flat(now)
    return [f"{k} {saved[k]} there, {now[k]} now" for k in sorted(read_fields(now)) if saved[k] != now[k]]


def saved_config_changes(run_dir: str, now: dict) -> List[str]:
    """config_changes against run_dir/config.json; [] when the run left none to compare."""
    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return config_changes(json.load(f), now)
