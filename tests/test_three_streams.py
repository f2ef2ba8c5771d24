"""experiments/three_streams.py: one pretraining per stream, the ensemble row, the README table."""
import json

import pytest

from cpstn_min.config import Config
from cpstn_min.errors import UsageError
from experiments import three_streams


def test_only_pretrained_rows_can_be_streamed():
    assert three_streams.PRETRAINED == ["skeletonclr", "pretext", "cpstn"]


def test_each_stream_gets_its_own_run_folder_and_setting():
    own, rest = three_streams.build_parser().parse_known_args(["--set", "model.pretext_hidden=8", "--epochs", "3"])
    args = three_streams.ablation.build_parser().parse_args(rest)
    for stream in ("joint", "bone", "motion"):
        a = three_streams.stream_args(args, stream)
        cfg = three_streams.ablation.pretrain_config(a, "xsub", 1, "cpstn", "/tmp/unused")
        assert isinstance(cfg, Config) and cfg.data.stream == stream and cfg.model.pretext_hidden == 8
        assert a.out_dir.endswith(stream) and cfg.train.epochs == 3
    assert args.set == ["model.pretext_hidden=8"]          # the shared arguments are left as they were


@pytest.mark.parametrize("flags,message", [(["--variant", "random"], "--variant must be one of"),
                                           (["--weights", "1", "x", "1"], "--weights must be numbers"),
                                           (["--weights", "1", "1"], "--weights: one weight >= 0 per stream")])
def test_bad_flags_stop_before_training(tmp_path, flags, message):
    tiny = ["--epochs", "1", "--synthetic-train", "32", "--synthetic-val", "26", "--readme", "",
            "--results", str(tmp_path / "t.md")]   # a check that lets one through fails fast, touching nothing
    with pytest.raises(UsageError, match=message):
        three_streams.main([*flags, *tiny, "--out-dir", str(tmp_path)])
    assert not any(tmp_path.iterdir())


@pytest.mark.usefixtures("one_thread")
def test_tiny_three_stream_run_end_to_end(tmp_path):
    three_streams.main(["--splits", "xsub", "--seeds", "1", "--epochs", "1", "--batch-size", "8",
                        "--synthetic-train", "32", "--synthetic-val", "26", "--hidden-channels", "4",
                        "--feature-dim", "8", "--frames", "8", "--queue-size", "16", "--probe-epochs", "2",
                        "--weights", "0.6", "0.6", "0.4",
                        "--set", "model.proj_dim=8", "model.pretext_hidden=8", f"data.cache_dir={tmp_path / 'c'}",
                        "--out-dir", str(tmp_path / "runs"), "--results", str(tmp_path / "t.md"), "--readme", ""])
    table = (tmp_path / "t.md").read_text()
    for label in ("| joint stream alone |", "| bone stream alone |", "| motion stream alone |",
                  "| ensemble (0.6 joint + 0.6 bone + 0.4 motion) |"):
        assert label in table
    assert "--out-dir" not in table and "Made by `python experiments/three_streams.py --splits xsub" in table
    for stream in ("joint", "bone", "motion"):
        saved = json.loads((tmp_path / "runs" / stream / "xsub" / "seed1" / "cpstn" / "config.json").read_text())
        assert saved["data"]["stream"] == stream
    fused = json.loads((tmp_path / "runs" / "ensemble" / "xsub" / "seed1" / "eval_ensemble_knn.json").read_text())
    assert [m["stream"] for m in fused["ensemble"]] == ["joint", "bone", "motion"]
    assert [m["weight"] for m in fused["ensemble"]] == [0.6, 0.6, 0.4]
    rows = json.loads((tmp_path / "t.json").read_text())["rows"]
    assert [r["input"] for r in rows] == ["joint", "bone", "motion", "ensemble"]
