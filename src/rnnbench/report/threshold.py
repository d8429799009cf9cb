"""The critical length as a threshold with an interval: T50, the length at which a model solves the
task with probability 1/2, estimated from every run at every tested length.

Model: P(solved | T) = sigmoid(b * (log T50 - log T)), b >= 0 (longer is never easier), fitted by
maximum likelihood to the solved counts. The 95% interval is the profile-likelihood one: every T50
whose profile deviance 2 * (max loglik - max over b of loglik(T50, b)) is at most 3.84 (chi-square,
1 df). T50 is read off a grid (0.5% steps in log T over 1/16 of the shortest to 16x the longest
tested length), and for each grid point the best slope is found in [0, 1000] (golden section: the
log-likelihood is concave in b), so nothing can stop early or diverge when the data separate.

How it reads the common cases:
- separated data (every seed solves T1, none solves T2): the likelihood is flat for T50 between them,
  the estimate is their geometric midpoint and the interval covers at least [T1, T2], wider when the
  seed counts are too few to exclude more;
- solved at every tested length (the search or grid ended first): the likelihood keeps rising or stays
  flat as T50 grows, so the upper end is infinite and the estimate is censored ("above"): only the
  lower end, a length the data say the threshold exceeds, is a number. The same holds when the
  maximum lies beyond the longest length tested (3/5 solved there): an extrapolation is no estimate;
- failed at every tested length, or the maximum below the shortest: mirrored ("below": only the upper end);
- no trend (2/5 at every length) or one length solved by some seeds: the interval is unbounded on
  both sides ("unbounded", read "not determined").
With 5 seeds per length the chi-square calibration is approximate; the report prints each length's
exact Clopper-Pearson interval beside it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

CHI2_95_1DF = 3.841458820694124
NOT_CENSORED, ABOVE, BELOW, UNBOUNDED = "none", "above", "below", "unbounded"
_SPAN = math.log(16.0)  # the grid reaches this factor beyond the tested lengths on each side
_STEP = 0.005           # grid step of log T50 (0.5% in T)
B_MAX = 1e3            # the steepest slope tried: a step in a 0.1% change of T, as good as separated
_ITERATIONS = 60       # golden-section steps over [0, B_MAX]: to 1e-12 of it


@dataclass(frozen=True)
class Threshold:
    t50: float        # the estimate; nan when censored
    low: float        # 95% interval; 0 when censored below
    high: float       # inf when censored above
    censored: str     # none | above | below | unbounded ('' when no run completed)


def _log_sigmoid(z: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -z)


def profile(lengths: Sequence[float], solved: Sequence[int], seeds: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(grid of log T50, profile log-likelihood at each: the best slope b in [0, B_MAX] for it).

    For a fixed T50 the log-likelihood is concave in b (a one-parameter logistic regression), so a
    golden-section search finds its maximum; it runs for every grid point at once."""
    log_t = np.log(np.asarray(lengths, dtype=float))
    k, n = np.asarray(solved, dtype=float), np.asarray(seeds, dtype=float)
    grid = np.arange(log_t.min() - _SPAN, log_t.max() + _SPAN + _STEP / 2, _STEP)
    gap = grid[:, None] - log_t[None, :]

    def loglik(b: np.ndarray) -> np.ndarray:
        z = b[:, None] * gap
        return (k * _log_sigmoid(z) + (n - k) * _log_sigmoid(-z)).sum(axis=1)

    low, high = np.zeros_like(grid), np.full_like(grid, B_MAX)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = loglik(a), loglik(b)
    for _ in range(_ITERATIONS):  # keep the part of [low, high] that holds the maximum: one new point each step
        left = fa >= fb
        low, high = np.where(left, low, a), np.where(left, b, high)
        new = np.where(left, high - ratio * (high - low), low + ratio * (high - low))
        f_new = loglik(new)
        a, b = np.where(left, new, b), np.where(left, a, new)
        fa, fb = np.where(left, f_new, fb), np.where(left, fa, f_new)
    fa, fb = loglik(low), loglik(high)
    best = np.maximum.reduce([fa, fb, loglik(np.zeros_like(grid)), loglik(np.full_like(grid, B_MAX))])
    return grid, best


def estimate_t50(lengths: Sequence[float], solved: Sequence[int], seeds: Sequence[int]) -> Threshold:
    """T50 and its 95% profile-likelihood interval from solved counts per tested length."""
    keep = [i for i, n in enumerate(seeds) if n > 0]
    if not keep:
        return Threshold(math.nan, math.nan, math.nan, "")
    lengths, solved, seeds = ([v[i] for i in keep] for v in map(list, (lengths, solved, seeds)))
    grid, prof = profile(lengths, solved, seeds)
    best = prof.max()
    inside = np.flatnonzero(2 * (best - prof) <= CHI2_95_1DF)
    flat = np.flatnonzero(best - prof <= 1e-9)  # the maximum-likelihood set (an interval: flat when separated)
    last = len(grid) - 1
    if flat[-1] == last:
        censored = ABOVE
    elif flat[0] == 0:
        censored = BELOW
    else:
        censored = NOT_CENSORED
    t50 = math.exp((grid[flat[0]] + grid[flat[-1]]) / 2) if censored == NOT_CENSORED else math.nan
    if t50 > max(lengths) or t50 < min(lengths):  # an extrapolation is no estimate: only its bound is read
        censored, t50 = (ABOVE if t50 > max(lengths) else BELOW), math.nan
    low = 0.0 if inside[0] == 0 else math.exp(grid[inside[0]])
    high = math.inf if inside[-1] == last else math.exp(grid[inside[-1]])
    if low == 0.0 and math.isinf(high):
        censored = UNBOUNDED
    return Threshold(t50, low, high, censored)


def threshold_reading(t: Threshold) -> str:
    """T50 as the report prints it: "37 (95% CI 24–61)", "> 100 (95% lower bound; ...)"."""
    if t.censored == "":
        return "not measured"
    if t.censored == UNBOUNDED:
        return "not determined (the runs bound it on neither side)"
    if t.censored == ABOVE:
        return f"> {round_length(t.low)} (95% lower bound; the fit's maximum lies beyond the longest length tested)"
    if t.censored == BELOW:
        return f"< {round_length(t.high)} (95% upper bound; the fit's maximum lies below the shortest length tested)"
    high = "∞" if math.isinf(t.high) else round_length(t.high)
    return f"{round_length(t.t50)} (95% CI {round_length(t.low)}–{high})"


def round_length(value: float) -> str:
    """A length to 2 significant digits (the grids are coarse; more digits would overstate it)."""
    if value <= 0 or not math.isfinite(value):
        return f"{value:g}"
    if value < 10:
        return f"{value:.2g}"
    return str(int(round(value, 1 - math.floor(math.log10(value)))))
