"""The critical-length search: which length comes next on scripted outcomes, the lr sweep's
extension past a winning end, its settings refused with one line, and a search that resumes from
its finished runs (real training on a tiny plan)."""
import copy
import json
import math
import shutil
from pathlib import Path

import pytest
import yaml

from rnnbench.config import ConfigError, DataConfig, RunConfig
from rnnbench.search.rule import OTHER, OWN, SAME, Confirm, Found, LengthRuns, SearchRange, Train, nearest_tuned, next_step
from rnnbench.training.tuning import at_bound, first_lrs, learnt, lr_table, lrs_to_add
from rnnbench.search.pool import run_search, run_searches
from rnnbench.search.runner import Search, SearchFailed, SearchPlan, confirm_rungs, read_trace, rung_past, walk_budget
from rnnbench.study import parse_study
from rnnbench.training.trainer import train
from conftest import build_dataset, make_config

FIVE = SearchRange(start=10, floor=2, cap=160, seeds=(0, 1, 2, 3, 4))


def scripted_search(search: SearchRange, solves, extended_solves=lambda length, seed: False,
                    confirm_at=lambda length: OWN):
    """Drive next_step with oracles: solves(length, seed) at the base budget, extended_solves with
    the ceiling, confirm_at(length) the lr a confirmation's sweep picks. Returns the answer, every
    Train step taken and the outcomes."""
    outcomes, steps = {}, []
    while True:
        step = next_step(outcomes, search)
        if isinstance(step, Found):
            return step, steps, outcomes
        if isinstance(step, Confirm):
            outcomes[step.length].confirm_at = confirm_at(step.length)
            continue
        steps.append(step)
        runs = outcomes.setdefault(step.length, LengthRuns())
        for seed in step.seeds:
            if step.extended:
                runs.extended[seed] = extended_solves(step.length, seed)
            else:
                runs.base[seed] = solves(step.length, seed)
        assert len(steps) < 100, "the search does not end"


def test_a_model_that_solves_up_to_30_is_bracketed_to_the_resolution_around_30():
    found, steps, _ = scripted_search(FIVE, lambda length, seed: length <= 30)
    assert found.lo <= 30 < found.hi and found.hi / found.lo <= FIVE.resolution
    assert found.censored == "none"
    lengths = [s.length for s in steps]
    assert lengths[:3] == [10, 20, 40]  # doubling while it solves
    assert all(2 <= n <= 160 for n in lengths)


def test_a_model_that_solves_every_length_is_censored_at_the_cap():
    found, steps, outcomes = scripted_search(FIVE, lambda length, seed: True)
    assert (found.lo, found.hi, found.censored) == (160, None, "above")
    assert [s.length for s in steps if s.seeds == (0, 1, 2)] == [10, 20, 40, 80, 160]
    assert outcomes[160].seeds == 5  # the bound of the answer gets every seed


def test_a_model_that_solves_nothing_is_censored_at_the_floor_after_the_ceiling():
    found, steps, outcomes = scripted_search(FIVE, lambda length, seed: False)
    assert (found.lo, found.hi, found.censored) == (None, 2, "below")
    assert [s.length for s in steps if not s.extended][:4] == [10, 5, 2, 2]
    assert set(outcomes[2].extended) == {0, 1, 2, 3, 4}  # every failure at hi rerun with the ceiling
    assert steps[-1].steps == FIVE.ceiling


def test_a_length_trains_three_of_five_seeds_and_adds_two_only_while_the_decision_is_open():
    first = next_step({}, FIVE)
    assert first == Train(10, (0, 1, 2), FIVE.steps)
    open_ = {10: LengthRuns(base={0: True, 1: False, 2: True})}  # 2/3: 3 of 5 still possible either way
    assert next_step(open_, FIVE) == Train(10, (3, 4), FIVE.steps)
    decided = {10: LengthRuns(base={0: True, 1: True, 2: True})}
    assert next_step(decided, FIVE) == Train(20, (0, 1, 2), FIVE.steps)


def bracketed(lo_solve_steps: dict[int, int], hi_base=lambda seed: False) -> dict[int, LengthRuns]:
    """A search with its answer in hand: 10 solved by every seed (in these steps), 14 decided
    failed in the base budget (hi_base(seed): which of its seeds solved), nothing confirmed yet."""
    return {10: LengthRuns(base={s: True for s in range(5)}, solve_steps=lo_solve_steps),
            14: LengthRuns(base={s: hi_base(s) for s in range(5)})}


NINE = SearchRange(start=10, floor=2, cap=160, seeds=(0, 1, 2, 3, 4), resolution=1.5, budget_factor=3,
                   steps=3000, budget_ceiling=9)


def test_a_failure_at_the_upper_end_is_confirmed_with_the_ceiling_at_an_lr_picked_from_its_own_to_the_lower_ends():
    outcomes = bracketed({s: 600 for s in range(5)}, hi_base=lambda seed: seed == 0)
    assert next_step(outcomes, NINE) == Confirm(14, 10, 27000)  # the sweep at the ceiling comes first
    own = copy.deepcopy(outcomes)
    own[14].confirm_at = OWN  # its own lr: the seeds that failed it train on
    assert next_step(own, NINE) == Train(14, (1, 2, 3, 4), 27000, extended=True)
    lower = copy.deepcopy(outcomes)
    lower[14].confirm_at = OTHER  # another rung (the lower end's lr or one between): every seed trains afresh
    assert next_step(lower, NINE) == Train(14, (0, 1, 2, 3, 4), 27000, extended=True)


def test_at_another_lr_only_the_confirmations_runs_count_so_no_seed_is_read_at_the_better_of_several_lrs():
    outcomes = bracketed({s: 600 for s in range(5)}, hi_base=lambda seed: seed in (0, 1))  # 2/5 at its own lr
    outcomes[14].confirm_at = OTHER
    outcomes[14].extended.update({0: False, 1: False, 2: True, 3: False, 4: False})
    assert outcomes[14].solved == 1  # not 3: seeds 0 and 1 solved at another lr
    assert next_step(outcomes, NINE) == Found(10, 14)
    outcomes[14].extended.update({3: True, 4: True})
    assert outcomes[14].solved == 3
    assert next_step(outcomes, NINE) == Train(28, (0, 1, 2), 3000)  # solved: the search doubles on from 14


def test_a_failure_that_held_at_the_tuning_seeds_rung_must_hold_at_the_lower_ends_lr_too():
    outcomes = bracketed({s: 600 for s in range(5)}, hi_base=lambda seed: seed == 0)
    outcomes[14].confirm_at = OTHER  # the tuning seeds' rung: every seed afresh, and each failed it
    outcomes[14].extended.update({s: False for s in range(5)})
    same = copy.deepcopy(outcomes)
    same[14].lower_at = SAME  # that rung was the lower end's lr: nothing more to try
    assert next_step(same, NINE) == Found(10, 14)
    other = copy.deepcopy(outcomes)
    other[14].lower_at = OTHER  # the lower end's lr is another rung: every seed afresh there too
    assert next_step(other, NINE) == Train(14, (0, 1, 2, 3, 4), 27000, extended=True, at_lower=True)
    own = copy.deepcopy(outcomes)
    own[14].lower_at = OWN  # ... hi's own lr: the seeds that failed it train on to the ceiling
    assert next_step(own, NINE) == Train(14, (1, 2, 3, 4), 27000, extended=True, at_lower=True)
    other[14].at_lower.update({0: True, 1: True, 2: False, 3: False, 4: False})
    assert next_step(other, NINE) == Found(10, 14)  # 2 of 5 there too: the failure stands
    other[14].at_lower[3] = True
    assert other[14].by_lower and other[14].solved == 3
    assert next_step(other, NINE) == Train(28, (0, 1, 2), 3000)  # solved at the lower end's lr: the search goes on


def test_of_two_confirming_lrs_a_length_counts_the_better_set_whole_never_each_seed_at_its_better_lr():
    outcomes = bracketed({s: 600 for s in range(5)})
    runs = outcomes[14]
    runs.confirm_at, runs.lower_at = OTHER, OTHER
    runs.extended.update({0: True, 1: True, 2: False, 3: False, 4: False})
    runs.at_lower.update({0: False, 1: False, 2: True, 3: False, 4: False})
    assert (runs.solved_confirming, runs.solved_at_lower, runs.solved) == (2, 1, 2)  # not 3 of 5
    assert not runs.by_lower and next_step(outcomes, NINE) == Found(10, 14)


def test_an_answer_whose_lower_end_needed_more_than_a_third_of_the_ceiling_is_budget_bound():
    for slowest, bound in ((9000, False), (9100, True)):  # 3 x 9,100 > 27,000
        outcomes = bracketed({0: 2000, 1: slowest})
        outcomes[14].confirm_at = OWN
        outcomes[14].extended.update({s: False for s in range(5)})
        assert next_step(outcomes, NINE) == Found(10, 14, budget_bound=bound)


def test_by_default_the_ceiling_is_three_base_budgets():
    default = SearchRange(start=10, floor=2, cap=160, seeds=(0, 1, 2, 3, 4), resolution=1.5)
    assert default.budget_ceiling == default.budget_factor == 3
    assert default.ceiling == 9000 == next_step(bracketed({s: 2900 for s in range(5)}), default).steps


def test_a_failure_at_the_upper_end_that_the_ceiling_solves_moves_the_bracket_up():
    # Solves T <= 20 in the base budget; with the ceiling it also solves T <= 30.
    found, steps, _ = scripted_search(FIVE, lambda length, seed: length <= 20, lambda length, seed: length <= 30)
    assert found.lo >= 25 and found.hi > 30 and found.hi / found.lo <= FIVE.resolution
    assert any(s.extended and s.length <= 30 for s in steps)  # a failure that did not survive the ceiling
    assert steps[-1].extended and steps[-1].length == found.hi  # the answer's failure survived it


def test_a_failure_that_another_rung_solves_moves_the_bracket_up():
    # Fails T > 20 at its own lr with any budget; at another rung (the lower end's lr or one between), solves T <= 40.
    found, steps, _ = scripted_search(FIVE, lambda length, seed: length <= 20, lambda length, seed: length <= 40,
                                      confirm_at=lambda length: OTHER)
    assert found.lo >= 40 / FIVE.resolution and 40 < found.hi <= 80


def test_a_decided_length_stays_decided_when_the_bracket_adds_its_last_seeds():
    found, _, outcomes = scripted_search(FIVE, lambda length, seed: length <= 30 or seed == 0)
    for length in (found.lo, found.hi):
        assert outcomes[length].seeds == 5
    assert outcomes[found.lo].solved >= 3 and outcomes[found.hi].solved < 3


LADDER = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


def table(solved_and_loss):
    """An lr table (best first) from lr -> (solved, validation loss) on one tuning seed."""
    return lr_table([{"lr": lr, "seed": 100, "val_solved": solved, "solved_step": 100 if solved else None,
                      "val_metric": loss, "diverged": False} for lr, (solved, loss) in solved_and_loss.items()],
                    higher_is_better=False)


def sweep(loss, center, solves=lambda lr: True, baseline=1.0):
    """The lrs a sweep tries (and its choice) when lr's validation loss is `loss(lr)`, `solves` says
    which solve and the task's memoryless loss is `baseline`."""
    tried = first_lrs(LADDER, center)
    rows = lambda: table({lr: (solves(lr), loss(lr)) for lr in tried})
    while more := lrs_to_add(LADDER, tried, rows(), until_learnt=(baseline, False)):
        tried += more
    return sorted(tried), rows()[0]["lr"]


def distance_from(best_lr):
    """A loss that grows with |log(lr / best_lr)| and learns (< half the baseline 1.0) near best_lr."""
    return lambda lr: 0.1 + abs(math.log(lr / best_lr)) / 10


def test_the_lr_sweep_starts_around_the_nearest_tuned_length_and_extends_past_a_winning_end():
    assert nearest_tuned(40, {10: 0.01, 80: 0.003}) == 0.003
    assert nearest_tuned(40, {}) is None
    assert first_lrs(LADDER, 0.003) == [1e-3, 3e-3, 1e-2]
    assert first_lrs(LADDER, 1e-4) == [1e-4, 3e-4]  # the ladder's end has one neighbour
    tried = [1e-3, 3e-3, 1e-2]
    assert lrs_to_add(LADDER, tried, table({1e-3: (True, .3), 3e-3: (True, .2), 1e-2: (True, .1)})) == [3e-2]
    assert lrs_to_add(LADDER, tried, table({1e-3: (True, .1), 3e-3: (True, .2), 1e-2: (True, .3)})) == [3e-4]
    assert lrs_to_add(LADDER, tried, table({1e-3: (True, .3), 3e-3: (True, .1), 1e-2: (True, .3)})) == []  # inside
    assert lrs_to_add(LADDER, [3e-2, 1e-1], table({3e-2: (True, .3), 1e-1: (True, .1)})) == []  # the stated bound
    assert at_bound(LADDER, 1e-1) and at_bound(LADDER, 1e-4) and not at_bound(LADDER, 1e-2)


def test_a_synthetic_sweep_whose_best_lr_lies_far_off_ends_inside_or_at_a_bound():
    tried, chosen = sweep(distance_from(3e-2), center=1e-3)
    assert chosen == 3e-2 and tried[-1] == 1e-1  # walked up past the optimum and saw it turn
    tried, chosen = sweep(distance_from(1.0), center=1e-3)
    assert chosen == 1e-1 and at_bound(LADDER, chosen)  # stopped at the stated bound, flagged


AT_CHANCE = lambda lr: 0.69  # noqa: E731 -- every rung at the memoryless loss 0.69


def test_a_sweep_where_no_rung_solves_or_learns_looks_on_both_sides_until_one_does():
    # The GRU's XOR T=20 of 2026-12-05: 1e-3..1e-2 all at chance, 3e-2 solves; the losses at chance
    # (noise) pointed inside the sweep, so the sweep stopped there and the length read "failed".
    assert lrs_to_add(LADDER, [1e-3, 3e-3, 1e-2], table({1e-3: (False, .70), 3e-3: (False, .69), 1e-2: (False, .69)}),
                      until_learnt=(0.69, False)) == [3e-4, 3e-2]
    tried, chosen = sweep(AT_CHANCE, center=3e-3, solves=lambda lr: lr == 3e-2, baseline=0.69)
    assert chosen == 3e-2 and tried == [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]  # then past the winning end
    tried, chosen = sweep(AT_CHANCE, center=3e-3, solves=lambda lr: False, baseline=0.69)
    assert tried == list(LADDER)  # a failure at every rung: the whole ladder was tried
    # without `until_learnt` (the grid's tuning, whose sine and charlm readings are final metrics) the
    # loss alone decides
    assert lrs_to_add(LADDER, [1e-3, 3e-3, 1e-2], table({1e-3: (False, .7), 3e-3: (False, .6), 1e-2: (False, .7)})) == []


def test_a_sweep_where_a_rung_learnt_without_solving_follows_the_best_rung_as_the_grid_does():
    # The RNN's adding T=28 of 2026-12-05: nothing solved its tuning seed in 3,000 steps, 1e-3 reached
    # validation MSE 0.05 against the memoryless 0.167 (its study seeds solve with 9,000 steps); the
    # other rungs sat near 0.16. The walk looks past 1e-3 once and stops: 4 rungs, not 7.
    losses = {1e-4: .159, 3e-4: .158, 1e-3: .05, 3e-3: .055, 1e-2: .17, 3e-2: .239, 1e-1: .941}
    tried, chosen = sweep(losses.get, center=3e-3, solves=lambda lr: False, baseline=0.167)
    assert chosen == 1e-3 and tried == [3e-4, 1e-3, 3e-3, 1e-2]
    assert learnt(0.05, 0.167, False) and not learnt(0.158, 0.167, False)
    assert learnt(0.76, 0.5, True) and not learnt(0.52, 0.5, True) and not learnt(math.nan, 0.5, True)


TINY = yaml.safe_load((Path(__file__).parents[1] / "studies" / "tiny.yaml").read_text())


@pytest.mark.parametrize("change, message", [
    ({"bogus": 1}, r"search.bogus: .*allowed"),
    ({"lengths": {"adding": {"start": 20, "floor": 2, "cap": 16}}}, r"search.lengths.adding: needs floor <= start <= cap"),
    ({"lengths": {"adding": {"start": 4, "floor": 2}}}, r"search.lengths.adding.cap: missing"),
    ({"tasks": ["adding", "xor"]}, r"search.lengths.xor: missing"),
    ({"lengths": {"adding": {"start": 4, "floor": 2, "cap": 16}, "copy": {"start": 4, "floor": 2, "cap": 8}}},
     r"search.lengths.copy: not in search.tasks"),
    ({"tune_seeds": [0]}, r"search.tune_seeds: \[0\] are also study seeds"),
    ({"lrs": [0.01, 0.03, 0.1]}, r"search.lrs: the search walks the study.s one lr ladder, tune.ladder"),
    ({"resolution": 1}, r"search.resolution: must be > 1"),
    ({"budget_factor": 3, "budget_ceiling": 2}, r"search.budget_ceiling: must be at least search.budget_factor \(3\)"),
    ({"budget_ceiling": 0}, r"search.budget_ceiling"),
    ({"models": ["nope"]}, r"search.models\[0\]"),
])
def test_bad_search_settings_are_refused_naming_the_key(change, message):
    params = copy.deepcopy(TINY)
    params["search"].update(change)
    with pytest.raises(ConfigError, match=message):
        parse_study(params)


def tiny_plan() -> SearchPlan:
    base = make_config("adding", length=4, model="rnn", hidden_size=8, steps=30, eval_every=10, batch_size=32,
                       eval_batch_size=64, data=DataConfig(n_train=256, n_val=64, n_test=64))
    return SearchPlan(base, SearchRange(start=4, floor=2, cap=16, seeds=(0, 1), steps=30), (0.003, 0.01, 0.03), 0.01, (100,))


def trained_folders(root: Path) -> set[str]:
    return {p.parent.relative_to(root).as_posix() for p in root.rglob("metrics.json")}


def test_an_interrupted_search_trains_exactly_its_missing_runs_and_finds_the_same_answer(tmp_path):
    whole = Search(tiny_plan(), tmp_path / "whole")
    answer = run_search(whole)
    folders = sorted(trained_folders(tmp_path / "whole"), key=lambda f: (tmp_path / "whole" / f).stat().st_mtime)
    assert whole.trained == len(folders) and whole.reused == 0

    # Interrupted after k runs: the runs finished before are on disk, the rest and the trace are not.
    k = len(folders) // 2
    shutil.copytree(tmp_path / "whole", tmp_path / "resumed")
    for folder in folders[k:]:
        shutil.rmtree(tmp_path / "resumed" / folder)
    (tmp_path / "resumed" / "search.json").unlink()
    resumed = Search(tiny_plan(), tmp_path / "resumed")
    assert run_search(resumed) == answer
    assert resumed.trained == len(folders) - k and resumed.reused == k
    assert trained_folders(tmp_path / "resumed") == set(folders)
    assert read_trace(tmp_path / "resumed") == json.loads(json.dumps(read_trace(tmp_path / "whole")))


def test_a_larger_budget_continues_each_failed_seed_and_reads_what_a_fresh_start_would(tmp_path):
    plan = tiny_plan()
    run_search(Search(plan, tmp_path))
    extended = [run for length in read_trace(tmp_path)["lengths"] for run in length["runs"] if run["extended"]]
    assert extended, "the tiny search confirms at least one failure with the larger budget"
    for run in extended:
        record = json.loads((tmp_path / run["folder"] / "metrics.json").read_text())
        assert record["resumed_from"] == plan.base.train.steps
        assert record["steps"] == (record["solved_step"] or 3 * plan.base.train.steps)  # early stop or the whole budget
    run = extended[0]
    record = json.loads((tmp_path / run["folder"] / "metrics.json").read_text())
    config = RunConfig.from_dict(record["config"])
    fresh = train(config, build_dataset(config))  # the same run from its start, with the larger budget
    assert fresh.final["test_metric"] == record["test_metric"] and fresh.final["solved"] == record["solved"]


def drive(walk):
    """Run a search generator's batches here, one run after another; its return value."""
    records = None
    while True:
        try:
            batch = walk.send(records)
        except StopIteration as stop:
            return stop.value
        records = [job.train(None) for job in batch]


def test_a_confirmation_sweeps_every_rung_from_its_own_lr_to_the_lower_ends_and_one_past_each():
    ladder = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1)
    # XOR RNN T=40: own 0.01, T=28 solved at 0.0003; the seeds solved 3 of 5 at 0.003, between them
    assert confirm_rungs(ladder, 0.01, 0.0003) == [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03]
    assert confirm_rungs(ladder, 0.0003, 0.01) == [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03]  # whichever end is higher
    # XOR RNN T=80 and copy LSTM T=28: both ends at one lr, solved (9 of 10, 5 of 5) at the rung below it
    assert confirm_rungs(ladder, 0.003, 0.003) == [0.001, 0.003, 0.01]
    assert confirm_rungs(ladder, 0.1, 0.03) == [0.01, 0.03, 0.1]  # nothing past the ladder's end, a stated bound
    assert confirm_rungs(ladder, 1e-6, 0.03) == [1e-6, 0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1]  # an lr off the ladder


def test_a_confirmations_sweep_walks_past_a_winning_end_up_to_the_ladders_ends():
    ladder = (0.0001, 0.0003, 0.001, 0.003, 0.01)
    assert rung_past(ladder, [0.001, 0.003, 0.01], 0.001) == [0.0003]  # the lowest tried won: one rung lower
    assert rung_past(ladder, [0.0003, 0.001, 0.003], 0.003) == [0.01]
    assert rung_past(ladder, [0.0003, 0.001, 0.003], 0.001) == []      # an inner rung won: done
    assert rung_past(ladder, [0.003, 0.01], 0.01) == []                # the ladder's end: a stated bound
    assert rung_past(ladder, [0.003], 0.003) == []                     # one rung: nothing to walk from


def test_a_rung_walked_to_after_a_full_solve_trains_only_to_that_solves_slowest_step():
    def row(lr, solved_steps):  # one tuning run per entry: its solve step, None where it did not solve
        return [{"lr": lr, "val_solved": s is not None, "solved_step": s, "val_metric": 0.5, "diverged": False}
                for s in solved_steps]
    full = lr_table(row(0.001, [8000, 11600]) + row(0.003, [5000, None]), higher_is_better=True)
    assert full[0]["lr"] == 0.001 and walk_budget(full[0], 27000) == 11600
    # a rung that solves both tuning seeds by 11,600 ranks as it would with the whole ceiling; one that does not, never first
    sooner = lr_table(row(0.001, [8000, 11600]) + row(0.0003, [7000, 11600]), higher_is_better=True)
    assert sooner[0]["lr"] == 0.0003  # a tie on the slowest solve goes to the median: the same order at any budget past it
    half = lr_table(row(0.001, [8000, None]) + row(0.003, [None, None]), higher_is_better=True)
    assert walk_budget(half[0], 27000) == 27000  # no rung solved every seed: the walk keeps the ceiling
    assert walk_budget(full[0], 9000) == 9000     # never more than the budget already cut to


def test_a_confirmation_picks_the_best_rung_between_its_own_lr_and_the_lower_ends_on_the_tuning_seeds(tmp_path):
    plan = tiny_plan()
    search = Search(plan, tmp_path)
    # lo = 4 solved at 0.03; hi = 5 failed at an lr (off the ladder) that cannot learn in 90 steps
    search.lrs = {4: 0.03, 5: 1e-6}
    search.outcomes = {4: LengthRuns(base={0: True, 1: True}, solve_steps={0: 20, 1: 30}),
                       5: LengthRuns(base={0: False, 1: False})}
    search.trace = {t: {"length": t, "lr": lr, "runs": []} for t, lr in search.lrs.items()}
    step = next_step(search.outcomes, plan.range)
    assert step == Confirm(5, 4, 90)
    drive(search.confirm(step))
    confirm = search.trace[5]["confirm"]
    assert sorted(row["lr"] for row in confirm["sweep"]) == [1e-6, 0.003, 0.01, 0.03]  # both ends and every rung between
    assert all(row["seeds"] == len(plan.tune_seeds) for row in confirm["sweep"])
    assert sorted(p.parent.name for p in (tmp_path / "adding-5" / "tune").glob("*/seed100")) == [
        "lr0.003-steps90", "lr0.01-steps90", "lr0.03-steps90", "lr1e-06-steps90"]
    best = confirm["sweep"][0]["lr"]
    assert confirm["lr"] == best != 1e-6  # the rule's first rung; the lr that cannot learn is not it
    assert search.outcomes[5].confirm_at == OTHER
    assert (confirm["lower_lr"], search.outcomes[5].lower_at) == (0.03, SAME if best == 0.03 else OTHER)
    retrain = next_step(search.outcomes, plan.range)
    assert retrain == Train(5, (0, 1), 90, extended=True)  # every seed again, at the chosen rung
    drive(search.step(retrain))
    for seed in (0, 1):
        record = json.loads((tmp_path / "adding-5" / f"lr{best:g}-steps90" / f"seed{seed}" / "metrics.json").read_text())
        assert record["config"]["train"]["lr"] == best and record["resumed_from"] == 0  # a fresh run
    assert search.outcomes[5].solved == sum(search.outcomes[5].extended.values())


def test_a_confirmation_at_the_same_lr_as_the_lower_end_still_sweeps_the_rungs_beside_it(tmp_path):
    plan = tiny_plan()  # ladder 0.003, 0.01, 0.03
    search = Search(plan, tmp_path)
    search.lrs = {4: 0.01, 5: 0.01}
    search.outcomes = {4: LengthRuns(base={0: True, 1: True}), 5: LengthRuns(base={0: False, 1: False})}
    search.trace = {t: {"length": t, "lr": lr, "runs": []} for t, lr in search.lrs.items()}
    step = next_step(search.outcomes, plan.range)
    drive(search.confirm(step))
    confirm = search.trace[5]["confirm"]
    assert sorted(row["lr"] for row in confirm["sweep"]) == [0.003, 0.01, 0.03]
    assert search.trained == 3 * len(plan.tune_seeds)
    assert search.outcomes[5].confirm_at == (OWN if confirm["lr"] == 0.01 else OTHER)
    line = search.confirm_line(step)
    assert f"at lr {confirm['lr']:g}, the best of 0.003 0.01 0.03" in line and "T=4 solved at 0.01" in line


def test_the_second_confirmation_trains_every_seed_afresh_at_the_lower_ends_lr_and_can_move_the_bracket(tmp_path):
    plan = tiny_plan()  # ladder 0.003, 0.01, 0.03
    search = Search(plan, tmp_path)
    # lo = 4 solved at 0.03; hi = 5 failed at its own 1e-6 (off the ladder), and at the tuning seeds' 0.003
    search.lrs = {4: 0.03, 5: 1e-6}
    search.confirm_lrs, search.lower_lrs = {5: 0.003}, {5: 0.03}
    search.outcomes = {4: LengthRuns(base={0: True, 1: True}, solve_steps={0: 20, 1: 30}),
                       5: LengthRuns(base={0: False, 1: False}, extended={0: False, 1: False}, confirm_at=OTHER,
                                     lower_at=OTHER)}
    search.trace = {t: {"length": t, "lr": lr, "runs": []} for t, lr in search.lrs.items()}
    step = next_step(search.outcomes, plan.range)
    assert step == Train(5, (0, 1), 90, extended=True, at_lower=True)
    drive(search.step(step))
    for seed in (0, 1):
        record = json.loads((tmp_path / "adding-5" / "lr0.03-steps90" / f"seed{seed}" / "metrics.json").read_text())
        assert record["config"]["train"]["lr"] == 0.03 and record["resumed_from"] == 0  # a fresh run at lo's lr
        assert record["solved"] == search.outcomes[5].at_lower[seed]
    assert [run["at_lower"] for run in search.trace[5]["runs"]] == [True, True]
    assert "at the lr the shorter length was solved at" in search.progress_line(step)
    runs = search.outcomes[5]
    assert runs.solved == runs.solved_at_lower == sum(runs.at_lower.values())  # the first set solved none
    assert search.trace[5]["by_lower"] == runs.by_lower == (runs.solved_at_lower > 0)
    assert search.solving_lrs()[5] == (0.03 if runs.by_lower else 0.003)  # the lr the next sweep starts near


def test_a_confirmation_at_the_floor_names_no_shorter_length(tmp_path):
    plan = tiny_plan()
    search = Search(plan, tmp_path)
    search.lrs = {2: 0.03}
    search.outcomes = {2: LengthRuns(base={0: False, 1: False})}
    search.trace = {2: {"length": 2, "lr": 0.03, "runs": []}}
    step = next_step(search.outcomes, plan.range)
    assert step == Confirm(2, None, 90)
    drive(search.confirm(step))
    tried = sorted(row["lr"] for row in search.trace[2]["confirm"]["sweep"])
    assert tried in ([0.01, 0.03], [0.003, 0.01, 0.03])  # its own and the rung below, and past it if that won
    assert "no shorter length solved" in search.confirm_line(step)
    assert search.outcomes[2].lower_at == SAME  # no shorter length: no second lr


def test_searches_driven_side_by_side_make_the_decisions_each_makes_alone(tmp_path):
    import dataclasses

    plans = {"rnn": tiny_plan()}
    gru = plans["rnn"].base.model.__class__("gru", hidden_size=8)
    plans["gru"] = dataclasses.replace(plans["rnn"], base=dataclasses.replace(plans["rnn"].base, model=gru))
    for model, plan in plans.items():
        run_search(Search(plan, tmp_path / "alone" / model))
    together = [Search(plan, tmp_path / "together" / model) for model, plan in plans.items()]
    found = run_searches(together, 3, together[0].device)
    assert all(isinstance(answer, Found) for answer in found)
    for model in plans:  # the same lengths, lrs, seeds and outcomes, and the same runs on disk
        alone, beside = read_trace(tmp_path / "alone" / model), read_trace(tmp_path / "together" / model)
        assert beside == alone
        assert trained_folders(tmp_path / "together" / model) == trained_folders(tmp_path / "alone" / model)
        for folder in trained_folders(tmp_path / "alone" / model):
            first, second = (json.loads((tmp_path / side / model / folder / "metrics.json").read_text())
                             for side in ("alone", "together"))
            assert second["test_metric"] == first["test_metric"] and second["steps"] == first["steps"]


def test_a_search_whose_runs_fail_stops_with_the_cause_and_the_others_reach_their_answer(tmp_path, monkeypatch):
    import dataclasses

    monkeypatch.syspath_prepend(str(Path(__file__).parent / "plugins"))
    good = tiny_plan()
    broken = dataclasses.replace(good, base=dataclasses.replace(
        good.base, model=good.base.model.__class__("mypkg.cells.Broken", hidden_size=8)))
    searches = [Search(broken, tmp_path / "broken"), Search(good, tmp_path / "good")]
    failure, answer = run_searches(searches, 2, searches[0].device)
    assert isinstance(failure, SearchFailed) and "broken on purpose" in str(failure)
    assert isinstance(answer, Found) and read_trace(tmp_path / "good")["found"] is not None
    assert read_trace(tmp_path / "broken") is None or read_trace(tmp_path / "broken")["found"] is None
    with pytest.raises(SearchFailed, match="broken on purpose"):
        run_search(Search(broken, tmp_path / "broken"))  # failed runs are not read back as outcomes


def test_a_worker_that_dies_fails_the_runs_in_flight_and_the_queued_ones_go_on_in_a_fresh_pool(tmp_path, monkeypatch):
    import dataclasses
    import os

    from rnnbench.search import runner

    real_train = runner.train

    def train_dying_for_gru(config, dataset, on_eval=None, probe=None, resume=None):
        if config.model.name == "gru":
            os._exit(9)  # what a kill or a native crash looks like to the pool
        return real_train(config, dataset, on_eval=on_eval)

    monkeypatch.setattr(runner, "train", train_dying_for_gru)  # forked workers inherit the patch
    plan = tiny_plan()
    gru = dataclasses.replace(plan, base=dataclasses.replace(plan.base, model=plan.base.model.__class__("gru", hidden_size=8)))
    searches = [Search(gru, tmp_path / "gru"), Search(plan, tmp_path / "rnn")]
    died, answer = run_searches(searches, 1, searches[0].device)  # one worker: only the dying run is in flight
    assert isinstance(died, SearchFailed) and "process training this run died" in str(died)
    assert isinstance(answer, Found) and answer == run_search(Search(plan, tmp_path / "rnn-alone"))
