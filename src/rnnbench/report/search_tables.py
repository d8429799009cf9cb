"""The critical-length searches as tables: every study-seed run they trained, and per length the
outcome the search decided on. Runs are read from their own metrics.json (the folders a search's
search.json lists), so every number is the run's, never the trace's copy of it."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..search.plans import searched_lengths
from ..search.rule import OTHER, OWN, count_at
from ..study import Study
from ..training.run_outputs import UnreadableRun, read_run
from .aggregate import SeedRun
from .statistics import exact_interval

SEARCH_RUN_COLUMNS = ["task", "model", "length", "seed", "lr", "lr_at_bound", "max_steps", "extended", "at_lower", "solved",
                      "solved_step", "test_metric", "failed", "run_dir"]
SEARCH_LENGTH_COLUMNS = ["task", "model", "length", "lr", "lr_at_bound", "lrs_tried", "confirm_lr", "confirm_lrs_tried",
                         "relearnt", "seeds", "completed", "solved",
                         "solved_fraction", "solved_ci_low", "solved_ci_high", "extended", "solved_extended",
                         "extended_steps", "lower_lr", "at_lower", "solved_at_lower", "by_lower",
                         "budget_limited", "budget_bound", "base_steps", "finished"]


def search_runs(study: Study, root: Path) -> pd.DataFrame:
    """One row per study-seed run of every search of the study (the larger-budget reruns as their own rows)."""
    rows = []
    for tested in searched_lengths(study, root):
        for run in tested.runs:
            try:
                record = read_run(run.folder, root).record
            except UnreadableRun:  # missing, unreadable or altered: a failed row
                record = {}
            train = (record.get("config") or {}).get("train") or {}
            rows.append({"task": tested.task, "model": tested.model, "length": tested.length, "seed": run.seed,
                         "lr": train.get("lr"), "lr_at_bound": tested.lr_at_bound, "max_steps": train.get("steps"),
                         "extended": run.extended, "at_lower": run.at_lower, "solved": bool(record.get("solved")),
                         "solved_step": record.get("solved_step"), "test_metric": record.get("test_metric"),
                         "failed": not record or bool(record.get("failed")), "run_dir": run.folder.as_posix()})
    return pd.DataFrame(rows, columns=SEARCH_RUN_COLUMNS)


def search_lengths(study: Study, root: Path, runs: pd.DataFrame, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per task x model x length a search tested: the lr its sweep chose, the seeds and how many
    solved, with the exact interval: a seed counts solved when it solved under either budget, or,
    where the confirmation ran at another lr (`relearnt`, rule.py), only its runs count; where a
    second confirmation ran at the lr the shorter bound was solved at (`lower_lr`), the length counts
    the set of the two that solved more seeds (`by_lower`: the second).
    budget_limited: the rule of report/budget.py on the length's last runs (summary.csv's row, which
    reads each seed's larger-budget run where it had one), or the ceiling cut its confirming budget
    short (budget_bound)."""
    limited = {} if summary is None else {
        (row.task, row.model, int(row.length)): bool(row.budget_limited) for row in summary.itertuples()}
    rows = []
    for tested in searched_lengths(study, root):
        own = runs[(runs["task"] == tested.task) & (runs["model"] == tested.model) & (runs["length"] == tested.length)
                   & ~runs["failed"]]
        base, extended, lower = own[~own["extended"]], own[own["extended"] & ~own["at_lower"]], own[own["at_lower"]]
        seeds, solved = counted(base, extended, tested.relearnt)
        seeds_lower, solved_lower = counted(base, lower, tested.lower_lr != tested.lr)
        by_lower = tested.lower_lr is not None and solved_lower > solved
        if by_lower:
            seeds, solved = seeds_lower, solved_lower
        low, high = exact_interval(solved, seeds) if seeds else (math.nan, math.nan)
        rows.append({"task": tested.task, "model": tested.model, "length": tested.length, "lr": tested.lr,
                     "lr_at_bound": tested.lr_at_bound,
                     "lrs_tried": " ".join(f"{row['lr']:g}" for row in sorted(tested.sweep, key=lambda r: r["lr"])),
                     "confirm_lr": tested.confirm_lr,
                     "confirm_lrs_tried": " ".join(f"{row['lr']:g}" for row in sorted(tested.confirm_sweep,
                                                                                       key=lambda r: r["lr"])),
                     "relearnt": tested.relearnt,
                     "seeds": seeds, "completed": seeds, "solved": solved,
                     "solved_fraction": solved / seeds if seeds else math.nan,
                     "solved_ci_low": low, "solved_ci_high": high, "extended": len(extended),
                     "solved_extended": int(extended["solved"].sum()),
                     "extended_steps": int(extended["max_steps"].max()) if len(extended) else None,
                     "lower_lr": tested.lower_lr, "at_lower": len(lower),
                     "solved_at_lower": solved_lower if tested.lower_lr is not None else None, "by_lower": by_lower,
                     "budget_limited": limited.get((tested.task, tested.model, tested.length), False) or tested.budget_bound,
                     "budget_bound": tested.budget_bound,
                     "base_steps": int(base["max_steps"].min()) if len(base) else None,
                     "finished": tested.finished})
    return pd.DataFrame(rows, columns=SEARCH_LENGTH_COLUMNS)


def counted(base: pd.DataFrame, confirming: pd.DataFrame, afresh: bool) -> tuple[int, int]:
    """A confirming set's seeds and how many solved, by the search's own count (rule.count_at): at
    another lr than the length's own (`afresh`) its own runs alone, at the own lr a seed solved
    under either budget."""
    solved = lambda runs: dict(zip(runs["seed"], runs["solved"]))  # noqa: E731
    return (len(confirming) if afresh else len(base)), count_at(OTHER if afresh else OWN, solved(base), solved(confirming))


SEARCH = "search"  # the lr_source of a searched run: its length's own sweep


def search_seed_runs(study: Study, root: Path) -> list[SeedRun]:
    """Each study seed's last run at every searched length the grid does not train (under the larger
    budget where it had one): the rows the report's per-length tables add for the searches. Where the
    grid has the cell, its rows stand and the search's are in search_runs.csv only."""
    grid = {(c.task, c.model, c.length) for c in study.cells()}
    chosen: dict[tuple, SeedRun] = {}
    for tested in searched_lengths(study, root):
        if (tested.task, tested.model, tested.length) in grid:
            continue
        for run in tested.runs:  # in the order they ran: a larger-budget rerun replaces its seed's first
            if run.extended and run.at_lower != tested.by_lower:  # the confirming set the length does not count
                continue
            chosen[tested.task, tested.model, tested.length, run.seed] = SeedRun(
                tested.task, tested.model, tested.length, run.seed, run.folder, SEARCH)
    return list(chosen.values())
