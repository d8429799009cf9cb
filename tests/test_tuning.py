"""The tuning protocol's selection rule on synthetic sweeps, and the plans params.yaml makes."""
import copy
import os
import re
import signal
from pathlib import Path

import pytest
import yaml

from rnnbench.config import ConfigError, Execution, TaskTuning
from rnnbench.study import parse_study
from rnnbench.training.tuning import choose_lr, lr_table, tune_task

TINY = yaml.safe_load((Path(__file__).parents[1] / "studies" / "tiny.yaml").read_text())


def sweep(*runs):
    """runs: (lr, val_solved, solved_step, val_metric) per seed; val_metric None = diverged."""
    return [{"lr": lr, "seed": i, "val_solved": solved, "solved_step": step, "val_metric": metric,
             "diverged": metric is None} for i, (lr, solved, step, metric) in enumerate(runs)]


def test_the_highest_validation_solved_fraction_wins_over_speed():
    runs = sweep((0.01, True, 300, 0.005), (0.01, False, None, 0.1),    # 1/2, fast
                 (0.003, True, 2000, 0.009), (0.003, True, 2500, 0.008))  # 2/2, slow
    assert choose_lr(runs, higher_is_better=False) == (0.003, True)


def test_among_equal_solved_fractions_fewer_steps_to_solve_win():
    runs = sweep((0.001, True, 2000, 0.005), (0.003, True, 800, 0.009), (0.01, True, 1200, 0.001))
    assert choose_lr(runs, higher_is_better=False) == (0.003, False)  # not at an edge of the sweep


def test_among_rungs_every_tuning_seed_solves_the_one_whose_slowest_seed_is_fastest_wins():
    # 0.03 has the fastest solve but its other seed needs long; 0.01 solves both soon: seed luck
    # must not pick the rung (the GRU on copy at 0.03 left 3 of 5 study seeds unsolved)
    runs = sweep((0.03, True, 500, 0.001), (0.03, True, 2600, 0.002), (0.01, True, 1200, 0.001),
                 (0.01, True, 1400, 0.001))
    assert choose_lr(runs, higher_is_better=False)[0] == 0.01
    table = {row["lr"]: row for row in lr_table(runs, higher_is_better=False)}
    assert table[0.03]["slowest_steps_to_solve"] == 2600 and table[0.03]["median_steps_to_solve"] == 1550


def test_when_nothing_solves_the_best_validation_metric_wins_and_divergence_is_worst():
    runs = sweep((0.001, False, None, 0.5), (0.003, False, None, 0.62), (0.01, False, None, None))
    assert choose_lr(runs, higher_is_better=True)[0] == 0.003  # accuracy: higher is better
    assert choose_lr(runs, higher_is_better=False)[0] == 0.001  # MSE: lower is better
    table = {row["lr"]: row for row in lr_table(runs, higher_is_better=False)}
    assert table[0.01]["diverged"] == 1 and table[0.01]["median_val_metric"] == float("inf")


def test_a_full_tie_goes_to_the_smaller_lr():
    runs = sweep((0.01, True, 500, 0.005), (0.003, True, 500, 0.005))
    assert choose_lr(runs, higher_is_better=False) == (0.003, True)


def params(**changes):
    p = copy.deepcopy(TINY)
    p.update(changes)
    return p


def test_each_tuned_model_gets_the_same_sweep_on_seeds_disjoint_from_the_study():
    study = parse_study(params())
    for model in ("rnn", "lstm", "gru"):
        for plan in study.tuning_plan(model):
            assert plan.source == "tuned" and plan.lengths == study.tune.points[plan.task]
            assert sorted((c.task.length, c.train.lr, c.seed) for c in plan.configs) == sorted(
                (n, lr, s) for n in plan.lengths for lr in study.tune.lrs for s in study.tune.seeds)
            assert not {c.seed for c in plan.configs} & set(study.seeds)


def test_a_task_with_two_tuning_lengths_sweeps_both_and_the_rule_pools_them():
    study = parse_study(params(tune={**TINY["tune"], "points": [*TINY["tune"]["points"], "adding-8"]}))
    adding = study.tuning_plan("rnn")[0]
    assert adding.lengths == (5, 8) and len(adding.configs) == 2 * len(study.tune.lrs) * len(study.tune.seeds)
    # 0.01 solves the short length only, 0.003 both: pooled, 0.003 has the higher solved fraction.
    runs = sweep((0.01, True, 200, 0.005), (0.01, False, None, 0.1), (0.003, True, 900, 0.008),
                 (0.003, True, 2000, 0.009))
    assert choose_lr(runs, higher_is_better=False)[0] == 0.003


def test_a_hand_set_lr_skips_the_sweep_and_a_copied_lr_names_its_source():
    study = parse_study(params(per_model={"gru": {"train": {"lr": 0.02}}, "lstm-numpy": {"lr_from": "lstm"}}))
    gru = study.tuning_plan("gru")
    assert {(p.source, p.lr, p.configs) for p in gru} == {("hand-set", 0.02, ())}  # no sweep run
    assert [p.source for p in study.tuning_plan("lstm-numpy")] == ["from lstm"]


@pytest.mark.parametrize("tune,message", [
    ({"lrs": [0.01], "seeds": [100], "points": ["adding-5", "xor-5"]}, r"tune.lrs: a sweep needs at least two"),
    ({"lrs": [0.01, 0.03], "seeds": [0], "points": ["adding-5", "xor-5"]}, r"tune.seeds: \[0\] are also study seeds"),
    ({"lrs": [0.01, 0.03], "seeds": [100], "points": ["adding-5"]}, r"tune.points: no tuning point for task 'xor'"),
    ({"lrs": [0.01, "fast"], "seeds": [100], "points": ["adding-5", "xor-5"]}, r"tune.lrs\[1\]: must be a positive"),
    ({"lr": [0.01]}, r"tune.lr: unknown value 'lr'; allowed: ladder, lrs, seeds, points"),
    ({"ladder": [0.003, 0.01, 0.03], "lrs": [0.01, 0.02], "seeds": [100], "points": ["adding-5", "xor-5"]},
     r"tune.lrs: \[0.02\] are not rungs of tune.ladder"),
])
def test_a_bad_tune_block_is_refused_naming_the_key(tune, message):
    with pytest.raises(ConfigError, match=message):
        parse_study(params(tune=tune))


def test_lr_from_must_name_a_model_with_a_tuned_lr():
    with pytest.raises(ConfigError, match=r"per_model.lstm-numpy.lr_from: 'gru' has no tuned lr for adding \(hand-set\)"):
        parse_study(params(per_model={"gru": {"train": {"lr": 0.02}}, "lstm-numpy": {"lr_from": "gru"}}))


def test_a_sweep_on_real_runs_chooses_one_of_its_lrs_and_keeps_every_run():
    study = parse_study(params())
    plan = study.tuning_plan("lstm")[0]
    result = tune_task(plan, Execution(1))
    assert isinstance(result, TaskTuning) and result.lr in study.tune.ladder
    swept = sorted({run["lr"] for run in result.runs})
    # two lrs to start, so the best is at an end of them: the sweep walks the ladder past it until
    # the best is inside or at a ladder end, which only then is flagged
    assert set(study.tune.lrs) <= set(swept) and result.lr in swept
    assert result.lr not in (swept[0], swept[-1]) or result.lr in (study.tune.ladder[0], study.tune.ladder[-1])
    assert result.at_edge == (result.lr in (study.tune.ladder[0], study.tune.ladder[-1]))
    per_lr = len(plan.configs) // len(study.tune.lrs)
    assert len(result.runs) == per_lr * len(swept)


def test_a_cell_takes_the_chosen_lr_and_a_result_made_for_another_sweep_is_refused(tmp_path):
    import dataclasses

    from rnnbench.config import write_tuning
    from rnnbench.study import Cell, tuning_result_file

    study = parse_study(params())
    chosen = [dataclasses.replace(plan, lr=0.003) for plan in study.tuning_plan("lstm")]
    write_tuning(tmp_path / tuning_result_file("lstm"), "lstm", chosen)
    assert study.tuned_lr("lstm", "adding", tmp_path) == 0.003
    assert study.tuned_lr("lstm-numpy", "adding", tmp_path) == 0.003  # lr_from: lstm
    assert {c.train.lr for c in study.resolved_configs(Cell("adding", "lstm", 8), {("lstm", "adding"): 0.003})} == {0.003}
    other = parse_study(params(tune={**TINY["tune"], "lrs": [0.01, 0.03]}))
    with pytest.raises(ConfigError, match=r"tuning: '.*lstm.json' has no lr for adding under the current params"):
        other.tuned_lr("lstm", "adding", tmp_path)
    for edited in (-5.0, float("nan")):  # a hand-edited result is refused, never written into a cell's configs
        write_tuning(tmp_path / tuning_result_file("lstm"), "lstm",
                     [dataclasses.replace(plan, lr=edited) for plan in study.tuning_plan("lstm")])
        with pytest.raises(ConfigError, match=r"holds lr .* for adding, not a positive finite number"):
            study.tuned_lr("lstm", "adding", tmp_path)


def dying_train(marker_dir: Path, victim_lr: float, times: int):
    """trainer.train that SIGKILLs its own process on the run at `victim_lr`, seed of the first
    config, the first `times` times it is called (counted by marker files: workers are processes)."""
    from rnnbench.training import tuning

    real_train = tuning.train

    def train(config, dataset, on_eval=None, probe=None, resume=None):
        if config.train.lr == victim_lr and config.seed == min_seed[0]:
            deaths = len(list(marker_dir.glob("died-*")))
            if deaths < times:
                (marker_dir / f"died-{deaths}").touch()
                os.kill(os.getpid(), signal.SIGKILL)
        return real_train(config, dataset, on_eval, probe, resume)

    min_seed = [None]
    return train, min_seed


@pytest.mark.parametrize("times", [1, 2], ids=["killed-once", "killed-every-time"])
def test_a_killed_tuning_worker_costs_one_retry_and_only_a_run_that_dies_again_fails_the_sweep(
        tmp_path, monkeypatch, capfd, times):
    from rnnbench.training import tuning
    from rnnbench.training.tuning import TuningFailed

    plan = parse_study(params()).tuning_plan("gru")[0]
    victim = plan.configs[-1]
    train, min_seed = dying_train(tmp_path, victim.train.lr, times)
    min_seed[0] = victim.seed
    monkeypatch.setattr(tuning, "train", train)  # forked workers inherit the patch
    if times == 1:
        result = tune_task(plan, Execution(2))
        assert result.lr == tune_task(plan, Execution(1)).lr and not any(r.get("failed") for r in result.runs)
    else:
        with pytest.raises(TuningFailed, match=rf"1 of \d+ tuning runs .* failed \(first: T={victim.task.length} "
                                               rf"lr={victim.train.lr:g} seed {victim.seed}: the process training it died"):
            tune_task(plan, Execution(2))
    retried = re.search(r"retrying tuning runs \[([\d, ]+)\] one at a time", capfd.readouterr().err)
    assert retried and str(len(plan.configs) - 1) in retried.group(1).split(", ")
