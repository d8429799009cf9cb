"""Step search: every task x model's critical-length search -> searches/<task>/<model>/, side by side."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..config import Execution
from ..process_exit import EXIT_FAILED_RUN
from ..progress import stage_done
from ..search.pool import run_searches
from ..search.runner import Search, SearchFailed, SearchPlan, plans_in
from ..training.trainer import resolve_device


def search(plans: Path, out: Path, execution: Execution) -> int:
    """Every plan under `plans` (<task>/<model>.json) searched into out/<task>/<model>/, their runs
    sharing one pool (search/pool.py); each resumed from its finished runs. A failed run stops its
    own search with its cause (EXIT_FAILED_RUN at the end); the others go on."""
    start = time.perf_counter()
    pairs = plans_in(plans)
    searches = [Search(SearchPlan.read(plans / task / f"{model}.json"), out / task / model, execution)
                for task, model in pairs]
    if not searches:
        Path(out).mkdir(parents=True, exist_ok=True)  # the stage's output, empty
        stage_done("search (none in params)", search=time.perf_counter() - start)
        return 0
    outcomes = run_searches(searches, execution.seed_processes, resolve_device(searches[0].plan.base.train.device))
    for searching, outcome in zip(searches, outcomes):
        if isinstance(outcome, SearchFailed):
            continue  # said when it stopped (pool.py)
        print(f"search {searching.out}: bracket lo={outcome.lo} hi={outcome.hi} (censored: {outcome.censored}); "
              f"{searching.trained} runs trained, {searching.reused} read", file=sys.stderr, flush=True)
    failed = [s.out for s, o in zip(searches, outcomes) if isinstance(o, SearchFailed)]
    if failed:
        print(f"rnnbench: {len(failed)} of {len(searches)} searches stopped on a failed run "
              f"({', '.join(map(str, failed))}); `dvc repro` resumes them from their finished runs",
              file=sys.stderr, flush=True)
        return EXIT_FAILED_RUN
    stage_done(f"search ({len(searches)} searches)", search=time.perf_counter() - start)
    return 0

