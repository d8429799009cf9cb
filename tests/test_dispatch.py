"""The executors of `rnnbench dispatch`, with real worker processes.
An executor returns each cell whole or says why it could not: a worker killed mid-cell is run again,
one that keeps dying is reported, an error is the cell's cause, and stopping the driver stops the
workers. (The dispatch against DVC itself, on both executors, is tested end to end in
test_pipeline_e2e.py. Ray's rerun of a killed worker is Ray's own `max_retries`: it worked when
tried by hand, but the rerun took 1.5-2 min here, too long for CI; see benchmarks/results.md.)"""
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnnbench.dispatch.cell_job import CellJob, CellOutput, merged, run_cell_job
from rnnbench.dispatch.executors import ATTEMPTS, DIED, LocalExecutor

from conftest import build_dataset, make_config

TINY = Path(__file__).resolve().parents[1] / "studies" / "tiny.yaml"


def cell(tmp_path: Path, stage: str = "train@lstm-adding-6") -> CellJob:
    configs = tuple(make_config(length=6, hidden_size=4, seed=seed, steps=10, eval_every=5,
                                data=None) for seed in (0, 1))
    return CellJob(stage, tmp_path / stage, configs, build_dataset(configs[0]))


def die_once(job: CellJob) -> CellOutput:
    """SIGKILL its own process the first time (mid-cell: after a marker is written), then train."""
    marker = job.run_folder.parent / f"{job.stage}.died"
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return run_cell_job(job)


def always_die(job: CellJob) -> CellOutput:
    os.kill(os.getpid(), signal.SIGKILL)


def raise_error(job: CellJob) -> CellOutput:
    raise RuntimeError("no cell today")


def hang_if_slow(job: CellJob) -> CellOutput:
    if job.stage.endswith("slow"):
        (job.run_folder.parent / "slow.pid").write_text(str(os.getpid()))
        time.sleep(600)
    return run_cell_job(job)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z" if sys.platform.startswith("linux") else True


def test_a_cell_comes_back_whole_as_files_and_the_worker_writes_nothing_outside(tmp_path):
    job = cell(tmp_path)
    [(returned, output)] = list(LocalExecutor(2).run([job]))
    assert returned is job and isinstance(output, CellOutput) and not output.failed_seeds
    assert [r["seed"] for r in output.records] == [0, 1]
    assert {"seed0/metrics.json", "seed1/metrics.json", "seed0/model.pt", "seed0/history.csv"} <= set(output.files)
    assert not job.run_folder.exists() and list(tmp_path.iterdir()) == []


def test_a_cell_sent_as_one_job_per_run_merges_back_into_the_cell_its_whole_job_gives(tmp_path):
    whole = cell(tmp_path)
    per_run = [dataclasses.replace(whole, configs=(config,)) for config in whole.configs]
    parts = [output for _, output in LocalExecutor(2).run(per_run)]
    cell_back, alone = merged(parts), run_cell_job(whole)
    assert [r["seed"] for r in cell_back.records] == [0, 1] and set(cell_back.files) == set(alone.files)
    for seed in ("seed0", "seed1"):  # the weights bit for bit: a run trains the same wherever it is sent
        assert cell_back.files[f"{seed}/model.pt"] == alone.files[f"{seed}/model.pt"]


def test_a_whole_cell_job_with_the_stacked_engine_trains_its_seeds_as_one_stack(tmp_path):
    job = dataclasses.replace(cell(tmp_path), engine="stacked")  # what a GPU worker gets under engine auto
    [(_, output)] = list(LocalExecutor(1).run([job]))
    assert [(r["seed"], r["engine"]) for r in output.records] == [(0, "stacked"), (1, "stacked")]
    assert {"seed0/model.pt", "seed1/model.pt"} <= set(output.files)


def test_a_worker_killed_mid_cell_is_run_again_and_the_cell_comes_back_whole(tmp_path, capfd):
    jobs = [cell(tmp_path, "train@a"), cell(tmp_path, "train@b")]
    outcomes = dict((job.stage, output) for job, output in LocalExecutor(2, work=die_once).run(jobs))
    assert all(isinstance(o, CellOutput) and len(o.records) == 2 for o in outcomes.values())
    assert (tmp_path / "train@a.died").exists() and "running it again from step 0" in capfd.readouterr().err
    alone = run_cell_job(jobs[0])  # the retried cell is the cell, bit for bit
    assert outcomes["train@a"].files["seed1/model.pt"] == alone.files["seed1/model.pt"]


def test_a_cell_whose_worker_keeps_dying_is_reported_after_the_last_attempt(tmp_path):
    [(_, outcome)] = list(LocalExecutor(1, work=always_die).run([cell(tmp_path)]))
    assert outcome == f"its worker process died {ATTEMPTS} times (killed, out of memory or a native crash)"


def poison_kills_its_worker(job: CellJob) -> CellOutput:
    if job.stage.endswith("poison"):
        os.kill(os.getpid(), signal.SIGKILL)
    return run_cell_job(job)


def test_a_worker_death_is_charged_to_the_job_it_ran_not_to_the_jobs_queued_behind_it(tmp_path):
    jobs = [cell(tmp_path, "train@poison"), *(cell(tmp_path, f"train@ok{i}") for i in range(3))]
    outcomes = dict((job.stage, o) for job, o in LocalExecutor(1, work=poison_kills_its_worker).run(jobs))
    assert outcomes.pop("train@poison") == DIED.format(n=ATTEMPTS)
    assert all(isinstance(o, CellOutput) for o in outcomes.values()), outcomes  # queued behind it 3 times: fine


def test_an_error_in_a_cell_is_its_cause_and_the_other_cells_go_on(tmp_path):
    jobs = [cell(tmp_path, "train@a"), cell(tmp_path, "train@b")]
    outcomes = [output for _, output in LocalExecutor(2, work=raise_error).run(jobs)]
    assert outcomes == ["RuntimeError: no cell today"] * 2


def test_stopping_the_driver_stops_the_workers_at_once(tmp_path):
    jobs = [cell(tmp_path, "train@fast"), cell(tmp_path, "train@slow")]
    outcomes = LocalExecutor(2, work=hang_if_slow).run(jobs)
    job, _ = next(outcomes)
    assert job.stage == "train@fast"
    while not (tmp_path / "slow.pid").exists():
        time.sleep(0.05)
    pid = int((tmp_path / "slow.pid").read_text())
    outcomes.close()  # what Ctrl-C in the driver does to the generator
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)


BAD_FLAGS = [
    (["--executor", "dask"], "--executor", "'local', 'ray'"),
    (["--jobs", "0"], "--jobs", "positive integer"),
    (["--executor", "ray", "--cpus-per-run", "0"], "--cpus-per-run", "> 0"),
    (["--executor", "ray", "--gpus-per-run", "nan"], "--gpus-per-run", ">= 0"),
    (["--gpus-per-run", "1"], "--address, --cpus-per-run, --gpus-per-run", "only with --executor ray"),
    # Ray itself waits over 10 minutes on an address nobody answers, deaf to SIGTERM
    (["--executor", "ray", "--address", "127.0.0.1:1"], "--address", "nothing answers at 127.0.0.1:1"),
    (["--executor", "ray", "--address", "ray://head:10001"], "--address", "host:port"),
    (["--executor", "ray", "--address", "head"], "--address", "is not host:port"),
]


@pytest.mark.parametrize("flags,flag,allowed", BAD_FLAGS, ids=[" ".join(b[0]) for b in BAD_FLAGS])
def test_a_bad_dispatch_flag_is_one_line_naming_it_exit_2_before_any_work(tmp_path, flags, flag, allowed):
    (tmp_path / "params.yaml").write_text(TINY.read_text())
    result = subprocess.run([sys.executable, "-m", "rnnbench.cli", "dispatch", *flags], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert flag in result.stderr and allowed in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_an_unreachable_tracking_server_stops_a_ray_dispatch_before_dvc_or_ray_start(tmp_path):
    (tmp_path / "params.yaml").write_text(TINY.read_text())
    result = subprocess.run([sys.executable, "-m", "rnnbench.cli", "dispatch", "--executor", "ray"], cwd=tmp_path,
                            capture_output=True, text=True,
                            env={**os.environ, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "127.0.0.1:9" in result.stderr  # one line naming the store; no Ray banner, no DVC output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_a_killed_workers_temp_folder_is_removed_by_the_next_job(tmp_path):
    import tempfile

    from rnnbench.dispatch.cell_job import CELL_TEMP

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = Path(tempfile.mkdtemp(prefix=f"{CELL_TEMP}{dead.pid}-"))  # as a SIGKILLed worker leaves it
    (orphan / "cell").mkdir()
    mine = Path(tempfile.mkdtemp(prefix=f"{CELL_TEMP}{os.getpid()}-"))  # a live process's: kept
    try:
        run_cell_job(cell(tmp_path))
        assert not orphan.exists() and mine.exists()
    finally:
        shutil.rmtree(orphan, ignore_errors=True)
        shutil.rmtree(mine, ignore_errors=True)


DRIVER = """
import json, sys, time
from rnnbench.dispatch.executors import RayExecutor, descendants
import os
executor = RayExecutor(1)
print(json.dumps(sorted(p for p in descendants(os.getpid()) if p != executor.watchdog.pid)), flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the watchdog reads /proc")
def test_a_killed_drivers_local_ray_cluster_is_ended_at_once_by_its_watchdog():
    pytest.importorskip("ray")
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    try:
        import json

        cluster = json.loads(driver.stdout.readline())
        assert cluster and all(alive(pid) for pid in cluster)
        os.kill(driver.pid, signal.SIGKILL)  # no atexit, no ray.shutdown()
        driver.wait()
        deadline = time.time() + 20
        while time.time() < deadline and any(alive(pid) for pid in cluster):
            time.sleep(0.2)
        assert not [pid for pid in cluster if alive(pid)], "Ray's processes outlived their driver"
    finally:
        if driver.poll() is None:
            driver.kill()
