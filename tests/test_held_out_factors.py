"""experiments/held_out_factors.py: test clips grouped by whether their performers (or camera) were
in training, and end-to-end checks on tiny synthetic pretrainings of both splits."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from cpstn_min.config import DataConfig
from cpstn_min.data import build_dataset
from cpstn_min.data.synthetic.splits import performer_pool
from cpstn_min.errors import UsageError
from experiments import held_out_factors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a_clip_is_seen_or_unseen_only_when_all_its_performers_are():
    performers = np.array([[3, -1], [4, -1], [3, 5], [3, 4], [4, 6]])
    groups = held_out_factors.performer_groups(performers, seen_ids=np.array([3, 5]))
    assert groups["seen"].tolist() == [True, False, True, False, False]
    assert groups["unseen"].tolist() == [False, True, False, False, True]


def test_a_camera_is_unseen_only_in_the_sector_xview_holds_out():
    groups = held_out_factors.camera_groups(np.array([0.0, 14.9, 15.0, -22.0, 29.9, -30.0, 45.0]))
    assert groups["unseen"].tolist() == [False, False, True, True, True, False, False]
    assert (groups["seen"] == ~groups["unseen"]).all()


def test_top1_is_counted_within_each_group():
    scores = torch.eye(4)[[0, 1, 2, 0]]                    # predicts 0, 1, 2, 0
    labels = torch.tensor([0, 1, 3, 3])
    groups = {"seen": np.array([True, True, False, False]), "unseen": np.array([False, False, True, True]),
              "none": np.zeros(4, bool)}
    top1 = held_out_factors.top1_by_group(scores, labels, groups)
    assert top1["seen"] == 100.0 and top1["unseen"] == 0.0 and np.isnan(top1["none"])


def validation_clips(tmp_path, split):
    """The split's validation clips as pretrain() generates them (same sizes, same cache)."""
    return build_dataset(DataConfig(split=split, synthetic_train=32, synthetic_val=78,
                                    cache_dir=str(tmp_path / "cache")), False)


def pretrain(tmp_path, name, *flags, split="xsub"):
    config = {"data": {"synthetic_train": 32, "synthetic_val": 78, "cache_dir": str(tmp_path / "cache"),
                       "split": split},
              "augment": {"T_out": 8},
              "model": {"hidden_channels": 4, "feature_dim": 8, "proj_dim": 8, "pretext_hidden": 8},
              "train": {"epochs": 1, "batch_size": 8, "log_every": 1}}
    (tmp_path / f"{name}.json").write_text(json.dumps(config))
    out = tmp_path / name
    r = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), "--config", str(tmp_path / f"{name}.json"),
                        "--out-dir", str(out), *flags], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    return str(out)


def test_two_xsub_pretrainings_are_scored_by_performer_and_paired(tmp_path, capsys):
    runs = [pretrain(tmp_path, "clr", "--no-pretext"), pretrain(tmp_path, "cpstn")]
    out = tmp_path / "seen.json"
    assert held_out_factors.main([*runs, "--out", str(out), "--no-progress"]) == 0
    results = json.loads(out.read_text())["results"]
    assert [r["variant"] for r in results] == ["skeletonclr", "cpstn"]
    test = validation_clips(tmp_path, "xview")
    in_training = np.isin(test.performers, performer_pool("xsub", True))
    no_body = test.performers < 0                                  # no second performer
    assert results[0]["clips"] == {"seen": int((in_training | no_body).all(1).sum()),
                                   "unseen": int((~in_training).all(1).sum())}
    assert min(results[0]["clips"].values()) > 10                  # both sides hold clips
    for r in results:
        for column in ("knn", "probe"):
            assert all(0 <= r[column][g] <= 100 for g in ("seen", "unseen"))
    printed = capsys.readouterr().out
    assert "xsub runs, CP-STN - SkeletonCLR, paired by seed (1), by performer:" in printed


def test_an_xview_pretraining_is_scored_by_camera_on_the_xsub_clips(tmp_path):
    r = held_out_factors.evaluate_run(pretrain(tmp_path, "xview", "--no-pretext", split="xview"), progress=False)
    assert (r["split"], r["factor"], r["variant"]) == ("xview", "camera", "skeletonclr")
    yaw = np.abs(validation_clips(tmp_path, "xsub").camera_yaw)
    assert r["clips"] == {"seen": int(((yaw < 15) | (yaw >= 30)).sum()), "unseen": int(((yaw >= 15) & (yaw < 30)).sum())}
    assert min(r["clips"].values()) > 10


def test_a_folder_without_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(UsageError, match="no checkpoint.pt"):
        held_out_factors.evaluate_run(str(tmp_path), progress=False)
