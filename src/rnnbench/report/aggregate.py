"""Collect the runs of the current study into tables.

Only the cells of the current params are read: outputs of a length or model removed from the grid
stay on disk (DVC does not delete them) and must not leak into the results.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..study import Study
from ..tasks import resolve_task
from ..training.host import one_line
from ..training.run_outputs import HISTORY_FILE, UnreadableRun, read_run
from .budget import budget_use
from .statistics import exact_interval

KEY = ["task", "model", "length"]
RESULT_COLUMNS = [
    "task", "model", "length", "seed", "metric", "test_metric", "val_metric", "baseline", "baseline_split",
    "rule_metric", "test_rule_metric", "solved_threshold", "higher_is_better", "solved", "val_solved", "solved_step", "diverged", "failed", "error", "steps", "wall_s",
    "steps_per_s", "n_params", "device", "engine", "hidden_size", "num_layers", "forget_bias", "lr", "lr_source", "batch_size",
    "clip_norm", "max_steps", "grad_ratio_first_last_init", "grad_ratio_first_last_trained", "grad_decay_rate_init",
    "grad_decay_rate_trained", "grad_fit_r2_init", "grad_fit_r2_trained", "grad_state_decay_rate_init",
    "grad_state_decay_rate_trained", "grad_law_decay_rate_init", "grad_law_decay_rate_trained",
    "gate_f_mean", "gate_f_above_0.9", "gate_i_mean", "gate_o_mean", "gate_z_mean", "data_checksum", "host", "cpu_capability",
    "finished_at", "run_dir",
]


def solved_rule_columns(study: Study, task: str) -> dict:
    rule = resolve_task(task).solved_rule(study.task_plan(task).options)
    return {"rule_metric": rule.metric, "solved_threshold": rule.threshold, "higher_is_better": rule.higher_is_better}


@dataclass(frozen=True)
class SeedRun:
    """One seed's run of (task, model, length) and where its folder is."""
    task: str
    model: str
    length: int
    seed: int
    folder: Path
    lr_source: str


def grid_runs(study: Study) -> list[SeedRun]:
    return [SeedRun(cell.task, cell.model, cell.length, seed, cell.seed_folder(seed),
                    study.lr_source(cell.model, cell.task)) for cell in study.cells() for seed in study.seeds]


def collect_results(study: Study, root: Path, searched: Sequence[SeedRun] = ()) -> pd.DataFrame:
    """One row per (cell, seed) of the study, then per seed of a searched length the grid does not
    have (search_tables.search_seed_runs). A run with no outputs is a row marked missing."""
    rows = []
    for run in [*grid_runs(study), *searched]:
        folder = run.folder
        row = {"task": run.task, "model": run.model, "length": run.length, "seed": run.seed,
               "run_dir": folder.as_posix(), "lr_source": run.lr_source, **solved_rule_columns(study, run.task)}
        try:  # one bad folder is a row marked failed with its cause, never a report that cannot be written
            record = read_run(folder, root).record
        except UnreadableRun as err:
            row.update(failed=True, error=str(err), solved=False, diverged=False)
            rows.append(row)
            continue
        config = record.get("config", {})
        train, model = config.get("train", {}), config.get("model", {})
        row.update({k: record.get(k) for k in RESULT_COLUMNS if k in record and k not in row})
        row["test_rule_metric"] = record.get(f"test_{row['rule_metric']}")  # what the solved rule judged (copy: recall)
        row.update(failed=bool(record.get("failed", False)), error=record.get("error", ""),
                   hidden_size=model.get("hidden_size"), num_layers=model.get("num_layers"),
                   forget_bias=(model.get("options") or {}).get("forget_bias"), lr=train.get("lr"),
                   batch_size=train.get("batch_size"), clip_norm=train.get("clip_norm"), max_steps=train.get("steps"),
                   host=one_line(record["host"]) if record.get("host") else None,
                   cpu_capability=(record.get("host") or {}).get("cpu_capability"))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    for column in ("solved", "val_solved", "diverged", "failed"):
        frame[column] = frame[column].astype("boolean").fillna(False).astype(bool)
    frame["error"] = frame["error"].fillna("")
    return frame


def first_value(group: pd.DataFrame, column: str):
    values = group[column].dropna()
    return values.iloc[0] if len(values) else math.nan


def median_of(runs: pd.DataFrame, column: str) -> float:
    values = pd.to_numeric(runs[column], errors="coerce").dropna() if column in runs else pd.Series(dtype=float)
    return float(values.median()) if len(values) else math.nan


def summarise(results: pd.DataFrame, curves: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per task x model x length: the median and range of the test metric over completed seeds (no
    t-intervals: metrics here are bounded and often bimodal), the solved count with its exact
    interval, runs that met the rule on validation only, and the budget figures (tables.budget_use)."""
    rows = []
    for (task, model, length), group in results.groupby(KEY, sort=False):
        ok = group[~group["failed"] & ~group["diverged"]]
        values = ok["test_metric"].astype(float).to_numpy()
        solved_steps = ok.loc[ok["solved"], "solved_step"].astype(float)
        solved = int(group["solved"].sum())
        low, high = exact_interval(solved, len(group))
        budget = budget_use(group, None if curves is None else
                            curves[(curves["task"] == task) & (curves["model"] == model) & (curves["length"] == length)])
        rows.append({
            "task": task, "model": model, "length": int(length),
            "metric": group["metric"].dropna().iloc[0] if group["metric"].notna().any() else "",
            "seeds": len(group), "completed": len(ok),
            "median": float(np.median(values)) if values.size else math.nan,
            "rule_metric": first_value(group, "rule_metric"), "rule_median": median_of(ok, "test_rule_metric"),
            "min": float(values.min()) if values.size else math.nan,
            "max": float(values.max()) if values.size else math.nan,
            "baseline": float(first_value(group, "baseline")),
            "baseline_split": float(first_value(group, "baseline_split")),
            "solved": solved, "solved_fraction": solved / len(group),
            "solved_ci_low": low, "solved_ci_high": high,
            "val_only": int((group["val_solved"] & ~group["solved"] & ~group["diverged"]).sum()),
            "median_steps_to_solve": float(solved_steps.median()) if len(solved_steps) else math.nan,
            **budget,
            "lr": float(first_value(group, "lr")), "lr_source": first_value(group, "lr_source"),
            "max_steps": first_value(group, "max_steps"), "batch_size": first_value(group, "batch_size"),
            "n_params": first_value(group, "n_params"),
            **{f"gate_{g}_mean": median_of(ok, f"gate_{g}_mean") for g in ("f", "i", "o", "z")},
            "mean_wall_s": float(ok["wall_s"].astype(float).mean()) if len(ok) else math.nan,
            "mean_steps_per_s": float(ok["steps_per_s"].astype(float).mean()) if len(ok) else math.nan,
            "diverged": int(group["diverged"].sum()), "failed": int(group["failed"].sum()),
        })
    return pd.DataFrame(rows)


def learning_curves(study: Study, root: Path, searched: Sequence[SeedRun] = ()) -> pd.DataFrame:
    """Long-form validation curves of every run: what `dvc plots show` and the figures read."""
    frames, rule_metrics = [], {}
    for run in [*grid_runs(study), *searched]:
        try:  # an unreadable or altered run: collect_results marks it, no curve
            finished = read_run(run.folder, root)
        except UnreadableRun:
            continue
        record = finished.record
        if "metric" not in record or finished.failed:
            continue
        history = pd.read_csv(finished.path(HISTORY_FILE))
        metric = record["metric"]
        # The solved rule may read another metric than the headline (copy: recall accuracy);
        # the budget rules judge progress on the rule's own metric.
        rule = rule_metrics.setdefault(run.task, resolve_task(run.task).solved_rule(
            study.task_plan(run.task).options).metric)
        frames.append(pd.DataFrame({
            "task": run.task, "model": run.model, "length": run.length, "seed": run.seed,
            "step": history["step"], "val_metric": history[f"val_{metric}"],
            "val_rule_metric": history.get(f"val_{rule}", history[f"val_{metric}"]), "train_loss": history["train_loss"],
            "grad_norm": history["grad_norm"],
            "grad_ratio": history["grad_ratio"] if "grad_ratio" in history else math.nan,
        }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CURVE_COLUMNS)


CURVE_COLUMNS = ["task", "model", "length", "seed", "step", "val_metric", "val_rule_metric", "train_loss", "grad_norm",
                 "grad_ratio"]


def finite(value):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else round(float(value), 6)


def metrics_tree(summary: pd.DataFrame, critical: pd.DataFrame, models: list[str]) -> dict:
    """The headline for `dvc metrics show` / `dvc exp show`, per task and main-grid model: on a
    memory task T50 with its 95% interval (null where infinite or censored), the bracket's critical
    length, their censoring and the solved fraction at the task's longest
    length; on the others the median test metric there. Per-length figures are in summary.csv
    (a key per length would sort as text and multiply the columns)."""
    tree: dict = {}
    reading = {(row.task, row.model): row for row in critical.itertuples()}
    rows = summary[summary["model"].isin(models)]
    for (task, model), cell in rows.groupby(["task", "model"], sort=False):
        longest = cell.loc[cell["length"].idxmax()]
        if (task, model) in reading:
            row = reading[task, model]
            entry = {"t50": finite(round(row.t50, 1)), "t50_low": finite(round(row.t50_low, 1)),
                     "t50_high": finite(round(row.t50_high, 1)), "t50_censored": row.t50_censored,
                     "critical_length": None if pd.isna(row.critical_length) else int(row.critical_length),
                     "critical_censored": row.censored, "solved_at_longest": finite(longest["solved_fraction"])}
        else:
            entry = {f"median_{longest['metric']}_at_longest": finite(longest["median"])}
        tree.setdefault(task, {})[model] = entry
    return tree
