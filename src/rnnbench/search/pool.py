"""Drive several critical-length searches at once over one pool of worker processes.

One search alone leaves cores idle: each step waits for its slowest run (early stopping makes runs
of one batch end far apart) and a sweep's extension is often a single run. The nine searches of the
default study are independent, so their runs share one queue: whenever a worker is free it takes the
next run any search needs. Each search is a generator (runner.Search.walk) that yields a batch of
runs and is sent their records; its decisions read only its own runs, so a search makes the same
decisions, and trains the same runs, driven alone or beside others.

A run whose worker dies (killed, out of memory) breaks the whole pool, so every run in flight then
is charged with the death and its search stops (SearchFailed, resumed by the next invocation); the
runs still queued go on in a fresh pool. A failed search never stops the others.
"""
from __future__ import annotations

import sys
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Sequence

import torch

from ..progress import warn
from ..training.sweep import end_workers, seed_pool, seed_process_count
from .rule import Found
from .runner import Job, Search, SearchFailed


def run_search(search: Search) -> Found:
    """One search, its runs `execution.seed_processes` at a time; SearchFailed when a run failed."""
    (outcome,) = run_searches([search], search.execution.seed_processes, search.device)
    if isinstance(outcome, SearchFailed):
        raise outcome
    return outcome


def run_searches(searches: Sequence[Search], seed_processes: int | str,
                 device: torch.device) -> list[Found | SearchFailed]:
    """Every search to its answer or its failure, in the order given; at most `seed_processes`
    (params `seed_processes`: auto = two per core on a CPU, one on a GPU) runs train at once."""
    processes = seed_process_count(seed_processes, sys.maxsize, device)
    walks = [search.walk() for search in searches]
    outcomes: list[Found | SearchFailed | None] = [None] * len(searches)
    queue: deque[tuple[int, int, Job]] = deque()  # (search, index in its batch, run)
    batches: dict[int, list] = {}                 # search -> its current batch's records so far
    left: dict[int, int] = {}                     # search -> runs of that batch not back yet

    def advance(which: int, records: list | None) -> None:
        try:
            batch = walks[which].send(records)
        except StopIteration as stop:
            outcomes[which] = stop.value
            return
        except SearchFailed as failure:
            outcomes[which] = failure
            warn(f"rnnbench: the search {searches[which].out} stopped: {failure}")
            return
        batches[which], left[which] = [None] * len(batch), len(batch)
        queue.extend((which, index, job) for index, job in enumerate(batch))

    def back(which: int, index: int, record: dict | None) -> None:
        batches[which][index] = record
        left[which] -= 1
        if not left[which]:
            advance(which, batches.pop(which))

    for which in range(len(searches)):
        advance(which, None)
    pool: ProcessPoolExecutor | None = None
    bars = False
    running: dict[Future, tuple[int, int, int | None]] = {}  # -> (search, index, bar row)
    try:
        while queue or running:
            while queue and len(running) < processes:
                which, index, job = queue.popleft()
                if pool is None:
                    pool, bars = seed_pool(processes, device)
                row = min(set(range(processes)) - {r for _, _, r in running.values()}) if bars else None
                running[pool.submit(job.train, row)] = (which, index, row)
            # in 0.5 s slices, as training/sweep.py's in_processes: a signal's handler runs only then
            done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                which, index, _ = running.pop(future)
                try:
                    record = future.result()
                except BrokenProcessPool:
                    record, broken = None, True
                back(which, index, record)
            if broken:  # every run still in flight went down with the pool
                for future, (which, index, _) in list(running.items()):
                    running.pop(future)
                    back(which, index, None)
                pool.shutdown(wait=False, cancel_futures=True)
                pool = None
    except BaseException:  # Ctrl-C or SIGTERM: end the runs now, not when they finish
        if pool is not None:
            end_workers(pool)
        raise
    if pool is not None:
        pool.shutdown()
    return outcomes
