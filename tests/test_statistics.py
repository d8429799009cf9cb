"""The statistics the report's readings rest on, against values known in closed form."""
import math

import numpy as np
import pandas as pd
import pytest

from rnnbench.report.budget import budget_use, still_improving
from rnnbench.report.statistics import exact_interval, fisher_p


def test_the_exact_interval_of_all_or_none_solved_is_one_sided_with_closed_form_ends():
    # Clopper-Pearson: k = 0 gives [0, 1 - 0.025^(1/n)], k = n gives [0.025^(1/n), 1].
    assert exact_interval(0, 5) == pytest.approx((0.0, 1 - 0.025 ** (1 / 5)))
    assert exact_interval(5, 5) == pytest.approx((0.025 ** (1 / 5), 1.0))
    assert exact_interval(5, 5)[0] == pytest.approx(0.4782, abs=1e-4)  # 5/5 still allows a rate of 0.48


def test_the_exact_interval_of_a_middle_count_matches_the_beta_quantiles():
    low, high = exact_interval(3, 5)
    assert (low, high) == pytest.approx((0.1466, 0.9473), abs=1e-4)
    assert all(math.isnan(v) for v in exact_interval(0, 0))


def test_fisher_exact_p_of_the_classic_contrasts():
    assert fisher_p(3, 3, 0, 3) == pytest.approx(0.1)  # the previous report's 3/3 vs 0/3: not significant
    assert fisher_p(5, 5, 0, 5) == pytest.approx(2 / 252)  # 5 seeds each: significant
    assert fisher_p(2, 5, 2, 5) == pytest.approx(1.0)


def test_a_curve_still_closing_on_the_threshold_in_its_last_quarter_is_improving():
    steps = np.arange(100, 3001, 100, dtype=float)
    falling = np.linspace(0.16, 0.03, steps.size)  # MSE falling toward 0.01 to the end
    assert still_improving(steps, falling, 0.01, False, 3000)
    flat = np.full(steps.size, 0.166)  # at the baseline all along
    assert not still_improving(steps, flat, 0.01, False, 3000)
    accuracy = np.concatenate([np.full(22, 0.5), np.linspace(0.5, 0.9, 8)])  # rising late
    assert still_improving(steps, accuracy, 0.99, True, 3000)


def runs_frame(rows):
    base = {"failed": False, "diverged": False, "max_steps": 3000, "solved_threshold": 0.01, "higher_is_better": False}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_a_cell_whose_slowest_solved_seed_used_over_half_its_budget_is_budget_limited():
    runs = runs_frame([{"seed": 0, "solved": True, "val_solved": True, "solved_step": 2000},
                       {"seed": 1, "solved": True, "val_solved": True, "solved_step": 400}])
    use = budget_use(runs, None)
    assert use["budget_used"] == pytest.approx(2000 / 3000) and use["budget_limited"]
    fast = runs_frame([{"seed": 0, "solved": True, "val_solved": True, "solved_step": 900}])
    assert not budget_use(fast, None)["budget_limited"]


def test_a_cell_with_an_unsolved_seed_still_improving_is_budget_limited():
    steps = np.arange(100, 3001, 100)
    curves = pd.DataFrame({"seed": 0, "step": steps, "val_metric": np.linspace(0.16, 0.03, steps.size)})
    runs = runs_frame([{"seed": 0, "solved": False, "val_solved": False, "solved_step": None}])
    use = budget_use(runs, curves)
    assert use["still_improving"] == 1 and use["budget_limited"] and math.isnan(use["budget_used"])


def test_progress_is_judged_on_the_metric_the_solved_rule_reads_not_the_headline():
    """Copy memory: the headline (cross-entropy) has flattened while recall accuracy, what the
    0.99 rule reads, is still climbing towards it: the cell is budget-limited."""
    steps = np.arange(100, 3001, 100)
    curves = pd.DataFrame({"seed": 0, "step": steps, "val_metric": np.full(steps.size, 0.04),
                           "val_rule_metric": np.linspace(0.2, 0.95, steps.size)})
    runs = runs_frame([{"seed": 0, "solved": False, "val_solved": False, "solved_step": None,
                        "solved_threshold": 0.99, "higher_is_better": True}])
    assert budget_use(runs, curves)["budget_limited"]
    flat = curves.assign(val_rule_metric=0.5)
    assert not budget_use(runs, flat)["budget_limited"]
