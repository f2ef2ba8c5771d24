"""Use the pretrained encoder elsewhere: its features as .npy, or the encoder as TorchScript / ONNX.

    python -m cpstn_min.export --checkpoint RUN/checkpoint.pt --format features [--dataset D --split S]
    python -m cpstn_min.export --checkpoint RUN/checkpoint.pt --format torchscript   # RUN/encoder.ts.pt
    python -m cpstn_min.export --checkpoint RUN/checkpoint.pt --format onnx          # RUN/encoder.onnx

features     pooled features of both splits, as evaluation computes them (every clip resized to the
             pretraining T_out frames, the run's stream): OUT/{train,val}_features.npy (N,D) float32,
             OUT/{train,val}_labels.npy (N,) int64, OUT/features.json (what they are, class names);
             OUT defaults to RUN/features_<dataset>_<split>. --dataset / --data-root / --split /
             --stream as in eval.py (default: the checkpoint's).
torchscript  the encoder alone, traced: (N,C,T,V,M) float32 joint clips -> (N,D) features, the
onnx         run's stream (bone / motion) computed inside. N, T and M may differ from the example
             the file was made with. Written through the plain-PyTorch composition of every op
             (CPSTN_BACKEND=reference while tracing), so the file holds standard ops only and
             loads with torch.jit.load / onnxruntime where this package is not installed. ONNX
             needs the optional extra: pip install -e .[export] (onnx, onnxruntime, onnxscript).
             A sidecar OUT.json states the input the file expects.

Inputs of the exported encoder: clips resampled to T_out frames of their valid part (the
linear interpolation of augment.resize, as eval.py feeds them), every frame valid, in the
layout and channels the run was trained on, as in the sidecar. Bad flags exit 2 with one line.
"""
import argparse
import json
import os
import sys
import warnings
from unittest import mock

import numpy as np
import torch

from .atomic import atomic_write
from .config import EvalConfig
from .errors import UsageError, run_cli
from .pretrained import load_pretrained_encoder
from .streams import check_stream, with_stream

FORMATS = ("features", "torchscript", "onnx")
EXTENSIONS = {"torchscript": ".ts.pt", "onnx": ".onnx"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cpstn_min.export", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="RUN/checkpoint.pt written by train.py")
    p.add_argument("--format", default="features", help="features | torchscript | onnx (default: features)")
    p.add_argument("--out", help="features: output folder; torchscript / onnx: output file "
                                 "(default: next to the checkpoint)")
    p.add_argument("--dataset", help="features: synthetic | ntu60 | ntu120 | custom (default: the checkpoint's)")
    p.add_argument("--data-root", help="features: data folder (default: the checkpoint's)")
    p.add_argument("--data-format", help="features: auto | prepared | stgcn | ctrgcn | pyskl")
    p.add_argument("--split", help="features: xsub | xview | xset (default: the checkpoint's)")
    p.add_argument("--stream", help="features: joint | bone | motion (default: the checkpoint's)")
    p.add_argument("--batch-size", default="256", help="features: extraction batch size (default 256)")
    p.add_argument("--device", default="cpu", help="features: cpu | cuda (default cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def _positive_int(text: str, flag: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"{flag} must be a positive integer, got {text!r}")
    return value


def plain_pytorch_ops():
    """Inside the block every cpstn op runs its plain-PyTorch composition (reference.py): ops.py
    reads CPSTN_BACKEND at each call, and the environment is restored afterwards."""
    return mock.patch.dict(os.environ, {"CPSTN_BACKEND": "reference"})


def exportable_encoder(checkpoint: str):
    """-> (eval-mode module: joint clips (N,C,T,V,M) -> (N,D), the run's Config)."""
    encoder, cfg = load_pretrained_encoder(checkpoint)
    return with_stream(encoder, cfg.data.stream, cfg.model.layout).eval(), cfg


def input_spec(cfg, feature_dim: int, bodies: int = 2) -> dict:
    """What an exported encoder expects and returns (the sidecar JSON)."""
    from .graph import LAYOUTS
    mc = cfg.model
    return {"input": "clips", "output": "features", "shape": ["N", mc.in_channels, cfg.augment.T_out,
                                                              LAYOUTS[mc.layout][0], bodies],
            "dtype": "float32", "layout": mc.layout, "channels": ["x", "y", "z"][:mc.in_channels],
            "frames": cfg.augment.T_out, "stream": cfg.data.stream, "feature_dim": feature_dim,
            "note": "joint clips resampled to `frames` frames of their valid part (linear interpolation), "
                    "absent bodies zero; the stream is computed inside"}


def example_input(cfg, batch: int = 2, bodies: int = 2) -> torch.Tensor:
    from .graph import LAYOUTS
    g = torch.Generator().manual_seed(0)
    return torch.randn(batch, cfg.model.in_channels, cfg.augment.T_out, LAYOUTS[cfg.model.layout][0], bodies,
                       generator=g)


def export_torchscript(model, example: torch.Tensor, path: str) -> None:
    with plain_pytorch_ops(), torch.no_grad(), warnings.catch_warnings():
        # the only data-dependent-looking branch is reference.graph_conv_composed's contraction
        # order, which depends on the layer's channel counts alone: constant for the trace
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)   # torch 2.13 deprecates jit; files still load
        traced = torch.jit.trace(model, example, check_trace=False)
        with atomic_write(path) as f:
            torch.jit.save(traced, f)


def export_onnx(model, example: torch.Tensor, path: str) -> None:
    try:
        import onnx  # noqa: F401  (the exporter needs it)
        import onnxscript  # noqa: F401  (torch.onnx's exporter)
    except ImportError as e:
        raise UsageError(f"--format onnx needs the optional extra: pip install -e .[export] ({e})") from None
    batch, frames, bodies = (torch.export.Dim(n, min=1) for n in ("batch", "frames", "bodies"))
    tmp = path + ".partial.onnx"
    with plain_pytorch_ops(), torch.no_grad():
        torch.onnx.export(model, (example,), tmp, input_names=["clips"], output_names=["features"],
                          dynamic_shapes={"x": {0: batch, 2: frames, 4: bodies}}, external_data=False,
                          verbose=False)
    os.replace(tmp, path)


def export_features(args, checkpoint: str, out: str, log=print) -> dict:
    """Both splits' pooled features and labels as .npy in `out`; returns the features.json record."""
    from .evaluation.features import extract_features
    from .evaluation.run import encoder_and_data
    ecfg = EvalConfig(checkpoint=checkpoint, dataset=args.dataset, data_root=args.data_root,
                      data_format=args.data_format, split=args.split, stream=args.stream,
                      device=args.device, progress=not args.quiet)
    encoder, cfg, _, data_cfg, train_set, test_set = encoder_and_data(ecfg, log)
    batch = _positive_int(args.batch_size, "--batch-size")
    out = out or os.path.join(os.path.dirname(os.path.abspath(checkpoint)),
                              f"features_{data_cfg.dataset}_{data_cfg.split}")
    os.makedirs(out, exist_ok=True)
    record = {"checkpoint": checkpoint, "dataset": data_cfg.dataset, "split": data_cfg.split,
              "stream": data_cfg.stream, "T_out": cfg.augment.T_out, "feature_dim": encoder.feature_dim,
              "class_names": list(train_set.class_names or range(train_set.num_classes)), "files": {}}
    for part, ds in (("train", train_set), ("val", test_set)):
        feats, labels = extract_features(encoder, ds, cfg.augment.T_out, batch, args.device, data_cfg.num_workers,
                                         f"{part} features", not args.quiet)
        for what, array in (("features", feats.numpy().astype(np.float32)), ("labels", labels.numpy())):
            path = os.path.join(out, f"{part}_{what}.npy")
            with atomic_write(path) as f:
                np.save(f, array)
            record["files"][f"{part}_{what}"] = {"path": path, "shape": list(array.shape), "dtype": str(array.dtype)}
        log(f"{part}: {tuple(feats.shape)} features and {tuple(labels.shape)} labels")
    with atomic_write(os.path.join(out, "features.json"), "w") as f:
        json.dump(record, f, indent=2)
    log(f"wrote {out}/{{train,val}}_{{features,labels}}.npy and features.json")
    return record


def main(argv=None, log=print) -> str:
    """Runs the export; returns what was written (a folder for features, else the file)."""
    args = build_parser().parse_args(argv)
    if args.format not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {args.format!r}")
    if args.stream is not None:
        check_stream(args.stream)
    if args.format == "features":
        return export_features(args, args.checkpoint, args.out, log)["files"]["train_features"]["path"]
    data_flags = [f for f, v in (("--dataset", args.dataset), ("--data-root", args.data_root),
                                 ("--split", args.split), ("--stream", args.stream)) if v is not None]
    if data_flags:
        raise UsageError(f"{', '.join(data_flags)} go with --format features; torchscript / onnx export the "
                         f"encoder with the run's own stream")
    model, cfg = exportable_encoder(args.checkpoint)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)),
                                   "encoder" + EXTENSIONS[args.format])
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    (export_torchscript if args.format == "torchscript" else export_onnx)(model, example_input(cfg), out)
    with atomic_write(out + ".json", "w") as f:
        json.dump(input_spec(cfg, model.feature_dim), f, indent=2)
    log(f"wrote {out} ({args.format}: {cfg.data.stream} stream, input (N,{cfg.model.in_channels},"
        f"{cfg.augment.T_out},V,M) -> (N,{model.feature_dim})) and {out}.json")
    return out


if __name__ == "__main__":
    sys.exit(run_cli(main))
