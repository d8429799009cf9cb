"""One cell of the study (task x model x length): train every seed's config and write its runs.

A seed that raises is recorded as a failed run (metrics.json with its cause) and the other seeds
go on; the report counts failures instead of the whole study stopping on one.

Every seed trains with one torch thread: torch's CPU kernels can round differently with another
thread count, so fixing it makes a run's history independent of how its cell was scheduled
(docs/architecture.md, "Seeds inside one stage"). It also makes running the seeds at once pay on a
CPU, where a small recurrent model barely uses a second thread (benchmarks/results.md). With any
`seed_processes` a seed's history and weights are bit-for-bit the same (tests/test_sweep.py).
Workers are forked on Linux, as DataLoader workers are, so torch is not imported again per seed.
On a GPU `auto` keeps one process: several are unmeasured there.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import multiprocessing
import os
import shutil
import signal
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable

import torch

from ..config import Execution, RunConfig, seed_folder
from ..models import parameter_count
from ..progress import PoolDisplay, TrainingBar, cell_line, finished_line, say, start_line, warn
from ..tasks import Dataset, resolve_task
from .diagnostics.diagnose import diagnose, gradient_ratio_probe, unavailable
from .run_outputs import reusable_record, staged_folder, write_record, write_run
from .stacked import stacking_problem, train_stacked
from .trainer import Probe, Resume, RunResult, initial_model, network_for, resolve_device, train

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def failed_record(config: RunConfig, error: BaseException | str) -> dict:
    cause = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {"task": config.task.name, "model": config.model.name, "length": config.task.length, "seed": config.seed,
            "failed": True, "error": cause, "solved": False, "diverged": False, "config": config.to_dict()}


def record_failure(config: RunConfig, folder: Path, error: BaseException | str) -> dict:
    record = write_record(folder, failed_record(config, error))
    warn(f"FAILED {config.task.name} {config.model.name} T={config.task.length} seed={config.seed}: {record['error']}")
    return record


def seed_bar(config: RunConfig, redraw: bool = True, position: int | None = None) -> TrainingBar:
    return TrainingBar(f"{config.model.name} {config.task.name} T={config.task.length} s{config.seed}",
                       resolve_task(config.task.name).headline.name, redraw=redraw, position=position,
                       total=config.train.steps)


def started_seed(config: RunConfig, dataset: Dataset, bar: TrainingBar, shown_as: Path) -> Probe | None:
    """Print the run's start line; its gradient-flow probe for the trainer."""
    first = initial_model(config, dataset)
    bar.write(start_line(config, parameter_count(first), str(resolve_device(config.train.device)), shown_as))
    return gradient_ratio_probe(resolve_task(config.task.name), dataset, first)


def train_seed(config: RunConfig, dataset: Dataset, data_checksum: str, folder: Path, redraw: bool = True,
               position: int | None = None, shown_as: Path | None = None, resume: Resume | None = None) -> dict:
    """Train one run into `folder` (from its start, or continued from `resume`); returns its final
    record (failed or not).

    Everything after the arguments is guarded: a seed that raises in training or while writing its
    outputs is recorded as failed with its cause, and a failure of the diagnostics (which run
    after training, on user code too) costs only the diagnostics."""
    bar = seed_bar(config, redraw, position)
    try:
        probe = started_seed(config, dataset, bar, shown_as or folder)
        result = train(config, dataset, on_eval=bar, probe=probe, resume=resume)
    except Exception as error:  # noqa: BLE001 -- one bad run must not end the sweep
        bar.close()
        traceback.print_exc(file=sys.stderr)
        return record_failure(config, folder, error)
    return finish_seed(config, dataset, data_checksum, folder, result, bar)


def train_seeds_stacked(configs: list[RunConfig], dataset: Dataset, data_checksum: str, out: Path,
                        shown: Path) -> dict[int, dict]:
    """The seeds trained as one stack (`stacked`), each written as train_seed writes it; returns
    their final records by seed. A failure of the stack fails every seed in it, with its cause."""
    bars = [seed_bar(config, position=i) for i, config in enumerate(configs)]
    try:
        probes = [started_seed(config, dataset, bar, seed_folder(shown, config.seed))
                  for config, bar in zip(configs, bars)]
        results = train_stacked(configs, dataset, on_eval=bars, probes=probes)
    except Exception as error:  # noqa: BLE001 -- one bad cell must not end the sweep
        for bar in bars:
            bar.close()
        traceback.print_exc(file=sys.stderr)
        return {config.seed: record_failure(config, seed_folder(out, config.seed), error) for config in configs}
    return {config.seed: finish_seed(config, dataset, data_checksum, seed_folder(out, config.seed), result, bar)
            for config, result, bar in zip(configs, results, bars)}


def finish_seed(config: RunConfig, dataset: Dataset, data_checksum: str, folder: Path, result: RunResult,
                bar: TrainingBar) -> dict:
    """A trained run's diagnostics and outputs into `folder`; returns its record (failed if writing failed)."""
    try:
        diagnosis = diagnose(resolve_task(config.task.name), dataset, initial_model(config, dataset),
                             None if result.final["diverged"] else result.model)
    except Exception as error:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        diagnosis = unavailable(f"failed: {type(error).__name__}: {error}")
    try:
        record = write_run(folder, config, result, data_checksum, diagnosis, dataset.extra.get("vocab"))
    except Exception as error:  # noqa: BLE001
        traceback.print_exc(file=sys.stderr)
        bar.close()
        return record_failure(config, folder, error)
    bar.close()
    bar.write(finished_line(result.final))
    return record


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def seed_process_count(seed_processes: int | str, seeds: int, device: torch.device) -> int:
    """How many of a cell's seeds train at once: `seed_processes`, where `auto` is every seed (at
    most two per core) on a CPU and one on a GPU."""
    if seed_processes != "auto":
        return min(seeds, seed_processes)
    return 1 if device.type != "cpu" else min(seeds, 2 * usable_cores())


def train_cell(configs: list[RunConfig], dataset: Dataset, out: Path, execution: Execution = Execution()) -> list[dict]:
    """Train every seed's config of one cell into out/seed<s>/; returns the final records in seed order.

    The seeds write into a staging folder beside `out`, which replaces `out` whole once every seed
    is done: a stage that is killed leaves its output folder as it was, never half a cell. A seed
    already in `out` with the same config, data and training code is copied over, not retrained
    (a study that gains a seed trains only that seed; on CPU the copy is what training would give)."""
    with staged_folder(Path(out)) as staging:
        return train_cell_into(configs, dataset, staging, execution, previous=Path(out))


def stacks(configs: list[RunConfig], dataset: Dataset, engine: str, device: torch.device) -> bool:
    """Whether these runs train as one stack: `engine` stacked, or auto on a GPU, and a model that
    stacks (else each trains alone, with a line saying why when stacked was asked for)."""
    if engine == "processes" or len(configs) < 2 or (engine == "auto" and device.type != "cuda"):
        return False
    first = configs[0]
    try:
        network = network_for(first.model, dataset)
    except Exception:  # noqa: BLE001 -- then each run fails on its own, recorded with this very cause
        return False
    problem = stacking_problem(configs, network)
    if problem and engine == "stacked":
        warn(f"engine stacked: {first.model.name} {first.task.name} T={first.task.length} trains each run alone: "
             f"{problem}")
    return not problem


def engine_for(configs: list[RunConfig], dataset: Dataset, execution: Execution, device: torch.device) -> str:
    """How runs of one length and data train, the one choice for a cell's seeds and a tuning
    sweep's runs alike: "stacked" (one stack, `stacks`), "alone" (one after another in this
    process) or "processes" (a pool of `seed_process_count` workers, `in_processes_retried`)."""
    if stacks(configs, dataset, execution.engine, device):
        return "stacked"
    return "processes" if configs and seed_process_count(execution.seed_processes, len(configs), device) > 1 else "alone"


def train_cell_into(configs: list[RunConfig], dataset: Dataset, out: Path, execution: Execution,
                    previous: Path | None = None) -> list[dict]:
    start = time.perf_counter()
    shown = previous or out  # where the seeds will be once the cell lands: what the lines name
    device = resolve_device(configs[0].train.device)
    checksum = dataset.checksum()  # once per cell: every seed trains on the same arrays
    records = reuse_seeds(configs, checksum, previous, out) if previous is not None else {}
    reused = len(records)
    todo = [config for config in configs if config.seed not in records]
    engine = engine_for(todo, dataset, execution, device)
    if engine == "stacked":
        with one_torch_thread():
            records.update(train_seeds_stacked(todo, dataset, checksum, out, shown))
    elif engine == "alone":
        with one_torch_thread():
            records.update({config.seed: train_seed(config, dataset, checksum, seed_folder(out, config.seed),
                                                    shown_as=seed_folder(shown, config.seed)) for config in todo})
    else:
        by_seed = {config.seed: config for config in todo}
        train_one = functools.partial(train_config_seed, by_seed, dataset, checksum, out, shown)
        trained = in_processes_retried(train_one, list(by_seed), seed_process_count(
            execution.seed_processes, len(todo), device), device, "seed")
        records.update({seed: trained.get(seed) or record_failure(
            config, seed_folder(out, seed), "the process training this seed died (killed, out of memory or a native crash)")
            for seed, config in by_seed.items()})
    ordered = [records[config.seed] for config in configs]
    say(cell_line(ordered, time.perf_counter() - start, reused))
    return ordered


def reuse_seeds(configs: list[RunConfig], checksum: str, previous: Path, out: Path) -> dict[int, dict]:
    """Copy each seed of `previous` that is the same run (config, data, training code) into `out`."""
    reused = {}
    for config in configs:
        record = reusable_record(seed_folder(previous, config.seed), config, checksum)
        if record is not None:
            shutil.copytree(seed_folder(previous, config.seed), seed_folder(out, config.seed))
            reused[config.seed] = record
    if reused:
        say(f"reused seeds {sorted(reused)} of {previous}: same config, data and training code")
    return reused


def train_config_seed(by_seed: dict[int, RunConfig], dataset: Dataset, checksum: str, out: Path, shown: Path,
                      seed: int, position: int | None) -> dict:
    """train_seed by seed number, the form the process pool calls."""
    return train_seed(by_seed[seed], dataset, checksum, seed_folder(out, seed), redraw=position is not None,
                      position=position, shown_as=seed_folder(shown, seed))


def start_worker(parent: int, display_queue=None) -> None:
    """A seed's process: one torch thread, and killed when the stage that started it dies (SIGKILL,
    the OOM killer, a scheduler), so that it never writes on into outputs DVC has moved on from.
    Ctrl-C is the stage's to handle (it ends the workers at once): a worker ignores SIGINT, so that
    the terminal's interrupt to the whole process group cannot look like a dying seed. On a
    terminal its bars are drawn by the stage's process (progress.PoolDisplay)."""
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)
    if display_queue is not None:
        PoolDisplay.worker_started(display_queue)


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent exits (prctl PR_SET_PDEATHSIG); a parent
    that is already gone ends it now. Elsewhere this does nothing."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


@contextlib.contextmanager
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SeedPool(ProcessPoolExecutor):
    """A pool of seed workers and, on a terminal, the display that draws their bars (closed with it)."""

    def __init__(self, processes: int, context, display: PoolDisplay | None):
        super().__init__(processes, mp_context=context, initializer=start_worker,
                         initargs=(os.getpid(), display.queue if display else None))
        self.display = display

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
        if self.display is not None:
            self.display.close()
            self.display = None


def seed_pool(processes: int, device: torch.device) -> tuple[SeedPool, bool]:
    """A pool of `processes` seed workers (`start_worker`), and whether they draw bars (on a
    terminal with tqdm installed; plain lines in a log). Every pool of runs is made here."""
    # fork shares the imported torch; CUDA cannot be forked, and macOS forbids forking after threads.
    # One thread per worker, as every seed has; forking needs it too: a child that starts OpenMP
    # threads after its parent used them hangs (libgomp), which is why DataLoader workers run single-threaded.
    method = "fork" if device.type == "cpu" and sys.platform.startswith("linux") else "spawn"
    context = multiprocessing.get_context(method)
    bars = sys.stderr.isatty() and importlib.util.find_spec("tqdm") is not None
    sys.stdout.flush(), sys.stderr.flush()  # a forked child would print the parent's buffer again
    return SeedPool(processes, context, PoolDisplay(context) if bars else None), bars


def in_processes(train_one: Callable[[int, int | None], dict], seeds, processes: int,
                 device: torch.device) -> dict[int, dict]:
    """Seeds trained `processes` at a time by train_one(seed, position); a seed whose process died has
    no entry. position: the seed's bar row on a terminal, None for plain lines (a log)."""
    records = {}
    pool, bars = seed_pool(processes, device)
    try:
        futures = {seed: pool.submit(train_one, seed, i % processes if bars else None) for i, seed in enumerate(seeds)}
        # In 0.5 s slices, never one blocking wait: Python runs a signal's handler in the main thread
        # only, and a SIGINT the kernel hands to the pool's threads does not end a lock wait here
        # (a probe with tgkill kept the stage alive >15 s; docs/measurements.md, 2026-12-03).
        while not wait(futures.values(), timeout=0.5).done >= set(futures.values()):
            pass
        for seed, future in futures.items():
            try:
                records[seed] = future.result()
            except BrokenProcessPool:
                pass
    except BaseException:  # Ctrl-C or SIGTERM: end the seeds now, not when they finish
        end_workers(pool)
        raise
    pool.shutdown()
    return records


def end_workers(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's workers and return without waiting for their seeds. The executor has no public
    way to stop running work; its `_processes` map (pid -> Process) has been there since Python 3.2."""
    for process in list((pool._processes or {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def in_processes_retried(run_one: Callable[[int, int | None], dict], keys, processes: int, device: torch.device,
                         what: str = "run") -> dict:
    """`in_processes`, then each run whose process died (killed, out of memory, a crash in native
    code) again alone from step 0: a dying worker takes the pool down with it, and with it the
    progress of every run it had not finished, so only a run that kills its own process twice is
    missing from the result (the caller records it as failed, with that cause)."""
    done = in_processes(run_one, keys, processes, device)
    lost = [key for key in keys if key not in done]
    if lost:
        warn(f"a {what}'s process died; retrying {what}s {lost} one at a time from step 0")
    for key in lost:
        done.update(in_processes(run_one, (key,), 1, device))
    return done
