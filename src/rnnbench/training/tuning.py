"""The tuning protocol: one learning-rate sweep per (task, model), judged on validation only.

Every tuned model gets the same sweep (params `tune`): each lr of `tune.lrs` trains on every tuning
seed (disjoint from the study's seeds) at each of the task's tuning lengths, with the cell's own
budget and early stopping. The rule, over the runs of every tuning length pooled (`choose_lr`):
  1. the highest fraction of seeds whose validation metric met the task's solved rule;
  2. then the fewest steps to solve of the slowest seed that solved (with several tuning seeds, the
     rung every seed learns soon beats the one a lucky seed learns sooner: the search's GRU on copy
     chose 0.03, fastest on seed 100, which left 3 of 5 study seeds unsolved where 0.01 solved 4);
  3. then the best final validation metric (median; a diverged run counts as the worst);
  4. then the smaller lr.
The sweep starts at `tune.lrs` and walks the ladder (`tune.ladder`): while the best lr is at an end of
those tried, the next rung past it is added (`lrs_to_add`), so a choice sits at an end of its sweep
only at an end of the ladder, a stated bound, flagged `at_edge`. The search (rnnbench/search) uses the
same ladder rules per length. The test split is never read. Runs here write no files; the tune stage
writes the model's result file.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import sys
import traceback
from typing import Mapping, Sequence

import numpy as np

from ..config import TUNED, Execution, RunConfig, TaskTuning
from ..progress import TrainingBar, say
from ..tasks import Dataset, resolve_task
from .stacked import train_stacked
from .sweep import engine_for, in_processes_retried, one_torch_thread, seed_process_count
from .trainer import resolve_device, train


class TuningFailed(RuntimeError):
    """A sweep run failed: the sweep has no result (never a choice made on the runs that remain)."""


def run_summary(config: RunConfig, dataset: Dataset, redraw: bool = True, position: int | None = None) -> dict:
    """Train one sweep run; what the rule needs (validation only), or its failure's cause."""
    bar = tune_bar(config, redraw, position)
    try:
        final = train(config, dataset, on_eval=bar).final
    except Exception as error:  # noqa: BLE001 -- reported; the tune stage then fails as a whole
        traceback.print_exc(file=sys.stderr)
        return failed_summary(config, error)
    finally:
        bar.close()
    return summary_of(config, final)


def tune_bar(config: RunConfig, redraw: bool = True, position: int | None = None) -> TrainingBar:
    return TrainingBar(f"tune {config.model.name} {config.task.name} T={config.task.length} lr={config.train.lr:g} "
                       f"s{config.seed}", resolve_task(config.task.name).headline.name, redraw=redraw, position=position,
                       total=config.train.steps)


def failed_summary(config: RunConfig, error: BaseException | str) -> dict:
    cause = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {"length": config.task.length, "lr": config.train.lr, "seed": config.seed, "failed": cause}


def summary_of(config: RunConfig, final: Mapping) -> dict:
    """What the rule needs of a finished sweep run (validation only)."""
    metric = final["val_metric"]
    return {"length": config.task.length, "lr": config.train.lr, "seed": config.seed,
            "val_solved": bool(final["val_solved"]), "solved_step": final["solved_step"],
            "val_metric": None if final["diverged"] or not math.isfinite(metric) else metric,
            "diverged": bool(final["diverged"]), "steps": final["steps"], "wall_s": final["wall_s"]}


def stacked_summaries(configs: Sequence[RunConfig], datasets: Mapping[int, Dataset]) -> list[dict]:
    """The sweep's runs of each length (its lrs x seeds) trained as one stack (`stacked`), in plan order."""
    summaries = {}
    for length in dict.fromkeys(config.task.length for config in configs):
        group = [config for config in configs if config.task.length == length]
        bars = [tune_bar(config, position=i) for i, config in enumerate(group)]
        try:
            results = train_stacked(group, datasets[length], on_eval=bars)
        except Exception as error:  # noqa: BLE001 -- reported; the tune stage then fails as a whole
            traceback.print_exc(file=sys.stderr)
            summaries.update({id(c): failed_summary(c, error) for c in group})
        else:
            summaries.update({id(c): summary_of(c, result.final) for c, result in zip(group, results)})
        finally:
            for bar in bars:
                bar.close()
    return [summaries[id(config)] for config in configs]


def lr_table(runs: Sequence[Mapping], higher_is_better: bool) -> list[dict]:
    """Per lr of a sweep, the figures the rule judges, in the rule's order (best first)."""
    worst = -math.inf if higher_is_better else math.inf
    rows = []
    for lr in sorted({float(r["lr"]) for r in runs}):
        own = [r for r in runs if float(r["lr"]) == lr]
        solved = [r for r in own if r.get("val_solved") and not r.get("diverged")]
        metrics = [worst if r.get("val_metric") is None else float(r["val_metric"]) for r in own]
        rows.append({"lr": lr, "seeds": len(own), "val_solved": len(solved),
                     "solved_fraction": len(solved) / len(own),
                     "median_steps_to_solve": float(np.median([r["solved_step"] for r in solved])) if solved else math.inf,
                     "slowest_steps_to_solve": float(max(r["solved_step"] for r in solved)) if solved else math.inf,
                     "median_val_metric": float(np.median(metrics)),
                     "diverged": sum(bool(r.get("diverged")) for r in own)})
    sign = -1.0 if higher_is_better else 1.0
    return sorted(rows, key=lambda r: (-r["solved_fraction"], r["slowest_steps_to_solve"], r["median_steps_to_solve"],
                                       sign * r["median_val_metric"], r["lr"]))


def choose_lr(runs: Sequence[Mapping], higher_is_better: bool) -> tuple[float, bool]:
    """The rule's lr and whether it lies at an end of the sweep (with more than one lr swept)."""
    table = lr_table(runs, higher_is_better)
    lrs = sorted(r["lr"] for r in table)
    best = table[0]["lr"]
    return best, len(lrs) > 1 and best in (lrs[0], lrs[-1])


# --- the ladder: where a sweep starts and how far it walks ------------------------------------
def first_lrs(ladder: Sequence[float], center: float) -> list[float]:
    """The rung nearest `center` and its two neighbours on the ladder."""
    i = min(range(len(ladder)), key=lambda k: abs(math.log(ladder[k] / center)))
    return [ladder[k] for k in range(max(i - 1, 0), min(i + 2, len(ladder)))]


def learnt(metric: float, baseline: float, higher_is_better: bool) -> bool:
    """Whether a validation metric went at least halfway from the task's memoryless baseline to
    perfect (1 for a score, 0 for a loss): the rung learnt something a corner of the ladder can be
    judged against, whether or not it solved."""
    if not math.isfinite(metric):
        return False
    return metric >= (baseline + 1) / 2 if higher_is_better else metric <= baseline / 2


def lrs_to_add(ladder: Sequence[float], tried: Sequence[float], table: Sequence[Mapping],
               until_learnt: tuple[float, bool] | None = None) -> list[float]:
    """The rungs a sweep adds next, given the lr table of what it tried (`lr_table`, best first):
    the rung past the best when the best sits at an end of those tried (unless that end is the
    ladder's, a stated bound). With `until_learnt` = (the task's memoryless baseline, higher is
    better): while no lr tried has solved on a tuning seed or `learnt`, the rungs on both sides of
    those tried, so a failure is never read off a corner of the ladder where every rung sits at
    chance and the best is noise (the GRU on XOR at T=20 solves only at 0.03 and 0.1, all of
    1e-3..1e-2 at chance). Empty: the sweep is done."""
    ladder = list(ladder)
    tried = sorted(set(tried))
    low, high = ladder.index(tried[0]), ladder.index(tried[-1])
    if until_learnt is not None and not any(
            row["val_solved"] or learnt(row["median_val_metric"], *until_learnt) for row in table):
        return [ladder[i] for i in (low - 1, high + 1) if 0 <= i < len(ladder)]
    best = table[0]["lr"]
    if len(tried) > 1 and best == tried[0] and low > 0:
        return [ladder[low - 1]]
    if len(tried) > 1 and best == tried[-1] and high < len(ladder) - 1:
        return [ladder[high + 1]]
    return []


def at_bound(ladder: Sequence[float], best: float) -> bool:
    """Whether the chosen lr is an end of the ladder: the sweep could not look past it."""
    return best in (ladder[0], ladder[-1])


def with_lr(config: RunConfig, lr: float) -> RunConfig:
    return dataclasses.replace(config, train=dataclasses.replace(config.train, lr=lr))


def sweep_config(config: RunConfig) -> RunConfig:
    """A sweep run stops at the solved rule itself (train.stop_margin 0): everything the lr rule reads
    of it (val_solved, solved_step, an unsolved run's final validation metric) is settled there, so
    training on to the margin would cost steps and change no choice."""
    return dataclasses.replace(config, train=dataclasses.replace(config.train, stop_margin=0.0))


def tune_task(plan: TaskTuning, execution: Execution = Execution()) -> TaskTuning:
    """Run one task's sweep (every config of the plan, then the ladder's rungs `lrs_to_add` names)
    and choose its lr. A plan that is not tuned (hand-set, shared or copied lr) comes back as it is."""
    if plan.source != TUNED:
        return plan
    first = plan.configs[0]
    task = resolve_task(first.task.name)
    datasets = {length: task.build(length, first.data, first.task.options)  # deterministic: generate's arrays
                for length in plan.lengths}
    ladder = plan.ladder or plan.lrs
    runs = sweep_runs(plan.configs, datasets, execution)
    tried = list(plan.lrs)
    while more := lrs_to_add(ladder, tried, lr_table(runs, task.headline.higher_is_better)):
        say(f"tune {first.model.name} {first.task.name}: the best lr is at an end of {sorted(tried)}; "
             f"adding {', '.join(f'{lr:g}' for lr in more)}")
        runs += sweep_runs(tuple(with_lr(c, lr) for lr in more for c in plan.configs if c.train.lr == plan.lrs[0]),
                           datasets, execution)
        tried += more
    lr, _ = choose_lr(runs, task.headline.higher_is_better)
    return dataclasses.replace(plan, lr=lr, at_edge=at_bound(ladder, lr), runs=tuple(runs))


def sweep_runs(configs: Sequence[RunConfig], datasets: Mapping[int, Dataset], execution: Execution) -> list[dict]:
    """Each config's run summary, trained as one stack, one by one, or in processes (the study's
    engine); TuningFailed when any run failed (never a choice made on the runs that remain)."""
    configs = [sweep_config(config) for config in configs]
    first = configs[0]
    device = resolve_device(first.train.device)
    groups = {length: [c for c in configs if c.task.length == length] for length in dict.fromkeys(c.task.length for c in configs)}
    engines = {engine_for(group, datasets[length], execution, device) for length, group in groups.items()}
    if engines == {"stacked"}:
        with one_torch_thread():
            runs = stacked_summaries(configs, datasets)
    elif seed_process_count(execution.seed_processes, len(configs), device) == 1:
        with one_torch_thread():
            runs = [run_summary(config, datasets[config.task.length]) for config in configs]
    else:
        run_one = functools.partial(run_indexed, configs, datasets)
        done = in_processes_retried(run_one, list(range(len(configs))), seed_process_count(
            execution.seed_processes, len(configs), device), device, "tuning run")
        runs = [done.get(i) or failed_summary(c, "the process training it died twice (killed, out of memory or a "
                                                 "native crash)") for i, c in enumerate(configs)]
    failed = [r for r in runs if r.get("failed")]
    if failed:
        raise TuningFailed(f"{len(failed)} of {len(runs)} tuning runs of {first.model.name} on {first.task.name} "
                           f"failed (first: T={failed[0]['length']} lr={failed[0]['lr']:g} seed {failed[0]['seed']}: "
                           f"{failed[0]['failed']})")
    return runs


def run_indexed(configs: Sequence[RunConfig], datasets: Mapping[int, Dataset], index: int,
                position: int | None) -> dict:
    """run_summary by index in the sweep, the form the process pool calls (position: its bar's row)."""
    return run_summary(configs[index], datasets[configs[index].task.length], position is not None, position)
