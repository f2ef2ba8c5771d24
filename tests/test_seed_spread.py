"""experiments/seed_spread.py: the spread of each method, of their paired difference, and the
swapped-initialisation runs it reads."""
import json
import statistics

import pytest

from cpstn_min.errors import UsageError, run_cli
from experiments import seed_spread


def runs_of(clr: list, shift: list) -> list:
    """SkeletonCLR at clr[i] on seed i+1 and CP-STN at clr[i] + shift[i], every column alike."""
    runs = []
    for seed, (a, d) in enumerate(zip(clr, shift), start=1):
        runs.append({"split": "xsub", "seed": seed, "variant": "skeletonclr", "knn": a, "recipe": a, "probe": a})
        runs.append({"split": "xsub", "seed": seed, "variant": "cpstn", "knn": a + d, "recipe": a + d, "probe": a + d})
    return runs


def test_a_spread_both_methods_share_leaves_the_paired_difference():
    clr, shift = [70.0, 64.0, 75.0, 68.0], [3.0, 3.5, 2.5, 3.0]
    rows = seed_spread.spread_rows(runs_of(clr, shift))
    assert [r[:3] for r in rows] == [("xsub", c, 4) for c in seed_spread.COLUMNS]
    _, _, _, sd_clr, sd_cpstn, sd_diff, corr, _ = rows[0]
    assert sd_clr == pytest.approx(statistics.stdev(clr))
    assert sd_cpstn == pytest.approx(statistics.stdev([a + d for a, d in zip(clr, shift)]))
    assert sd_diff == pytest.approx(statistics.stdev(shift)) and sd_diff < sd_clr / 5
    assert corr > 0.99


def test_fewer_than_three_paired_seeds_give_no_row():
    assert seed_spread.spread_rows(runs_of([70.0, 64.0], [1.0, 2.0])) == []


def write_run(folder, seed, settings_set, variant="skeletonclr"):
    run_dir = folder / "xsub" / f"seed{seed}" / variant
    run_dir.mkdir(parents=True)
    run = {"split": "xsub", "seed": seed, "variant": variant, "knn": 60.0, "recipe": 70.0, "probe": 75.0,
           "settings": {"set": settings_set}}
    (run_dir / "result.json").write_text(json.dumps(run))


def test_swapped_runs_name_their_weights_seed(tmp_path, capsys):
    write_run(tmp_path / "s1i3", 1, ["train.init_seed=3"])
    ablation_json = tmp_path / "ablation.json"
    ablation_json.write_text(json.dumps({"runs": runs_of([70.0, 64.0, 75.0], [3.0, 3.0, 3.0])}))
    (split, seed, init, variant, _), = seed_spread.swapped_runs([tmp_path / "s1i3"])
    assert (split, seed, init, variant) == ("xsub", 1, 3, "skeletonclr")
    assert seed_spread.main([str(ablation_json), "--swaps", str(tmp_path / "s1i3")]) == 0
    out = capsys.readouterr().out
    assert "| xsub | skeletonclr | 1 | 3 | 60.0 / 70.0 / 75.0 | 70.0 / 70.0 / 70.0 | 75.0 / 75.0 / 75.0 |" in out


def test_a_swap_folder_without_an_init_seed_is_refused(tmp_path, capsys):
    write_run(tmp_path / "plain", 1, [])
    with pytest.raises(UsageError, match="was not made with --set train.init_seed"):
        seed_spread.swapped_runs([tmp_path / "plain"])
    ablation_json = tmp_path / "ablation.json"
    ablation_json.write_text(json.dumps({"runs": runs_of([70.0, 64.0, 75.0], [3.0, 3.0, 3.0])}))
    assert run_cli(lambda: seed_spread.main([str(ablation_json), "--swaps", str(tmp_path / "plain")])) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "train.init_seed" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("content", [None, "not json", "{}"])
def test_an_unreadable_ablation_json_is_one_line_and_exit_2(tmp_path, capsys, content):
    path = tmp_path / "ablation.json"
    if content is not None:
        path.write_text(content)
    assert run_cli(lambda: seed_spread.main([str(path)])) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: not an ablation's results JSON") and len(err.splitlines()) == 1
