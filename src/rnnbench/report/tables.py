"""The report's derived tables, each computed from results.csv's rows (never from run folders), so
a test can recompute every number in report.md from the CSV alone."""
from __future__ import annotations

import math

import pandas as pd

from .aggregate import KEY

SOLVED_MAJORITY = 0.5  # "solved at length T" = at least half of the seeds solved it


def critical_lengths(summary: pd.DataFrame) -> pd.DataFrame:
    """Per task x model: the longest length at which at least half the seeds solved the task, and
    the first length at which none did. Cells with no completed run say nothing either way."""
    rows = []
    for (task, model), group in summary.groupby(["task", "model"], sort=False):
        tested = group[group["completed"] > 0].sort_values("length")
        majority = tested.loc[tested["solved_fraction"] >= SOLVED_MAJORITY, "length"]
        none = tested.loc[tested["solved_fraction"] == 0, "length"]
        critical = int(majority.max()) if len(majority) else None
        # Non-monotone: a length below the critical one where fewer than half solved (seed noise).
        gaps = tested[(tested["length"] < (critical or 0)) & (tested["solved_fraction"] < SOLVED_MAJORITY)]
        rows.append({
            "task": task, "model": model,
            "critical_length": critical,
            "first_length_none_solved": int(none.min()) if len(none) else None,
            "shortest_tested": int(tested["length"].min()) if len(tested) else None,
            "longest_tested": int(tested["length"].max()) if len(tested) else None,
            "monotone": gaps.empty,
        })
    return pd.DataFrame(rows, columns=["task", "model", "critical_length", "first_length_none_solved",
                                       "shortest_tested", "longest_tested", "monotone"])


DECAY_COLUMNS = {
    "grad_half_life_init": "half_life_init", "grad_half_life_trained": "half_life_trained",
    "grad_ratio_first_last_init": "ratio_init", "grad_ratio_first_last_trained": "ratio_trained",
}


def gradient_decay(results: pd.DataFrame) -> pd.DataFrame:
    """Per task x model x length, the median over seeds of the gradient half-life (steps over
    which ||dL/dh_t|| halves, going back in time) and of ||dL/dh_0|| / ||dL/dh_T||, at
    initialisation and trained. Medians, because the ratio spans tens of orders of magnitude."""
    rows = []
    for (task, model, length), group in results.groupby(KEY, sort=False):
        row = {"task": task, "model": model, "length": int(length)}
        for column, name in DECAY_COLUMNS.items():
            values = pd.to_numeric(group[column], errors="coerce").dropna()
            row[name] = float(values.median()) if len(values) else math.nan
        row["runs"] = int(pd.to_numeric(group["grad_half_life_init"], errors="coerce").notna().sum())
        rows.append(row)
    return pd.DataFrame(rows, columns=["task", "model", "length", *DECAY_COLUMNS.values(), "runs"])


def side_grid_models(study, name: str) -> list[str]:
    """A side grid's models with the main-grid models they are compared against: the fused
    counterpart of each NumPy model, or the standard LSTM for the ablations."""
    grid = study.side_grids.get(name)
    if not grid:
        return []
    if name == "reference":
        companions = [m.removesuffix("-numpy") for m in grid.models]
    else:
        companions = ["lstm"]
    return [m for m in companions if m in study.models] + list(grid.models)


def seed_table(runs: pd.DataFrame, column: str, hold_last: bool = True) -> pd.DataFrame:
    """[step x seed] values of one cell's runs. With hold_last, a run that stopped early (solved)
    holds its last value to the end, so averages are not taken over fewer and fewer runs; without
    it (quantities of the training process itself) a stopped run simply ends."""
    table = runs.pivot_table(index="step", columns="seed", values=column).sort_index()
    return table.ffill() if hold_last else table


def cell_metric_and_baseline(summary: pd.DataFrame, task: str, length: int) -> tuple[str, float | None]:
    """The headline metric's name and the chance baseline of one task at one length."""
    rows = summary[(summary["task"] == task) & (summary["length"] == length)]
    metric = rows["metric"].dropna()
    baseline = rows["baseline"].dropna()
    return (metric.iloc[0] if len(metric) else "metric"), (float(baseline.iloc[0]) if len(baseline) else None)


def mean_learning_curves(study, summary: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """`dvc plots show` data: each task's validation curve at its longest length, mean over seeds
    per model (a run that stopped early holds its last value)."""
    frames = []
    for task in study.task_names():
        length = max(study.lengths(task))
        cell = curves[(curves["task"] == task) & (curves["length"] == length) & curves["model"].isin(study.models)]
        _, baseline = cell_metric_and_baseline(summary, task, length)
        for model, runs in cell.groupby("model", sort=False):
            mean = seed_table(runs, "val_metric").mean(axis=1)
            frames.append(pd.DataFrame({"panel": f"{task} T={length}", "model": model, "step": mean.index,
                                        "val_metric": mean.to_numpy(),
                                        "baseline": math.nan if baseline is None else baseline}))
    columns = ["panel", "model", "step", "val_metric", "baseline"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def metric_by_length(study, summary: pd.DataFrame) -> pd.DataFrame:
    """`dvc plots show` data: final test metric per model against length, with the 95% interval."""
    rows = summary[summary["model"].isin(study.models) & (summary["completed"] > 0)]
    frame = pd.DataFrame({"panel": rows["task"] + " (" + rows["metric"] + ")", "model": rows["model"],
                          "length": rows["length"], "mean": rows["mean"],
                          "low": rows["mean"] - rows["ci95"].fillna(0), "high": rows["mean"] + rows["ci95"].fillna(0),
                          "baseline": rows["baseline"]})
    return frame.reset_index(drop=True)
