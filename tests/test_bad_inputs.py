"""Bad input to the three CLIs (train.py, eval.py, prepare): exit code 2 (1 for a diverging
loss), one line on stderr naming the problem, no traceback; and what a diverging or a second
run may not do to a run folder. Most cases call the CLIs' main functions in this process; a
few run them as subprocesses to show the same end to end."""
import json
import math
import os
import random
import subprocess
import sys

import pytest
import torch

import eval as eval_cli
import train
from cpstn_min import checkpoint, ops, training
from cpstn_min.atomic import TMP_TAG
from cpstn_min.data.ntu import prepare as prep
from cpstn_min.errors import TrainingDiverged
from cpstn_min.run_lock import LOCK_NAME, RunLock
from cpstn_min.training.args import config_from_args
from ntu_fixtures import sample_name, write_raw_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.usefixtures("one_thread")   # tiny tensors: see conftest.one_thread
QUIET = {"log": lambda *a, **k: None}


def tiny_config(cache_dir) -> dict:
    return {"data": {"synthetic_train": 26, "synthetic_val": 26, "cache_dir": str(cache_dir)},
            "augment": {"T_out": 8},
            "model": {"hidden_channels": 4, "feature_dim": 8, "proj_dim": 8, "pretext_hidden": 8},
            "train": {"epochs": 1, "batch_size": 4, "log_every": 1, "save_every": 0}}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad_inputs")
    (d / "tiny.json").write_text(json.dumps(tiny_config(d / "cache")))
    (d / "a_file").write_text("")
    write_raw_dataset(str(d / "raw"), [sample_name(1, 1, 1, 1, 1)], frames=12)
    return d


@pytest.fixture(scope="module")
def finished_run(workdir):
    """A one-epoch run (6 steps) whose folder the tests copy or read, never change."""
    assert train.cli(["--config", str(workdir / "tiny.json"), "--out-dir", str(workdir / "run")]) == 0
    return workdir / "run"


def one_line(capsys, rc, expected_rc=2, *fragments):
    # as a terminal shows it: a progress bar redraws (and at the end clears) its line with \r
    err = capsys.readouterr().err.rsplit("\r", 1)[-1].strip()
    assert rc == expected_rc, err
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    return err


def a_dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# ---- train.py: every numeric flag and config value checked where the config is resolved

@pytest.mark.parametrize("flag,value", [
    ("--epochs", "0"), ("--epochs", "-1"), ("--batch-size", "0"), ("--lr", "-0.1"), ("--lr", "nan"),
    ("--lr", "inf"), ("--log-every", "0"), ("--queue-size", "0"), ("--hidden-channels", "0"),
    ("--frames", "0"), ("--num-workers", "-1"), ("--moco-momentum", "5"), ("--save-every", "-1"),
    ("--lr-steps", "-3"), ("--temperature", "0"), ("--temperature", "nan"), ("--feature-dim", "0"),
    ("--weight-decay", "-1"), ("--lambda-pace", "nan"), ("--seed", "-1"), ("--pretext-block", "11"),
    ("--pretext-block", "-1"), ("--pretext-spatial", "shuffle"), ("--spatial-pool", "max"),
    ("--pretext-weight-end", "-1"), ("--pretext-weight-start", "nan"), ("--synthetic-style", "1.5"),
    ("--synthetic-style", "nan"), ("--init-seed", "-1")])
def test_train_rejects_a_bad_number_naming_its_flag(capsys, workdir, flag, value):
    rc = train.cli(["--config", str(workdir / "tiny.json"), "--out-dir", str(workdir / "never"), flag, value])
    one_line(capsys, rc, 2, flag, value)
    assert not os.path.exists(workdir / "never")   # rejected before anything is written


def test_a_bad_graph_conv_path_in_the_environment_is_a_usage_error(capsys, workdir, monkeypatch):
    if not ops.extension_loaded():
        pytest.skip("without the extension every op takes the fallback and the variable is not read")
    monkeypatch.setenv("CPSTN_GRAPH_CONV", "fused")
    rc = train.cli(["--config", str(workdir / "tiny.json"), "--out-dir", str(workdir / "never")])
    one_line(capsys, rc, 2, "CPSTN_GRAPH_CONV", "kernel, composed", "'fused'")
    assert not os.path.exists(workdir / "never")


def test_the_viewpoint_task_without_the_contrastive_views_is_refused(capsys, workdir):
    rc = train.cli(["--config", str(workdir / "tiny.json"), "--out-dir", str(workdir / "never"),
                    "--pretext-viewpoint", "--no-contrastive"])
    one_line(capsys, rc, 2, "--pretext-viewpoint", "--no-contrastive")
    assert not os.path.exists(workdir / "never")


@pytest.mark.parametrize("values,fragment", [
    ({"model": {"lambda_view": -1.0}}, "model.lambda_view"),
    ({"model": {"lambda_view": math.nan}}, "model.lambda_view"),
    ({"augment": {"pretext_viewpoint": True, "pretext_viewpoint_deg": [30.0, 30.0]}}, "augment.pretext_viewpoint_deg"),
    ({"augment": {"pretext_viewpoint": "yes"}}, "augment.pretext_viewpoint"),
    ({"model": {"pretext_weight_end": -0.5}}, "model.pretext_weight_end"),
    ({"model": {"pretext_weight_start": math.inf}}, "model.pretext_weight_start"),
    ({"model": {"shuffle_bn_groups": 0}}, "model.shuffle_bn_groups"),
    ({"model": {"shuffle_bn_groups": 2.0}}, "model.shuffle_bn_groups"),
    ({"model": {"shuffle_bn_groups": 7}}, "model.shuffle_bn_groups"),
    ({"model": {"pace_pool": "joints"}}, "(model.pace_pool) must be one of mean, frames")])
def test_train_rejects_a_bad_pretext_or_contrastive_setting_in_a_config_file(capsys, workdir, tmp_path, values, fragment):
    config = json.loads((workdir / "tiny.json").read_text())
    for section, fields in values.items():
        config[section].update(fields)
    (tmp_path / "bad.json").write_text(json.dumps(config))
    rc = train.cli(["--config", str(tmp_path / "bad.json"), "--out-dir", str(tmp_path / "never")])
    one_line(capsys, rc, 2, fragment)
    assert not os.path.exists(tmp_path / "never")


@pytest.mark.parametrize("section,field,value,fragment", [
    ("model", "init", "xavier", "must be one of uniform, orthogonal"),
    ("train", "init_seed", -1, "must be in [0, 2**32)"),
    ("train", "init_seed", "3", "must be an integer")])
def test_train_rejects_a_bad_initialisation_setting_in_a_config_file(capsys, workdir, tmp_path, section, field,
                                                                      value, fragment):
    config = json.loads((workdir / "tiny.json").read_text())
    config[section][field] = value
    (tmp_path / "bad.json").write_text(json.dumps(config))
    rc = train.cli(["--config", str(tmp_path / "bad.json"), "--out-dir", str(tmp_path / "never")])
    one_line(capsys, rc, 2, f"{section}.{field}", fragment)
    assert not os.path.exists(tmp_path / "never")


@pytest.mark.parametrize("section,field,value,fragment", [
    ("train", "epochs", "3", "must be an integer"),
    ("train", "lr", "fast", "must be a number"),
    ("train", "lr_steps", "5", "must be a list of integers"),
    ("model", "hidden_channels", 4.5, "must be an integer"),
    ("model", "contrastive", "no", "must be true or false"),
    ("data", "cache_dir", 3, "must be a string or none"),
    ("augment", "key_crop", [0.5], "must be a list of 2 numbers")])
def test_train_rejects_a_config_value_of_the_wrong_type(capsys, tmp_path, section, field, value, fragment):
    (tmp_path / "bad.json").write_text(json.dumps({section: {field: value}}))
    one_line(capsys, train.cli(["--config", str(tmp_path / "bad.json")]), 2, f"{section}.{field}", fragment)


def test_a_config_built_in_python_is_checked_too(workdir, tmp_path):
    from cpstn_min.config import Config
    from cpstn_min.errors import UsageError
    cfg = Config.from_dict(tiny_config(workdir / "cache"))
    cfg.train.out_dir, cfg.train.epochs = str(tmp_path / "run"), 0
    with pytest.raises(UsageError, match=r"train\.epochs\) must be >= 1"):
        training.prepare(cfg, **QUIET)


# ---- train.py: a diverging loss never reaches a checkpoint

def test_diverging_run_keeps_its_last_finite_checkpoint_and_it_resumes(capsys, workdir, tmp_path):
    run = tmp_path / "run"
    rc = train.cli(["--config", str(workdir / "tiny.json"), "--out-dir", str(run), "--lr", "1e6",
                    "--save-every", "1", "--log-every", "100"])
    err = one_line(capsys, rc, 1, "epoch 1, step", "last good checkpoint", str(run / "checkpoint.pt"))
    ckpt = checkpoint.load(str(run / "checkpoint.pt"))
    assert 0 < ckpt["step"] < 6 and f"(step {ckpt['step']})" in err
    tensors = [t for t in ckpt["model"].values() if t.is_floating_point()]
    tensors += [t for s in ckpt["optimizer"]["state"].values() for t in s.values()
                if torch.is_tensor(t) and t.is_floating_point()]
    assert tensors and all(torch.isfinite(t).all() for t in tensors)
    assert not os.path.exists(run / LOCK_NAME)     # released when the run stops
    resumed = training.prepare(config_from_args(["--out-dir", str(run), "--resume"], **QUIET), **QUIET)
    try:
        assert resumed.step == ckpt["step"]
    finally:
        resumed.close()


def test_a_non_finite_state_is_never_saved(workdir, tmp_path):
    from cpstn_min.config import Config
    cfg = Config.from_dict(tiny_config(workdir / "cache"))
    cfg.train.out_dir = str(tmp_path / "run")
    run = training.prepare(cfg, **QUIET)
    try:
        run.save_checkpoint()
        good = os.path.getmtime(run.ckpt_path), checkpoint.load(run.ckpt_path)["step"]
        with torch.no_grad():
            next(run.core.parameters())[0] = math.inf    # a finite loss can leave such weights
        with pytest.raises(TrainingDiverged, match=r"not saved; the last good checkpoint.*\(step 0\)"):
            run.save_checkpoint()
        assert (os.path.getmtime(run.ckpt_path), checkpoint.load(run.ckpt_path)["step"]) == good
    finally:
        run.close()


# ---- train.py: one run per folder

def test_a_second_run_on_a_busy_folder_is_refused(capsys, workdir, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    held = RunLock(str(run)).acquire()                # another run, alive, owns the folder
    try:
        rc = train.cli(["--config", str(workdir / "tiny.json"), "--out-dir", str(run)])
        one_line(capsys, rc, 2, "in use by another run", f"process {os.getpid()}", str(run))
    finally:
        held.release()
    assert not os.path.exists(run / LOCK_NAME)


def test_a_lock_left_by_a_dead_process_is_taken_over(capsys, workdir, finished_run, tmp_path):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / LOCK_NAME).write_text(f"{a_dead_pid()}\n")
    stale_tmp = run / f"checkpoint.pt{TMP_TAG}{a_dead_pid()}"   # a save that was killed
    stale_tmp.write_bytes(b"half a checkpoint")
    assert train.cli(["--out-dir", str(run), "--resume", "--epochs", "2"]) == 0
    assert not stale_tmp.exists() and not (run / LOCK_NAME).exists()
    assert checkpoint.load(str(run / "checkpoint.pt"))["epoch"] == 2


def test_the_epoch_line_is_logged_before_the_checkpoint_that_covers_it(workdir, tmp_path, monkeypatch):
    from cpstn_min.training import state
    run = tmp_path / "run"
    save = checkpoint.save

    def killed_at_epoch_end(obj, path):
        if obj["batch_in_epoch"] == 0 and obj["step"] > 0:
            raise KeyboardInterrupt                    # killed in the epoch-end save
        save(obj, path)
    monkeypatch.setattr(state.checkpoint, "save", killed_at_epoch_end)
    assert train.cli(["--config", str(workdir / "tiny.json"), "--out-dir", str(run), "--save-every", "3"]) == 130
    records = [json.loads(line) for line in open(run / "log.jsonl")]
    assert records[-1]["type"] == "epoch" and records[-1]["step"] == 6
    monkeypatch.setattr(state.checkpoint, "save", save)
    assert train.cli(["--out-dir", str(run), "--resume"]) == 0       # from step 3: the line is redone once
    records = [json.loads(line) for line in open(run / "log.jsonl")]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6, 6] and records[-1]["type"] == "epoch"


# ---- train.py and eval.py: checkpoints that are not what they should be

def bad_checkpoints(finished_run, d):
    """name -> (path, fragment of the message)"""
    good = checkpoint.load(str(finished_run / "checkpoint.pt"))
    (d / "random").mkdir()
    (d / "random" / "checkpoint.pt").write_bytes(random.Random(0).randbytes(4096))
    (d / "empty").mkdir()
    (d / "empty" / "checkpoint.pt").write_bytes(b"")
    (d / "truncated").mkdir()
    whole = (finished_run / "checkpoint.pt").read_bytes()
    (d / "truncated" / "checkpoint.pt").write_bytes(whole[:len(whole) // 2])   # a copy cut short
    cases = {"random": "not a PyTorch checkpoint", "empty": "the file is empty",
             "truncated": "not a PyTorch checkpoint"}
    for name, change, fragment in [
            ("model_list", {"model": [1, 2]}, "'model' entry is a list"),
            ("config_str", {"config": "hidden_channels=4"}, "'config' entry is a str"),
            ("no_model", {"model": None}, "'model' entry is a NoneType"),
            ("other_weights", {"model": {k: (v[:1] if v.dim() else v) for k, v in good["model"].items()}},
             "do not fit")]:
        (d / name).mkdir()
        checkpoint.save({**good, **change}, str(d / name / "checkpoint.pt"))
        cases[name] = fragment
    return {name: (d / name / "checkpoint.pt", fragment) for name, fragment in cases.items()}


@pytest.fixture(scope="module")
def broken(finished_run, tmp_path_factory):
    return bad_checkpoints(finished_run, tmp_path_factory.mktemp("broken"))


@pytest.mark.parametrize("name", ["random", "empty", "truncated", "model_list", "config_str", "no_model",
                                  "other_weights"])
def test_train_resume_from_a_broken_checkpoint(capsys, broken, name):
    path, fragment = broken[name]
    err = one_line(capsys, train.cli(["--out-dir", str(path.parent), "--resume"]), 2, fragment, str(path))
    assert "weights_only" not in err and len(err) < 400


@pytest.mark.parametrize("name", ["random", "empty", "truncated", "model_list", "config_str", "no_model"])
def test_eval_of_a_broken_checkpoint(capsys, broken, name):
    path, fragment = broken[name]
    rc = eval_cli.main(["--checkpoint", str(path), "--protocol", "knn", "--quiet", "--device", "cpu"])
    assert "weights_only" not in one_line(capsys, rc, 2, fragment, str(path))


# ---- eval.py: no made-up results

@pytest.mark.parametrize("flags,fragment", [
    (["--protocol", "linear", "--epochs", "0"], "--epochs"), (["--protocol", "finetune", "--epochs", "-1"], "--epochs"),
    (["--protocol", "linear", "--lr", "nan"], "--lr"), (["--protocol", "finetune", "--lr", "-1"], "--lr"),
    (["--batch-size", "0"], "--batch-size"), (["--protocol", "knn", "--k", "0"], "--k"),
    (["--protocol", "knn", "--temperature", "0"], "--temperature"),
    (["--protocol", "semi", "--label-fraction", "0"], "--label-fraction"),
    (["--protocol", "semi", "--subset-seed", "-1"], "--subset-seed"), (["--seed", "-2"], "--seed")])
def test_eval_rejects_a_bad_number_naming_its_flag(capsys, finished_run, flags, fragment):
    rc = eval_cli.main(["--checkpoint", str(finished_run / "checkpoint.pt"), "--quiet", "--device", "cpu",
                        "--out-dir", str(finished_run / "never"), *flags])
    one_line(capsys, rc, 2, fragment)
    assert not os.path.exists(finished_run / "never")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_eval_on_cuda_without_cuda_fails_even_with_cached_features(capsys, finished_run, tmp_path):
    common = ["--checkpoint", str(finished_run / "checkpoint.pt"), "--protocol", "knn", "--k", "3", "--quiet",
              "--out-dir", str(tmp_path)]
    assert eval_cli.main([*common, "--device", "cpu"]) == 0
    assert os.listdir(tmp_path / "feature_cache")
    capsys.readouterr()
    one_line(capsys, eval_cli.main([*common, "--device", "cuda"]), 2, "CUDA is not available")


def test_eval_out_dir_under_a_file(capsys, workdir, finished_run):
    rc = eval_cli.main(["--checkpoint", str(finished_run / "checkpoint.pt"), "--protocol", "knn", "--quiet",
                        "--device", "cpu", "--out-dir", str(workdir / "a_file" / "out")])
    one_line(capsys, rc, 2, "--out-dir", str(workdir / "a_file" / "out"))


# ---- prepare

def test_prepare_out_under_a_file(capsys, workdir):
    rc = prep.main(["--dataset", "ntu60", "--raw-dir", str(workdir / "raw"), "--out",
                    str(workdir / "a_file" / "ntu"), "--workers", "1"])
    one_line(capsys, rc, 2, "--out", str(workdir / "a_file" / "ntu"))


def test_prepare_rejects_negative_workers(capsys, workdir, tmp_path):
    rc = prep.main(["--dataset", "ntu60", "--raw-dir", str(workdir / "raw"), "--out", str(tmp_path / "ntu"),
                    "--workers", "-1"])
    one_line(capsys, rc, 2, "--workers", "-1")


# ---- data: messages that name the problem, in one piece

def test_a_negative_label_gets_no_ntu120_hint(tmp_path):
    from cpstn_min.config import DataConfig
    from cpstn_min.data import build_dataset
    from cpstn_min.errors import DataError
    from ntu_fixtures import random_clips, write_stgcn
    train_x, _ = random_clips(3, T=12, seed=1)
    write_stgcn(str(tmp_path / "d"), (train_x, [0, -1, 5]), (train_x, [0, 1, 2]))
    cfg = DataConfig(dataset="ntu60", data_root=str(tmp_path / "d"), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"found -1\.\.5$"):
        build_dataset(cfg, True)


def test_a_string_label_in_a_pyskl_file_is_a_data_error(capsys, tmp_path):
    import pickle
    from ntu_fixtures import random_clips, write_pyskl
    x, lengths = random_clips(2, T=12, seed=1)
    write_pyskl(str(tmp_path / "a.pkl"), (x, [0, 1]), (x, [1, 0]), (lengths, lengths))
    obj = pickle.load(open(tmp_path / "a.pkl", "rb"))
    obj["annotations"][1]["label"] = "walk"
    pickle.dump(obj, open(tmp_path / "a.pkl", "wb"))
    rc = train.cli(["--dataset", "ntu60", "--data-root", str(tmp_path / "a.pkl"), "--out-dir", str(tmp_path / "run"),
                    "--cache-dir", str(tmp_path / "cache")])
    one_line(capsys, rc, 2, "train0001", "label must be an integer, got 'walk' (str)")


def test_check_data_names_a_clip_with_nan_before_training(capsys, tmp_path):
    from ntu_fixtures import random_clips, write_stgcn
    x, _ = random_clips(6, T=12, seed=1)
    x[4, 1, 3, 7, 0] = math.nan
    write_stgcn(str(tmp_path / "d"), (x, [0, 1, 2, 3, 4, 5]), (x[:2], [0, 1]))
    rc = train.cli(["--dataset", "ntu60", "--data-root", str(tmp_path / "d"), "--cache-dir", str(tmp_path / "cache"),
                    "--out-dir", str(tmp_path / "run"), "--batch-size", "2", "--check-data"])
    one_line(capsys, rc, 2, "train_data_joint.npy: clip 4 contains NaN or inf")
    assert not os.path.exists(tmp_path / "run" / "checkpoint.pt")


def test_binary_garbage_is_quoted_escaped_and_cut(tmp_path):
    from cpstn_min.data.ntu.skeleton_text import parse_skeleton_bytes
    from cpstn_min.errors import DataError
    raw = b"1\n0\n\x89PNG\r\x1a\x00\xff" + b"\xfe" * 200 + b"\n"
    with pytest.raises(DataError) as e:
        parse_skeleton_bytes(raw, "bad.skeleton")
    message = str(e.value)
    assert "\\x89PNG" in message and message.isprintable() and len(message) < 200, message


def test_a_data_error_in_a_dataloader_worker_prints_without_its_traceback(capsys):
    from torch.utils.data import DataLoader, Dataset
    from cpstn_min.errors import DataError, run_cli

    class Broken(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            raise DataError("clips.npy: clip 1 contains NaN or inf")
    rc = run_cli(lambda: list(DataLoader(Broken(), num_workers=1)))
    assert capsys.readouterr().err == "error: clips.npy: clip 1 contains NaN or inf\n" and rc == 2


# ---- the same end to end: separate processes, their whole stderr

def cli(*argv):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


@pytest.mark.parametrize("case", ["train_batch_size", "train_random_checkpoint", "eval_k", "prepare_out"])
def test_cli_processes_print_one_line_and_exit_2(workdir, finished_run, broken, case):
    random_run = broken["random"][0].parent
    argv = {"train_batch_size": ["train.py", "--config", str(workdir / "tiny.json"), "--batch-size", "0"],
            "train_random_checkpoint": ["train.py", "--out-dir", str(random_run), "--resume"],
            "eval_k": ["eval.py", "--checkpoint", str(finished_run / "checkpoint.pt"), "--protocol", "knn",
                       "--k", "0"],
            "prepare_out": ["-m", "cpstn_min.data.ntu.prepare", "--dataset", "ntu60", "--raw-dir", str(workdir / "raw"),
                            "--out", str(workdir / "a_file" / "ntu")]}[case]
    names = {"train_batch_size": "--batch-size", "train_random_checkpoint": "not a PyTorch checkpoint",
             "eval_k": "--k", "prepare_out": "--out"}
    p = cli(*argv)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in p.stderr, p.stderr
    assert names[case] in lines[0] and "weights_only" not in lines[0], lines[0]
