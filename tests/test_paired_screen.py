"""experiments/paired_screen.py: a screen's runs paired with saved runs of the same seeds."""
import json

import pytest

from cpstn_min.errors import UsageError
from experiments import paired_screen

SETTINGS = {"epochs": 12, "hidden_channels": 8, "set": []}


def run(split, seed, variant, score, settings=SETTINGS, heads=None):
    return {"split": split, "seed": seed, "variant": variant, "knn": score, "recipe": score + 10,
            "probe": score + 12, "settings": settings, "heads": heads or {}}


def saved_runs():
    return [run("xview", s, "cpstn", 70.0 + s) for s in (1, 2, 3)] + \
           [run("xview", s, "skeletonclr", 69.0 + 2 * s) for s in (1, 2, 3)]


def write_screen(folder, runs):
    for r in runs:
        d = folder / r["split"] / f"seed{r['seed']}" / r["variant"]
        d.mkdir(parents=True)
        (d / "result.json").write_text(json.dumps(r))


def test_each_run_is_compared_with_both_saved_runs_of_its_seed(tmp_path, capsys):
    screened = {**SETTINGS, "set": ["model.pace_pool=frames"]}
    write_screen(tmp_path / "screen", [run("xview", s, "cpstn", 72.0 + s, screened, {"pace": 0.425}) for s in (1, 2)])
    (tmp_path / "saved.json").write_text(json.dumps({"runs": saved_runs()}))
    assert paired_screen.main([str(tmp_path / "screen"), "--against", str(tmp_path / "saved.json")]) == 0
    out = capsys.readouterr().out
    # seed 1: 73 against CP-STN 71 and SkeletonCLR 71; seed 2: 74 against 72 and 73
    assert "| xview | 1 | 73.0 / 83.0 / 85.0 | pace 42.5 | +2.0 / +2.0 / +2.0 | +2.0 / +2.0 / +2.0 |" in out
    assert "| xview | 2 | 74.0 / 84.0 / 86.0 | pace 42.5 | +2.0 / +2.0 / +2.0 | +1.0 / +1.0 / +1.0 |" in out
    assert "| xview | 1-2 | kNN | +2.0 [+2.0, +2.0] | +1.5 [-4.9, +7.9] |" in out


def test_a_seed_without_saved_runs_or_with_other_settings_is_refused(tmp_path):
    saved = saved_runs()
    with pytest.raises(UsageError, match="xview seed 4: no saved cpstn, skeletonclr run"):
        paired_screen.paired([run("xview", 4, "cpstn", 70.0)], saved)
    with pytest.raises(UsageError, match=r"other benchmark settings \(epochs\)"):
        paired_screen.paired([run("xview", 1, "cpstn", 70.0, {**SETTINGS, "epochs": 18})], saved)
    with pytest.raises(UsageError, match="no runs"):
        paired_screen.screen_runs([str(tmp_path)])


def test_references_from_several_files_and_only_those_named(tmp_path, capsys):
    write_screen(tmp_path / "screen", [run("xview", s, "cpstn", 72.0 + s) for s in (1, 4)])
    (tmp_path / "saved.json").write_text(json.dumps({"runs": saved_runs()}))
    # seed 4 has a baseline in a second file and no saved CP-STN: pair with the baseline only
    (tmp_path / "more.json").write_text(json.dumps({"runs": [run("xview", 4, "skeletonclr", 73.0)]}))
    argv = [str(tmp_path / "screen"), "--against", str(tmp_path / "saved.json"), str(tmp_path / "more.json")]
    with pytest.raises(UsageError, match="xview seed 4: no saved cpstn run"):
        paired_screen.main(argv)
    assert paired_screen.main(argv + ["--references", "skeletonclr"]) == 0
    out = capsys.readouterr().out
    assert "| xview | 4 | 76.0 / 86.0 / 88.0 | – | +3.0 / +3.0 / +3.0 |" in out
    assert "today's CP-STN" not in out
    # seed 1: 73 - 71 = +2; seed 4: +3
    assert "| xview | 1, 4 | kNN | +2.5 [-3.9, +8.9] |" in out
    # --seeds keeps the seeds that have both references
    assert paired_screen.main(argv + ["--seeds", "1"]) == 0
    assert "| xview | 1 | kNN | +2.0 | +2.0 |" in capsys.readouterr().out
    with pytest.raises(UsageError, match="no runs of seeds"):
        paired_screen.main(argv + ["--seeds", "9"])


def test_a_run_saved_in_two_files_is_refused(tmp_path):
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text(json.dumps({"runs": saved_runs()}))
    with pytest.raises(UsageError, match="xview seed 1 cpstn: held by both"):
        paired_screen.saved_runs([str(tmp_path / "a.json"), str(tmp_path / "b.json")])


def test_a_screen_in_parts_and_its_spread_against_each_reference(tmp_path, capsys):
    # seeds 1-3 in a folder and a results JSON; the run 72 + s spreads like CP-STN (70 + s), half as much as the
    # baseline (69 + 2 s): sd 1.0 against 1.0 and 2.0
    write_screen(tmp_path / "part1", [run("xview", s, "cpstn", 72.0 + s) for s in (1, 2)])
    (tmp_path / "part2.json").write_text(json.dumps({"runs": [run("xview", 3, "cpstn", 75.0)]}))
    (tmp_path / "saved.json").write_text(json.dumps({"runs": saved_runs()}))
    assert paired_screen.main([str(tmp_path / "part1"), str(tmp_path / "part2.json"),
                               "--against", str(tmp_path / "saved.json")]) == 0
    out = capsys.readouterr().out
    assert "| xview | 1-3 | kNN | +2.0 [+2.0, +2.0] | +1.0 [-1.5, +3.5] |" in out
    # equal spread: t 0; half the spread on 3 pairs: r = -1, t = -inf, rejected
    assert "| xview | kNN | 1.0 | 1.0 (+0.0) | 2.0 (-inf*) |" in out
    with pytest.raises(UsageError, match="xview seed 3 cpstn: found in both"):
        paired_screen.screen_runs([str(tmp_path / "part2.json"), str(tmp_path / "part2.json")])


def test_seed_ranges():
    assert paired_screen.seed_ranges([8, 1, 2, 3, 5, 7]) == "1-3, 5, 7-8"
    assert paired_screen.seed_ranges([4]) == "4"


def test_a_bad_reference_or_seed_exits_2_naming_the_flag(tmp_path, capsys):
    for bad in (["--references", "pretext"], ["--seeds", "one"]):
        with pytest.raises(SystemExit) as e:
            paired_screen.main([str(tmp_path), "--against", str(tmp_path / "saved.json"), *bad])
        assert e.value.code == 2 and bad[0] in capsys.readouterr().err
