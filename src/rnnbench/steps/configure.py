"""Steps plan-tuning and configure: params, parsed once, into the files the later steps read."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..progress import say, stage_done
from ..search.plans import SEARCH_PLANS, SEARCHES, write_search_plans
from ..speed import write_speed_configs
from ..study import TUNING_PLANS, Study, require_watched_corpora
from .tune import TUNING_EXECUTION_FILE


def plan_tuning(study: Study, root: Path = Path(".")) -> int:
    """Every model's tuning plan -> tuning/plans/<model>.json, and the execution settings the tune
    steps read (TUNING_EXECUTION_FILE: upstream of them)."""
    start = time.perf_counter()
    require_watched_corpora(study)  # the tune steps build their data themselves
    models = study.write_tuning_plans(root)
    study.execution.write(root / TUNING_EXECUTION_FILE)
    say(f"planned the tuning of {models} models -> {TUNING_PLANS}/", sys.stdout)
    stage_done("plan-tuning", plan=time.perf_counter() - start)
    return 0


def configure(study: Study, root: Path = Path(".")) -> int:
    """Every cell's resolved run configs, every search's plan, the speed benchmark's configs and the
    execution settings -> configs/."""
    start = time.perf_counter()
    cells = study.write_configs(root)
    say(f"configured {cells} cells x {len(study.seeds)} seeds -> configs/", sys.stdout)
    (root / SEARCHES).mkdir(exist_ok=True)  # the report stage depends on the folder: it exists when nothing is searched
    write_speed_configs(study, root)
    searches = write_search_plans(study, root)
    if searches:
        say(f"planned {searches} critical-length searches -> {SEARCH_PLANS}/", sys.stdout)
    stage_done("configure", configure=time.perf_counter() - start)
    return 0
