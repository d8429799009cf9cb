"""Faults leave the study correct: a killed stage takes its workers with it and leaves no partial
cell; a refused --out costs nothing; a run samples with its own vocabulary; params spelled the
YAML 1.1 way still parse."""
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dvc_project import NO_SEARCH
from rnnbench.cli import main
from rnnbench.config import write_run_configs
from rnnbench.study import Cell, parse_study
from rnnbench.tasks import resolve_task

REPO = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((REPO / "studies" / "tiny.yaml").read_text())


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its entry waits to be reaped


def ignore_sigint() -> None:
    """As a shell without job control starts a background command (`dvc repro &` in a script)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def endless_two_seed_study():
    """The tiny study with two seeds that train for a million steps, each in a seed process of its own."""
    return parse_study({**TINY, "seeds": [0, 1], "seed_processes": 2,
                        "train": {**TINY["train"], "steps": 1_000_000, "early_stop": False}})


def start_endless_train_stage(root: Path, preexec=None) -> tuple[subprocess.Popen, Cell]:
    """A real train stage on a cell of two seeds that would train for a million steps."""
    study = endless_two_seed_study()
    cell = Cell("adding", "lstm", 8)
    write_run_configs(root / cell.configs_file, study.resolved_configs(cell))
    resolve_task("adding").build(8, study.data, study.task_plan("adding").options).save(root / cell.data_folder)
    stage = subprocess.Popen([sys.executable, str(REPO / "stages" / "train.py"), str(cell.configs_file),
                              "--data", str(cell.data_folder), "--out", str(cell.run_folder)],
                             cwd=root, stdout=subprocess.DEVNULL, stderr=(root / "stderr.log").open("w"),
                             preexec_fn=preexec)
    # A file, not a pipe: the seeds' progress lines would fill an unread pipe and block the stage.
    return stage, cell


def wait_for_workers(stage: subprocess.Popen, count: int = 2) -> list[int]:
    deadline = time.time() + 60
    while len(workers := children_of(stage.pid)) < count:
        assert time.time() < deadline and stage.poll() is None, "the stage started no seed workers"
        time.sleep(0.2)
    time.sleep(1.0)  # training under way
    return workers


def kill_all(*pids: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_train_stage_takes_its_seed_workers_with_it_and_leaves_no_partial_cell(tmp_path, sig):
    stage, cell = start_endless_train_stage(tmp_path)
    workers: list[int] = []
    try:
        workers = wait_for_workers(stage)
        os.kill(stage.pid, sig)
        stage.wait(timeout=30)
        deadline = time.time() + 15
        while any(alive(w) for w in workers) and time.time() < deadline:
            time.sleep(0.2)
        assert not [w for w in workers if alive(w)], "seed workers outlived their stage"
        assert not (tmp_path / cell.run_folder).exists()  # no partial cell where DVC looks
    finally:  # whatever the outcome, nothing of this test runs on
        kill_all(stage.pid, *children_of(stage.pid), *workers)


@pytest.mark.parametrize("to_workers, preexec", [(False, None), (True, None), (False, ignore_sigint)],
                         ids=["kill -INT the stage", "Ctrl-C to the process group", "started with SIGINT ignored"])
def test_an_interrupt_ends_a_train_stage_at_once_and_keeps_the_cell_that_was_there(tmp_path, to_workers, preexec):
    stage, cell = start_endless_train_stage(tmp_path, preexec)
    previous = tmp_path / cell.run_folder / "seed0" / "metrics.json"
    previous.parent.mkdir(parents=True)
    previous.write_text('{"from": "the previous run"}')
    workers: list[int] = []
    try:
        workers = wait_for_workers(stage)
        for pid in [stage.pid, *(workers if to_workers else [])]:  # a terminal's Ctrl-C reaches every process
            os.kill(pid, signal.SIGINT)
        assert stage.wait(timeout=20) == 130  # not after a million steps
        assert "interrupted" in (tmp_path / "stderr.log").read_text()
        deadline = time.time() + 10  # SIGKILLed by the stage as it left; the kernel takes a moment to end them
        while any(alive(w) for w in workers) and time.time() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if alive(w)]
        assert previous.read_text() == '{"from": "the previous run"}'
        assert sorted(p.name for p in (tmp_path / cell.run_folder).parent.iterdir()) == ["lstm"]  # no staging left
    finally:
        kill_all(stage.pid, *children_of(stage.pid), *workers)


def test_an_interrupt_the_kernel_hands_to_a_pool_thread_still_ends_the_stage_at_once(tmp_path):
    """The kernel may deliver a process's SIGINT to any of its threads, and Python runs the handler
    only when the main thread next looks: the stage's wait on its seeds must look often."""
    tgkill = getattr(ctypes.CDLL(None, use_errno=True), "tgkill", None)  # glibc >= 2.30
    if tgkill is None:
        pytest.skip("this libc has no tgkill")
    stage, cell = start_endless_train_stage(tmp_path)
    workers: list[int] = []
    try:
        workers = wait_for_workers(stage)
        threads = sorted(int(t.name) for t in Path(f"/proc/{stage.pid}/task").iterdir() if int(t.name) != stage.pid)
        assert threads, "the stage has no thread besides its main one"
        assert tgkill(stage.pid, threads[0], signal.SIGINT) == 0
        assert stage.wait(timeout=20) == 130
        assert "interrupted" in (tmp_path / "stderr.log").read_text()
    finally:
        kill_all(stage.pid, *children_of(stage.pid), *workers)


def test_a_train_stage_refuses_an_out_path_that_leaves_the_repository_before_touching_it(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "keep.py").write_text("x = 1")
    result = subprocess.run([sys.executable, str(REPO / "stages" / "train.py"), "configs/adding-8/lstm.json",
                             "--data", "data/adding-8", "--out", "runs/adding-8/../../src"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "rnnbench: error: --out: 'runs/adding-8/../../src' leaves the repository; give a path inside it without '..'"]
    assert (tmp_path / "src" / "keep.py").read_text() == "x = 1"


@pytest.mark.parametrize("content, problem", [(None, "is a directory"), (b"", "is empty"),
                                              (b"\x00" * 5000, "contains NUL bytes")],
                         ids=["directory", "empty", "NUL bytes"])
def test_a_corpus_that_is_not_text_is_refused_naming_what_is_wrong(tmp_path, content, problem):
    from rnnbench.config import ConfigError
    from rnnbench.tasks.charlm import CharLmOptions, read_corpus

    corpus = tmp_path / "corpus"
    corpus.mkdir() if content is None else corpus.write_bytes(content)
    with pytest.raises(ConfigError, match=f"task.options.corpus: .* {problem}"):
        read_corpus(CharLmOptions(corpus=str(corpus)))


def test_a_huge_corpus_costs_only_the_characters_the_task_uses(tmp_path):
    from rnnbench.tasks.charlm import CharLmOptions, read_corpus

    corpus = tmp_path / "big.txt"
    with corpus.open("w") as handle:  # 200 MB: read whole, it would take more than the limit below
        handle.write(("abcdefghij" * 100 + "\n") * 200_000)
    script = (f"import resource; from rnnbench.tasks.charlm import CharLmOptions, read_corpus; "
              f"text = read_corpus(CharLmOptions(corpus={str(corpus)!r}, corpus_chars=5000)); "
              "print(len(text), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)")
    length, peak_mb = map(int, subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                              check=True).stdout.split())
    baseline = int(subprocess.run([sys.executable, "-c", "import resource; import rnnbench.tasks.charlm; "
                                   "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"],
                                  capture_output=True, text=True, check=True).stdout)
    assert length == 5000 and peak_mb - baseline < 50
    assert read_corpus(CharLmOptions(corpus=str(corpus), corpus_chars=11)) == "abcdefghija"


def test_train_refuses_an_existing_out_before_training_and_replace_replaces_it_whole(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "foreign.txt").write_text("another run")
    args = ["train", "--task", "adding", "--model", "gru", "--length", "5", "--params", str(REPO / "studies/tiny.yaml"),
            "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and "--replace" in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["foreign.txt"]
    assert main(args + ["--replace"]) == 0
    assert not (out / "foreign.txt").exists() and (out / "metrics.json").is_file()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(args[:-1] + [str(a_file)]) == 2 and a_file.read_text() == "x"


def test_a_charlm_run_samples_with_its_own_vocabulary_after_its_corpus_changed(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog\n" * 400)
    run = tmp_path / "lm"
    assert main(["train", "--task", "charlm", "--model", "lstm", "--length", "16", "--steps", "10", "--eval-every", "10",
                 "--option", f"corpus={corpus}", "--params", str(REPO / "studies/tiny.yaml"), "--out", str(run)]) == 0
    sample = ["sample", "--run", str(run), "--prime", "the ", "--length", "60", "--seed", "3"]
    capsys.readouterr()
    assert main(sample) == 0
    before = capsys.readouterr().out
    corpus.write_text("ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba!\n" * 400)  # same symbol count
    assert main(sample) == 0
    assert capsys.readouterr().out == before
    assert json.loads((run / "metrics.json").read_text())["vocab"] == "".join(sorted(set("the quick brown fox jumps over the lazy dog\n")))


def test_a_learning_rate_written_1e_3_is_the_number_yaml_1_1_reads_as_text():
    params = yaml.safe_load("train: {lr: 1e-3}")
    assert params["train"]["lr"] == "1e-3"  # PyYAML's YAML 1.1: why this needs handling at all
    study = parse_study({**TINY, "train": {**TINY["train"], **params["train"]}})
    assert study.run_config(Cell("adding", "gru", 5), 0).train.lr == 0.001


def test_a_data_folder_whose_arrays_were_edited_is_refused_before_training(tmp_path, capsys):
    data, out = tmp_path / "data", tmp_path / "run"
    assert main(["generate", "--task", "adding", "--length", "6", "--params", str(REPO / "studies/tiny.yaml"),
                 "--out", str(data)]) == 0
    import numpy as np

    with np.load(data / "train.npz") as f:
        x, y = f["x"], f["y"] + 1.0  # tampered labels, meta.json untouched
    np.savez(data / "train.npz", x=x, y=y)
    capsys.readouterr()
    assert main(["train", "--task", "adding", "--model", "gru", "--length", "6", "--data", str(data),
                 "--params", str(REPO / "studies/tiny.yaml"), "--out", str(out)]) == 2
    assert "do not match its meta.json checksum" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("forged", ["T=8 arrays", "input_size"])
def test_a_data_folder_whose_arrays_are_another_length_is_refused_though_its_checksum_was_rewritten(
        tmp_path, capsys, forged):
    """The folder says adding T=5 and its checksum matches, but the arrays were generated at T=8
    (or meta.json's input size was changed): refused, naming what the task builds at T=5."""
    from rnnbench.tasks import Dataset

    tiny = str(REPO / "studies/tiny.yaml")
    data, out = tmp_path / "data", tmp_path / "run"
    assert main(["generate", "--task", "adding", "--length", "5", "--params", tiny, "--out", str(data)]) == 0
    if forged == "T=8 arrays":
        assert main(["generate", "--task", "adding", "--length", "8", "--params", tiny, "--out", str(tmp_path / "d8")]) == 0
        for split in ("train", "val", "test"):
            (data / f"{split}.npz").write_bytes((tmp_path / "d8" / f"{split}.npz").read_bytes())
    meta = json.loads((data / "meta.json").read_text())
    if forged == "input_size":
        meta["input_size"] = 3
    arrays = Dataset.load(data)
    meta["checksum"] = arrays.checksum()  # a forger rewrites the checksum too
    (data / "meta.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["train", "--task", "adding", "--model", "gru", "--length", "5", "--data", str(data),
                 "--params", tiny, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnbench: error: --data") and "adding T=5 builds" in err[0], err
    assert not out.exists()


def test_the_solved_rule_comes_from_the_runs_config_not_from_the_data_folder(tmp_path):
    data, out = tmp_path / "data", tmp_path / "run"
    tiny = str(REPO / "studies/tiny.yaml")
    assert main(["generate", "--task", "adding", "--length", "6", "--params", tiny, "--out", str(data)]) == 0
    meta = json.loads((data / "meta.json").read_text())
    meta["solved"]["threshold"] = 1e9  # would call every run solved
    (data / "meta.json").write_text(json.dumps(meta))
    assert main(["train", "--task", "adding", "--model", "gru", "--length", "6", "--steps", "10", "--data", str(data),
                 "--params", tiny, "--out", str(out)]) == 0
    record = json.loads((out / "metrics.json").read_text())
    assert record["test_mse"] > 0.01 and record["solved"] is False  # the config's 0.01, not meta.json's 1e9


def test_a_length_that_cannot_fit_in_memory_is_refused_before_allocating(tmp_path, capsys):
    assert main(["generate", "--task", "adding", "--length", "1000000000", "--params", str(REPO / "studies/tiny.yaml"),
                 "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--length" in err[0] and "GiB" in err[0] and not (tmp_path / "d").exists()
    with pytest.raises(Exception, match=r"points: adding-1000000000: .* GiB"):
        parse_study({**TINY, "points": ["adding-1000000000"]})


def test_a_truncated_metrics_json_is_a_failed_row_and_the_report_is_still_written(tmp_path):
    from rnnbench.report.write import write_report

    params = {**TINY, "seeds": [0], "models": ["gru"], "points": ["adding-5"], "side_grids": {},
              "per_model": {}, "search": NO_SEARCH,
              "tune": {**TINY["tune"], "points": ["adding-5"]}}
    (tmp_path / "one_cell.yaml").write_text(yaml.safe_dump(params))
    study = parse_study(params)
    assert main(["study", "--params", str(tmp_path / "one_cell.yaml"), "--root", str(tmp_path), "--no-report"]) == 0
    broken = tmp_path / Cell("adding", "gru", 5).seed_folder(0) / "metrics.json"
    broken.write_text(broken.read_text()[:40])
    write_report(study, tmp_path, tmp_path / "reports")
    import pandas as pd

    results = pd.read_csv(tmp_path / "reports" / "results.csv")
    row = results[(results.model == "gru") & (results.length == 5) & (results.task == "adding")].iloc[0]
    assert row.failed and row.error.startswith("unreadable: runs/adding-5/gru/seed0/metrics.json")


@pytest.mark.parametrize("damage", ["meta.json: not JSON", "meta.json: null", "meta.json: keys missing",
                                    "train.npz: missing", "train.npz: truncated", "val.npz: not a zip",
                                    "train.npz: no y array", "train.npz: object array"])
def test_a_damaged_data_folder_is_one_line_naming_it_and_trains_nothing(tmp_path, capsys, damage):
    import numpy as np

    data, out = tmp_path / "data", tmp_path / "run"
    tiny = str(REPO / "studies/tiny.yaml")
    assert main(["generate", "--task", "adding", "--length", "6", "--params", tiny, "--out", str(data)]) == 0
    name, how = damage.split(": ")
    path = data / name
    with np.load(data / "train.npz") as arrays:
        x, y = arrays["x"], arrays["y"]
    {"not JSON": lambda: path.write_text("{"), "null": lambda: path.write_text("null"),
     "keys missing": lambda: path.write_text('{"task": "adding"}'), "missing": path.unlink,
     "truncated": lambda: path.write_bytes(path.read_bytes()[:100]), "not a zip": lambda: path.write_text("garbage"),
     "no y array": lambda: np.savez(path, x=x), "object array": lambda: np.savez(path, x=np.array([object()]), y=y),
     }[how]()
    capsys.readouterr()
    assert main(["train", "--task", "adding", "--model", "gru", "--length", "6", "--data", str(data),
                 "--params", tiny, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnbench: error: --data") and str(data) in err[0]
    assert not out.exists()


@pytest.mark.parametrize("preexec", [None, ignore_sigint], ids=["dvc in a terminal", "dvc started with SIGINT ignored"])
def test_a_train_stage_whose_dvc_is_killed_ends_with_it_and_keeps_the_cell_that_was_there(tmp_path, preexec):
    """As `kill -9` of the `dvc` process: the stage's parent dies, the stage is interrupted; also
    when dvc was a script's background job, whose children inherit SIGINT ignored."""
    study = endless_two_seed_study()
    cell = Cell("adding", "lstm", 8)
    write_run_configs(tmp_path / cell.configs_file, study.resolved_configs(cell))
    resolve_task("adding").build(8, study.data, study.task_plan("adding").options).save(tmp_path / cell.data_folder)
    (tmp_path / cell.run_folder).mkdir(parents=True)
    (tmp_path / cell.run_folder / "previous.txt").write_text("the cell that was there")
    stage_cmd = [sys.executable, str(REPO / "stages" / "train.py"), str(cell.configs_file), "--data",
                 str(cell.data_folder), "--out", str(cell.run_folder)]
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; subprocess.Popen(sys.argv[1:]).wait()",
                               *stage_cmd], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=preexec)
    stage_pids: list[int] = []
    try:
        deadline = time.time() + 60
        while not (stage_pids := children_of(parent.pid)) or len(children_of(stage_pids[0])) < 2:
            assert time.time() < deadline, "the stage started no seed workers"
            time.sleep(0.2)
        workers = children_of(stage_pids[0])
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.time() + 20
        while any(alive(pid) for pid in [*stage_pids, *workers]) and time.time() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in [*stage_pids, *workers] if alive(pid)], "the stage ran on after its parent died"
        assert (tmp_path / cell.run_folder / "previous.txt").read_text() == "the cell that was there"
    finally:
        kill_all(parent.pid, *stage_pids, *(w for pid in stage_pids for w in children_of(pid)))
