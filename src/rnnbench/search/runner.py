"""Run one task x model's critical-length search (rule.py) with the training core.

Every run is an ordinary run folder, written where its settings say:
    <out>/<task>-<T>/lr<lr>-steps<steps>/seed<s>/       the study's seeds (and the larger budget)
    <out>/<task>-<T>/tune/lr<lr>-steps<steps>/seed<s>/  the lr sweep's runs, on the tuning seeds
A run already there with the same config, data and training code is read, not trained again, so a
search that was interrupted (or whose stage is forced) replays the same decisions from the finished
runs and trains only what is missing. `search.json` in <out> is the trace: per length its lr sweep
and each seed's outcome, then the answer. It is rewritten (by a rename) after every step, so an
interrupted search shows how far it got.

The lr sweep judges validation only (training/tuning.py's rule); which length comes next reads the
study seeds' solved flags, which are judged on the test split as everywhere in the report: the
search decides where to measure, not what a model is given.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from ..config import ConfigError, Execution, RunConfig, point_name, read_json, seed_folder
from ..progress import say
from ..tasks import Dataset, resolve_task
from ..training.run_outputs import json_safe, resume_point, reusable_record, write_atomic, write_run
from ..training.sweep import record_failure, train_seed
from ..training.trainer import resolve_device, train
from ..training.tuning import at_bound, choose_lr, first_lrs, lr_table, lrs_to_add, sweep_config, tune_bar
from .rule import OTHER, OWN, SAME, Confirm, Found, LengthRuns, SearchRange, Train, nearest_tuned, next_step

TRACE_FILE = "search.json"
SEARCH_STAGE = "search"  # dvc.yaml's one stage for every search: their runs share one pool (pool.py)


class SearchFailed(RuntimeError):
    """A run of the search failed: the search stops there (a failure is never an outcome)."""


DIED = ("the process training this run died (killed, out of memory or a native crash; a run beside it in the "
        "pool may have been the cause)")


@dataclasses.dataclass(frozen=True)
class Job:
    """One run a search needs: `train(position)` trains it in a worker process and returns its record."""
    train: Callable[[int | None], dict]


@dataclasses.dataclass(frozen=True)
class SearchPlan:
    """What configure writes per task x model (configs/search/<task>/<model>.json)."""
    base: RunConfig               # every run's settings but length, lr, steps and seed
    range: SearchRange
    ladder: tuple[float, ...]     # the lrs a sweep may try; its ends are the stated bounds
    start_lr: float
    tune_seeds: tuple[int, ...]

    def __post_init__(self):
        if self.range.steps != self.base.train.steps:  # the rule's base budget is the runs' own
            raise ConfigError(f"search plan: range.steps {self.range.steps} is not the runs' budget "
                              f"train.steps {self.base.train.steps}; run `dvc repro configure`")

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.base.to_dict(), "range": dataclasses.asdict(self.range), "ladder": list(self.ladder),
                "start_lr": self.start_lr, "tune_seeds": list(self.tune_seeds)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], key: str = "search plan") -> "SearchPlan":
        try:
            spec = dict(values["range"])
            spec["seeds"] = tuple(spec["seeds"])
            return cls(RunConfig.from_dict(values["config"], f"{key}.config"), SearchRange(**spec),
                       tuple(float(lr) for lr in values["ladder"]), float(values["start_lr"]),
                       tuple(int(s) for s in values["tune_seeds"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{key}: not a search plan ({type(err).__name__}: {err}); run `dvc repro configure`") from None

    @classmethod
    def read(cls, path: Path) -> "SearchPlan":
        try:
            values = read_json(path)
        except (OSError, ValueError) as err:
            raise ConfigError(f"{str(path)!r}: cannot read the search plan ({err}); run `dvc repro configure`") from None
        return cls.from_dict(values, str(path))

    def config(self, length: int, lr: float, seed: int, steps: int | None = None) -> RunConfig:
        """A run of the search: the base budget unless `steps` (a confirming one) says otherwise."""
        return dataclasses.replace(self.base, seed=seed, task=dataclasses.replace(self.base.task, length=length),
                                   train=dataclasses.replace(self.base.train, lr=lr, steps=steps or self.base.train.steps))


def run_folder(out: Path, config: RunConfig, tuning: bool = False) -> Path:
    """Where a search run lives: its length, lr, budget and seed (the one rule; the report reads it)."""
    point = Path(out) / point_name(config.task.name, config.task.length)
    return seed_folder((point / "tune" if tuning else point) / f"lr{config.train.lr:g}-steps{config.train.steps}",
                       config.seed)


def plans_in(folder: Path) -> list[tuple[str, str]]:
    """The (task, model) of every plan under `folder` (<task>/<model>.json, plans.py), sorted."""
    return sorted((path.parent.name, path.stem) for path in Path(folder).glob("*/*.json"))


class Search:
    def __init__(self, plan: SearchPlan, out: Path, execution: Execution = Execution()):
        self.plan, self.out, self.execution = plan, Path(out), execution
        self.task = resolve_task(plan.base.task.name)
        self.device = resolve_device(plan.base.train.device)
        self.datasets: dict[int, tuple[Dataset, str]] = {}
        self.outcomes: dict[int, LengthRuns] = {}
        self.lrs: dict[int, float] = {}          # each length's lr, from its sweep in the base budget
        self.confirm_lrs: dict[int, float] = {}  # the lr each confirmation ran at
        self.lower_lrs: dict[int, float] = {}    # ... and its second, lo's lr
        self.trace: dict[int, dict] = {}
        self.trained = self.reused = 0
        self.start = time.perf_counter()

    # --- runs ----------------------------------------------------------------------------------
    def dataset(self, length: int) -> tuple[Dataset, str]:
        if length not in self.datasets:  # deterministic: what generate would write for this point
            self.datasets.clear()  # one length at a time: a long one can be large
            data = self.task.build(length, self.plan.base.data, self.plan.base.task.options)
            self.datasets[length] = (data, data.checksum())
        return self.datasets[length]

    def runs(self, configs: list[RunConfig], tuning: bool, continuing: bool = False):
        """Each config's final record, read when it is already on disk, else trained: a generator that
        yields the runs to train (one `Job` each) to whoever drives the search (pool.py) and is sent
        back their records, None for a run whose process died; `continuing`: each continues the
        longest shorter-budget run of its seed, length and lr that can be (resume_point)."""
        dataset, checksum = self.dataset(configs[0].task.length)
        folders = [run_folder(self.out, c, tuning) for c in configs]
        records = {i: r for i, (c, f) in enumerate(zip(configs, folders))
                   if (r := reusable_record(f, c, checksum)) is not None}
        self.reused += len(records)
        todo = [i for i in range(len(configs)) if i not in records]
        if todo:
            bases = [self.shorter_runs(c) if continuing else [] for c in configs]
            train_one = functools.partial(train_search_run, configs, folders, dataset, checksum, tuning, bases)
            done = yield [Job(functools.partial(train_one, i)) for i in todo]
            for i, record in zip(todo, done):
                records[i] = record or record_failure(configs[i], folders[i], DIED)
            self.trained += len(todo)
        failed = [(configs[i], records[i]) for i in sorted(records) if records[i].get("failed")]
        if failed:
            config, record = failed[0]
            raise SearchFailed(f"{len(failed)} run(s) failed, first {run_folder(self.out, config, tuning)}: "
                               f"{record.get('error', 'no cause recorded')}")
        return [records[i] for i in range(len(configs))]

    # --- the lr of a length --------------------------------------------------------------------
    def tune(self, length: int):
        """The sweep at `length`: rungs around the nearest tuned length's lr, extended past a winning
        end, and while no rung solves on a tuning seed or learns (halfway from the memoryless baseline
        to perfect), to both sides (training/tuning.py's ladder rules): a length fails only where no
        lr from one end of the ladder to the other learnt, or where the best rung fails the study's seeds."""
        higher = self.task.headline.higher_is_better
        tried: list[float] = []
        summaries: list[dict] = []
        pending = first_lrs(self.plan.ladder, nearest_tuned(length, self.solving_lrs()) or self.plan.start_lr)
        while pending:
            configs = [sweep_config(self.plan.config(length, lr, seed)) for lr in pending for seed in self.plan.tune_seeds]
            records = yield from self.runs(configs, tuning=True)
            summaries += [sweep_summary(c, r) for c, r in zip(configs, records)]
            tried += pending
            pending = lrs_to_add(self.plan.ladder, tried, lr_table(summaries, higher),
                                 until_learnt=(self.dataset(length)[0].baseline, higher))
        best, _ = choose_lr(summaries, higher)
        self.lrs[length] = best
        self.trace[length] = {"length": length, "lr": best, "lr_at_bound": at_bound(self.plan.ladder, best),
                              "sweep": lr_table(summaries, self.task.headline.higher_is_better), "runs": []}
        return best

    def solving_lrs(self) -> dict[int, float]:
        """Per tuned length the lr its verdict rests on: the confirmation's where it ran at another lr,
        its second's (lo's lr) where that solved more seeds."""
        def verdict_lr(length: int, lr: float) -> float:
            runs = self.outcomes.get(length, LengthRuns())
            if runs.by_lower:
                return self.lower_lrs[length]
            return self.confirm_lrs[length] if runs.confirm_at == OTHER else lr
        return {length: verdict_lr(length, lr) for length, lr in self.lrs.items()}

    def confirm(self, step: Confirm):
        """Choose the lr hi's failure is confirmed at: the rung the tuning seeds do best with at the
        ceiling (training/tuning.py's rule, validation only) of the ladder's rungs from hi's own lr to
        the one lo was solved at and one rung past each (`confirm_rungs`), walked on past whichever
        end wins (`rung_past`) up to the ladder's ends, the stated bounds. A rung walked to after one
        that solved every tuning seed trains only to that rung's slowest solve: the lr rule ranks it
        first only if it solves them all by then (lr_table's first two keys), so the steps past it
        could change no choice. Its runs then end there, in their own folders (lr<lr>-steps<that>).
        The lr lo was solved at is hi's second confirming lr where it is another rung (rule.py)."""
        own = self.lrs[step.length]
        lower = self.solving_lrs()[step.lower] if step.lower is not None else own
        higher = self.task.headline.higher_is_better
        pending, tried, summaries, budget = confirm_rungs(self.plan.ladder, own, lower), [], [], step.steps
        while pending:
            configs = [sweep_config(self.plan.config(step.length, lr, seed, budget))
                       for lr in pending for seed in self.plan.tune_seeds]
            records = yield from self.runs(configs, tuning=True)
            summaries += [sweep_summary(c, r) for c, r in zip(configs, records)]
            tried += pending
            sweep = lr_table(summaries, higher)
            pending, budget = rung_past(self.plan.ladder, tried, sweep[0]["lr"]), walk_budget(sweep[0], budget)
        best = sweep[0]["lr"]
        second = lower if step.lower is not None else best  # failed at the floor: no lo, no second lr
        runs = self.outcomes[step.length]
        runs.confirm_at = OWN if best == own else OTHER
        runs.lower_at = SAME if second == best else OWN if second == own else OTHER
        self.confirm_lrs[step.length], self.lower_lrs[step.length] = best, second
        self.trace[step.length]["confirm"] = {"lr": best, "at": runs.confirm_at, "steps": step.steps,
                                              "lower": step.lower, "sweep": sweep,
                                              "lower_lr": second, "lower_at": runs.lower_at}

    # --- the search ----------------------------------------------------------------------------
    def step(self, step: Train):
        lr = self.lower_lrs[step.length] if step.at_lower else self.confirm_lrs[step.length] if step.extended else (
            self.lrs.get(step.length) or (yield from self.tune(step.length)))
        configs = [self.plan.config(step.length, lr, seed, step.steps) for seed in step.seeds]
        # a confirmation continues each seed's longest shorter run at this lr, from where it stopped:
        # the same run as a fresh start with the ceiling (trainer.Resume)
        records = yield from self.runs(configs, tuning=False, continuing=step.extended)
        runs = self.outcomes.setdefault(step.length, LengthRuns())
        for config, record in zip(configs, records):
            (runs.at_lower if step.at_lower else runs.extended if step.extended else runs.base)[config.seed] = \
                bool(record.get("solved"))
            if record.get("solved"):  # solved on test without meeting the rule on validation: its whole budget
                runs.solve_steps[config.seed] = int(record.get("solved_step") or record.get("steps") or config.train.steps)
            self.trace[step.length]["runs"].append({
                "seed": config.seed, "steps": config.train.steps, "extended": step.extended, "at_lower": step.at_lower,
                "solved": bool(record.get("solved")), "solved_step": record.get("solved_step"),
                "test_metric": record.get("test_metric"),
                "folder": run_folder(self.out, config).relative_to(self.out).as_posix()})  # within the search's folder
        self.trace[step.length].update(solved=runs.solved, seeds=runs.seeds, by_lower=runs.by_lower)

    def shorter_runs(self, config: RunConfig) -> list[tuple[RunConfig, Path]]:
        """The study runs of this seed, length and lr with a smaller budget, longest first: what a
        larger budget may continue (the first of them resume_point accepts)."""
        point = run_folder(self.out, config).parent.parent
        prefix = f"lr{config.train.lr:g}-steps"
        budgets = {int(m.group(1)) for folder in point.glob(f"{prefix}*")
                   if (m := re.fullmatch(re.escape(prefix) + r"(\d+)", folder.name))}
        budgets = sorted((b for b in budgets | {self.plan.base.train.steps} if b < config.train.steps), reverse=True)
        shorter = [self.plan.config(config.task.length, config.train.lr, config.seed, b) for b in budgets]
        return [(c, run_folder(self.out, c)) for c in shorter]

    def walk(self):
        """The search as a generator: it yields each batch of runs it needs next (a list of `Job`s),
        is sent their records, and returns the answer (StopIteration.value); SearchFailed when a run
        failed. Its decisions read only its own runs, so searches driven side by side (pool.py) make
        the same ones as each alone."""
        while True:
            step = next_step(self.outcomes, self.plan.range)
            if isinstance(step, Found):
                self.write(step)
                return step
            if isinstance(step, Confirm):
                yield from self.confirm(step)
                self.write(None)
                say(self.confirm_line(step))
                continue
            yield from self.step(step)
            self.write(None)
            say(self.progress_line(step))

    def progress_line(self, step: Train) -> str:
        runs = self.outcomes[step.length]
        lr = (self.lower_lrs if step.at_lower else self.confirm_lrs if step.extended else self.lrs)[step.length]
        at = " at the lr the shorter length was solved at" if step.at_lower else ""
        lo_hi = ", ".join(f"{t}: {r.solved}/{r.seeds}" for t, r in sorted(self.outcomes.items()))
        return (f"search {self.plan.base.model.name} {self.plan.base.task.name}: T={step.length} lr {lr:g}"
                f"{f' (confirming{at}, {step.steps} steps)' if step.extended else ''} "
                f"{runs.solved}/{runs.seeds} solved; so far {lo_hi}; {self.trained} runs trained, {self.reused} read, "
                f"{(time.perf_counter() - self.start) / 60:.1f} min")

    def confirm_line(self, step: Confirm) -> str:
        own, chosen = self.lrs[step.length], self.confirm_lrs[step.length]
        tried = sorted(row["lr"] for row in self.trace[step.length]["confirm"]["sweep"])
        lower = (f"; T={step.lower} solved at {self.solving_lrs()[step.lower]:g}" if step.lower is not None
                 else "; no shorter length solved")
        second = self.outcomes[step.length].lower_at in (OWN, OTHER)
        return (f"search {self.plan.base.model.name} {self.plan.base.task.name}: T={step.length}: its failure must "
                f"survive {step.steps} steps at lr {chosen:g}, the best of {' '.join(f'{lr:g}' for lr in tried)} "
                f"on the tuning seeds (its own {own:g}{lower})"
                + (f", and if it holds there, at {self.lower_lrs[step.length]:g}" if second else ""))

    def write(self, found: Found | None) -> None:
        trace = {"task": self.plan.base.task.name, "model": self.plan.base.model.name,
                 "range": dataclasses.asdict(self.plan.range), "ladder": list(self.plan.ladder),
                 "tune_seeds": list(self.plan.tune_seeds),
                 "lengths": [self.trace[t] for t in sorted(self.trace)],
                 "found": None if found is None else {"lo": found.lo, "hi": found.hi, "censored": found.censored,
                                                      "budget_bound": found.budget_bound}}
        self.out.mkdir(parents=True, exist_ok=True)
        write_atomic(self.out / TRACE_FILE, (json.dumps(json_safe(trace), indent=1) + "\n").encode())


def train_search_run(configs: list[RunConfig], folders: list[Path], dataset: Dataset, checksum: str, tuning: bool,
                     bases: list[list[tuple[RunConfig, Path]]], index: int, position: int | None) -> dict:
    """One run by index, the form the process pool calls. A study seed is trained as a cell's seed
    (diagnostics included), continued from the first of its shorter runs (`bases`) that can be; a
    sweep run skips the diagnostics, which no choice reads."""
    config, folder = configs[index], folders[index]
    if not tuning:
        resume = next((point for base, where in bases[index] if (point := resume_point(where, base, checksum))), None)
        return train_seed(config, dataset, checksum, folder, redraw=position is not None, position=position,
                          resume=resume)
    bar = tune_bar(config, position is not None, position)
    try:
        result = train(config, dataset, on_eval=bar)
        return write_run(folder, config, result, checksum)
    except Exception as error:  # noqa: BLE001 -- recorded; the search then stops with its cause
        return record_failure(config, folder, error)
    finally:
        bar.close()


def searched_run_cells(folder: Path) -> list[list[Path]]:
    """The study seeds' runs of the search in `folder`, as its trace lists them, grouped as cells:
    the seeds of one length and budget (a parent run each in MLflow, as a grid cell; the lr
    sweeps' runs are not logged)."""
    cells: dict[tuple, list[Path]] = {}
    for length in (read_trace(folder) or {}).get("lengths", []):
        for run in length.get("runs", []):
            cells.setdefault((length["length"], run["steps"]), []).append(Path(folder) / run["folder"])
    return list(cells.values())


def read_trace(folder: Path) -> dict | None:
    """A search's search.json, or None when it is missing or not a JSON object."""
    try:
        trace = read_json(Path(folder) / TRACE_FILE)
    except (OSError, ValueError):
        return None
    return trace if isinstance(trace, dict) else None



def confirm_rungs(ladder: tuple[float, ...], own: float, lower: float) -> list[float]:
    """The rungs a confirmation sweeps first: the ladder's from `own` to `lower`, both included, and
    one rung past each end. Every part is measured (docs/architecture.md, sessions 29-31): a rung
    between the two lrs solved what neither end did (XOR RNN T=40: 3 of 5 seeds at 0.003, between
    its own 0.01 and T=28's 0.0003), and the rung below both ends did too (XOR RNN T=80, whose ends
    were both 0.003 (2 of 5 seeds): 9 of 10 at 0.001; copy LSTM T=28, both ends 0.01 (1 of 5): 5 of 5
    at 0.003), so a span of one lr is no reason to try one lr."""
    low, high = sorted((own, lower))
    below = [lr for lr in ladder if lr < low][-1:]
    above = [lr for lr in ladder if lr > high][:1]
    return sorted({own, lower, *below, *above} | {lr for lr in ladder if low <= lr <= high})


def rung_past(ladder: tuple[float, ...], tried: list[float], best: float) -> list[float]:
    """The next rung of a confirmation's sweep: the ladder's rung past `best` where it is an end of
    those tried (none past the ladder's ends, the stated bounds); empty: the sweep is done."""
    below = [lr for lr in ladder if lr < min(tried)]
    above = [lr for lr in ladder if lr > max(tried)]
    if len(set(tried)) > 1 and best == min(tried) and below:
        return [below[-1]]
    if len(set(tried)) > 1 and best == max(tried) and above:
        return [above[0]]
    return []


def walk_budget(best: Mapping, budget: int) -> int:
    """The budget of the rungs a confirmation walks to next, given the best rung so far (a row of
    lr_table): its slowest solve where it solved every tuning seed, since a later rung ranks first
    only by solving them all as soon (the rule's first two keys), else the budget unchanged."""
    return min(budget, int(best["slowest_steps_to_solve"])) if best["solved_fraction"] == 1 else budget


def sweep_summary(config: RunConfig, record: Mapping) -> dict:
    """What the lr rule (training/tuning.py) judges of a sweep run's record: validation only."""
    metric = record.get("val_metric")
    finite = isinstance(metric, (int, float)) and math.isfinite(metric) and not record.get("diverged")
    return {"length": config.task.length, "lr": config.train.lr, "seed": config.seed,
            "val_solved": bool(record.get("val_solved")), "solved_step": record.get("solved_step"),
            "val_metric": metric if finite else None, "diverged": bool(record.get("diverged")),
            "steps": record.get("steps"), "wall_s": record.get("wall_s")}
