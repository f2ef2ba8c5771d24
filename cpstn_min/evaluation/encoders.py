"""Encoders to evaluate: the pretrained query encoder of a checkpoint, or a random one.

Every way a checkpoint can fail to fit (missing file, no config, weights of a
different model configuration, a dataset with other joints) raises one
`CheckpointError` / `EvalError` whose message is a single line.
Encoders map (N,3,T,V,M) clips to (N,feature_dim) features.
"""
import torch

from ..checkpoint import CheckpointError, build_encoder, load
from ..config import Config
from . import EvalError

ENCODER_PREFIX = "encoder_q."   # CPSTN keeps its query encoder under this prefix


def _model_summary(model_cfg) -> str:
    return (f"hidden_channels={model_cfg.hidden_channels}, feature_dim={model_cfg.feature_dim}, "
            f"layout={model_cfg.layout}, strategy={model_cfg.strategy}")


def _shape(t) -> str:
    return "x".join(str(s) for s in t.shape) or "scalar"


def _mismatch(expected: dict, found: dict) -> str:
    """One-line description of how `found` differs from `expected` ('' if they agree)."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    wrong = [k for k in expected if k in found and expected[k].shape != found[k].shape]
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


def config_of_checkpoint(ckpt: dict, path: str) -> Config:
    if not isinstance(ckpt, dict) or "config" not in ckpt or "model" not in ckpt:
        raise CheckpointError(f"{path} is not a cpstn checkpoint (needs 'config' and 'model' entries)")
    try:
        return Config.from_dict(ckpt["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its config does not fit this version of cpstn: {e}") from e


def load_pretrained_encoder(path: str, model_cfg=None):
    """-> (encoder with the checkpoint's query-encoder weights, the checkpoint's Config).

    model_cfg: the model configuration the caller expects (default: the one saved in the
    checkpoint); weights that do not fit it raise CheckpointError naming the first mismatch.
    """
    ckpt = load(path)
    cfg = config_of_checkpoint(ckpt, path)
    model_cfg = model_cfg or cfg.model
    encoder = build_encoder(model_cfg)
    state = {k[len(ENCODER_PREFIX):]: v for k, v in ckpt["model"].items()
             if k.startswith(ENCODER_PREFIX)}
    if not state:
        raise CheckpointError(f"{path}: no encoder weights (no '{ENCODER_PREFIX}*' entries in 'model')")
    problem = _mismatch(encoder.state_dict(), state)
    if problem:
        raise CheckpointError(f"{path} was trained with a different model configuration than "
                              f"{_model_summary(model_cfg)}: {problem}")
    encoder.load_state_dict(state)
    return encoder, cfg


def random_encoder(model_cfg, seed: int):
    """A freshly initialised encoder; the same seed gives the same weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_encoder(model_cfg)


def check_dataset_fits(encoder, model_cfg, dataset) -> None:
    """The encoder's graph and input channels must match the dataset's clips (3,T,V,M)."""
    C, _, V, _ = dataset.clip_shape
    enc_v = encoder.A.shape[-1]
    if V != enc_v or C != model_cfg.in_channels:
        raise EvalError(f"dataset {dataset.name or '?'} has clips with {C} channels and {V} joints, "
                        f"but the encoder ({model_cfg.layout} layout) expects "
                        f"{model_cfg.in_channels} channels and {enc_v} joints")
