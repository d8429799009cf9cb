"""Where the searches live and what each one is given: the one statement of their paths.

configure writes one plan per task x model of params `search` (configs/search/<task>/<model>.json):
the resolved run settings of the task x model (its own budget, options and per-model settings, the
length, lr, steps and seed left for the search to set), the length range, the lr ladder and seeds.
The search stage depends on these files: when one changes the stage reruns, and every search whose
plan did not change reads its finished runs instead of training them (runner.py), in seconds.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..config import CONFIGS, write_if_changed
from ..study import Cell, Study
from .rule import OTHER, OWN, SearchRange
from .runner import SearchPlan, read_trace

SEARCH_PLANS = CONFIGS / "search"
SEARCHES = Path("searches")


def plan_file(task: str, model: str) -> Path:
    return SEARCH_PLANS / task / f"{model}.json"


def search_folder(task: str, model: str) -> Path:
    return SEARCHES / task / model


def search_plan(study: Study, task: str, model: str) -> SearchPlan:
    settings = study.search
    lengths = settings.lengths[task]
    base = study.run_config(Cell(task, model, lengths["start"]), 0)
    return SearchPlan(base, SearchRange(lengths["start"], lengths["floor"], lengths["cap"], study.seeds,
                                        settings.resolution, settings.budget_factor, base.train.steps,
                                        settings.budget_ceiling),
                      study.tune.ladder, settings.start_lr, settings.tune_seeds)


def write_search_plans(study: Study, root: Path = Path(".")) -> int:
    """Every search's plan (rewritten only when it changes); plans of searches no longer in params go."""
    current = set()
    (root / SEARCH_PLANS).mkdir(parents=True, exist_ok=True)  # the search stage's dependency, with no searches too
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


# --- what the searches ran: the one walk over their traces ---------------------------------------
@dataclass(frozen=True)
class SearchedRun:
    """A study-seed run of a search: `folder` is relative to the study root."""
    seed: int
    steps: int
    extended: bool  # a confirmation's run: the ceiling budget (rule.py)
    folder: Path
    at_lower: bool = False  # ... its second, at the lr the shorter bound was solved at


@dataclass(frozen=True)
class SearchedLength:
    """One length a search tested, as its trace (search.json) records it; the runs' numbers are in
    their own folders' metrics.json, never taken from the trace."""
    task: str
    model: str
    length: int
    lr: float | None
    lr_at_bound: bool
    sweep: tuple[dict[str, Any], ...]  # the lr table of its sweep (training/tuning.py's lr_table)
    runs: tuple[SearchedRun, ...]      # in the order they ran: a larger-budget rerun comes last
    finished: bool                     # the search has its answer (its trace's `found`)
    budget_bound: bool = False         # the answer's hi, where the ceiling was under budget_factor x lo's slowest solve
    confirm_lr: float | None = None    # the lr its confirmation ran at (None: none ran)
    relearnt: bool = False             # ... another lr than `lr`: every seed ran again there, and only those runs count
    confirm_sweep: tuple[dict[str, Any], ...] = ()  # the lr table of the confirmation's sweep at the ceiling
    lower_lr: float | None = None      # the second confirmation's lr, lo's (None: none, it was the first's)
    by_lower: bool = False             # the length counts the second confirmation's seeds (they solved more)


def searched_lengths(study: Study, root: Path = Path(".")) -> Iterator[SearchedLength]:
    """Every length every search of the study tested, in params order then the trace's (by length);
    a search with no trace yet has none."""
    for task, model in study.search.pairs():
        folder = search_folder(task, model)
        trace = read_trace(Path(root) / folder) or {}
        found = trace.get("found") or {}
        for length in trace.get("lengths", []):
            confirm = length.get("confirm") or {}
            yield SearchedLength(
                task, model, int(length["length"]), length.get("lr"), bool(length.get("lr_at_bound")),
                tuple(length.get("sweep", ())),
                tuple(SearchedRun(int(run["seed"]), int(run["steps"]), bool(run["extended"]), folder / run["folder"],
                                  bool(run.get("at_lower")))
                      for run in length.get("runs", [])),
                trace.get("found") is not None,
                bool(found.get("budget_bound")) and found.get("hi") == int(length["length"]),
                confirm.get("lr"), confirm.get("at") == OTHER, tuple(confirm.get("sweep", ())),
                confirm.get("lower_lr") if confirm.get("lower_at") in (OWN, OTHER) else None,
                bool(length.get("by_lower")))
