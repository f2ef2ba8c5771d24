"""Seed statistics for the experiment tables: mean and spread, and paired differences.

A paired difference compares two methods run with the same seeds (same data order,
augmentation draws and initialisation), seed by seed: d_i = a_i - b_i. Its 95%
confidence interval is mean(d) +- t * sd(d) / sqrt(n), with t the 97.5% quantile of
Student's t distribution with n - 1 degrees of freedom (a table of facts below).
"""
import math
import statistics
from typing import Optional, Sequence, Tuple

# Student's t, 97.5% quantile, by degrees of freedom (1..30); beyond, the normal 1.96 is close
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
         2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
         2.052, 2.048, 2.045, 2.042)


def t_975(dof: int) -> float:
    if dof < 1:
        raise ValueError(f"a confidence interval needs at least 2 pairs, got {dof + 1}")
    return T_975[dof - 1] if dof <= len(T_975) else 1.96


def paired_difference(a: Sequence[float], b: Sequence[float]) -> Tuple[float, Optional[Tuple[float, float]]]:
    """(mean of a_i - b_i, its 95% confidence interval or None with fewer than 2 pairs)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired values need equal, non-zero lengths, got {len(a)} and {len(b)}")
    d = [x - y for x, y in zip(a, b)]
    mean = statistics.mean(d)
    if len(d) < 2:
        return mean, None
    half = t_975(len(d) - 1) * statistics.stdev(d) / math.sqrt(len(d))
    return mean, (mean - half, mean + half)


def equal_spread_t(a: Sequence[float], b: Sequence[float]) -> Tuple[float, int]:
    """(t, degrees of freedom) of the Pitman-Morgan test that paired a and b spread equally:
    var(a) = var(b) exactly when a_i - b_i and a_i + b_i are uncorrelated, so with r their
    correlation t = r * sqrt((n - 2) / (1 - r^2)) on n - 2 degrees of freedom; |t| > t_975
    rejects equal spread at 5%. t > 0: a spreads more than b."""
    if len(a) != len(b) or len(a) < 3:
        raise ValueError(f"the test needs at least 3 pairs of equal length, got {len(a)} and {len(b)}")
    diff, total = [x - y for x, y in zip(a, b)], [x + y for x, y in zip(a, b)]
    if statistics.pstdev(diff) == 0 or statistics.pstdev(total) == 0:
        return 0.0, len(a) - 2     # b = a + c or b = c - a: the spreads are equal exactly
    r = statistics.correlation(diff, total)
    n = len(a)
    return (math.copysign(math.inf, r) if abs(r) >= 1 else r * math.sqrt((n - 2) / (1 - r * r))), n - 2


def mean_std(values) -> str:
    """'mean ± sample standard deviation' with one decimal ('–' for no values; one value has no spread)."""
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def difference_cell(a, b) -> str:
    """'+3.1 [+1.0, +5.2]' (mean paired difference and its 95% CI), '–' without pairs."""
    if not a or not b:
        return "–"
    mean, ci = paired_difference(a, b)
    return f"{mean:+.1f}" + (f" [{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else "")
