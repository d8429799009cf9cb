"""Specifications of continuing a run to a larger budget: the continued run is the run a fresh
start with that budget trains, so a search's larger-budget check costs only the extra steps."""
import dataclasses
import json

import pytest
import torch

from rnnbench.training.run_outputs import OPTIMIZER_FILE, resume_point, write_run
from rnnbench.training.sweep import train_seed
from rnnbench.training.trainer import train
from conftest import build_dataset, make_config
from test_train import without_timing

# unsolvable in so few steps: the run spends its whole budget and keeps its optimiser state
NEVER_SOLVED = {"solved_mse": 1e-9}


def with_steps(config, steps):
    return dataclasses.replace(config, train=dataclasses.replace(config.train, steps=steps))


def state_bits(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_a_run_continued_to_a_larger_budget_is_the_run_a_fresh_start_with_that_budget_trains(tmp_path, model):
    short = make_config(model=model, length=8, options=NEVER_SOLVED, steps=40)
    data = build_dataset(short)
    base = write_run(tmp_path / "base", short, train(short, data), data.checksum())
    assert (tmp_path / "base" / OPTIMIZER_FILE).is_file() and base["resumed_from"] == 0

    long = with_steps(short, 120)
    resume = resume_point(tmp_path / "base", short, data.checksum())
    continued, fresh = train(long, data, resume=resume), train(long, data)

    assert [r["step"] for r in continued.history] == [20, 40, 60, 80, 100, 120]
    assert without_timing(continued.history) == without_timing(fresh.history)
    for name, tensor in state_bits(fresh.model).items():
        assert torch.equal(continued.model.state_dict()[name], tensor), name
    assert continued.final["test_metric"] == fresh.final["test_metric"]
    assert continued.final["resumed_from"] == 40 and continued.final["steps"] == 120


def columns(folder):
    """history.csv without its timing columns."""
    rows = (folder / "history.csv").read_text().splitlines()
    header = rows[0].split(",")
    keep = [i for i, name in enumerate(header) if name not in ("elapsed_s", "steps_per_s")]
    return [[row.split(",")[i] for i in keep] for row in rows]


def test_the_continued_history_round_trips_through_history_csv_to_the_same_file(tmp_path):
    short = make_config(model="gru", length=8, options=NEVER_SOLVED, steps=40)
    data = build_dataset(short)
    write_run(tmp_path / "base", short, train(short, data), data.checksum())
    long = with_steps(short, 80)
    write_run(tmp_path / "continued", long, train(long, data, resume=resume_point(tmp_path / "base", short, data.checksum())))
    write_run(tmp_path / "fresh", long, train(long, data))
    assert columns(tmp_path / "continued") == columns(tmp_path / "fresh")


def test_a_run_that_met_the_rule_short_of_its_stop_margin_is_continued_as_a_fresh_start_would_train(tmp_path):
    # the rule is met at the first evaluation; the margin's threshold (MSE 1e-5) never is
    short = make_config(model="gru", length=8, options={"solved_mse": 10.0}, steps=40)
    short = dataclasses.replace(short, train=dataclasses.replace(short.train, stop_margin=0.999999))
    data = build_dataset(short)
    base = write_run(tmp_path / "base", short, train(short, data), data.checksum())
    assert base["solved_step"] == 20 and not base["stopped_early"] and base["steps"] == 40

    long = with_steps(short, 80)
    continued = train(long, data, resume=resume_point(tmp_path / "base", short, data.checksum()))
    fresh = train(long, data)
    assert continued.final["resumed_from"] == 40
    assert without_timing(continued.history) == without_timing(fresh.history)
    assert continued.final["solved_step"] == fresh.final["solved_step"] == 20  # the first solve, kept
    assert continued.final["test_metric"] == fresh.final["test_metric"]


def test_a_run_that_solved_diverged_or_stopped_off_an_evaluation_step_is_not_continued(tmp_path):
    solved = make_config(model="lstm", length=5, options={"solved_mse": 10.0}, steps=40)  # solved at once
    data = build_dataset(solved)
    write_run(tmp_path / "solved", solved, train(solved, data), data.checksum())
    assert not (tmp_path / "solved" / OPTIMIZER_FILE).exists()
    assert resume_point(tmp_path / "solved", solved, data.checksum()) is None

    odd = make_config(model="lstm", length=5, options=NEVER_SOLVED, steps=50)  # 50 % eval_every 20 != 0
    write_run(tmp_path / "odd", odd, train(odd, build_dataset(odd)), data.checksum())
    assert resume_point(tmp_path / "odd", odd, data.checksum()) is None

    with pytest.raises(ValueError, match="cannot continue"):
        short = make_config(model="lstm", length=5, options=NEVER_SOLVED, steps=40)
        train(short, data, resume=resume_point(tmp_path / "odd", odd, data.checksum()) or _fake_resume(short, data))


def _fake_resume(config, data):
    """A resume point at a step the run never evaluated at."""
    from rnnbench.training.trainer import Resume
    result = train(with_steps(config, 20), data)
    return Resume(30, result.history, result.model.state_dict(), result.optimizer_state)


def test_an_edited_optimizer_state_or_another_config_is_not_continued_but_trained_from_the_start(tmp_path):
    short = make_config(model="rnn", length=8, options=NEVER_SOLVED, steps=40)
    data = build_dataset(short)
    write_run(tmp_path / "base", short, train(short, data), data.checksum())
    assert resume_point(tmp_path / "base", short, data.checksum()) is not None
    assert resume_point(tmp_path / "base", short, "another data checksum") is None
    other_lr = dataclasses.replace(short, train=dataclasses.replace(short.train, lr=0.02))
    assert resume_point(tmp_path / "base", other_lr, data.checksum()) is None

    state = torch.load(tmp_path / "base" / OPTIMIZER_FILE, weights_only=True)
    state["param_groups"][0]["lr"] = 1.0
    torch.save(state, tmp_path / "base" / OPTIMIZER_FILE)
    assert resume_point(tmp_path / "base", short, data.checksum()) is None  # the seal no longer matches


def test_a_study_seed_continued_with_its_probes_and_diagnostics_writes_the_fresh_runs_numbers(tmp_path):
    short = make_config(model="rnn", length=8, options=NEVER_SOLVED, steps=40)
    data = build_dataset(short)
    train_seed(short, data, data.checksum(), tmp_path / "base", redraw=False)
    long = with_steps(short, 80)
    record = train_seed(long, data, data.checksum(), tmp_path / "long", redraw=False,
                        resume=resume_point(tmp_path / "base", short, data.checksum()))
    assert not record.get("failed") and record["resumed_from"] == 40
    assert json.loads((tmp_path / "long" / "metrics.json").read_text())["steps"] == 80
    fresh = train_seed(long, data, data.checksum(), tmp_path / "fresh", redraw=False)
    assert columns(tmp_path / "long") == columns(tmp_path / "fresh")
    assert record["test_metric"] == fresh["test_metric"]
    assert record["grad_ratio_first_last_trained"] == fresh["grad_ratio_first_last_trained"]
