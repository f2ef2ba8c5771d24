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
    assert "| xview | 1, 2 | kNN | +2.0 [+2.0, +2.0] | +1.5 [-4.9, +7.9] |" in out


def test_a_seed_without_saved_runs_or_with_other_settings_is_refused(tmp_path):
    saved = saved_runs()
    with pytest.raises(UsageError, match="xview seed 4: no saved cpstn, skeletonclr run"):
        paired_screen.paired([run("xview", 4, "cpstn", 70.0)], saved)
    with pytest.raises(UsageError, match=r"other benchmark settings \(epochs\)"):
        paired_screen.paired([run("xview", 1, "cpstn", 70.0, {**SETTINGS, "epochs": 18})], saved)
    with pytest.raises(UsageError, match="no runs"):
        paired_screen.screen_runs(str(tmp_path))
