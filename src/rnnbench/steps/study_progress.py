"""How far the whole study is, for the line each tune, train and search stage ends with: DVC runs
the stages one process at a time, so the only shared state is on disk.

- tuning: a model's sweep is done when its result file holds the plan's very configs; its time is
  its runs' wall time shared among the processes that ran them.
- training: a cell is done when each of its seeds has a finished record for exactly its current
  config and training code (a stale run folder is not done); its time is its seeds' wall time
  shared among the processes that ran them.
- searches: one is done when its trace (search.json) was made for its plan's range, ladder and
  tuning seeds. Its time is not estimated: how many lengths it tries is what it finds out.
Time left: each remaining sweep at the done sweeps' seconds per planned config, each remaining cell
at the median time of the done cells of its task (all done cells when its task has none). Progress
only: it changes no result (layout.NOT_RESULT_CODE), so a stage does not depend on this file.
"""
from __future__ import annotations

import statistics
from pathlib import Path

from ..config import CELL_LIST, EXECUTION_FILE, TUNING, read_json, seed_folder
from ..search.plans import SEARCH_PLANS, search_folder
from ..search.runner import TRACE_FILE
from ..study import TUNING_PLANS
from ..training.run_outputs import UnreadableRun, code_checksum, read_run
from .tune import TUNING_EXECUTION_FILE


def sharing(processes: int | str, runs: int) -> int:
    """How many of `runs` ran at once under seed_processes `processes` (auto: all of them)."""
    return max(1, runs if processes == "auto" else min(int(processes), runs))


def cell_seconds(configs_file: Path, runs: Path, processes: int | str) -> float | None:
    """The cell's training time when every seed is current, else None."""
    try:
        configs = read_json(configs_file)
        records = [read_run(seed_folder(runs, c["seed"])).record for c in configs]
    except (OSError, ValueError, KeyError, TypeError, UnreadableRun):
        return None
    if not configs or any(r.get("failed") or r.get("config") != c or r.get("code_checksum") != code_checksum()
                          for r, c in zip(records, configs)):
        return None
    return sum(float(r.get("wall_s") or 0) for r in records) / sharing(processes, len(configs))


def sweep_progress(root: Path) -> tuple[list[tuple[int, float | None]], int | str]:
    """Per planned sweep (a model's plan file): (its planned configs, its seconds when done else None)."""
    try:
        processes = read_json(root / TUNING_EXECUTION_FILE).get("seed_processes", "auto")
    except (OSError, ValueError, AttributeError):
        processes = "auto"
    sweeps = []
    plans = root / TUNING_PLANS
    for plan_file in sorted(plans.rglob("*.json")):
        if plan_file == root / TUNING_EXECUTION_FILE:
            continue
        try:
            plan = [t for t in read_json(plan_file)["tasks"] if t.get("source") == "tuned"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        if not plan:
            continue  # a hand-set or copied lr: nothing to sweep
        planned = sum(len(t.get("configs", [])) for t in plan)
        try:
            result = {t["task"]: t for t in read_json(root / TUNING / plan_file.relative_to(plans))["tasks"]}
            done = all(t["task"] in result and result[t["task"]].get("configs") == t.get("configs") for t in plan)
            runs = [r for t in plan for r in result[t["task"]].get("runs", [])] if done else []
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            done, runs = False, []
        seconds = sum(float(r.get("wall_s") or 0) for r in runs) / sharing(processes, len(runs)) if done else None
        sweeps.append((planned, seconds))
    return sweeps, processes


def searches_done(root: Path) -> tuple[int, int]:
    """(searches done, searches planned)."""
    plans = sorted((root / SEARCH_PLANS).glob("*/*.json"))
    done = 0
    for plan_file in plans:
        task, model = plan_file.parent.name, plan_file.stem
        try:
            plan, trace = read_json(plan_file), read_json(root / search_folder(task, model) / TRACE_FILE)
            done += all(trace.get(key) == plan.get(key) for key in ("range", "ladder", "tune_seeds"))
        except (OSError, ValueError, AttributeError):
            continue
    return done, len(plans)


def study_line(root: Path = Path(".")) -> str:
    """E.g. `study: tuning 6/8 sweeps, training 12/40 cells (30%), searches 0/9; ~2.1 min of tuning
    and ~19.4 min of training left (searches not estimated)`: the parts the study has, from what is
    on disk. Before the configure stage has listed the cells, training is "not planned yet"."""
    parts, left = [], {}
    sweeps, _ = sweep_progress(root)
    if sweeps:
        done = [(n, s) for n, s in sweeps if s is not None]
        parts.append(f"tuning {len(done)}/{len(sweeps)} sweeps")
        if done and len(done) < len(sweeps):
            per_config = sum(s for _, s in done) / max(1, sum(n for n, _ in done))
            left["tuning"] = per_config * sum(n for n, s in sweeps if s is None)
    try:
        cells = read_json(root / CELL_LIST)
        processes = read_json(root / EXECUTION_FILE).get("seed_processes", "auto")
        times = [(c["task"], cell_seconds(root / c["configs"], root / c["runs"], processes)) for c in cells]
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        times = None
    if times:
        done = [(task, s) for task, s in times if s is not None]
        parts.append(f"training {len(done)}/{len(times)} cells ({100 * len(done) / len(times):.0f}%)")
        if done and len(done) < len(times):
            overall = statistics.median(s for _, s in done)
            by_task = {task: statistics.median(s for t, s in done if t == task) for task, _ in done}
            left["training"] = sum(by_task.get(task, overall) for task, s in times if s is None)
    elif sweeps:
        parts.append("training not planned yet")
    found, planned = searches_done(root)
    if planned:
        parts.append(f"searches {found}/{planned}")
    if not parts:
        return "study: nothing planned yet"
    line = "study: " + ", ".join(parts)
    if left:
        line += "; " + " and ".join(f"~{seconds / 60:.1f} min of {what}" for what, seconds in left.items()) + " left"
        line += " (searches not estimated)" if found < planned else ""
    return line
