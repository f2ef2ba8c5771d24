"""The pretrained encoder a training run saved: one loader for eval.py, experiments and tests.

A training checkpoint holds {"config": Config.to_dict(), "model": CPSTN state_dict, ...};
the query encoder's weights are the "encoder_q.*" entries. Every way a checkpoint
can fail to fit (missing or unreadable file, no config, weights of another model
configuration) raises one CheckpointError whose message is a single line naming
the first mismatched tensor. Encoders map (N,3,T,V,M) clips to (N,feature_dim) features.
"""
from typing import Tuple

import torch

from . import checkpoint
from .config import Config
from .encoder import STGCNEncoder, build_encoder
from .errors import CheckpointError

ENCODER_PREFIX = "encoder_q."   # CPSTN keeps its query encoder under this prefix


def config_of_checkpoint(ckpt: dict, path: str) -> Config:
    """The pretraining Config saved in a checkpoint dict (read from `path`)."""
    checkpoint.require_entries(ckpt, path)
    try:
        return Config.from_dict(ckpt["config"])
    except (AttributeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its config does not fit this version of cpstn: {e}") from e


def load_pretrained_config(path: str) -> Config:
    """The pretraining Config of the checkpoint at `path`."""
    return config_of_checkpoint(checkpoint.load(path), path)


def load_pretrained_encoder(path: str, model_cfg=None) -> Tuple[STGCNEncoder, Config]:
    """-> (encoder with the checkpoint's query-encoder weights, the checkpoint's Config).

    model_cfg: the model configuration the caller expects (default: the one saved in the
    checkpoint); weights that do not fit it raise CheckpointError naming the first mismatch.
    """
    ckpt = checkpoint.load(path)
    cfg = config_of_checkpoint(ckpt, path)
    model_cfg = model_cfg or cfg.model
    encoder = build_encoder(model_cfg)
    state = {k[len(ENCODER_PREFIX):]: v for k, v in ckpt["model"].items() if k.startswith(ENCODER_PREFIX)}
    if not state:
        raise CheckpointError(f"{path}: no encoder weights (no '{ENCODER_PREFIX}*' entries in 'model')")
    problem = state_mismatch(encoder.state_dict(), state)
    if problem:
        raise CheckpointError(f"{path} was trained with a different model configuration than "
                              f"{_model_summary(model_cfg)}: {problem}")
    encoder.load_state_dict(state)
    return encoder, cfg


def _model_summary(model_cfg) -> str:
    return (f"hidden_channels={model_cfg.hidden_channels}, feature_dim={model_cfg.feature_dim}, "
            f"layout={model_cfg.layout}, strategy={model_cfg.strategy}")


def _shape(t) -> str:
    if not isinstance(t, torch.Tensor):
        return f"not a tensor ({type(t).__name__})"
    return "x".join(str(s) for s in t.shape) or "scalar"


def state_mismatch(expected: dict, found: dict) -> str:
    """One-line description of how `found` differs from `expected` ('' if they agree)."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    wrong = [k for k in expected if k in found and getattr(found[k], "shape", None) != expected[k].shape]
    problems = []
    if wrong:
        k = wrong[0]
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        problems.append(f"{k} is {_shape(found[k])} in the checkpoint but {_shape(expected[k])} "
                        f"for this configuration{more}")
    if missing:
        problems.append(f"{len(missing)} tensors missing (first: {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors (first: {unexpected[0]})")
    return "; ".join(problems)

