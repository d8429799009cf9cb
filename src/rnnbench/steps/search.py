"""Step search: every task x model's critical-length search -> searches/<task>/<model>/, side by side."""
from __future__ import annotations

import time
from pathlib import Path

from ..config import Execution
from ..process_exit import EXIT_FAILED_RUN
from ..progress import say, stage_done, warn
from ..search.pool import run_searches
from ..search.rule import Found
from ..search.runner import SEARCH_STAGE, Search, SearchPlan, plans_in, searched_run_cells
from ..training.trainer import resolve_device
from .study_progress import study_line


def search(plans: Path, out: Path, execution: Execution, track: bool = False) -> int:
    """Every plan under `plans` (<task>/<model>.json) searched into out/<task>/<model>/, their runs
    sharing one pool (search/pool.py); each resumed from its finished runs. A failed run stops its
    own search with its cause (EXIT_FAILED_RUN at the end); the others go on. `track` (the DVC
    stage): the tracking server is checked first and the searches' runs are logged to MLflow at the end."""
    start = time.perf_counter()
    if track:
        from ..tracking import check_reachable, tracking_uri
        check_reachable(tracking_uri())  # an unreachable server fails here, before training
    pairs = plans_in(plans)
    searches = [Search(SearchPlan.read(plans / task / f"{model}.json"), out / task / model, execution)
                for task, model in pairs]
    if not searches:
        Path(out).mkdir(parents=True, exist_ok=True)  # the stage's output, empty
        stage_done("search (none in params)", search=time.perf_counter() - start)
        return 0
    outcomes = run_searches(searches, execution.seed_processes, resolve_device(searches[0].plan.base.train.device))
    found = [(searching, outcome) for searching, outcome in zip(searches, outcomes) if isinstance(outcome, Found)]
    for searching, outcome in found:  # a failed search said why when it stopped (pool.py)
        say(f"search {searching.out}: bracket lo={outcome.lo} hi={outcome.hi} (censored: {outcome.censored}); "
              f"{searching.trained} runs trained, {searching.reused} read")
    search_s = time.perf_counter() - start
    if track:
        from ..tracking import log_at_stage_end
        log_at_stage_end([cell for searching, _ in found for cell in searched_run_cells(searching.out)],
                         SEARCH_STAGE, f"the searches in {out}")
    failed = [searching.out for searching, outcome in zip(searches, outcomes) if not isinstance(outcome, Found)]
    if failed:
        warn(f"rnnbench: {len(failed)} of {len(searches)} searches stopped on a failed run "
              f"({', '.join(map(str, failed))}); `dvc repro` resumes them from their finished runs")
        return EXIT_FAILED_RUN
    say(study_line())
    stage_done(f"search ({len(searches)} searches)", search=search_s, mlflow=time.perf_counter() - start - search_s)
    return 0

