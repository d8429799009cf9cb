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


def rank_sum_p(a, b) -> float:
    """Two-sided exact permutation test of the Mann-Whitney U statistic between two small samples:
    every split of the pooled values into groups of their sizes (5 vs 5: 252), so ties are exact
    and one seed a side works; five seeds each can reach p = 0.0079 at best. Past 200,000 splits,
    the normal approximation (scipy). nan when a side is empty."""
    import itertools

    import numpy as np
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == 0 or b.size == 0:
        return math.nan
    pooled = np.concatenate([a, b])
    if math.comb(pooled.size, a.size) > 200_000:
        return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    ranks = stats.rankdata(pooled)
    expected = a.size * (pooled.size + 1) / 2  # the rank sum of `a` under no difference
    observed = abs(ranks[:a.size].sum() - expected)
    splits = list(itertools.combinations(range(pooled.size), a.size))
    extreme = sum(abs(ranks[list(chosen)].sum() - expected) >= observed - 1e-9 for chosen in splits)
    return extreme / len(splits)


def holm(p_values) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (controls the family-wise error rate)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [math.nan] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
