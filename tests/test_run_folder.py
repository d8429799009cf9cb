"""Specifications of the run folder as data: one writer (`write_run`), one reader (`read_run`) with
one error policy, and no other module that opens a run's files by name."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnbench.training.run_outputs import (GATES_FILE, HISTORY_FILE, METRICS_FILE, MODEL_FILE, UnreadableRun,
                                           read_gate_traces, read_run, reusable_record, write_record, write_run)
from rnnbench.training.sweep import failed_record
from rnnbench.training.trainer import train
from conftest import build_dataset, make_config

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "rnnbench"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run") / "seed0"
    config = make_config(model="gru", length=6, steps=20)
    data = build_dataset(config)
    result = train(config, data)
    record = write_run(folder, config, result, data.checksum())
    return folder, config, data, result, record


def test_a_written_run_reads_back_as_its_run_wrote_it(written):
    folder, config, _, result, record = written
    run = read_run(folder)
    assert run.record == record and not run.failed
    assert run.history() == [{k: v for k, v in row.items()} for row in json.loads(json.dumps(result.history))]
    assert all(isinstance(row["step"], int) for row in run.history())
    weights = run.weights()
    for name, tensor in result.model.state_dict().items():
        assert torch.equal(weights[name], tensor), name


def test_a_folder_without_a_record_is_missing_and_says_which_folder(tmp_path):
    with pytest.raises(UnreadableRun) as caught:
        read_run(tmp_path / "nowhere")
    assert caught.value.kind == "missing" and str(caught.value).startswith("missing: ")
    assert "nowhere" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("text", ["{\"step\": 3", "[1, 2, 3]", "[" * 100_000])
def test_a_record_that_is_not_a_json_object_is_unreadable(tmp_path, text):
    (tmp_path / METRICS_FILE).write_text(text)
    with pytest.raises(UnreadableRun) as caught:
        read_run(tmp_path)
    assert caught.value.kind == "unreadable" and "metrics.json is not a JSON object" in str(caught.value)


@pytest.mark.parametrize("edit", ["record", "history", "model"])
def test_a_run_edited_after_it_was_written_is_altered_and_never_reused(written, tmp_path, edit):
    folder, config, data, _, _ = written
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folder.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    if edit == "record":
        record = json.loads((copy / METRICS_FILE).read_text())
        (copy / METRICS_FILE).write_text(json.dumps({**record, "test_metric": 0.0}))
    else:
        name = HISTORY_FILE if edit == "history" else MODEL_FILE
        (copy / name).write_bytes((copy / name).read_bytes() + b"\n")
    assert reusable_record(copy, config, data.checksum()) is None
    with pytest.raises(UnreadableRun) as caught:
        read_run(copy)
    assert caught.value.kind == "altered" and caught.value.record["config"] == config.to_dict()


def test_an_unedited_copy_of_a_run_is_reused(written, tmp_path):
    folder, config, data, _, record = written
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folder.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    assert reusable_record(copy, config, data.checksum()) == record
    assert reusable_record(copy, config, "another data checksum") is None


def test_a_failed_runs_record_is_data_it_reads_back_with_its_cause(tmp_path):
    config = make_config(model="gru", length=6, steps=20)
    write_record(tmp_path, failed_record(config, RuntimeError("out of memory")))
    run = read_run(tmp_path)
    assert run.failed and "out of memory" in run.record["error"]


def resealed(folder, record):
    """Write `record` as its run would have, seal recomputed: what a forger who knows the seal does."""
    from rnnbench.training.run_outputs import SEAL, content_digest

    record = {k: v for k, v in record.items() if k != SEAL}
    (folder / METRICS_FILE).write_text(json.dumps({**record, SEAL: content_digest(folder, record)}))


def copied(folder, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folder.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    return copy


@pytest.mark.parametrize("field,value,says", [
    ("test_metric", "0.0001", "test_metric is str"), ("seed", 1.5, "seed is float"), ("solved", 1, "solved is int"),
    ("config", "lstm", "config is str"), ("length", True, "length is bool"), ("steps", None, "steps is NoneType"),
    ("test_by_position", [1, "x"], "test_by_position is not a list of numbers"),
    ("grad_decay_rate_init", {"a": 1}, "grad_decay_rate_init is dict"), ("task", None, "task is NoneType")])
def test_a_resealed_record_with_a_wrongly_typed_field_is_unreadable_naming_the_field(
        written, tmp_path, field, value, says):
    folder = copied(written[0], tmp_path)
    resealed(folder, {**written[4], field: value})
    with pytest.raises(UnreadableRun) as caught:
        read_run(folder)
    assert caught.value.kind == "unreadable" and says in str(caught.value) and "\n" not in str(caught.value)


def test_a_failed_record_is_checked_too_and_needs_its_cause(tmp_path):
    config = make_config(model="gru", length=6, steps=20)
    record = failed_record(config, "killed")
    write_record(tmp_path, {k: v for k, v in record.items() if k != "error"})
    with pytest.raises(UnreadableRun, match="error is missing"):
        read_run(tmp_path)
    write_record(tmp_path, {**record, "seed": "0"})
    with pytest.raises(UnreadableRun, match="seed is str"):
        read_run(tmp_path)


class Payload:
    def __reduce__(self):
        return (print, ("payload ran",))


def test_a_model_file_that_asks_for_code_is_refused_unread_and_says_so(written, tmp_path, capfd):
    folder = copied(written[0], tmp_path)
    torch.save({"w": Payload()}, folder / MODEL_FILE)
    resealed(folder, written[4])
    run = read_run(folder)  # the record is well formed; the weights are not weights
    with pytest.raises(UnreadableRun) as caught:
        run.weights()
    assert caught.value.kind == "unreadable" and "is not a saved state of tensors" in str(caught.value)
    assert "payload ran" not in capfd.readouterr().out


def test_gate_traces_read_as_arrays_and_none_is_an_empty_mapping(tmp_path):
    assert read_gate_traces(tmp_path) == {}
    saved = {"f": np.linspace(0, 1, 12).reshape(3, 4), "i": np.zeros((3, 4))}
    np.savez_compressed(tmp_path / GATES_FILE, **saved)
    traces = read_gate_traces(tmp_path)
    assert traces.keys() == saved.keys() and all(np.array_equal(traces[k], v) for k, v in saved.items())


# The names a run's files have, as a reader outside run_outputs.py would write them.
RUN_FILE_ACCESS = re.compile(r'/ "(metrics\.json|history\.csv|model\.pt|optimizer\.pt|gradflow\.csv|gates\.npz)"'
                             r'|torch\.load\(|np\.load\(')
READERS_OF_OTHER_FILES = {"tasks/dataset.py"}  # a dataset folder's arrays, not a run's


def test_no_module_but_the_run_folders_own_opens_a_runs_files_by_name():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name == "training/run_outputs.py" or name in READERS_OF_OTHER_FILES:
            continue
        offenders += [f"{name}:{i}" for i, line in enumerate(path.read_text().splitlines(), 1)
                      if RUN_FILE_ACCESS.search(line)]
    assert offenders == []
