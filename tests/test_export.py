"""python -m cpstn_min.export: features as .npy, and the encoder as TorchScript / ONNX that loads in a
process where cpstn_min cannot be imported and gives the model's features within float tolerance."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from cpstn_min import checkpoint, export
from cpstn_min.config import Config
from cpstn_min.data import build_dataset
from cpstn_min.errors import run_cli
from cpstn_min.evaluation.encoders import random_encoder
from cpstn_min.evaluation.features import extract_features
from cpstn_min.streams import with_stream

pytestmark = pytest.mark.usefixtures("one_thread")
HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime", "onnxscript"))

# runs in a fresh interpreter: cpstn_min is made unimportable, so the file must stand alone
LOAD_TORCHSCRIPT = """
import sys; sys.modules["cpstn_min"] = None
import numpy as np, torch
m = torch.jit.load(sys.argv[1])
np.save(sys.argv[3], m(torch.from_numpy(np.load(sys.argv[2]))).detach().numpy())
"""
LOAD_ONNX = """
import sys; sys.modules["cpstn_min"] = None
import numpy as np, onnx, onnxruntime as ort
assert {o.domain for o in onnx.load(sys.argv[1]).opset_import} <= {"", "ai.onnx"}   # standard ops only
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
np.save(sys.argv[3], s.run(["features"], {"clips": np.load(sys.argv[2])})[0])
"""


def write_run(folder, stream="joint", in_channels=3, layout="ntu-rgb+d", cache=None):
    cfg = Config.from_dict({"data": {"synthetic_train": 32, "synthetic_val": 26, "cache_dir": cache,
                                     "stream": stream},
                            "augment": {"T_out": 8},
                            "model": {"hidden_channels": 4, "feature_dim": 8, "in_channels": in_channels,
                                      "layout": layout}})
    encoder = random_encoder(cfg.model, 3)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "checkpoint.pt")
    checkpoint.save({"config": cfg.to_dict(), "model": {f"encoder_q.{k}": v for k, v in encoder.state_dict().items()}},
                    path)
    return path


def features_in_fresh_process(loader, path, x, tmp_path):
    np.save(tmp_path / "x.npy", x.numpy())
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CPSTN_BACKEND")}
    subprocess.run([sys.executable, "-c", loader, path, str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                   check=True, cwd=tmp_path, env=env, timeout=300)
    return torch.from_numpy(np.load(tmp_path / "y.npy"))


def model_features(ckpt, x):
    """The run's encoder as evaluation runs it (the default backend: the kernels when built)."""
    model, _ = export.exportable_encoder(ckpt)
    with torch.no_grad():
        return model(x)


CASES = [("joint", 3, "ntu-rgb+d", 25), ("motion", 3, "ntu-rgb+d", 25), ("bone", 2, "coco17", 17)]


@pytest.mark.parametrize("stream,C,layout,V", CASES)
def test_torchscript_gives_the_models_features_without_the_package(tmp_path, stream, C, layout, V):
    ckpt = write_run(tmp_path / "run", stream, C, layout)
    before = os.environ.get("CPSTN_BACKEND")
    out = export.main(["--checkpoint", ckpt, "--format", "torchscript"], log=lambda *a: None)
    assert os.environ.get("CPSTN_BACKEND") == before           # the reference ops only while tracing
    assert out == str(tmp_path / "run" / "encoder.ts.pt")
    spec = json.load(open(out + ".json"))
    assert spec["shape"] == ["N", C, 8, V, 2] and spec["stream"] == stream and spec["layout"] == layout
    x = torch.randn(3, C, 12, V, 1, generator=torch.Generator().manual_seed(1))   # not the example's N, T, M
    got = features_in_fresh_process(LOAD_TORCHSCRIPT, out, x, tmp_path)
    torch.testing.assert_close(got, model_features(ckpt, x), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not HAS_ONNX, reason="onnx, onnxruntime and onnxscript are the optional [export] extra")
@pytest.mark.parametrize("stream,C,layout,V", CASES[1:])
def test_onnx_gives_the_models_features_in_onnxruntime(tmp_path, stream, C, layout, V):
    ckpt = write_run(tmp_path / "run", stream, C, layout)
    out = export.main(["--checkpoint", ckpt, "--format", "onnx"], log=lambda *a: None)
    for shape in ((3, C, 12, V, 1), (1, C, 8, V, 2)):
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(2))
        got = features_in_fresh_process(LOAD_ONNX, out, x, tmp_path)
        torch.testing.assert_close(got, model_features(ckpt, x), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(HAS_ONNX, reason="checks the message shown when the optional extra is missing")
def test_onnx_without_the_extra_is_one_clear_error(tmp_path, capsys):
    ckpt = write_run(tmp_path / "run")
    rc = run_cli(lambda: export.main(["--checkpoint", ckpt, "--format", "onnx"]))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "pip install -e .[export]" in err[0]
    assert not os.path.exists(tmp_path / "run" / "encoder.onnx")


def test_features_export_writes_what_the_encoder_computes(tmp_path):
    ckpt = write_run(tmp_path / "run", "bone", cache=str(tmp_path / "cache"))
    export.main(["--checkpoint", ckpt, "--quiet"], log=lambda *a: None)
    folder = tmp_path / "run" / "features_synthetic_xsub"
    meta = json.load(open(folder / "features.json"))
    assert meta["stream"] == "bone" and meta["class_names"][0] == "wave right hand"
    model, cfg = export.exportable_encoder(ckpt)
    for part, train in (("train", True), ("val", False)):
        ds = build_dataset(cfg.data, train)
        feats, labels = extract_features(with_stream(model.encoder, "bone", "ntu-rgb+d"), ds, 8, progress=False)
        got = np.load(folder / f"{part}_features.npy")
        assert got.dtype == np.float32 and got.shape == (len(ds), 8)
        np.testing.assert_allclose(got, feats.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(np.load(folder / f"{part}_labels.npy"), ds.labels)


@pytest.mark.parametrize("flags,message", [
    (["--format", "tflite"], "--format must be one of features, torchscript, onnx, got 'tflite'"),
    (["--format", "torchscript", "--dataset", "ntu60"],
     "--dataset go with --format features; torchscript / onnx export the encoder with the run's own stream"),
    (["--stream", "bones"], "--stream must be one of joint, bone, motion, got 'bones'"),
    (["--batch-size", "0"], "--batch-size must be a positive integer, got '0'"),
])
def test_bad_export_flags_exit_2_with_one_line(tmp_path, capsys, flags, message):
    ckpt = write_run(tmp_path / "run", cache=str(tmp_path / "cache"))
    rc = run_cli(lambda: export.main(["--checkpoint", ckpt, "--quiet", *flags], log=lambda *a: None))
    assert rc == 2 and capsys.readouterr().err.strip().splitlines() == [f"error: {message}"]
