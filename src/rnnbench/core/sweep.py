"""One cell of the study (task x model x length): train every seed and write its outputs.

A seed that raises is recorded as a failed run (metrics.json with its cause) and the other seeds
go on; the report counts failures instead of the whole study stopping on one.

Every seed trains with one torch thread. Torch's CPU kernels can round differently with another
thread count (xor lstm T=10 seed 0 solved at step 700 with one thread, 800 with two), so fixing it
makes a run's history independent of how its cell was scheduled. It also makes running the seeds at
once pay: a small recurrent model barely uses a second thread, and on the 2-core CPU a cell of 3
seeds as 3 concurrent processes finished 1.7-1.9x sooner than one after another (rnn, gru, lstm;
benchmarks/results.md, "seeds of a study cell"); 3 processes beat 2 because 3 equal seeds in 2
slots take two rounds. With any `seed_processes` a seed's history and weights are bit-for-bit
the same (tests/test_sweep.py). Workers are forked on Linux, as DataLoader workers are, so torch is
not imported again per seed. On a GPU `auto` keeps one process: several are unmeasured there.
"""
from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable

import torch

from ..progress import TrainingBar, finished_line
from .run_outputs import write_record, write_run
from ..study import Cell, Study, seed_folder
from .dataset import Dataset
from .diagnostics.diagnose import diagnose
from .train import initial_model, resolve_device, train


def failed_record(cell: Cell, seed: int, config, error: BaseException | str) -> dict:
    cause = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {"task": cell.task, "model": cell.model, "length": cell.length, "seed": seed, "failed": True,
            "error": cause, "solved": False, "diverged": False, "config": config.to_dict()}


def record_failure(study: Study, cell: Cell, seed: int, root: Path, error: BaseException | str) -> dict:
    record = write_record(root / seed_folder(cell, seed), failed_record(cell, seed, study.run_config(cell, seed), error))
    print(f"FAILED {cell.task} {cell.model} T={cell.length} seed={seed}: {record['error']}", file=sys.stderr, flush=True)
    return record


def train_seed(study: Study, cell: Cell, dataset: Dataset, data_checksum: str, root: Path, seed: int,
               redraw: bool = True) -> dict:
    """Train one seed of `cell` into root/runs/...; returns its final record (failed or not)."""
    config = study.run_config(cell, seed)
    bar = TrainingBar(f"{cell.model} {cell.task} T={cell.length} s{seed}", dataset.metric, redraw=redraw)
    try:
        result = train(config, dataset, on_eval=bar)
    except Exception as error:  # noqa: BLE001 -- one bad run must not end the sweep
        bar.close()
        traceback.print_exc(file=sys.stderr)
        return record_failure(study, cell, seed, root, error)
    bar.close()
    diagnosis = diagnose(config, dataset, initial_model(config, dataset),
                         None if result.final["diverged"] else result.model)
    record = write_run(root / seed_folder(cell, seed), config, result, data_checksum, diagnosis)
    print(finished_line(result.final), flush=True)
    return record


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cell_device(study: Study, cell: Cell) -> torch.device:
    return resolve_device(study.run_config(cell, study.seeds[0]).train.device)


def seed_process_count(study: Study, device: torch.device) -> int:
    """How many of a cell's seeds train at once: `seed_processes`, where `auto` is every seed (at
    most two per core) on a CPU and one on a GPU."""
    seeds = len(study.seeds)
    if study.seed_processes != "auto":
        return min(seeds, study.seed_processes)
    return 1 if device.type != "cpu" else min(seeds, 2 * usable_cores())


def train_cell(study: Study, cell: Cell, dataset: Dataset, root: Path) -> list[dict]:
    """Train all seeds of `cell` into root/runs/...; returns the final records in seed order."""
    device = cell_device(study, cell)
    checksum = dataset.checksum()  # once per cell: every seed trains on the same arrays
    processes = seed_process_count(study, device)
    if processes == 1:
        with one_torch_thread():
            return [train_seed(study, cell, dataset, checksum, root, seed) for seed in study.seeds]
    train_one = functools.partial(train_seed, study, cell, dataset, checksum, root)
    records = in_processes(train_one, study.seeds, processes, device)
    for seed in study.seeds:
        if seed not in records:
            # A worker died (killed, out of memory, a crash in native code) and took the pool down
            # with it: retry each unfinished seed alone, so only the seed that kills its process fails.
            retried = in_processes(train_one, (seed,), 1, device)
            records[seed] = retried.get(seed) or record_failure(
                study, cell, seed, root, "the process training this seed died (killed, out of memory or a native crash)")
    return [records[seed] for seed in study.seeds]


@contextlib.contextmanager
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def in_processes(train_one: Callable[[int, bool], dict], seeds, processes: int, device: torch.device) -> dict[int, dict]:
    """Seeds trained `processes` at a time by train_one(seed, redraw); a seed whose process died has no entry."""
    # fork shares the imported torch; CUDA cannot be forked, and macOS forbids forking after threads.
    # One thread per worker, as every seed has; forking needs it too: a child that starts OpenMP
    # threads after its parent used them hangs (libgomp), which is why DataLoader workers run single-threaded.
    method = "fork" if device.type == "cpu" and sys.platform.startswith("linux") else "spawn"
    sys.stdout.flush(), sys.stderr.flush()  # a forked child would print the parent's buffer again
    records = {}
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context(method),
                             initializer=torch.set_num_threads, initargs=(1,)) as pool:
        futures = {seed: pool.submit(train_one, seed, False) for seed in seeds}
        for seed, future in futures.items():
            try:
                records[seed] = future.result()
            except BrokenProcessPool:
                pass
    return records
