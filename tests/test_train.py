"""train.py end to end on a tiny synthetic run: files written, exact resume after SIGKILL,
config resolution, and the one-line errors (exit code 2) users meet."""
import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch

import train
from cpstn_min.checkpoint import load
from cpstn_min.config import Config
from cpstn_min.pretrained import load_pretrained_encoder
from cpstn_min.training.args import SYNTHETIC_DEMO, config_from_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS_PER_EPOCH, EPOCHS = 8, 2          # 32 clips / batch 4
LOSS_KEYS = ("loss", "nce", "spatial", "pace", "acc_nce", "acc_spatial", "acc_pace")

# kills itself (SIGKILL, no cleanup) when the optimizer is about to take step KILL_AT_STEP
KILLER = """
import os, signal, sys, torch
sys.path.insert(0, {root!r})
kill_at, calls, step = int(os.environ["KILL_AT_STEP"]), [0], torch.optim.SGD.step
def killing_step(self, *a, **k):
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return step(self, *a, **k)
torch.optim.SGD.step = killing_step
import train
sys.exit(train.cli(sys.argv[1:]))
"""


def tiny_config(cache_dir: str) -> dict:
    return {"data": {"synthetic_train": 32, "synthetic_val": 26, "cache_dir": cache_dir},
            "augment": {"T_out": 8, "pretext_spatial": "freeze"},      # both pretext heads
            "model": {"hidden_channels": 4, "feature_dim": 8, "proj_dim": 8, "pretext_hidden": 8},
            "train": {"epochs": EPOCHS, "batch_size": 4, "log_every": 1, "save_every": 3}}


# tiny tensors: see conftest.one_thread
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    with open(d / "tiny.json", "w") as f:
        json.dump(tiny_config(str(d / "cache")), f)
    return d


def run_cli(workdir, out_dir, *flags, script=None, env=None):
    """train.py in a fresh process, one thread (tiny tensors; and equal settings on every run)."""
    cmd = [sys.executable, os.path.join(ROOT, "train.py")] if script is None else \
        [sys.executable, "-c", script]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(cmd + ["--config", str(workdir / "tiny.json"), "--out-dir", str(out_dir),
                                 *flags], capture_output=True, text=True, env=env, timeout=300)


def read_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def finished_run(workdir):
    out = workdir / "full"
    r = run_cli(workdir, out)
    assert r.returncode == 0, r.stderr
    return out


def test_cli_run_writes_checkpoint_log_and_config(finished_run):
    cfg = Config.from_dict(json.load(open(finished_run / "config.json")))
    assert cfg.model.hidden_channels == 4 and cfg.train.epochs == EPOCHS
    assert cfg.model.queue_size == 32  # the default 32768 capped to the dataset size

    records = read_log(finished_run / "log.jsonl")
    steps = [r for r in records if r.get("type") != "epoch"]
    epochs = [r for r in records if r.get("type") == "epoch"]
    assert [r["step"] for r in steps] == list(range(1, EPOCHS * STEPS_PER_EPOCH + 1))
    assert [r["epoch"] for r in epochs] == list(range(EPOCHS))
    assert all(torch.isfinite(torch.tensor([r[k] for k in LOSS_KEYS])).all() for r in steps)
    assert all(r["samples_per_s"] > 0 for r in steps)

    ckpt = load(str(finished_run / "checkpoint.pt"))
    assert (ckpt["epoch"], ckpt["batch_in_epoch"], ckpt["step"]) == (EPOCHS, 0, EPOCHS * STEPS_PER_EPOCH)
    assert int(ckpt["model"]["moco.queue_ptr"]) == (EPOCHS * STEPS_PER_EPOCH * 4) % 32
    encoder, saved_cfg = load_pretrained_encoder(str(finished_run / "checkpoint.pt"))
    assert saved_cfg == cfg
    assert encoder(torch.zeros(2, 3, 8, 25, 2)).shape == (2, 8)


def test_sigkill_mid_epoch_then_resume_reproduces_losses(workdir, finished_run):
    out = workdir / "killed"
    # checkpoints at steps 3, 6, 8 (epoch end) and 9; killed inside step 11
    r = run_cli(workdir, out, script=KILLER.format(root=ROOT), env={"KILL_AT_STEP": "11"})
    assert r.returncode == -9, r.stderr
    ckpt = load(str(out / "checkpoint.pt"))
    assert (ckpt["epoch"], ckpt["batch_in_epoch"], ckpt["step"]) == (1, 1, 9)
    assert len(read_log(out / "log.jsonl")) > 9  # records past the checkpoint, dropped on resume

    r = run_cli(workdir, out, "--resume")
    assert r.returncode == 0, r.stderr
    expected, resumed = read_log(finished_run / "log.jsonl"), read_log(out / "log.jsonl")
    assert len(resumed) == len(expected)
    for a, b in zip(expected, resumed):
        assert {k: a[k] for k in a if k not in ("samples_per_s", "seconds")} == \
               {k: b[k] for k in b if k not in ("samples_per_s", "seconds")}
    final_a, final_b = load(str(finished_run / "checkpoint.pt")), load(str(out / "checkpoint.pt"))
    for k, v in final_a["model"].items():
        assert torch.equal(v, final_b["model"][k]), k


def test_pretext_weight_schedule_is_logged_and_survives_a_kill(workdir):
    """With --pretext-weight-end 0 every step logs the factor of its place on the half cosine
    (1 at the first step, falling), and a run killed mid-epoch resumes on the same curve."""
    schedule = ("--pretext-weight-start", "1", "--pretext-weight-end", "0")
    full, killed = workdir / "decay_full", workdir / "decay_killed"
    assert run_cli(workdir, full, *schedule).returncode == 0
    steps = [r for r in read_log(full / "log.jsonl") if r.get("type") != "epoch"]
    total = EPOCHS * STEPS_PER_EPOCH
    expected = [0.5 * (1 + math.cos(math.pi * (r["step"] - 1) / total)) for r in steps]
    assert [r["pretext_weight"] for r in steps] == pytest.approx(expected)
    assert steps[0]["pretext_weight"] == 1.0 and steps[-1]["pretext_weight"] < 0.05

    r = run_cli(workdir, killed, *schedule, script=KILLER.format(root=ROOT), env={"KILL_AT_STEP": "11"})
    assert r.returncode == -9, r.stderr
    assert run_cli(workdir, killed, "--resume").returncode == 0
    strip = lambda rec: {k: v for k, v in rec.items() if k not in ("samples_per_s", "seconds")}
    assert [strip(x) for x in read_log(killed / "log.jsonl")] == [strip(x) for x in read_log(full / "log.jsonl")]


def test_fixed_pretext_weights_log_no_factor(finished_run):
    assert not any("pretext_weight" in r for r in read_log(finished_run / "log.jsonl"))


@pytest.mark.parametrize("branch", ["contrastive", "pretext"])
def test_ablations_train_through_the_same_loop(workdir, tmp_path, branch):
    """--no-contrastive / --no-pretext: the same train.main, one branch's views and losses."""
    cfg = Config.from_dict(tiny_config(str(workdir / "cache")))
    setattr(cfg.model, branch, False)
    cfg.train.epochs, cfg.train.out_dir = 1, str(tmp_path)
    ckpt = load(train.main(cfg, log=lambda *a: None))
    assert ckpt["step"] == STEPS_PER_EPOCH
    assert any(k.startswith("moco.") for k in ckpt["model"]) == (branch == "pretext")
    assert any(k.startswith("pretext.") for k in ckpt["model"]) == (branch == "contrastive")
    step = read_log(tmp_path / "log.jsonl")[0]
    assert ("nce" in step) == (branch == "pretext") and ("spatial" in step) == (branch == "contrastive")


def test_amp_on_cpu_trains_in_bfloat16(workdir, tmp_path, reference_backend):
    cfg = Config.from_dict(tiny_config(str(workdir / "cache")))
    cfg.train.epochs, cfg.train.amp, cfg.train.out_dir = 1, True, str(tmp_path)
    train.main(cfg, log=lambda *a: None)
    steps = [r for r in read_log(tmp_path / "log.jsonl") if r.get("type") != "epoch"]
    assert len(steps) == STEPS_PER_EPOCH
    assert all(torch.isfinite(torch.tensor([r[k] for k in LOSS_KEYS])).all() for r in steps)


# ---- config resolution -------------------------------------------------------------------

def test_no_arguments_scale_the_recipe_for_the_synthetic_demo():
    cfg = config_from_args([], log=lambda *a: None)
    assert cfg.data.dataset == "synthetic"
    assert cfg.train.epochs == SYNTHETIC_DEMO["train.epochs"] < 300
    assert cfg.train.lr_steps == (round(250 / 300 * cfg.train.epochs),)
    assert (cfg.train.lr, cfg.model.momentum) == (SYNTHETIC_DEMO["train.lr"], SYNTHETIC_DEMO["model.momentum"])
    flagged = config_from_args(["--epochs", "30", "--batch-size", "16"], log=lambda *a: None)
    assert (flagged.train.epochs, flagged.train.lr_steps, flagged.train.batch_size) == (30, (25,), 16)
    assert config_from_args(["--lr", "0.05"], log=lambda *a: None).train.lr == 0.05


def test_real_data_keeps_the_recipe():
    cfg = config_from_args(["--dataset", "ntu60", "--data-root", "/data"], log=lambda *a: None)
    assert (cfg.train.epochs, cfg.train.lr_steps, cfg.train.batch_size, cfg.train.lr) == \
        (300, (250,), 128, 0.1)
    assert (cfg.augment.T_out, cfg.model.queue_size, cfg.model.hidden_channels) == (50, 32768, 16)


def test_config_file_json_and_toml_flags_win(tmp_path):
    (tmp_path / "c.toml").write_text('[train]\nepochs = 7\nlr_steps = [5]\n[model]\npretext = false\n')
    (tmp_path / "c.json").write_text(json.dumps({"train": {"epochs": 7, "lr_steps": [5]},
                                                 "model": {"pretext": False}}))
    for name in ("c.toml", "c.json"):
        cfg = config_from_args(["--config", str(tmp_path / name), "--lr", "0.3"], log=lambda *a: None)
        assert (cfg.train.epochs, cfg.train.lr_steps, cfg.train.lr, cfg.model.pretext) == (7, (5,), 0.3, False)
        cfg = config_from_args(["--config", str(tmp_path / name), "--epochs", "9"], log=lambda *a: None)
        assert (cfg.train.epochs, cfg.train.lr_steps) == (9, (5,))


def test_resume_continues_with_the_saved_config(finished_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    cfg = config_from_args(["--out-dir", str(run), "--resume", "--epochs", "3"], log=lambda *a: None)
    assert cfg.model.hidden_channels == 4 and cfg.augment.T_out == 8  # from the checkpoint
    assert cfg.train.epochs == 3 and cfg.train.resume and cfg.train.out_dir == str(run)


# ---- errors: one line on stderr, exit code 2 ---------------------------------------------

def one_line_error(capsys, argv, *fragments, lines=1):
    assert train.cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err, err
    assert lines is None or len(err.splitlines()) == lines, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_error_ntu_without_data(capsys, tmp_path):
    """The data error goes on to list the layouts it reads, one per line."""
    missing = str(tmp_path / "missing")
    err = one_line_error(capsys, ["--dataset", "ntu60", "--data-root", missing, "--out-dir",
                                  str(tmp_path / "out")], missing, "python -m cpstn_min.data.ntu.prepare",
                         lines=None)
    assert missing in err.splitlines()[0]


def test_error_unwritable_out_dir(capsys, workdir, tmp_path):
    (tmp_path / "a_file").write_text("")
    one_line_error(capsys, ["--config", str(workdir / "tiny.json"), "--out-dir", str(tmp_path / "a_file" / "run")],
                   "cannot write to output directory")


def test_error_resume_without_checkpoint(capsys, tmp_path):
    one_line_error(capsys, ["--resume", "--out-dir", str(tmp_path)], "no checkpoint", str(tmp_path))


def test_error_resume_with_another_model_configuration(capsys, finished_run, workdir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    one_line_error(capsys, ["--out-dir", str(run), "--resume", "--hidden-channels", "8"],
                   "another model configuration", "hidden_channels: 4 in the checkpoint, 8 now")


def test_a_run_saved_before_later_model_fields_resumes(workdir, finished_run, tmp_path):
    """A checkpoint whose config predates model fields added since (here the schedule of the
    pretext weights and the viewpoint weight) resumes with their defaults, as it was made."""
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    state = load(str(run / "checkpoint.pt"))
    for field in ("pretext_weight_start", "pretext_weight_end", "lambda_view"):
        del state["config"]["model"][field]
    torch.save(state, run / "checkpoint.pt")
    r = run_cli(workdir, run, "--resume", "--epochs", str(EPOCHS + 1))
    assert r.returncode == 0, r.stderr
    assert load(str(run / "checkpoint.pt"))["step"] == STEPS_PER_EPOCH * (EPOCHS + 1)


def test_error_existing_run_without_resume(capsys, finished_run, workdir):
    one_line_error(capsys, ["--config", str(workdir / "tiny.json"), "--out-dir", str(finished_run)],
                   "already holds a checkpoint", "--resume")


def test_error_bad_config_file(capsys, tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"train": {"epochz": 3}}))
    one_line_error(capsys, ["--config", str(tmp_path / "bad.json")], "epochz")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_error_cuda_requested_without_cuda(capsys, workdir, tmp_path):
    one_line_error(capsys, ["--config", str(workdir / "tiny.json"), "--out-dir", str(tmp_path),
                            "--device", "cuda"], "CUDA is not available")
