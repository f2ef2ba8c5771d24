"""experiments/demo_summary.py: the pretrained encoder beside a random-init one, on one last line."""
import os
import re

import pytest

from cpstn_min import training
from cpstn_min.config import Config
from experiments import demo_summary


@pytest.mark.usefixtures("one_thread")
def test_summary_prints_both_encoders_and_writes_their_results(tmp_path, capsys):
    cfg = Config.from_dict({
        "data": {"synthetic_train": 32, "synthetic_val": 26, "cache_dir": str(tmp_path / "cache")},
        "augment": {"T_out": 8},
        "model": {"hidden_channels": 4, "feature_dim": 8, "proj_dim": 8, "pretext_hidden": 8, "queue_size": 16},
        "train": {"epochs": 1, "batch_size": 8, "out_dir": str(tmp_path / "run")}})
    checkpoint = training.main(cfg, log=lambda *a, **k: None)
    capsys.readouterr()
    demo_summary.main(["--checkpoint", checkpoint])
    out = capsys.readouterr().out.strip().splitlines()
    assert re.match(r"^demo linear top1=\d+\.\d\d \(random init \d+\.\d\d\) knn top1=\d+\.\d\d "
                    r"\(random init \d+\.\d\d\)$", out[-1]), out[-1]
    assert any(line.startswith("chance") and "3.85" in line for line in out)
    for folder in (tmp_path / "run", tmp_path / "run" / "random_init"):
        assert os.path.isfile(folder / "eval_linear.json") and os.path.isfile(folder / "eval_knn.json")
