"""experiments/lead_by_split.py: CP-STN's lead on each split, over both, and the gap between them."""
import json
import math

import pytest

from cpstn_min.errors import UsageError
from experiments import lead_by_split
from experiments.stats import t_975


def runs_of(leads: dict, base: float = 70.0) -> list:
    """{split: [lead of seed 1, seed 2, ...]} -> ablation runs, every column alike; SkeletonCLR's
    score moves with the seed so that only the pairing recovers the leads."""
    runs = []
    for split, values in leads.items():
        for seed, lead in enumerate(values, start=1):
            clr = base + 3.0 * seed
            runs.append({"split": split, "seed": seed, "variant": "skeletonclr", "knn": clr, "recipe": clr, "probe": clr})
            runs.append({"split": split, "seed": seed, "variant": "cpstn",
                         "knn": clr + lead, "recipe": clr + lead, "probe": clr + lead})
    return runs


def test_the_leads_their_mean_and_their_gap_are_paired_by_seed():
    x, v = [4.0, 2.0, 3.0], [1.0, -1.0, 0.0]
    (column, n, cx, cv, both, gap), *_ = lead_by_split.rows(runs_of({"xsub": x, "xview": v}))
    assert (column, n) == ("knn", 3)
    half = t_975(2) * 1.0 / math.sqrt(3)      # every seed's pair of leads spreads by sd 1 about its mean
    assert cx == f"+3.0 [{3 - half:+.1f}, {3 + half:+.1f}]"
    assert cv == f"+0.0 [{-half:+.1f}, {half:+.1f}]"
    assert both == f"+1.5 [{1.5 - half:+.1f}, {1.5 + half:+.1f}]"
    assert gap == "+3.0 [+3.0, +3.0]"          # the same gap on every seed: no doubt left about it


def test_only_seeds_both_splits_have_count(capsys, tmp_path):
    runs = runs_of({"xsub": [2.0, 2.0, 2.0, 8.0], "xview": [1.0, 1.0, 1.0]})
    assert all(row[1] == 3 for row in lead_by_split.rows(runs))
    path = tmp_path / "ablation.json"
    path.write_text(json.dumps({"runs": runs}))
    assert lead_by_split.main([str(path)]) == 0
    assert "| kNN | 3 | +2.0 [+2.0, +2.0] | +1.0 [+1.0, +1.0] | +1.5 [+1.5, +1.5] | +1.0 [+1.0, +1.0] |" in \
        capsys.readouterr().out


def test_one_split_alone_or_a_file_without_runs_is_refused(tmp_path):
    with pytest.raises(UsageError, match="at least 2 common seeds"):
        lead_by_split.rows(runs_of({"xsub": [2.0, 3.0]}))
    path = tmp_path / "not_ablation.json"
    path.write_text("{}")
    with pytest.raises(UsageError, match="not an ablation's results JSON"):
        lead_by_split.main([str(path)])
