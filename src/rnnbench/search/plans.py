"""Where the searches live and what each one is given: the one statement of their paths.

configure writes one plan per task x model of params `search` (configs/search/<task>/<model>.json):
the resolved run settings of the task x model (its own budget, options and per-model settings, the
length, lr, steps and seed left for the search to set), the length range, the lr ladder and seeds.
The search stage depends on that file alone, so a search reruns exactly when its settings change.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..config import CONFIGS, write_if_changed
from ..study import Cell, Study
from .rule import SearchRange
from .runner import SearchPlan

SEARCH_PLANS = CONFIGS / "search"
SEARCHES = Path("searches")


def plan_file(task: str, model: str) -> Path:
    return SEARCH_PLANS / task / f"{model}.json"


def search_folder(task: str, model: str) -> Path:
    return SEARCHES / task / model


def search_stage(task: str, model: str) -> str:
    """The search's DVC stage name (dvc.yaml's `search` matrix over task x model)."""
    return f"search@{task}-{model}"


def search_plan(study: Study, task: str, model: str) -> SearchPlan:
    settings = study.search
    lengths = settings.lengths[task]
    base = study.run_config(Cell(task, model, lengths["start"]), 0)
    return SearchPlan(base, SearchRange(lengths["start"], lengths["floor"], lengths["cap"], study.seeds,
                                        settings.resolution, settings.budget_factor),
                      study.tune.ladder, settings.start_lr, settings.tune_seeds)


def write_search_plans(study: Study, root: Path = Path(".")) -> int:
    """Every search's plan (rewritten only when it changes); plans of searches no longer in params go."""
    current = set()
    for task, model in study.search.pairs():
        path = root / plan_file(task, model)
        current.add(path)
        write_if_changed(path, json.dumps(search_plan(study, task, model).to_dict(), indent=1) + "\n")
    for stale in (root / SEARCH_PLANS).glob("*/*.json"):
        if stale not in current:
            stale.unlink()
    for folder in (root / SEARCH_PLANS).glob("*/"):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return len(current)
