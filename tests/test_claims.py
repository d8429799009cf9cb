"""Specifications of the tutorials' claims: the claims file, each measure's verdict rule, and the
committed reports/claims.csv recomputed from the committed tables."""
import dataclasses
import inspect
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rnnbench.report import claims as c
from rnnbench.report.tables import contrasts, critical_lengths
from rnnbench.study import load_study

REPO = Path(__file__).resolve().parents[1]
REPORTS = REPO / "reports"


def cell(task="adding", model="rnn", length=100, **values):
    row = {"task": task, "model": model, "length": length, "metric": "mse", "seeds": 5, "completed": 5,
           "median": 0.1, "baseline": 0.167, "solved": 0, "solved_fraction": 0.0, "median_steps_to_solve": math.nan,
           "batch_size": 64, "max_steps": 3000, "n_params": 1000, "mean_steps_per_s": 100.0, "budget_limited": False,
           "gate_f_mean": math.nan, "gate_i_mean": math.nan}
    row.update(values)
    row["solved_fraction"] = row["solved"] / row["seeds"]
    return row


def tables(rows, decay=None, n_train=10_000):
    summary = pd.DataFrame(rows)
    study = type("S", (), {"models": tuple(dict.fromkeys(summary["model"]))})()
    return c.Tables(summary, critical_lengths(summary), decay if decay is not None else pd.DataFrame(
        columns=["task", "model", "length", "half_life_trained"]), contrasts(study, summary), n_train)


def test_the_claims_file_holds_at_least_25_claims_from_every_tutorial_each_with_a_known_measure():
    claims = c.read_claims()
    assert len(claims) >= 25
    assert {claim["source"][:3] for claim in claims} == {"000", "001", "002", "003", "004"}
    assert len({claim["id"] for claim in claims}) == len(claims)
    for claim in claims:
        measure = c.MEASURES[claim["measure"]]
        for args in [r["args"] for r in claim.get("readings", [])] or [claim.get("args", {})]:
            inspect.signature(measure).bind(None, **args)  # every argument named, none missing
        assert claim["words"].strip()


def test_a_claims_file_naming_an_unknown_measure_is_refused_naming_the_known_ones(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump([{"id": "x", "source": "000", "words": "w", "measure": "vibes"}]))
    with pytest.raises(ValueError, match="names measure 'vibes'; known: at_baseline"):
        c.read_claims(path)


def test_stuck_at_baseline_is_confirmed_only_near_chance_with_no_seed_solved():
    near = tables([cell(median=0.16)])
    assert c.at_baseline(near, "adding", "rnn", 100, 0.1)[1] == c.CONFIRMED
    worse = tables([cell(median=0.19)])  # worse than guessing is still guessing
    assert c.at_baseline(worse, "adding", "rnn", 100, 0.1)[1] == c.CONFIRMED
    assert c.at_baseline(tables([cell(median=0.16, solved=1)]), "adding", "rnn", 100, 0.1)[1] == c.REFUTED
    learnt = tables([cell(median=0.05)])
    assert c.at_baseline(learnt, "adding", "rnn", 100, 0.1)[1] == c.REFUTED
    assert c.at_baseline(learnt, "adding", "rnn", 200, 0.1)[1] == c.NOT_MEASURED


def decay_rows(**ratios):
    return pd.DataFrame([{"task": "adding", "model": m, "length": 100, "outcome": "all", "ratio_init": r, "runs": 5}
                         for m, r in ratios.items()])


@pytest.mark.parametrize("fb0_ratio,fb0_solved,verdict", [
    (1e-21, 4, c.DEPENDS),    # vanishes at init like the RNN's, yet learns: the claim's two halves split
    (1e-21, 0, c.CONFIRMED),  # vanishes and fails, like the RNN
    (1e-8, 4, c.REFUTED),     # neither: its gradient is the LSTM's and it learns
])
def test_a_variant_failing_like_the_rnn_reads_both_the_vanishing_at_init_and_the_learning(fb0_ratio, fb0_solved, verdict):
    t = tables([cell(model="lstm-fb0", solved=fb0_solved), cell(model="rnn"), cell(model="lstm", solved=5)],
               decay=decay_rows(**{"lstm-fb0": fb0_ratio, "rnn": 1e-24, "lstm": 4e-8}))
    measured, got, note = c.variant_fails_like(t, "lstm-fb0", "rnn")
    assert got == verdict and "at init: lstm-fb0" in measured and "rnn 1e-24" in measured
    assert ("does vanish" in note) == (fb0_ratio < 1e-15)


def test_an_accuracy_pair_is_read_at_the_lengths_the_claim_names_and_one_failed_half_refutes_it():
    rows = [cell(task="xor", model="rnn", length=40, median=0.5), cell(task="xor", model="lstm", length=40, median=0.99),
            cell(task="xor", model="lstm", length=57, median=0.5), cell(task="xor", model="rnn", length=60, median=0.51)]
    args = dict(task="xor", low_model="rnn", low=0.5, tolerance=0.05, high_model="lstm", high=0.95)
    measured, verdict, _ = c.accuracy_pair(tables(rows), claimed_range=[50, 100], **args)
    assert verdict == c.REFUTED and "lstm median accuracy T=57: 0.5" in measured  # T=40's 0.99 is outside the range
    both = rows[:2] + [cell(task="xor", model="lstm", length=57, median=0.97), rows[3]]
    assert c.accuracy_pair(tables(both), claimed_range=[50, 100], **args)[1] == c.CONFIRMED
    assert c.accuracy_pair(tables(both[:3]), claimed_range=[50, 100], **args)[1] == c.NOT_MEASURED  # rnn never ran there
    assert c.accuracy_pair(tables(rows[:2]), claimed_range=[50, 100], **args)[1] == c.NOT_MEASURED


def test_solving_within_epochs_converts_steps_with_the_batch_and_training_set_sizes():
    # 1500 steps x 64 / 10,000 = 9.6 epochs: inside 10; 1600 steps = 10.24: outside.
    assert c.solves_within_epochs(tables([cell(model="lstm", solved=5, median_steps_to_solve=1500)]),
                                  "adding", "lstm", 100, 10)[1] == c.CONFIRMED
    assert c.solves_within_epochs(tables([cell(model="lstm", solved=5, median_steps_to_solve=1600)]),
                                  "adding", "lstm", 100, 10)[1] == c.REFUTED


def test_a_collapse_claim_reads_t50_refuted_when_its_interval_misses_the_range_depends_when_too_wide():
    before = tables([cell(length=5, solved=5), cell(length=10, solved=0), cell(length=40, solved=0)])
    assert c.collapse_between(before, "rnn", 25, 30)[1] == c.REFUTED
    bracket = tables([cell(length=10, solved=5), cell(length=50, solved=0)])
    assert c.collapse_between(bracket, "rnn", 25, 30)[1] == c.DEPENDS
    later = tables([cell(length=10, solved=5), cell(length=100, solved=5)])
    assert c.collapse_between(later, "rnn", 25, 30)[1] == c.REFUTED
    inside = tables([cell(length=20, solved=5), cell(length=35, solved=0)])  # T50 = sqrt(20 x 35) = 26.5
    assert c.collapse_between(inside, "rnn", 25, 30)[1] == c.CONFIRMED


def test_a_gate_claim_depends_on_the_task_when_some_tasks_are_inside_its_range_and_others_not():
    rows = [cell(task="adding", model="lstm", gate_f_mean=0.95), cell(task="xor", model="lstm", gate_f_mean=0.5)]
    measured, verdict, note = c.gate_mean(tables(rows), "lstm", "f", 0.9, 1.0)
    assert verdict == c.DEPENDS and "adding" in note and "xor" not in note.split("for")[-1]
    assert c.gate_mean(tables(rows[:1]), "lstm", "f", 0.9, 1.0)[1] == c.CONFIRMED


def test_ratios_read_every_shared_cell_and_a_split_verdict_is_depends():
    rows = [cell(model="lstm", n_params=4000, mean_steps_per_s=50.0), cell(model="rnn", n_params=1000),
            cell(task="xor", model="lstm", n_params=3000, mean_steps_per_s=50.0), cell(task="xor", model="rnn", n_params=1000)]
    assert c.parameter_ratio(tables(rows[:2]), "lstm", "rnn", 3.5, 4.5)[1] == c.CONFIRMED
    assert c.parameter_ratio(tables(rows), "lstm", "rnn", 3.5, 4.5)[1] == c.DEPENDS


def speed_rows(**steps_per_s_and_macs):
    return pd.DataFrame([{"model": m, "task": "adding", "length": 100, "hidden_size": 64, "batch_size": 64, "steps": 100,
                          "repeats": 3, "steps_per_s": v[0], "macs_per_step": v[1], "calibration_s": 1.5, "torch": "x",
                          "device": "cpu"} for m, v in steps_per_s_and_macs.items()])


def test_speed_claims_read_the_controlled_benchmark_never_the_study_runs():
    rows = [cell(model="lstm", mean_steps_per_s=10.0), cell(model="rnn", mean_steps_per_s=100.0)]  # ignored
    bench = dataclasses.replace(tables(rows), speed=speed_rows(rnn=(100.0, 4096), lstm=(40.0, 16384), gru=(30.0, 12288)))
    measured, verdict, _ = c.speed_ratio(bench, "lstm", "rnn", 2.0, 4.0)
    assert verdict == c.CONFIRMED and "rnn trains 2.5x as many steps/s as lstm" in measured
    # "computationally more efficient": the GRU does 3/4 of the LSTM's arithmetic although this kernel is slower
    assert c.speed_ratio(bench, "lstm", "gru", 1.0, math.inf, basis="architecture")[1] == c.CONFIRMED
    assert c.speed_ratio(bench, "lstm", "gru", 1.0, math.inf)[1] == c.REFUTED
    assert c.speed_ratio(tables(rows), "lstm", "rnn", 2.0, 4.0)[1] == c.NOT_MEASURED  # no benchmark, no verdict


def test_similar_performance_is_refuted_by_one_significant_contrast_and_never_confirmed_by_none():
    same = tables([cell(model="lstm", solved=5), cell(model="gru", solved=4)])
    assert c.no_significant_difference(same, "lstm", "gru")[1] == c.CANNOT_TELL
    apart = tables([cell(model="lstm", solved=5), cell(model="gru", solved=0)])
    assert c.no_significant_difference(apart, "lstm", "gru")[1] == c.REFUTED


def test_the_per_step_gradient_factor_comes_from_the_half_life():
    decay = pd.DataFrame([{"task": "adding", "model": "rnn", "length": 100, "half_life_trained": math.log(2) / -math.log(0.3)}])
    measured, verdict, _ = c.gradient_factor(tables([cell()], decay), "adding", {"rnn": 0.3}, 0.01)
    assert verdict == c.CONFIRMED and "T=100: 0.3" in measured
    two = pd.concat([decay, decay.assign(length=50, half_life_trained=math.log(2) / -math.log(0.9))])
    assert c.gradient_factor(tables([cell()], two), "adding", {"rnn": 0.3}, 0.01)[1] == c.DEPENDS  # every length read


def test_an_illustration_is_shown_not_judged_and_an_ambiguous_claim_is_judged_per_reading():
    rows = [cell(model="lstm", n_params=400), cell(model="gru", n_params=300)]
    claims = [{"id": "toy", "source": "002", "words": "w", "kind": "illustration", "measure": "parameter_ratio",
               "args": {"larger": "lstm", "smaller": "gru", "low": 1.0, "high": 2.0}},
              {"id": "whose", "source": "003", "words": "w", "kind": "ambiguous", "measure": "parameter_ratio",
               "readings": [{"words": "a", "args": {"larger": "lstm", "smaller": "gru", "low": 1.25, "high": 1.43}},
                            {"words": "b", "args": {"larger": "lstm", "smaller": "gru", "low": 0.7, "high": 0.8}}]}]
    table = c.claims_table(tables(rows), claims).set_index("id")
    assert table.loc["toy", "verdict"] == c.ILLUSTRATION and "1.33" in table.loc["toy", "measured"]
    assert table.loc["whose", "verdict"] == c.DEPENDS
    assert 'reading "a": confirmed' in table.loc["whose", "note"] and 'reading "b": refuted' in table.loc["whose", "note"]


def test_the_committed_claims_are_what_the_committed_tables_give():
    """Every verdict in reports/claims.csv recomputed from the committed tables (no run folders)."""
    committed = pd.read_csv(REPORTS / "claims.csv", keep_default_na=False)
    study = load_study(REPO / "params.yaml")
    read = lambda name: pd.read_csv(REPORTS / name)  # noqa: E731
    recomputed = c.claims_table(c.Tables(read("summary.csv"), read("critical_length.csv"),
                                         read("gradient_decay.csv"), read("contrasts.csv"), study.data.n_train,
                                         read("gate_statistics.csv"), read("speed.csv"), read("search_lengths.csv")))
    assert len(committed) >= 25
    pd.testing.assert_frame_equal(recomputed.reset_index(drop=True), committed, check_dtype=False)


# --- the claims added for #31: each rule on synthetic tables ------------------------------------
def gate_rows(task="adding", model="lstm", **corr):
    return [{"task": task, "model": model, "length": 100, "seed": s, "solved": True, **corr} for s in range(3)]


def test_a_gate_correlation_is_the_median_over_solved_runs_per_memory_task_against_the_claimed_range():
    t = tables([cell(model="lstm", solved=5)])
    inside = dataclasses.replace(t, gates=pd.DataFrame(gate_rows(corr_f_i=-0.3)))
    assert c.gate_correlation(inside, "lstm", "f", "i", -0.5, -0.2)[1] == c.CONFIRMED
    outside = dataclasses.replace(t, gates=pd.DataFrame(gate_rows(corr_f_i=0.4)))
    assert c.gate_correlation(outside, "lstm", "f", "i", -0.5, -0.2)[1] == c.REFUTED
    assert c.gate_correlation(t, "lstm", "f", "i", -0.5, -0.2)[1] == c.NOT_MEASURED  # no traces


def test_converging_n_times_faster_reads_every_length_both_solve_and_ignores_the_rest():
    rows = [cell(length=10, model="rnn", solved=5, median_steps_to_solve=1000),
            cell(length=10, model="lstm", solved=5, median_steps_to_solve=400),
            cell(length=100, model="lstm", solved=5, median_steps_to_solve=600)]  # the rnn fails: no ratio
    measured, verdict, _ = c.steps_to_solve_ratio(tables(rows), "rnn", "lstm", 2.0, 3.0)
    assert verdict == c.CONFIRMED and "adding T=10 2.5" in measured
    rows[1]["median_steps_to_solve"] = 900
    assert c.steps_to_solve_ratio(tables(rows), "rnn", "lstm", 2.0, 3.0)[1] == c.REFUTED


def test_a_component_is_crucial_when_fewer_seeds_solve_without_it_or_they_need_far_more_steps():
    base = cell(model="lstm", solved=5, median_steps_to_solve=600)
    fails = tables([base, cell(model="lstm-fb0", solved=0)])
    assert c.variant_needed(fails, "lstm-fb0", "lstm", "adding", 100, 1.5)[1] == c.CONFIRMED  # 0/5 vs 5/5
    slow = tables([base, cell(model="lstm-fb0", solved=5, median_steps_to_solve=1200)])
    assert c.variant_needed(slow, "lstm-fb0", "lstm", "adding", 100, 1.5)[1] == c.CONFIRMED
    same = tables([base, cell(model="lstm-fb0", solved=5, median_steps_to_solve=700)])
    assert c.variant_needed(same, "lstm-fb0", "lstm", "adding", 100, 1.5)[1] == c.REFUTED
    one_less = tables([base, cell(model="lstm-fb0", solved=4, median_steps_to_solve=600)])  # p = 1
    assert c.variant_needed(one_less, "lstm-fb0", "lstm", "adding", 100, 1.5)[1] == c.CANNOT_TELL


def critical_with_lrs(rows, lrs):
    """The tables with searches whose lengths chose these lrs: (task, model) -> {length: lr}."""
    searched = pd.DataFrame([{"task": task, "model": model, "length": length, "lr": lr}
                             for (task, model), by_length in lrs.items() for length, lr in by_length.items()])
    return dataclasses.replace(tables(rows), searched=searched)


def test_the_lr_advice_needs_the_range_and_lower_lrs_at_longer_lengths():
    rows = [cell(model="rnn", length=10), cell(model="lstm", length=10)]
    lower = critical_with_lrs(rows, {("adding", "rnn"): {10: 0.01, 20: 0.003, 40: 0.001},
                                     ("adding", "lstm"): {10: 0.01, 80: 0.003}})
    assert c.lr_advice(lower, 0.001, 0.01)[1] == c.CONFIRMED
    higher = critical_with_lrs(rows, {("adding", "rnn"): {10: 0.001, 40: 0.01}, ("adding", "lstm"): {10: 0.003, 80: 0.01}})
    measured, verdict, _ = c.lr_advice(higher, 0.001, 0.01)
    assert verdict == c.DEPENDS and "higher: adding/rnn, adding/lstm" in measured  # in range, but rising
    wild = critical_with_lrs(rows, {("adding", "rnn"): {10: 0.0001, 40: 0.1}})
    assert c.lr_advice(wild, 0.001, 0.01)[1] == c.REFUTED


def test_memory_capacity_holds_only_where_every_tier_does():
    def xor(*medians):
        return tables([cell(task="xor", model="lstm", length=n, metric="accuracy", median=m, baseline=0.5)
                       for n, m in medians])
    tiers = [[20, 0.995], [50, 0.95], [100, 0.90]]
    assert c.memory_capacity(xor((10, 1.0), (40, 0.97), (80, 0.92)), "xor", "lstm", tiers)[1] == c.CONFIRMED
    assert c.memory_capacity(xor((10, 1.0), (40, 0.97), (80, 0.55)), "xor", "lstm", tiers)[1] == c.REFUTED
    assert c.memory_capacity(xor((10, 1.0), (40, 0.97)), "xor", "lstm", tiers)[1] == c.CANNOT_TELL  # 100 untested


def test_no_clear_winner_is_confirmed_only_when_each_model_wins_somewhere():
    def pair(task, solved_lstm, solved_gru, metric="mse"):
        return [cell(task=task, model="lstm", solved=solved_lstm, metric=metric),
                cell(task=task, model="gru", solved=solved_gru, metric=metric)]
    one_sided = tables(pair("adding", 0, 5) + pair("xor", 0, 5, "accuracy"))
    measured, verdict, _ = c.no_clear_winner(one_sided, "lstm", "gru")
    assert verdict == c.REFUTED and "gru better on adding, xor" in measured
    both = tables(pair("adding", 0, 5) + pair("xor", 5, 0, "accuracy"))
    assert c.no_clear_winner(both, "lstm", "gru")[1] == c.CONFIRMED
    neither = tables(pair("adding", 5, 5) + pair("xor", 5, 4, "accuracy"))
    assert c.no_clear_winner(neither, "lstm", "gru")[1] == c.CANNOT_TELL


def test_the_gate_table_correlates_the_gates_of_every_traced_run(tmp_path):
    import numpy as np

    from rnnbench.report.gate_tables import gate_table

    rng = np.random.default_rng(0)
    f = rng.random((4, 10, 8))
    folder = tmp_path / "runs/adding-10/lstm/seed0"
    folder.mkdir(parents=True)
    np.savez(folder / "gates.npz", i=1 - f, f=f, o=rng.random((4, 10, 8)), g=f, c=f)
    results = pd.DataFrame([{"task": "adding", "model": "lstm", "length": 10, "seed": 0, "solved": True,
                             "failed": False, "run_dir": "runs/adding-10/lstm/seed0"},
                            {"task": "adding", "model": "rnn", "length": 10, "seed": 0, "solved": False,
                             "failed": False, "run_dir": "runs/adding-10/rnn/seed0"}])  # no traces: no row
    [row] = gate_table(results, tmp_path).to_dict("records")
    assert row["corr_f_i"] == pytest.approx(-1.0) and abs(row["corr_i_o"]) < 0.2
    assert row["gate_f_mean"] == pytest.approx(f.mean())


def test_the_forget_gate_claim_reads_the_units_that_carry_the_memory_not_every_unit():
    t = tables([cell(model="lstm", solved=5)])
    rows = [{"task": "adding", "model": "lstm", "length": 100, "seed": s, "solved": True, "gate_f_mean": 0.53,
             "gate_f_memory_units": 0.95} for s in range(3)]
    measured, verdict, _ = c.memory_forget_gate(dataclasses.replace(t, gates=pd.DataFrame(rows)), "lstm", 0.9, 1.0)
    assert verdict == c.CONFIRMED and "memory units 0.950, all units 0.530" in measured
    low = [{**r, "gate_f_memory_units": 0.6} for r in rows]
    assert c.memory_forget_gate(dataclasses.replace(t, gates=pd.DataFrame(low)), "lstm", 0.9, 1.0)[1] == c.REFUTED


def test_the_memory_units_are_the_ones_the_marked_inputs_write_to():
    import numpy as np

    from rnnbench.report.gate_tables import memory_units

    rng = np.random.default_rng(0)
    x = np.zeros((2, 20, 2))
    x[:, 5, 1] = x[:, 12, 1] = 1  # two marked steps per sequence
    c = rng.normal(0, 0.01, (2, 20, 6)).cumsum(axis=1)
    c[:, 5:, 4] += 1.0  # unit 4 takes the first marked value and keeps it
    c[:, 12:, 1] += 0.8
    c[:, 12:, 2] += 0.5
    f = np.full((2, 20, 6), 0.5)
    f[:, :, [1, 2, 4]] = 0.97
    units, f_memory = memory_units({"x": x, "c": c, "f": f})
    assert units == [4, 1, 2] and f_memory == pytest.approx(0.97)
    assert memory_units({"x": rng.random((2, 20, 2)), "c": c, "f": f})[0] == []  # no marker channel


def test_gated_models_outlast_the_rnn_on_a_task_when_some_contrast_favours_them_on_counts_or_on_the_metric():
    rows = [cell(task="copy", model=m, length=10, metric="cross_entropy", median=med, solved=s, baseline=2.0)
            for m, med, s in (("rnn", 1.9, 0), ("lstm", 0.1, 5), ("gru", 0.2, 3))]
    t = tables(rows)

    def contrast(model, fisher, metric):
        return {"task": "copy", "length": 10, "model_a": "rnn", "solved_a": 0, "seeds_a": 5, "model_b": model,
                "solved_b": 5 if model == "lstm" else 3, "seeds_b": 5, "p_value": fisher, "metric_p": metric}

    t = dataclasses.replace(t, contrasts=pd.DataFrame([contrast("lstm", 0.008, 0.008), contrast("gru", 0.17, 0.03)]))
    measured, verdict, _ = c.outlasts(t, ["lstm", "gru"], "rnn")
    assert verdict == c.CONFIRMED and "copy gru" in measured  # gru: Fisher 0.17, but its seeds' metric p = 0.03
    t = dataclasses.replace(t, contrasts=pd.DataFrame([contrast("lstm", 0.008, 0.008), contrast("gru", 0.17, 0.2)]))
    assert c.outlasts(t, ["lstm", "gru"], "rnn")[1] == c.DEPENDS
