"""experiments/stats.py: paired differences and their confidence intervals."""
import pytest

from experiments import stats


def test_paired_difference_uses_students_t():
    mean, (lo, hi) = stats.paired_difference([3.0, 5.0, 4.0], [1.0, 2.0, 2.0])
    # d = 2, 3, 2: mean 7/3, sd 0.577, t(2) = 4.303 -> half width 4.303 * 0.577 / sqrt(3) = 1.434
    assert mean == pytest.approx(7 / 3) and hi - mean == pytest.approx(1.4342, abs=1e-3) and lo < mean < hi
    assert stats.paired_difference([1.0], [0.5]) == (0.5, None)
    assert stats.t_975(40) == 1.96 and stats.t_975(1) == 12.706
    with pytest.raises(ValueError, match="equal"):
        stats.paired_difference([1.0, 2.0], [1.0])


def test_cells():
    assert stats.mean_std([]) == "–" and stats.mean_std([1.0, 3.0]) == "2.0 ± 1.4"
    assert stats.mean_std([54.61]) == "54.6"   # one seed: no spread to show
    assert stats.difference_cell([2.0, 4.0], [1.0, 1.0]).startswith("+2.0 [")
    assert stats.difference_cell([], []) == "–"
