"""The critical length as a threshold: T50 and its 95% profile-likelihood interval from solved counts."""
import math

import numpy as np
import pytest
from scipy import optimize, special

from rnnbench.report.threshold import ABOVE, BELOW, CHI2_95_1DF, UNBOUNDED, estimate_t50, round_length, threshold_reading

LENGTHS = np.array([5, 10, 20, 40, 80, 160, 320])


def solve_probability(lengths, t50, slope):
    return special.expit(slope * (math.log(t50) - np.log(lengths)))


def loglik(theta, slope, lengths, solved, seeds):
    z = slope * (theta - np.log(lengths))
    return float(np.sum(solved * special.log_expit(z) + (seeds - solved) * special.log_expit(-z)))


def profile_deviance(t50, lengths, solved, seeds, best):
    """Recomputed independently of the module's grid: scipy's bounded optimiser over the slope."""
    fit = optimize.minimize_scalar(lambda b: -loglik(math.log(t50), b, lengths, solved, seeds),
                                   bounds=(0.0, 1e3), method="bounded", options={"xatol": 1e-6})
    return 2 * (best + fit.fun)


@pytest.mark.parametrize("t50,slope", [(37.0, 3.0), (120.0, 1.5), (12.0, 6.0)])
def test_a_known_t50_is_recovered_from_many_seeds_as_the_maximum_likelihood_estimate(t50, slope):
    rng = np.random.default_rng(int(t50))
    seeds = np.full(len(LENGTHS), 400)
    solved = rng.binomial(seeds, solve_probability(LENGTHS, t50, slope))
    found = estimate_t50(LENGTHS, solved, seeds)
    assert found.censored == "none" and found.low < found.t50 < found.high
    assert found.t50 == pytest.approx(t50, rel=0.05) and found.high / found.low < 1.3
    exact = optimize.minimize(lambda p: -loglik(p[0], p[1], LENGTHS, solved, seeds), x0=[math.log(t50), slope],
                              method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12})
    assert found.t50 == pytest.approx(math.exp(exact.x[0]), rel=0.01)  # the grid loses under 1%


def test_the_95_percent_interval_covers_a_known_t50_in_about_95_percent_of_repeated_studies():
    rng = np.random.default_rng(7)
    lengths, seeds = np.array([10, 20, 40, 80, 160]), np.full(5, 20)
    p = solve_probability(lengths, 45.0, 2.5)
    covered = [(f := estimate_t50(lengths, rng.binomial(seeds, p), seeds)).low <= 45.0 <= f.high for _ in range(40)]
    assert np.mean(covered) >= 0.85  # 95% nominal; 40 studies: 0.85 is 3 standard errors below it


def test_the_interval_ends_are_where_the_profile_deviance_reaches_the_chi_square_quantile():
    lengths, solved, seeds = np.array([5, 10, 20, 40]), np.array([5, 3, 1, 0]), np.array([5, 5, 5, 5])
    found = estimate_t50(lengths, solved, seeds)
    best = -optimize.minimize(lambda p: -loglik(p[0], abs(p[1]), lengths, solved, seeds), x0=[math.log(12), 2.0],
                              method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10}).fun
    assert profile_deviance(found.t50, lengths, solved, seeds, best) == pytest.approx(0.0, abs=1e-3)
    for end in (found.low, found.high):
        assert profile_deviance(end, lengths, solved, seeds, best) == pytest.approx(CHI2_95_1DF, abs=0.1)
    assert profile_deviance(found.low * 0.97, lengths, solved, seeds, best) > CHI2_95_1DF
    assert profile_deviance(found.high * 1.03, lengths, solved, seeds, best) > CHI2_95_1DF


def test_separated_counts_put_t50_between_the_last_solved_and_the_first_failed_length():
    found = estimate_t50([10, 50, 100], [5, 0, 0], [5, 5, 5])
    assert found.t50 == pytest.approx(math.sqrt(10 * 50), rel=0.01)  # the flat maximum's geometric middle
    assert found.low == pytest.approx(10, rel=0.01) and found.high == pytest.approx(50, rel=0.01)


def test_fewer_seeds_give_a_wider_interval_than_more_seeds_at_the_same_fractions():
    few = estimate_t50([20, 40], [2, 0], [2, 2])
    many = estimate_t50([20, 40], [10, 0], [10, 10])
    assert few.low < many.low and few.high > many.high


def test_solved_at_every_length_tested_is_censored_above_with_only_a_lower_bound():
    found = estimate_t50([10, 50, 100], [5, 5, 5], [5, 5, 5])
    assert found.censored == ABOVE and math.isnan(found.t50) and math.isinf(found.high)
    assert found.low == pytest.approx(100, rel=0.02)
    assert threshold_reading(found) == "> 100 (95% lower bound; the fit's maximum lies beyond the longest length tested)"


def test_failed_at_every_length_tested_is_censored_below_with_only_an_upper_bound():
    found = estimate_t50([10, 50], [0, 0], [5, 5])
    assert found.censored == BELOW and math.isnan(found.t50) and found.low == 0
    assert found.high == pytest.approx(10, rel=0.02) and threshold_reading(found).startswith("< 10")


def test_a_maximum_beyond_the_longest_length_tested_is_censored_not_extrapolated():
    found = estimate_t50([5, 10, 20, 40], [5, 5, 4, 3], [5, 5, 5, 5])  # the MLE would be ~44
    assert found.censored == ABOVE and math.isnan(found.t50) and 20 < found.low < 40 and math.isinf(found.high)


def test_no_trend_with_length_bounds_t50_on_neither_side():
    found = estimate_t50([10, 20], [2, 2], [5, 5])
    assert found.censored == UNBOUNDED and found.low == 0 and math.isinf(found.high)
    assert threshold_reading(found) == "not determined (the runs bound it on neither side)"


def test_a_length_with_no_completed_run_is_left_out_and_none_at_all_measures_nothing():
    assert estimate_t50([10, 50, 100], [5, 0, 0], [5, 5, 0]) == estimate_t50([10, 50], [5, 0], [5, 5])
    assert threshold_reading(estimate_t50([10], [0], [0])) == "not measured"


def test_lengths_are_printed_to_two_significant_digits():
    assert [round_length(v) for v in (4.31, 9.97, 37.4, 137.0, 1234.0)] == ["4.3", "10", "37", "140", "1200"]
