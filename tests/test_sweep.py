"""One cell's seeds: trained as concurrent processes they write exactly the runs they write one
after another, and a seed that fails (or whose process dies) fails alone."""
import json
import os
from pathlib import Path

import pytest
import torch
import yaml

from rnnbench.training import sweep
from rnnbench.config import ConfigError, Execution
from rnnbench.training.run_outputs import HISTORY_FILE, MODEL_FILE
from rnnbench.config import seed_folder
from rnnbench.study import Cell, parse_study
from rnnbench.tasks import resolve_task

TINY = yaml.safe_load((Path(__file__).parents[1] / "studies" / "tiny.yaml").read_text())
TIMING_KEYS = {"wall_s", "steps_per_s", "finished_at", "content_sha256"}  # the seal covers the timings


def tiny_study(seed_processes, seeds=(0, 1, 2)):
    return parse_study({**TINY, "seeds": list(seeds), "seed_processes": seed_processes})


def cell_and_dataset(study):
    cell = Cell("adding", "gru", 8)
    return cell, resolve_task("adding").build(8, study.data, study.task_plan("adding").options)


def train_cell(study, cell, dataset, out):
    return sweep.train_cell(study.resolved_configs(cell), dataset, out, study.execution)


def without_timing(record):
    return {k: v for k, v in record.items() if k not in TIMING_KEYS}


def history_without_timing(folder):
    lines = (folder / HISTORY_FILE).read_text().splitlines()
    header = lines[0].split(",")
    keep = [i for i, name in enumerate(header) if name not in ("elapsed_s", "steps_per_s")]
    return [[line.split(",")[i] for i in keep] for line in lines]


def test_seeds_in_processes_write_the_runs_they_write_one_after_another(tmp_path):
    alone, together = tiny_study(1), tiny_study(3)
    cell, dataset = cell_and_dataset(alone)
    records_alone = train_cell(alone, cell, dataset, tmp_path / "alone")
    records_together = train_cell(together, cell, dataset, tmp_path / "together")
    assert [without_timing(r) for r in records_together] == [without_timing(r) for r in records_alone]
    for seed in alone.seeds:
        a, b = seed_folder(tmp_path / "alone", seed), seed_folder(tmp_path / "together", seed)
        assert history_without_timing(b) == history_without_timing(a)
        assert (b / MODEL_FILE).read_bytes() == (a / MODEL_FILE).read_bytes()


def test_a_seed_that_raises_in_its_process_is_recorded_failed_and_the_others_finish(tmp_path, monkeypatch):
    real_train = sweep.train

    def train_failing_seed_1(config, dataset, on_eval=None, probe=None, resume=None):
        if config.seed == 1:
            raise FloatingPointError("seed 1 broke")
        return real_train(config, dataset, on_eval, probe)

    monkeypatch.setattr(sweep, "train", train_failing_seed_1)  # forked workers inherit the patch
    study = tiny_study(3)
    cell, dataset = cell_and_dataset(study)
    records = train_cell(study, cell, dataset, tmp_path)
    assert [r.get("failed", False) for r in records] == [False, True, False]
    written = json.loads((seed_folder(tmp_path, 1) / "metrics.json").read_text())
    assert written["error"] == "FloatingPointError: seed 1 broke"


def test_a_seed_whose_process_dies_fails_alone_and_the_other_seeds_are_trained(tmp_path, monkeypatch):
    real_train = sweep.train

    def train_dying_on_seed_1(config, dataset, on_eval=None, probe=None, resume=None):
        if config.seed == 1:
            os._exit(9)  # what a kill or a native crash looks like to the pool
        return real_train(config, dataset, on_eval, probe)

    monkeypatch.setattr(sweep, "train", train_dying_on_seed_1)
    study = tiny_study(3)
    cell, dataset = cell_and_dataset(study)
    records = train_cell(study, cell, dataset, tmp_path)
    assert [r.get("failed", False) for r in records] == [False, True, False]
    assert "process training this seed died" in records[1]["error"]
    assert all((seed_folder(tmp_path, s) / MODEL_FILE).exists() for s in (0, 2))


def test_auto_trains_every_seed_at_once_on_a_cpu_up_to_two_per_core(monkeypatch):
    monkeypatch.setattr(sweep, "usable_cores", lambda: 2)
    assert sweep.seed_process_count("auto", 3, torch.device("cpu")) == 3
    assert sweep.seed_process_count("auto", 7, torch.device("cpu")) == 4


def test_auto_trains_one_seed_at_a_time_on_a_gpu():
    # CUDA cannot be forked and several processes on one GPU are unmeasured
    assert sweep.seed_process_count("auto", 3, torch.device("cuda")) == 1


def test_an_explicit_count_is_capped_by_the_number_of_seeds():
    study = tiny_study(8, seeds=(0, 1))
    assert sweep.seed_process_count(study.execution.seed_processes, len(study.seeds), torch.device("cpu")) == 2


@pytest.mark.parametrize("value", [0, -1, "all", True, 1.5])
def test_seed_processes_must_be_auto_or_a_positive_integer(value):
    with pytest.raises(ConfigError, match=r"seed_processes: must be 'auto' or a positive integer"):
        tiny_study(value)


def test_a_cell_that_gains_a_seed_trains_only_that_seed_and_keeps_the_others_byte_for_byte(tmp_path, monkeypatch, capfd):
    cell, dataset = cell_and_dataset(tiny_study(1))
    train_cell(tiny_study(1, seeds=(0, 1)), cell, dataset, tmp_path)
    before = {s: (seed_folder(tmp_path, s) / "metrics.json").read_bytes() for s in (0, 1)}
    trained = []
    real_train = sweep.train
    monkeypatch.setattr(sweep, "train", lambda config, *a, **k: trained.append(config.seed) or real_train(config, *a, **k))
    capfd.readouterr()
    records = train_cell(tiny_study(1, seeds=(0, 1, 2)), cell, dataset, tmp_path)
    assert trained == [2] and [r["seed"] for r in records] == [0, 1, 2]
    assert {s: (seed_folder(tmp_path, s) / "metrics.json").read_bytes() for s in (0, 1)} == before
    assert "reused seeds [0, 1]" in capfd.readouterr().err


def test_a_seed_is_retrained_when_its_config_data_or_code_changed_or_it_failed(tmp_path, monkeypatch):
    from dataclasses import replace

    from rnnbench.training import run_outputs

    study = tiny_study(1, seeds=(0,))
    cell, dataset = cell_and_dataset(study)
    [config] = study.resolved_configs(cell)
    train_cell(study, cell, dataset, tmp_path)
    folder = seed_folder(tmp_path, 0)
    assert run_outputs.reusable_record(folder, config, dataset.checksum()) is not None
    assert run_outputs.reusable_record(folder, replace(config, train=replace(config.train, lr=0.5)), dataset.checksum()) is None
    assert run_outputs.reusable_record(folder, config, "other data") is None
    monkeypatch.setattr(run_outputs, "code_checksum", lambda: "other code")
    assert run_outputs.reusable_record(folder, config, dataset.checksum()) is None
    monkeypatch.undo()
    record = json.loads((folder / "metrics.json").read_text())
    (folder / "metrics.json").write_text(json.dumps({**record, "failed": True}))
    assert run_outputs.reusable_record(folder, config, dataset.checksum()) is None


@pytest.mark.parametrize("alter", ["metric", "model", "history", "seal removed"])
def test_an_edited_or_corrupted_run_is_trained_again_and_the_report_marks_it(tmp_path, alter, capfd):
    from rnnbench.report.aggregate import collect_results
    from rnnbench.training import run_outputs

    study = tiny_study(1, seeds=(0,))
    cell, dataset = cell_and_dataset(study)
    [config] = study.resolved_configs(cell)
    train_cell(study, cell, dataset, tmp_path / cell.run_folder)
    folder = seed_folder(tmp_path / cell.run_folder, 0)
    record = json.loads((folder / "metrics.json").read_text())
    assert run_outputs.sealed(folder, record)
    if alter == "metric":
        (folder / "metrics.json").write_text(json.dumps({**record, "test_metric": 0.0001}, indent=2))
    elif alter == "model":
        data = bytearray((folder / MODEL_FILE).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / MODEL_FILE).write_bytes(bytes(data))
    elif alter == "history":
        (folder / HISTORY_FILE).write_text((folder / HISTORY_FILE).read_text().replace("0.", "0.0", 1))
    else:
        (folder / "metrics.json").write_text(json.dumps({k: v for k, v in record.items() if k != "content_sha256"}))
    capfd.readouterr()
    assert run_outputs.reusable_record(folder, config, dataset.checksum()) is None
    assert "differ from what its run wrote" in capfd.readouterr().err
    one_cell = parse_study({**TINY, "seeds": [0], "models": ["gru"], "points": ["adding-8"], "side_grids": NO_SIDE_GRIDS,
                            "per_model": {}})
    [row] = collect_results(one_cell, tmp_path).to_dict("records")
    assert row["failed"] and row["error"].startswith("altered:") and row["test_metric"] != 0.0001
    [again] = train_cell(study, cell, dataset, tmp_path / cell.run_folder)  # retrained, as the record it replaces was
    assert again["test_metric"] == record["test_metric"]
    assert run_outputs.reusable_record(folder, config, dataset.checksum()) is not None


NO_SIDE_GRIDS = {}


def test_the_study_line_counts_cells_whose_every_seed_is_current_and_estimates_the_rest(tmp_path):
    from rnnbench.steps.study_progress import study_line

    study = parse_study({**TINY, "points": ["adding-5", "adding-8"], "models": ["gru"], "side_grids": NO_SIDE_GRIDS,
                         "tune": {"ladder": TINY["tune"]["ladder"], "lrs": [], "seeds": [100], "points": []}, "seed_processes": 1, "per_model": {}})
    assert study.write_configs(tmp_path) == 2
    assert study_line(tmp_path) == "study: training 0/2 cells (0%)"
    first = study.cells()[0]
    data = resolve_task("adding").build(5, study.data, study.task_plan("adding").options)
    sweep.train_cell(study.resolved_configs(first), data, tmp_path / first.run_folder, Execution(1))
    line = study_line(tmp_path)
    assert line.startswith("study: training 1/2 cells (50%); ~") and line.endswith(" min of training left")
    stale = parse_study({**TINY, "points": ["adding-5", "adding-8"], "models": ["gru"], "side_grids": NO_SIDE_GRIDS,
                         "tune": {"ladder": TINY["tune"]["ladder"], "lrs": [], "seeds": [100], "points": []}, "seed_processes": 1, "per_model": {},
                         "train": {**TINY["train"], "steps": 20}})
    stale.write_configs(tmp_path)  # the cell's config changed: its runs are no longer current
    assert study_line(tmp_path) == "study: training 0/2 cells (0%)"


def test_a_model_whose_constructor_raises_fails_every_seed_with_its_cause_under_the_stacked_engine(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "plugins"))
    from conftest import build_dataset, make_config
    configs = [make_config(model="mypkg.cells.RaisesInConstructor", length=5, seed=s) for s in (0, 1)]
    records = sweep.train_cell(configs, build_dataset(configs[0]), tmp_path / "cell", Execution(2, engine="stacked"))
    assert [r["seed"] for r in records] == [0, 1]
    assert all(r["failed"] and "cannot build on purpose" in r["error"] for r in records)


def test_the_study_line_counts_tuning_sweeps_and_searches_too(tmp_path):
    """Before training the study is its tuning: a sweep is done once its result holds the plan's
    configs, and the time left counts the sweeps still to run."""
    import json

    from rnnbench.steps.study_progress import study_line
    from rnnbench.training.tuning import tune_task

    study = parse_study({**TINY, "models": ["rnn", "gru"], "points": ["adding-5"], "side_grids": NO_SIDE_GRIDS,
                         "per_model": {}, "tune": {**TINY["tune"], "points": ["adding-5"]}, "seed_processes": 1,
                         "search": {"models": [], "tasks": []}})
    study.write_tuning_plans(tmp_path)
    assert study_line(tmp_path) == "study: tuning 0/2 sweeps, training not planned yet"
    plan = study.tuning_plan("rnn")
    (tmp_path / "tuning").mkdir(exist_ok=True)
    from rnnbench.config import write_tuning
    write_tuning(tmp_path / "tuning" / "rnn.json", "rnn", [tune_task(p, Execution(1)) for p in plan])
    line = study_line(tmp_path)
    assert line.startswith("study: tuning 1/2 sweeps, training not planned yet; ~") and line.endswith(" min of tuning left")
    result = json.loads((tmp_path / "tuning" / "rnn.json").read_text())
    result["tasks"][0]["configs"] = []  # made for another plan: not done
    (tmp_path / "tuning" / "rnn.json").write_text(json.dumps(result))
    assert study_line(tmp_path) == "study: tuning 0/2 sweeps, training not planned yet"
