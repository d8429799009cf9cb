"""Collect the runs of the current study into tables.

Only the cells of the current params are read: outputs of a length or model removed from the grid
stay on disk (DVC does not delete them) and must not leak into the results.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..study import Study
from ..training.host import one_line

KEY = ["task", "model", "length"]
RESULT_COLUMNS = [
    "task", "model", "length", "seed", "metric", "test_metric", "baseline", "solved", "solved_step", "diverged",
    "failed", "error", "steps", "wall_s", "steps_per_s", "n_params", "device", "hidden_size", "num_layers",
    "forget_bias", "lr", "batch_size", "clip_norm", "max_steps",
    "grad_ratio_first_last_init", "grad_ratio_first_last_trained", "grad_half_life_init", "grad_half_life_trained",
    "gate_f_mean", "gate_f_above_0.9", "gate_i_mean", "gate_z_mean", "data_checksum", "host", "finished_at", "run_dir",
]


def read_record(path: Path) -> dict | None:
    """A run's metrics.json, or None when it is missing or not a JSON object: one bad file is a
    row marked failed, never a report that cannot be written."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def collect_results(study: Study, root: Path) -> pd.DataFrame:
    """One row per (cell, seed) of the study. A run with no outputs is a row marked missing."""
    rows = []
    for cell in study.cells():
        for seed in study.seeds:
            folder = cell.seed_folder(seed)
            path = root / folder / "metrics.json"
            row = {"task": cell.task, "model": cell.model, "length": cell.length, "seed": seed,
                   "run_dir": folder.as_posix()}
            record = read_record(path)
            if record is None:
                error = ("missing: no metrics.json (stage not run?)" if not path.is_file()
                         else f"unreadable: {folder.as_posix()}/metrics.json is not a JSON object (an interrupted write?)")
                row.update(failed=True, error=error, solved=False, diverged=False)
                rows.append(row)
                continue
            config = record.get("config", {})
            train, model = config.get("train", {}), config.get("model", {})
            row.update({k: record.get(k) for k in RESULT_COLUMNS if k in record and k not in row})
            row.update(failed=bool(record.get("failed", False)), error=record.get("error", ""),
                       hidden_size=model.get("hidden_size"), num_layers=model.get("num_layers"),
                       forget_bias=model.get("forget_bias"), lr=train.get("lr"), batch_size=train.get("batch_size"),
                       clip_norm=train.get("clip_norm"), max_steps=train.get("steps"),
                       host=one_line(record["host"]) if record.get("host") else None)
            rows.append(row)
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    for column in ("solved", "diverged", "failed"):
        frame[column] = frame[column].fillna(False).astype(bool)
    frame["error"] = frame["error"].fillna("")
    return frame


def t_interval(values: np.ndarray) -> float:
    """Half-width of the 95% Student-t interval of the mean (nan below two values)."""
    from scipy import stats

    values = values[np.isfinite(values)]
    if values.size < 2:
        return math.nan
    return float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Per task x model x length: mean, std, 95% CI over seeds, solved fraction, steps-to-solve, time."""
    rows = []
    for (task, model, length), group in results.groupby(KEY, sort=False):
        ok = group[~group["failed"] & ~group["diverged"]]
        values = ok["test_metric"].astype(float).to_numpy()
        solved_steps = ok.loc[ok["solved"], "solved_step"].astype(float)
        rows.append({
            "task": task, "model": model, "length": int(length),
            "metric": group["metric"].dropna().iloc[0] if group["metric"].notna().any() else "",
            "seeds": len(group), "completed": len(ok),
            "mean": float(np.mean(values)) if values.size else math.nan,
            "std": float(np.std(values, ddof=1)) if values.size > 1 else math.nan,
            "ci95": t_interval(values),
            "baseline": float(group["baseline"].dropna().iloc[0]) if group["baseline"].notna().any() else math.nan,
            "solved_fraction": float(group["solved"].mean()),
            "median_steps_to_solve": float(solved_steps.median()) if len(solved_steps) else math.nan,
            "mean_wall_s": float(ok["wall_s"].astype(float).mean()) if len(ok) else math.nan,
            "mean_steps_per_s": float(ok["steps_per_s"].astype(float).mean()) if len(ok) else math.nan,
            "diverged": int(group["diverged"].sum()), "failed": int(group["failed"].sum()),
        })
    return pd.DataFrame(rows)


def learning_curves(study: Study, root: Path) -> pd.DataFrame:
    """Long-form validation curves of every run: what `dvc plots show` and the figures read."""
    frames = []
    for cell in study.cells():
        for seed in study.seeds:
            path = root / cell.seed_folder(seed) / "history.csv"
            record = read_record(path.parent / "metrics.json")
            if not path.is_file() or not record or "metric" not in record:
                continue
            history = pd.read_csv(path)
            metric = record["metric"]
            frames.append(pd.DataFrame({
                "task": cell.task, "model": cell.model, "length": cell.length, "seed": seed,
                "step": history["step"], "val_metric": history[f"val_{metric}"], "train_loss": history["train_loss"],
                "grad_norm": history["grad_norm"],
            }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["task", "model", "length", "seed", "step", "val_metric", "train_loss", "grad_norm"])


def metrics_tree(summary: pd.DataFrame) -> dict:
    """Nested {task: {model: {T<len>: {...}}}} for `dvc metrics show` / `dvc exp show`."""
    tree: dict = {}
    for row in summary.itertuples():
        cell = {"mean": row.mean, "solved_fraction": row.solved_fraction}
        tree.setdefault(row.task, {}).setdefault(row.model, {})[f"T{row.length}"] = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else round(v, 6)) for k, v in cell.items()}
    return tree
