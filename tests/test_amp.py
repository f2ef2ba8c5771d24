"""--amp end to end on the CPU with the extension: a tiny run in bfloat16 (the run header says
so), SIGKILL mid-epoch then --resume reproducing the uninterrupted amp run exactly, the
precision chosen per device, and the one-line errors of --amp-dtype (exit code 2).
(Two processes with --amp: test_distributed.py.)"""
import subprocess
import sys

import pytest
import torch

from cpstn_min import ops
from cpstn_min.checkpoint import load
from cpstn_min.config import Config
from cpstn_min.encoder import STGCNEncoder
from cpstn_min.errors import UsageError
from cpstn_min.training import precision
from test_train import KILLER, LOSS_KEYS, ROOT, one_line_error, read_log, run_cli, workdir  # noqa: F401

needs_ext = pytest.mark.skipif(ops.backend("cpu") == "reference", reason="needs the C++ extension")
pytestmark = [pytest.mark.usefixtures("one_thread"), needs_ext]


@pytest.fixture(scope="module")
def amp_run(workdir):
    out = workdir / "amp_full"
    r = run_cli(workdir, out, "--amp")
    assert r.returncode == 0, r.stderr
    return out, r.stdout


def test_amp_run_says_bfloat16_and_keeps_float32_weights(amp_run):
    out, stdout = amp_run
    assert "precision: bfloat16 autocast on cpu" in stdout and "no loss scaling" in stdout
    steps = [r for r in read_log(out / "log.jsonl") if r.get("type") != "epoch"]
    assert steps and all(torch.isfinite(torch.tensor([r[k] for k in LOSS_KEYS])).all() for r in steps)
    ckpt = load(str(out / "checkpoint.pt"))
    assert ckpt["config"]["train"]["amp"] is True and ckpt["config"]["train"]["amp_dtype"] == "auto"
    assert all(v.dtype in (torch.float32, torch.int64) for v in ckpt["model"].values())
    assert ckpt["scaler"] == {}   # bfloat16 needs no loss scaling


def test_amp_sigkill_mid_epoch_then_resume_reproduces_losses(workdir, amp_run):
    full, _ = amp_run
    out = workdir / "amp_killed"
    r = run_cli(workdir, out, "--amp", script=KILLER.format(root=ROOT), env={"KILL_AT_STEP": "11"})
    assert r.returncode == -9, r.stderr
    r = run_cli(workdir, out, "--resume")   # --amp comes back from the saved config
    assert r.returncode == 0, r.stderr
    assert "precision: bfloat16 autocast on cpu" in r.stdout
    expected, resumed = read_log(full / "log.jsonl"), read_log(out / "log.jsonl")
    assert len(resumed) == len(expected)
    for a, b in zip(expected, resumed):
        assert {k: a[k] for k in a if k not in ("samples_per_s", "seconds")} == \
               {k: b[k] for k in b if k not in ("samples_per_s", "seconds")}
    final_a, final_b = load(str(full / "checkpoint.pt")), load(str(out / "checkpoint.pt"))
    for k, v in final_a["model"].items():
        assert torch.equal(v, final_b["model"][k]), k


def test_float32_run_header(workdir, tmp_path):
    r = run_cli(workdir, tmp_path / "run", "--epochs", "1")
    assert r.returncode == 0, r.stderr
    assert "precision: float32" in r.stdout


def test_precision_per_device():
    cpu = torch.device("cpu")
    assert precision.resolve(False, "auto", cpu).dtype is None
    for name in ("auto", "bfloat16"):
        p = precision.resolve(True, name, cpu)
        assert p.dtype == torch.bfloat16 and not p.scales_loss and not p.grad_scaler().is_enabled()
    with pytest.raises(UsageError, match=r"--amp-dtype \(train.amp_dtype\) float16 is for CUDA"):
        precision.resolve(True, "float16", cpu)
    with pytest.raises(UsageError, match="must be one of auto, bfloat16, float16"):
        precision.resolve(True, "fp8", cpu)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_precision_on_cuda():
    gpu = torch.device("cuda")
    auto = precision.resolve(True, "auto", gpu)
    assert auto.dtype == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    half = precision.resolve(True, "float16", gpu)
    assert half.scales_loss and half.grad_scaler().is_enabled()


def test_encoder_under_the_amp_context_runs_in_bfloat16():
    """Every block's output is bfloat16 (the graph_conv kernel included), the weights' gradients float32."""
    torch.manual_seed(0)
    enc = STGCNEncoder(hidden_channels=4, feature_dim=8)
    seen = []
    hooks = [b.gcn.register_forward_hook(lambda m, i, o: seen.append(o.dtype)) for b in enc.blocks]
    with precision.resolve(True, "auto", torch.device("cpu")).context():
        y = enc(torch.randn(2, 3, 8, 25, 2))
    for h in hooks:
        h.remove()
    assert seen == [torch.bfloat16] * len(enc.blocks) and y.dtype == torch.bfloat16
    y.float().sum().backward()
    assert all(p.grad.dtype == torch.float32 for p in enc.parameters() if p.grad is not None)


def test_error_bad_amp_dtype(capsys, workdir, tmp_path):
    one_line_error(capsys, ["--config", str(workdir / "tiny.json"), "--out-dir", str(tmp_path), "--amp",
                            "--amp-dtype", "half"], "--amp-dtype (train.amp_dtype)", "auto, bfloat16, float16")


def test_error_float16_on_the_cpu(capsys, workdir, tmp_path):
    one_line_error(capsys, ["--config", str(workdir / "tiny.json"), "--out-dir", str(tmp_path), "--amp",
                            "--amp-dtype", "float16"], "float16 is for CUDA devices")


def test_old_configs_without_amp_dtype_load():
    d = Config().to_dict()
    del d["train"]["amp_dtype"]
    assert Config.from_dict(d).train.amp_dtype == "auto"


FAULTS_ON_REUSE = """
import resource, sys, torch; sys.path.insert(0, {root!r})
from cpstn_min.training import allocator
if sys.argv[1] == "train":
    allocator.keep_for_training(); allocator.keep_for_training()   # once per process
torch.empty(16 * 2 ** 20).fill_(1)                                 # 64 MB, touched, freed
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(6):                                                 # the same size again, 6 times
    torch.empty(16 * 2 ** 20).fill_(1)
print(allocator.memory_kept(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_cpu_training_keeps_freed_memory_for_reuse():
    """training/allocator.py: after keep_for_training (train_step on a CPU), freed 64 MB blocks
    are reused; with glibc's default each comes back on fresh pages (16384 faults of 4 KB
    each time). Each case in a fresh process: the setting is per process."""
    faults = {}
    for mode in ("default", "train"):
        r = subprocess.run([sys.executable, "-c", FAULTS_ON_REUSE.format(root=ROOT), mode],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        kept, faults[mode] = r.stdout.split()
        assert kept == str(mode == "train")
    assert int(faults["default"]) >= 6 * 16000 and int(faults["train"]) <= 2 * 16384 + 1000, faults
