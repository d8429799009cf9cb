"""The controlled speed benchmark: every model of the study timed alone, with its arithmetic."""
from pathlib import Path

import yaml


from rnnbench.speed import macs_per_step, measure_speed, read_speed_configs, speed_configs, write_speed_configs
from rnnbench.study import Cell, parse_study
from rnnbench.tasks import resolve_task
from rnnbench.training.trainer import initial_model

TINY = yaml.safe_load((Path(__file__).parents[1] / "studies" / "tiny.yaml").read_text())


def test_a_cells_multiply_adds_are_its_weight_entries_one_four_and_three_times_the_rnns():
    study = parse_study(TINY)
    data = resolve_task("adding").build(5, study.data, study.task_plan("adding").options)
    macs = {m: macs_per_step(initial_model(study.run_config(Cell("adding", m, 5), 0), data)) for m in ("rnn", "lstm", "gru")}
    hidden = study.run_config(Cell("adding", "rnn", 5), 0).model.hidden_size
    assert macs["rnn"] == hidden * (data.input_size + hidden)
    assert (macs["lstm"], macs["gru"]) == (4 * macs["rnn"], 3 * macs["rnn"])


def test_every_model_of_the_study_is_timed_alone_beside_the_host_calibration():
    study = parse_study(TINY)
    configs = speed_configs(study, length=5, steps=5)
    rows = measure_speed(configs, repeats=1)
    assert [row["model"] for row in rows] == list(study.models)
    assert all(row["steps_per_s"] > 0 and row["calibration_s"] > 0 and row["steps"] == 5 for row in rows)


def test_the_benchmark_configs_hold_no_tuned_lr_so_a_retuned_study_reruns_no_benchmark():
    study = parse_study(TINY)
    retuned = parse_study({**TINY, "per_model": {**TINY.get("per_model", {}), "gru": {"train": {"lr": 0.05}}}})
    assert speed_configs(retuned) == speed_configs(study)
    bigger = parse_study({**TINY, "per_model": {**TINY.get("per_model", {}), "gru": {"model": {"hidden_size": 32}}}})
    assert speed_configs(bigger) != speed_configs(study)  # a size is the model's speed


def test_the_speed_stage_reads_back_the_configs_configure_writes(tmp_path):
    study = parse_study(TINY)
    write_speed_configs(study, tmp_path)
    from rnnbench.speed import SPEED_CONFIGS
    assert read_speed_configs(tmp_path / SPEED_CONFIGS) == speed_configs(study)
    assert not write_speed_configs(study, tmp_path)  # unchanged: not rewritten, DVC's hash stays
