"""experiments/ablation.py: pretraining configs of its rows, the README table, reuse of saved runs,
and a tiny end-to-end run through the typed training and evaluation APIs."""
import json
import os
import subprocess
import sys

import pytest

from cpstn_min.errors import UsageError
from experiments import ablation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ablation_table_goes_between_the_readme_markers(tmp_path):
    args = ablation.build_parser().parse_args(["--splits", "xsub", "--seeds", "1", "2"])
    runs = [{"split": "xsub", "seed": s, "variant": v, "recipe": acc + s, "probe": acc,
             "knn": acc - s, "num_classes": 20, "heads": {"pace": 0.5} if v == "cpstn" else {}}
            for s in (1, 2) for v, acc in (("random", 10.0), ("skeletonclr", 40.0),
                                           ("pretext", 30.0), ("cpstn", 50.0))]
    runs += [{"split": "xsub", "seed": s, "variant": "supervised", "knn": None, "recipe": None, "probe": 70.0,
              "num_classes": 20} for s in (1, 2)]
    labels = {v: label for v, (label, _) in ablation.VARIANTS.items()}
    headers = {c: h for c, (h, _) in ablation.COLUMNS.items()}
    table = ablation.markdown_table(runs, {"xsub": 33.0}, ["xsub"], list(ablation.VARIANTS), labels, headers)
    assert "| method | xsub kNN | xsub linear, recipe | xsub linear, standardized |" in table
    assert "| chance | 5.0 | 5.0 | 5.0 |" in table
    assert "| logistic regression on raw joints | – | – | 33.0 |" in table
    assert "| CP-STN (contrastive + pretext) | 48.5 ± 0.7 | 51.5 ± 0.7 | 50.0 ± 0.0 |" in table
    assert "| supervised ST-GCN from scratch (labels; end to end) | – | – | 70.0 ± 0.0 |" in table
    # CP-STN - SkeletonCLR is +10 on every seed and column: a zero-width interval
    assert "| **CP-STN − SkeletonCLR baseline**, paired by seed, [95% CI] | +10.0 [+10.0, +10.0] | " \
           "+10.0 [+10.0, +10.0] | +10.0 [+10.0, +10.0] |" in table
    assert "| CP-STN (contrastive + pretext) | 50.0 ± 0.0 |" in table.split("pretext head")[1]
    assert ablation.ratio_to_supervised(runs, "xsub") == pytest.approx(50 / 70)
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{ablation.START}\nold table\n{ablation.END}\n\n## next\n")
    for _ in range(2):                         # a rerun replaces the table, never appends
        assert ablation.write_readme(str(readme), table)
    text = readme.read_text()
    assert text.startswith("# title\n") and text.endswith(f"{ablation.END}\n\n## next\n")
    assert "old table" not in text and text.count("| chance |") == 1
    assert not ablation.write_readme(str(tmp_path / "missing.md"), table)


def test_ablation_settings_reach_the_pretraining_config():
    args = ablation.build_parser().parse_args(
        ["--lambda-spatial", "0.1", "--set", "augment.query_rotate_deg=15", "augment.pretext_paces=[0.5,1.0]",
         "model.strategy=uniform"])
    cfg = ablation.pretrain_config(args, "xview", 2, "cpstn", "/tmp/unused")
    assert cfg.model.lambda_spatial == 0.1 and cfg.model.lambda_pace == 1.0 and cfg.data.split == "xview"
    assert cfg.augment.query_rotate_deg == 15 and cfg.augment.pretext_paces == (0.5, 1.0)
    assert cfg.model.strategy == "uniform" and cfg.train.seed == 2
    for bad in ("augment.no_such_field=1", "nothing=1", "augment.query_rotate_deg"):
        with pytest.raises(UsageError, match="--set"):
            ablation.pretrain_config(ablation.build_parser().parse_args(["--set", bad]),
                                     "xsub", 1, "cpstn", "/tmp/unused")


def test_ablation_command_in_the_table_leaves_out_where_results_go():
    argv = ["--out-dir", "/somewhere", "--epochs", "3", "--results=/x.md", "--readme", "", "--splits", "xsub"]
    assert ablation.result_flags(argv) == ["--epochs", "3", "--splits", "xsub"]


def test_ablation_reuses_saved_runs_only_with_the_same_settings(tmp_path):
    args = ablation.build_parser().parse_args(["--out-dir", str(tmp_path), "--epochs", "4"])
    run_dir = tmp_path / "xsub" / "seed1" / "skeletonclr"
    run_dir.mkdir(parents=True)
    settings = {k: getattr(args, k) for k in ablation.RUN_SETTINGS if k != "set"}   # saved before --set existed
    saved = {"split": "xsub", "seed": 1, "variant": "skeletonclr", "recipe": 12.5, "probe": 20.0,
             "knn": 15.0, "settings": settings}
    (run_dir / "result.json").write_text(json.dumps(saved))
    assert ablation.run_one(args, "xsub", 1, "skeletonclr", {})["recipe"] == 12.5
    del saved["probe"]                         # made before that column existed: redone, not half-reused
    (run_dir / "result.json").write_text(json.dumps(saved))
    with pytest.raises(UsageError, match="no probe result"):
        ablation.run_one(args, "xsub", 1, "skeletonclr", {})
    (run_dir / "result.json").write_text(json.dumps({**saved, "probe": 20.0}))
    other = ablation.build_parser().parse_args(["--out-dir", str(tmp_path), "--epochs", "5"])
    with pytest.raises(UsageError, match="--epochs 4 there, 5 now"):
        ablation.run_one(other, "xsub", 1, "skeletonclr", {})


@pytest.mark.parametrize("variant", ["random", "supervised"])
def test_rows_that_do_not_pretrain_are_reused_when_only_the_pretraining_changes(tmp_path, variant):
    """A random-init or supervised row never runs the pretraining: other --epochs / --lr /
    --moco-momentum leave its numbers as they were, while the data or the encoder's shape do not."""
    made = ablation.build_parser().parse_args(["--out-dir", str(tmp_path), "--epochs", "4"])
    run_dir = tmp_path / "xsub" / "seed1" / variant
    run_dir.mkdir(parents=True)
    settings = {k: getattr(made, k) for k in ablation.RUN_SETTINGS}
    (run_dir / "result.json").write_text(json.dumps({"knn": 3.0, "recipe": 1.0, "probe": 2.0, "settings": settings}))
    longer = ablation.build_parser().parse_args(["--out-dir", str(tmp_path), "--epochs", "5", "--lr", "0.05",
                                                 "--moco-momentum", "0.9"])
    assert ablation.run_one(longer, "xsub", 1, variant, {})["probe"] == 2.0
    wider = ablation.build_parser().parse_args(["--out-dir", str(tmp_path), "--epochs", "4", "--hidden-channels", "16"])
    with pytest.raises(UsageError, match="--hidden-channels 8 there, 16 now"):
        ablation.run_one(wider, "xsub", 1, variant, {})
    skeletonclr_dir = tmp_path / "xsub" / "seed1" / "skeletonclr"
    skeletonclr_dir.mkdir()
    (skeletonclr_dir / "result.json").write_text((run_dir / "result.json").read_text())
    with pytest.raises(UsageError, match="--epochs 4 there, 5 now"):
        ablation.run_one(longer, "xsub", 1, "skeletonclr", {})


def test_saved_runs_from_before_the_lr_and_momentum_flags_count_as_the_recipe(tmp_path):
    """A result.json without lr / moco_momentum was made with the recipe's 0.1 / 0.999: not reused
    under today's defaults, reused when those are asked for."""
    run_dir = tmp_path / "xsub" / "seed1" / "skeletonclr"
    run_dir.mkdir(parents=True)
    args = ablation.build_parser().parse_args(["--out-dir", str(tmp_path)])
    old = {k: getattr(args, k) for k in ablation.RUN_SETTINGS if k not in ("lr", "moco_momentum")}
    (run_dir / "result.json").write_text(json.dumps({"recipe": 1.0, "probe": 2.0, "knn": 3.0, "settings": old}))
    with pytest.raises(UsageError, match="--lr 0.1 there, 0.02 now"):
        ablation.run_one(args, "xsub", 1, "skeletonclr", {})
    recipe = ablation.build_parser().parse_args(["--out-dir", str(tmp_path), "--lr", "0.1", "--moco-momentum", "0.999"])
    assert ablation.run_one(recipe, "xsub", 1, "skeletonclr", {})["knn"] == 3.0
    cfg = ablation.pretrain_config(recipe, "xsub", 1, "cpstn", "/tmp/unused")
    assert cfg.train.lr == 0.1 and cfg.model.momentum == 0.999


def test_variant_rows_switch_the_branches():
    args = ablation.build_parser().parse_args([])
    for variant, contrastive, pretext in (("skeletonclr", True, False), ("pretext", False, True),
                                          ("cpstn", True, True)):
        cfg = ablation.pretrain_config(args, "xsub", 1, variant, "/tmp/unused")
        assert (cfg.model.contrastive, cfg.model.pretext) == (contrastive, pretext)
        assert cfg.train.lr_steps == (10,) and cfg.augment.T_out == 32


def test_saved_runs_of_renamed_flags_are_still_checked(tmp_path):
    """result.json files written before --t-out became --frames keep their meaning."""
    args = ablation.build_parser().parse_args(["--out-dir", str(tmp_path)])
    run_dir = tmp_path / "xsub" / "seed1" / "cpstn"
    run_dir.mkdir(parents=True)
    old = {k: v for k, v in vars(args).items() if k in ablation.RUN_SETTINGS and k not in
           ("frames", "synthetic_train", "synthetic_val")}
    old.update(t_out=50, train_clips=600, val_clips=300)
    (run_dir / "result.json").write_text(json.dumps({"recipe": 1.0, "probe": 2.0, "knn": 3.0,
                                                     "settings": old}))
    with pytest.raises(UsageError, match="--frames 50 there, 32 now"):
        ablation.run_one(args, "xsub", 1, "cpstn", {})


@pytest.mark.usefixtures("one_thread")
def test_tiny_ablation_end_to_end_then_reused(tmp_path):
    argv = ["--splits", "xsub", "--seeds", "1", "--variants", "cpstn", "random", "supervised", "--epochs", "1",
            "--supervised-epochs", "1",
            "--batch-size", "8", "--synthetic-train", "32", "--synthetic-val", "26", "--hidden-channels", "4",
            "--feature-dim", "8", "--frames", "8", "--queue-size", "16", "--probe-epochs", "2",
            "--set", "model.proj_dim=8", "model.pretext_hidden=8", "augment.pretext_spatial=swap",
            f"data.cache_dir={tmp_path / 'cache'}",
            "--out-dir", str(tmp_path / "runs"), "--results", str(tmp_path / "ablation.md"), "--readme", ""]
    ablation.main(argv)
    table = (tmp_path / "ablation.md").read_text()
    assert "| CP-STN (contrastive + pretext) |" in table and "| random-init encoder |" in table
    assert "| supervised ST-GCN" in table and "| logistic regression on raw joints |" in table
    assert "Made by `python experiments/ablation.py --splits xsub" in table and "--out-dir" not in table
    result = json.loads((tmp_path / "runs" / "xsub" / "seed1" / "random" / "result.json").read_text())
    assert set(ablation.COLUMNS) <= set(result) and result["num_classes"] == 26
    cpstn = json.loads((tmp_path / "runs" / "xsub" / "seed1" / "cpstn" / "result.json").read_text())
    assert set(cpstn["heads"]) == {"spatial", "pace", "dir"} and 0 <= cpstn["heads"]["pace"] <= 1
    supervised = json.loads((tmp_path / "runs" / "xsub" / "seed1" / "supervised" / "result.json").read_text())
    assert supervised["probe"] is not None and supervised["knn"] is None
    for name in ("eval_linear.json", "eval_linear_recipe.json", "eval_knn.json"):
        assert os.path.isfile(tmp_path / "runs" / "xsub" / "seed1" / "cpstn" / name)
    stamp = os.path.getmtime(tmp_path / "runs" / "xsub" / "seed1" / "cpstn" / "checkpoint.pt")
    ablation.main(argv)                        # every run reused: nothing is trained again
    assert os.path.getmtime(tmp_path / "runs" / "xsub" / "seed1" / "cpstn" / "checkpoint.pt") == stamp


@pytest.mark.usefixtures("one_thread")
def test_runs_side_by_side_give_the_numbers_of_runs_one_after_another(tmp_path):
    """--jobs 2: the same results as --jobs 1; a random / supervised row asked for without its
    CP-STN run still gets it (trained first, left out of the table)."""
    tiny = ["--splits", "xsub", "--seeds", "1", "--epochs", "1", "--supervised-epochs", "1",
            "--batch-size", "8", "--synthetic-train", "32", "--synthetic-val", "26", "--hidden-channels", "4",
            "--feature-dim", "8", "--frames", "8", "--queue-size", "16", "--probe-epochs", "2",
            "--set", "model.proj_dim=8", "model.pretext_hidden=8", f"data.cache_dir={tmp_path / 'cache'}",
            "--readme", ""]
    for where, jobs, variants in (("apart", "1", ["cpstn", "random", "supervised"]),
                                  ("together", "2", ["random", "supervised"])):
        ablation.main(tiny + ["--variants", *variants, "--jobs", jobs, "--out-dir", str(tmp_path / where),
                              "--results", str(tmp_path / f"{where}.md")])
    assert "| CP-STN" not in (tmp_path / "together.md").read_text()
    assert "| random-init encoder |" in (tmp_path / "together.md").read_text()
    for variant in ("cpstn", "random", "supervised"):
        apart, together = (json.loads((tmp_path / where / "xsub" / "seed1" / variant / "result.json").read_text())
                           for where in ("apart", "together"))
        assert [apart[c] for c in ablation.COLUMNS] == [together[c] for c in ablation.COLUMNS], variant
    assert "epoch 1/1" in (tmp_path / "together" / "xsub" / "seed1" / "cpstn" / "pretrain.log").read_text()
    assert "--jobs" not in (tmp_path / "together.md").read_text()


def test_jobs_below_one_is_refused():
    with pytest.raises(UsageError, match="--jobs must be >= 1, got 0"):
        ablation.parse_args(["--jobs", "0"])


def test_runs_from_any_directory_and_reports_errors_on_one_line(tmp_path):
    script = os.path.join(ROOT, "experiments", "ablation.py")
    p = subprocess.run([sys.executable, script, "--set", "nothing=1", "--out-dir", str(tmp_path)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1].startswith("error: --set: "), p.stderr


def test_quick_preset_yields_to_given_flags():
    args = ablation.parse_args(["--quick", "--epochs", "3"])
    assert args.quick and args.epochs == 3 and args.synthetic_train == ablation.QUICK["synthetic_train"]
    assert args.readme == "" and args.seeds == ablation.QUICK["seeds"]
    assert ablation.parse_args([]).synthetic_train == 2600


BEFORE_OVER_TIME = ["model.pace_pool=mean", "augment.pretext_reverse=false"]


def test_table_notes_name_the_pretext_tasks_the_runs_used():
    default = ablation.notes(ablation.parse_args([]), "cmd", 1.0, {})
    assert ("pretext pace (weight 1 on the features over time) and freeze (weight 1 on one feature vector per "
            "joint) and playback direction (weight 1 on the features over time), heads after encoder block 7, "
            "pretext view rotated up to ±30° about each axis and sheared 0.5") in default

    def notes_before(*sets):   # the defaults before the heads read over time with the direction task
        return ablation.notes(ablation.parse_args(["--set", *BEFORE_OVER_TIME, *sets]), "cmd", 1.0, {})
    pace_only = notes_before("augment.pretext_spatial=none")
    assert "pretext pace (weight 1), heads after" in pace_only and "freeze" not in pace_only
    assert "viewpoint" not in default
    view = ablation.notes(ablation.parse_args(["--set", "augment.pretext_viewpoint=true", "model.lambda_view=0.5"]),
                          "cmd", 1.0, {})
    assert "and relative viewpoint (yaw -60/-30/0/30/60° from the query's, weight 0.5), heads after" in view
    still = ablation.notes(ablation.parse_args(["--set", "augment.pretext_rotate_deg=0", "augment.pretext_shear=0"]),
                           "cmd", 1.0, {})
    assert "pretext view unrotated and unsheared" in still
    masked = ablation.notes(ablation.parse_args(["--set", *BEFORE_OVER_TIME, "augment.pretext_spatial=mask",
                                                 "model.pretext_block=0", "--lambda-spatial", "0.5"]), "cmd", 1.0, {})
    assert "pace (weight 1) and mask (weight 0.5), heads after the last block" in masked
    assert "over training" not in default
    decay = notes_before("model.pretext_weight_end=0")
    assert "freeze (weight 1 on one feature vector per joint), every weight times a factor going from 1 to 0 " \
           "over training (half cosine), heads after" in decay
    halved = ablation.notes(ablation.parse_args(["--set", "model.pretext_weight_start=0.5",
                                                 "model.pretext_weight_end=0.5"]), "cmd", 1.0, {})
    assert "every weight times 0.5, heads after" in halved
    joint_mean = notes_before("model.spatial_pool=mean")
    assert "pace (weight 1) and freeze (weight 1), heads after encoder block 7" in joint_mean
    before = notes_before()
    assert "pretext pace (weight 1) and freeze (weight 1 on one feature vector per joint), heads after" in before
    assert "playback direction" not in before and "over time" not in before


@pytest.mark.parametrize("flag, value, field", [("--lr", "-1", "train.lr"), ("--moco-momentum", "2", "model.momentum"),
                                                ("--epochs", "0", "train.epochs")])
def test_bad_benchmark_flags_are_named_as_themselves(flag, value, field):
    args = ablation.parse_args([flag, value])
    with pytest.raises(UsageError, match=rf"^{flag} \({field}\)"):
        ablation.pretrain_config(args, "xsub", 1, "cpstn", "unused")


def _saved_run(tmp_path, args, variant, config):
    run_dir = tmp_path / "xsub" / "seed1" / variant
    run_dir.mkdir(parents=True)
    settings = {k: getattr(args, k) for k in ablation.RUN_SETTINGS}
    (run_dir / "result.json").write_text(json.dumps({"recipe": 1.0, "probe": 2.0, "knn": 3.0, "settings": settings}))
    (run_dir / "config.json").write_text(json.dumps(config))
    return run_dir


# an old default of a field: (section, value)
OLD_DEFAULTS = {"pretext_strides": ("augment", [1, 2]), "query_shear": ("augment", 0.25),
                "spatial_pool": ("model", "mean"), "pretext_spatial": ("augment", "none"),
                "pretext_weight_end": ("model", 0.0)}


@pytest.mark.parametrize("variant, field, trained", [("cpstn", "pretext_strides", True),
                                                     ("cpstn", "query_shear", True),
                                                     ("cpstn", "spatial_pool", True),
                                                     ("skeletonclr", "pretext_strides", False),
                                                     ("skeletonclr", "spatial_pool", False),
                                                     ("skeletonclr", "pretext_spatial", False),
                                                     ("cpstn", "pretext_weight_end", True),
                                                     ("skeletonclr", "pretext_weight_end", False),
                                                     ("skeletonclr", "query_shear", True),
                                                     ("pretext", "query_shear", False)])
def test_saved_run_made_under_another_config_default_is_trained_again(tmp_path, monkeypatch, variant, field, trained):
    """Only fields the row reads count: a SkeletonCLR run never draws a pretext view nor builds its heads."""
    args = ablation.build_parser().parse_args(["--out-dir", str(tmp_path)])
    config = ablation.pretrain_config(args, "xsub", 1, variant, "/tmp/unused").to_dict()
    section, value = OLD_DEFAULTS[field]
    config[section][field] = value
    run_dir = _saved_run(tmp_path, args, variant, config)
    calls = []
    monkeypatch.setattr(ablation.training, "main", lambda cfg, log: calls.append(cfg) or str(run_dir / "c.pt"))
    monkeypatch.setattr(ablation, "evaluate_run", lambda *a: {"knn": 9.0, "recipe": 9.0, "probe": 9.0})
    result = ablation.run_one(args, "xsub", 1, variant, {})
    assert bool(calls) == trained and result["knn"] == (9.0 if trained else 3.0)
    if trained:   # from scratch: the old checkpoint is not resumed
        assert calls[0].train.overwrite and not calls[0].train.resume


@pytest.mark.parametrize("variant, saved_set, trained", [("cpstn", ["model.pace_pool=frames"], False),
                                                         ("cpstn", ["model.pace_pool=mean"], True),
                                                         ("skeletonclr", ["model.pace_pool=mean"], False)])
def test_a_pretrained_row_made_with_set_is_judged_by_the_config_it_resolved_to(tmp_path, monkeypatch, variant,
                                                                              saved_set, trained):
    """A run made with --set X=Y is the run that a default X=Y makes: when a default changes to what
    a screen set, the screen's runs are reused; a --set the run reads that differs trains again."""
    made = ablation.build_parser().parse_args(["--out-dir", str(tmp_path), "--set", *saved_set])
    config = ablation.pretrain_config(made, "xsub", 1, variant, "/tmp/unused").to_dict()
    run_dir = _saved_run(tmp_path, made, variant, config)
    calls = []
    monkeypatch.setattr(ablation.training, "main", lambda cfg, log: calls.append(cfg) or str(run_dir / "c.pt"))
    monkeypatch.setattr(ablation, "evaluate_run", lambda *a: {"knn": 9.0, "recipe": 9.0, "probe": 9.0})
    now = ablation.build_parser().parse_args(["--out-dir", str(tmp_path)])
    result = ablation.run_one(now, "xsub", 1, variant, {})
    assert bool(calls) == trained and result["knn"] == (9.0 if trained else 3.0)


def test_a_row_that_does_not_pretrain_still_compares_set(tmp_path):
    made = ablation.build_parser().parse_args(["--set", "model.pace_pool=mean"])
    run_dir = _saved_run(tmp_path, made, "random", {})
    now = ablation.build_parser().parse_args([])
    with pytest.raises(UsageError, match="other settings"):
        ablation.saved_result(str(run_dir / "result.json"), {k: getattr(now, k) for k in ablation.RUN_SETTINGS},
                              pretrained=False)
    assert ablation.saved_result(str(run_dir / "result.json"), {k: getattr(now, k) for k in ablation.RUN_SETTINGS},
                                 pretrained=True)["knn"] == 3.0


def test_configs_saved_before_a_field_existed_count_as_its_old_value():
    from experiments.run_config import config_changes
    args = ablation.build_parser().parse_args([])
    now = ablation.pretrain_config(args, "xsub", 1, "cpstn", "/tmp/unused").to_dict()
    old = json.loads(json.dumps(now))
    del old["augment"]["pretext_rotate_deg"]
    now["augment"]["pretext_rotate_deg"] = 0.0
    assert config_changes(old, now) == []
    now["augment"]["pretext_rotate_deg"] = 30.0
    assert config_changes(old, now) == ["augment.pretext_rotate_deg 0.0 there, 30.0 now"]
    now["train"]["out_dir"] = "elsewhere"                      # where a run goes is not what it learns
    assert len(config_changes(old, now)) == 1
