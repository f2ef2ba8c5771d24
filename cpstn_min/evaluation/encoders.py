"""The encoder an evaluation runs: a checkpoint's pretrained query encoder, or a random one.

Encoders map (N,C,T,V,M) clips to (N,feature_dim) features. Loading goes through
pretrained.load_pretrained_encoder (one-line CheckpointError on any mismatch);
check_dataset_fits raises a one-line EvalError when the data has other joints or channels;
for_data_stream puts the bone / motion stream in front of the encoder (streams.StreamEncoder).
"""
import torch

from ..config import Config, EvalConfig
from ..encoder import build_encoder
from ..errors import EvalError
from ..pretrained import load_pretrained_config, load_pretrained_encoder
from ..streams import to_compute, with_stream


def encoder_to_evaluate(ecfg: EvalConfig):
    """-> (encoder, Config of the pretraining run, description for the report)."""
    if ecfg.checkpoint is None and not ecfg.random_init:
        raise EvalError("give --checkpoint RUN/checkpoint.pt (or --random-init for a random encoder)")
    if ecfg.random_init:
        cfg = load_pretrained_config(ecfg.checkpoint) if ecfg.checkpoint else Config()
        return random_encoder(cfg.model, ecfg.seed), cfg, f"random init (seed {ecfg.seed})"
    encoder, cfg = load_pretrained_encoder(ecfg.checkpoint)
    return encoder, cfg, ecfg.checkpoint


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


def for_data_stream(encoder, cfg: Config, data_cfg, dataset, log=print):
    """The encoder fed data_cfg.stream (computed from joints, or read from a precomputed stream
    file); a stream other than the one the checkpoint learnt is evaluated, with a warning."""
    if data_cfg.stream != cfg.data.stream:
        log(f"warning: the encoder learnt the {cfg.data.stream} stream and is evaluated on the "
            f"{data_cfg.stream} stream")
    return with_stream(encoder, to_compute(data_cfg.stream, dataset.stream), cfg.model.layout)
