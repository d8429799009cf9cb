"""Where a dispatch's jobs (cell_job.py) run: processes on this machine (`local`) or a Ray cluster
(`ray`). An executor takes the jobs and yields (job, CellOutput) as each finishes, or (job, cause)
for a job it could not run; a job whose worker died (killed, out of memory, a native crash) is run
again from the start, up to ATTEMPTS times, and a job is never half-returned. Closing the
generator (Ctrl-C in the driver, or any error) stops the workers at once."""
import dataclasses
import multiprocessing
import os
import shutil
import sys
import tempfile
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Iterator, Protocol

from ..progress import proc_stat, warn
from ..training.sweep import end_workers, start_worker
from .cell_job import CellJob, CellOutput, remove_orphans, run_cell_job

MARKS_TEMP = "rnnbench-dispatch-"  # + the driver's pid: the markers of the jobs its workers started
ATTEMPTS = 3  # a job's runs when its worker keeps dying: the third death is reported as its failure
DIED = "its worker process died {n} times (killed, out of memory or a native crash)"
Outcome = tuple[CellJob, "CellOutput | str"]
SINGLE_NODE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray binds a local cluster to 127.0.0.1 only
Work = Callable[[CellJob], CellOutput]  # what a worker does with a job: run_cell_job (tests pass others)


class Executor(Protocol):
    def describe(self) -> str: ...
    def run(self, jobs: list[CellJob]) -> Iterator[Outcome]: ...
    def close(self) -> None: ...


def worker_died(job: CellJob, attempt: int) -> None:
    warn(f"dispatch: the worker running {job.stage} died; running it again from step 0 "
          f"(attempt {attempt + 1} of {ATTEMPTS})")


class LocalExecutor:
    """`jobs` worker processes on this machine, one job each at a time, one torch thread each."""
    def __init__(self, jobs: int, work: Work = run_cell_job):
        self.jobs, self.work = jobs, work

    def describe(self) -> str:
        return f"local executor, {self.jobs} processes"

    def close(self) -> None:
        pass  # run() ends its pools itself

    def run(self, jobs: list[CellJob]) -> Iterator[Outcome]:
        pending, deaths = dict(enumerate(jobs)), Counter()
        # fork shares the imported torch (the driver has run no torch op, so no OpenMP state to inherit)
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        while pending:
            pool = ProcessPoolExecutor(min(self.jobs, len(pending)), mp_context=multiprocessing.get_context(method),
                                       initializer=start_worker, initargs=(os.getpid(), None))
            # Each job touches a marker when a worker starts it: when a worker dies and the pool breaks,
            # only the jobs a worker had started are charged a death; the queued ones just run again.
            remove_orphans(MARKS_TEMP)
            marks = Path(tempfile.mkdtemp(prefix=f"{MARKS_TEMP}{os.getpid()}-"))
            futures = {pool.submit(started_then, marks / str(i), self.work, job): i for i, job in pending.items()}
            lost = []
            try:
                while futures:
                    done, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for future in done:
                        i = futures.pop(future)
                        try:
                            outcome = future.result()
                        except BrokenProcessPool:  # this pool is gone: its unfinished jobs run again in a new one
                            lost.append(i)
                            continue
                        except Exception as error:  # noqa: BLE001 -- one job's error must not end the sweep
                            outcome = f"{type(error).__name__}: {error}"
                        del pending[i]
                        yield jobs[i], outcome
            except BaseException:  # Ctrl-C, or the driver closing the generator: end the jobs now
                end_workers(pool)
                shutil.rmtree(marks, ignore_errors=True)
                raise
            pool.shutdown()
            started = {int(mark.name) for mark in marks.iterdir()}
            shutil.rmtree(marks, ignore_errors=True)
            for i in lost:
                if i not in started:
                    continue  # no worker had started it: not its death
                deaths[i] += 1
                if deaths[i] >= ATTEMPTS:
                    del pending[i]
                    yield jobs[i], DIED.format(n=deaths[i])
                else:
                    worker_died(jobs[i], deaths[i])


def started_then(mark: Path, work: Work, job: CellJob) -> CellOutput:
    """Mark the job as started by a worker, then do it (the form the local pool runs)."""
    mark.touch()
    return work(job)


class RayExecutor:
    """Ray tasks, one per job: a local cluster bound to 127.0.0.1 (`jobs` CPUs) unless `address`
    (or RAY_ADDRESS) names a running one. Each job asks for `cpus` CPUs and `gpus` GPUs; a
    fractional GPU also caps the process's share of the GPU memory to that fraction. Ray reruns a
    task whose worker died (max_retries); an error raised by the job itself is not retried."""
    def __init__(self, jobs: int, address: str | None = None, cpus: float = 1.0, gpus: float = 0.0,
                 work: Work = run_cell_job):
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        if not self.address:
            # On Linux Ray replaces 127.0.0.1 by the machine's address; its single-node mode (the
            # default on macOS and Windows, read when ray is imported) keeps every address on loopback.
            os.environ.setdefault(SINGLE_NODE_ENV, "0")
        import ray

        self.ray, self.cpus, self.gpus, self.work = ray, cpus, gpus, work
        self.watchdog = None
        if self.address:
            ray.init(address=self.address, log_to_driver=True)
        else:  # a cluster of our own: loopback only, no dashboard, stopped by close() or the watchdog
            ray.init(num_cpus=jobs, num_gpus=0 if not gpus else None, include_dashboard=False,
                     _node_ip_address="127.0.0.1", log_to_driver=True)
            self.watchdog = start_watchdog(descendants(os.getpid()))

    def describe(self) -> str:
        resources = self.ray.cluster_resources()
        where = self.address or "a local cluster on 127.0.0.1"
        return (f"ray executor on {where} ({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs), "
                f"{self.cpus:g} CPU and {self.gpus:g} GPU per job")

    def run(self, jobs: list[CellJob]) -> Iterator[Outcome]:
        ray = self.ray
        remote = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=ATTEMPTS - 1)(run_ray_job)
        refs = {remote.remote(job, self.gpus, self.work): job for job in jobs}
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                job = refs.pop(done[0])
                try:
                    yield job, ray.get(done[0])
                except ray.exceptions.WorkerCrashedError:
                    yield job, DIED.format(n=ATTEMPTS)
                except ray.exceptions.RayTaskError as error:
                    yield job, f"{type(error.cause).__name__}: {error.cause}" if error.cause else str(error)
        except BaseException:
            for ref in refs:
                ray.cancel(ref, force=True)
            raise

    def close(self) -> None:
        self.ray.shutdown()
        if self.watchdog is not None:
            self.watchdog.stdin.close()  # the cluster is down: the watchdog finds nothing left to end
            self.watchdog.wait(timeout=30)


# The watchdog of a local cluster: Ray's processes are the driver's children, but nothing ends them
# when the driver is killed (SIGKILL runs no atexit; they lingered ~2.5 min). The watchdog holds the
# read end of a pipe only the driver writes to: when the driver is gone, however it went, the read
# returns and the watchdog kills the processes it was given, each only if it is still the same
# process (its start time), never a stranger that reused the pid. It ignores the terminal's Ctrl-C,
# which the driver handles. It parses /proc/<pid>/stat as progress.proc_stat does, on its own: a
# `python -c` script that imports nothing of the package.
WATCHDOG = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.stdin.buffer.read()
for pid, started in zip(*[iter(map(int, sys.argv[1:]))] * 2):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            if int(stat.read().rsplit(")", 1)[1].split()[19]) == started:
                os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass
"""


def process_start(pid: int) -> int | None:
    """A process's start time in clock ticks since boot, None if gone."""
    fields = proc_stat(pid)
    return int(fields[19]) if fields else None


def descendants(root: int) -> dict[int, int]:
    """Every living descendant of process `root` (Linux /proc), by pid, with its start time."""
    parents = {int(pid): int(fields[1]) for pid in (stat.parent.name for stat in Path("/proc").glob("[0-9]*/stat"))
               if (fields := proc_stat(pid))}
    found, todo = {}, [root]
    while todo:
        parent = todo.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found and (started := process_start(pid)) is not None:
                found[pid] = started
                todo.append(pid)
    return found


def start_watchdog(processes: dict[int, int]):
    """A process that kills `processes` (pid -> start time) once this one is gone (WATCHDOG); None
    where there is no /proc (the cluster then ends with the driver's own shutdown only)."""
    import subprocess

    if not processes:
        return None
    args = [str(n) for pid, started in processes.items() for n in (pid, started)]
    return subprocess.Popen([sys.executable, "-c", WATCHDOG, *args], stdin=subprocess.PIPE, start_new_session=True)


def run_ray_job(job: CellJob, gpus: float, work: Work) -> CellOutput:
    """A Ray task: the job, one torch thread, the process's GPU memory capped to its share of the
    GPU. Ray hands numpy arrays over read-only (zero copy); the job gets its own writable ones."""
    import torch

    torch.set_num_threads(1)
    if 0 < gpus < 1 and torch.cuda.is_available():
        torch.cuda.set_per_process_memory_fraction(gpus)
    splits = {name: (x.copy(), y.copy()) for name, (x, y) in job.dataset.splits.items()}
    return work(dataclasses.replace(job, dataset=dataclasses.replace(job.dataset, splits=splits)))
