"""Exact statistics for few seeds: intervals on a solved fraction and tests between two of them.

At 5 seeds a normal approximation misleads; both functions here are exact (scipy)."""
from __future__ import annotations

import math


def exact_interval(solved: int, seeds: int) -> tuple[float, float]:
    """The Clopper-Pearson 95% interval of a solved fraction (5/5 still allows a true rate of 0.48)."""
    from scipy import stats

    if seeds == 0:
        return math.nan, math.nan
    interval = stats.binomtest(int(solved), int(seeds)).proportion_ci(confidence_level=0.95, method="exact")
    return float(interval.low), float(interval.high)


def fisher_p(solved_a: int, seeds_a: int, solved_b: int, seeds_b: int) -> float:
    """Two-sided Fisher exact test of two solved fractions (5/5 against 0/5: p = 0.0079)."""
    from scipy import stats

    table = [[solved_a, seeds_a - solved_a], [solved_b, seeds_b - solved_b]]
    return float(stats.fisher_exact(table, alternative="two-sided").pvalue)
