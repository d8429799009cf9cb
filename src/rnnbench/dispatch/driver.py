"""The dispatch driver: the only process that runs DVC or writes the repository.

1. `dvc repro` of the stages upstream of training (generate, plan-tuning, the tune sweeps,
   configure): DVC runs and records them as it always does.
2. `dvc status --json`: the train stages DVC would run now: a main-grid cell each, or a side grid's
   cells (train-side@<grid>).
3. One job per run (a seed of a stale cell: its resolved config and the cell's checksum-checked
   dataset) to the executor, the runs with the highest cost bound first. Jobs the size of a run,
   not of a cell, keep every worker busy to the end: with a job per cell, the default study's last
   cell trained its 5 seeds one after another on one of 2 workers while the other idled for
   8 min (benchmarks/results.md). A cell whose runs are all back replaces its run folder whole (a
   folder is at every moment the old or the new cell); a cell with a failed run is reported with
   its cause and neither written nor recorded, so that it stays stale (a failure is never a result).
   While the workers train, the driver holds DVC's repository lock, as `dvc repro` does while a stage
   runs: a `dvc repro` (or `dvc commit`) started meanwhile is refused with DVC's own message, so no
   dependency changes under a training cell. A cell is landed only if its configs file still holds
   the configs its runs trained with (checked again at landing, which also covers the moment before
   the lock is taken); otherwise it is reported and stays stale.
4. One `dvc commit` of the stages whose cells all landed (also on Ctrl-C, for those that landed
   before it), which records them in dvc.lock and the cache exactly as their stages would have.
5. When every cell landed, `dvc repro report`: the report stage, whose sync logs MLflow.
The repository is then what `dvc repro` leaves: `dvc status` is clean and a second dispatch
dispatches nothing."""
import contextlib
import json
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import zc.lockfile  # DVC's own lock backend (a dependency of dvc)

from ..config import read_run_configs, require_inside
from ..progress import say, warn
from ..study import Cell, Study
from ..tasks import Dataset
from ..tracking import check_reachable, tracking_uri
from ..training.run_outputs import staged_folder
from .cell_job import CellJob, CellOutput, merged

if TYPE_CHECKING:
    from .executors import Executor

UPSTREAM = ("generate", "configure")  # their `dvc repro` runs plan-tuning and every tune stage too
TRAIN_GROUPS = ("train", "train-")    # stage names of the train stages: train@<model>-<point>, train-side@<grid>


def dvc(*args: str) -> str:
    """Run a DVC command in the repository; its own output goes to the terminal, a failure ends the
    dispatch with DVC's message."""
    capture = args[0] == "status"
    result = subprocess.run(["dvc", *args], capture_output=capture, text=True)
    if result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()[-1:] if capture else []
        raise DispatchError(f"`dvc {' '.join(args)}` failed (exit {result.returncode}){': ' + detail[0] if detail else ''}")
    return result.stdout if capture else ""


class DispatchError(Exception):
    """A DVC step failed: the dispatch stops there, with what landed committed."""


DVC_LOCK = Path(".dvc") / "tmp" / "lock"  # the repository lock every DVC command takes


@contextlib.contextmanager
def dvc_lock() -> Iterator[None]:
    """Hold DVC's repository lock: another DVC command waits a few seconds, then fails with
    "Unable to acquire lock"."""
    DVC_LOCK.parent.mkdir(parents=True, exist_ok=True)
    try:
        lock = zc.lockfile.LockFile(str(DVC_LOCK))
    except zc.lockfile.LockError:
        raise DispatchError("another DVC command holds the repository's lock (.dvc/tmp/lock); "
                            "let it finish, then dispatch again") from None
    try:
        yield
    finally:
        lock.close()


def stale_cells(study: Study) -> list[Cell]:
    """The study's cells whose train stage DVC reports as changed (never run, deps or outs changed):
    a side grid's stage makes all its cells stale."""
    changed = json.loads(dvc("status", "--json") or "{}")
    stages = {cell.stage for cell in study.cells()}
    unknown = sorted(s for s in changed if s.startswith(TRAIN_GROUPS) and "@" in s and s not in stages)
    if unknown:
        raise DispatchError(f"dvc.yaml has train stages params.yaml does not list ({', '.join(unknown[:3])}); "
                            "run `dvc repro` once")
    return [cell for cell in study.cells() if cell.stage in changed]


def cell_name(job: CellJob) -> str:
    """How the progress lines name a job's cell: its stage, and its folder where a stage has several."""
    return job.stage if job.stage.startswith("train@") else f"{job.stage} {job.run_folder.as_posix()}"


def run_jobs_of(cells: list[Cell], engine: str = "auto", whole_cells: bool = False) -> list[CellJob]:
    """A job per run of the cells (with whole_cells, a job per cell, so that a GPU worker can train
    its seeds as one stack), the longest-bounded first; a point's data folder is read and checked
    once for all its models."""
    datasets, jobs = {}, []
    for cell in cells:
        require_inside("run folder", cell.run_folder, Path.cwd())
        configs = read_run_configs(cell.configs_file)
        if cell.data_folder not in datasets:
            datasets[cell.data_folder] = Dataset.load_checked(cell.data_folder, cell.task, cell.length,
                                                              str(cell.data_folder), configs[0].task.options)
        jobs += [CellJob(cell.stage, cell.run_folder, tuple(part), datasets[cell.data_folder], engine, cell.configs_file)
                 for part in ([configs] if whole_cells else [[config] for config in configs])]
    return sorted(jobs, key=lambda job: -bound(job))


STEP_OVERHEAD = 20  # a training step's fixed cost (optimizer, Python, evaluation), in time steps


def bound(job: CellJob) -> int:
    """What a job can cost at most, in time steps trained: max steps x (length + STEP_OVERHEAD).
    It orders the jobs and weighs the ETA. A least-squares fit of the default study's dispatched
    runs put the fixed cost of a step at ~8 time steps (of the steps run); 20 (on the max steps)
    replayed over that dispatch gives an ETA 10-35% off until the last quarter, then up to 3.5 min
    too long; counting runs instead was 2-3.5x too long throughout (benchmarks/results.md)."""
    return sum(config.train.steps * (config.task.length + STEP_OVERHEAD) for config in job.configs)


def configs_changed(job: CellJob, trained: list) -> bool:
    """Whether the cell's configs file no longer holds the configs its runs trained with."""
    try:
        now = read_run_configs(job.configs_file)
    except Exception:  # noqa: BLE001 -- unreadable now: it changed
        return True
    return sorted(now, key=lambda c: c.seed) != sorted(trained, key=lambda c: c.seed)


def land(output: CellOutput, run_folder: Path) -> None:
    """Write a returned cell into its folder, replacing the previous one whole."""
    with staged_folder(run_folder) as staging:
        for name, content in output.files.items():
            path = staging / name
            require_inside("cell output", Path(name), staging)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)


def dispatch(study: Study, open_executor: Callable[[], "Executor"], whole_cells: bool = False) -> int:
    """Run the study's stale cells on the executor `open_executor()` starts (only when a cell is
    stale: a dispatch with nothing to do starts no worker or cluster); returns the exit status
    (0, or 1 when a cell failed). whole_cells: a job per cell, not per run (GPU workers)."""
    check_reachable(tracking_uri())  # an unreachable store stops the dispatch before any work
    dvc("repro", *UPSTREAM)
    cells = stale_cells(study)
    jobs = run_jobs_of(cells, study.execution.engine, whole_cells) if cells else []
    failed = run_jobs(jobs, open_executor, len(study.cells())) if cells else {}
    if failed:
        warn(f"dispatch: {len(failed)} cells failed ({', '.join(failed)}); the report stage waits for them: "
              "fix the cause and dispatch again")
    else:
        dvc("repro", "report")
    print(f"dispatched {len(cells)} cells" + (f", {len(failed)} of them failed" if failed else ""))  # its result
    return 1 if failed else 0


def run_jobs(jobs: list[CellJob], open_executor: Callable[[], "Executor"], cells: int) -> dict[str, str]:
    """Run the jobs, land each cell whose runs all came back and commit the stages whose cells all
    landed; returns the failed cells' causes by cell (cell_name)."""
    executor = open_executor()
    runs_of = Counter(job.run_folder for job in jobs)  # a cell's folder is its key: a side grid's stage has several
    cells_of = defaultdict(set)                          # stage -> its cells' folders among the jobs
    for job in jobs:
        cells_of[job.stage].add(job.run_folder)
    say(f"dispatch: {len(runs_of)} stale cells of {cells} ({len(jobs)} runs) on the {executor.describe()}")
    back: dict[Path, list[CellOutput]] = defaultdict(list)
    landed, failed, start = set(), {}, time.perf_counter()
    total, finished = sum(map(bound, jobs)), 0  # the ETA weighs runs by their bound: the long ones go first
    trained: dict[Path, list] = defaultdict(list)  # each cell's configs, as its jobs were sent
    for job in jobs:
        trained[job.run_folder] += job.configs
    lock = contextlib.ExitStack()
    try:
        lock.enter_context(dvc_lock())
        for done, (job, outcome) in enumerate(executor.run(jobs), 1):
            cell = job.run_folder
            if isinstance(outcome, CellOutput) and not outcome.failed_seeds:
                if cell_name(job) not in failed:  # a run of a failed cell is not recorded either
                    back[cell].append(outcome)
                    if len(back[cell]) == runs_of[cell]:
                        outputs = back.pop(cell)
                        if configs_changed(job, trained[cell]):
                            failed[cell_name(job)] = (f"{job.configs_file} changed while the cell trained (params "
                                                      "changed and configure ran?): not landed, it stays stale")
                            warn(f"dispatch: FAILED {cell_name(job)}: {failed[cell_name(job)]}")
                        else:
                            land(merged(outputs), job.run_folder)
                            landed.add(cell)
            else:
                back.pop(cell, None)
                cause = outcome.cause() if isinstance(outcome, CellOutput) else (
                    f"seed {', '.join(str(config.seed) for config in job.configs)}: {outcome}")
                failed[cell_name(job)] = "; ".join(filter(None, (failed.get(cell_name(job)), cause)))
                warn(f"dispatch: FAILED {cell_name(job)}: {cause}; not recorded, it stays stale")
            finished += bound(job)
            left = (time.perf_counter() - start) / finished * (total - finished)
            say(f"dispatch: {done}/{len(jobs)} runs back, {len(landed)}/{len(runs_of)} cells landed "
                  f"({len(failed)} failed), ~{left / 60:.1f} min left")
    finally:
        executor.close()
        lock.close()  # before the commit, which takes the lock itself
        done_stages = [stage for stage, folders in cells_of.items() if folders <= landed]
        if done_stages:  # recorded even when interrupted: a stage whose cells all landed is a finished stage
            dvc("commit", "--force", *done_stages)
    return failed
