"""experiments/stats.py: paired differences and their confidence intervals, and the test of equal spread."""
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


def test_equal_spread_t_is_zero_for_equal_spreads_and_signed_by_which_spreads_more():
    assert stats.equal_spread_t([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) == (0.0, 1)   # same values, other seeds
    assert stats.equal_spread_t([70.0, 64.0, 75.0, 68.0], [73.0, 67.0, 78.0, 71.0])[0] == 0.0   # a shift
    wide = [60.0, 72.0, 55.0, 75.0, 58.0, 74.0, 61.0, 70.0]
    narrow = [66.0, 70.0, 64.0, 71.0, 65.0, 70.5, 66.5, 69.0]
    t, dof = stats.equal_spread_t(wide, narrow)
    # sd 7.9 against 2.7: r = corr(wide - narrow, wide + narrow) = 0.9986, t = 45.5 on 6 degrees of freedom
    assert dof == 6 and t > stats.t_975(6)
    assert stats.equal_spread_t(narrow, wide)[0] == pytest.approx(-t)
    with pytest.raises(ValueError, match="at least 3 pairs"):
        stats.equal_spread_t([1.0, 2.0], [2.0, 1.0])
