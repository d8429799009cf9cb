"""The reference predictors a task's dataset records beside its chance baseline (sine: AR(k) fits
and the noise floor; charlm: count n-gram models), read from each point's data/<point>/meta.json,
and the models' medians set against them. These tasks have no critical length: the reading is
"which predictors does each model beat", so that is what this table answers."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..config import point_name, read_json
from ..study import Study

COLUMNS = ["task", "length", "predictor", "value"]


def reference_predictors(meta: dict) -> list[tuple[str, float]]:
    """(name, headline value) of every reference predictor one dataset's meta.json records."""
    extra = meta.get("extra", {})
    rows = [("repeat last value" if meta["task"] == "sine" else "memoryless (chance)", float(meta["baseline"]))]
    rows += [(f"AR({k}) least squares", float(v)) for k, v in extra.get("ar_mse", {}).items()]
    if "noise_floor" in extra:
        rows.append(("noise floor σ²", float(extra["noise_floor"])))
    rows += [(f"{k}-gram counts (Witten-Bell)", float(v)) for k, v in extra.get("ngram_bpc", {}).items() if k != "1"]
    return rows


def baselines_table(study: Study, root: Path) -> pd.DataFrame:
    """Every reference predictor of every main-grid point whose dataset records more than chance."""
    rows = []
    for task, length in study.points:
        path = root / "data" / point_name(task, length) / "meta.json"
        try:
            meta = read_json(path)
        except (OSError, ValueError):
            continue
        predictors = reference_predictors(meta)
        if len(predictors) > 1:
            rows += [{"task": task, "length": length, "predictor": name, "value": value} for name, value in predictors]
    return pd.DataFrame(rows, columns=COLUMNS)


def beaten_by(value: float, predictors: pd.DataFrame, higher_is_better: bool) -> list[str]:
    """The predictors a model's median beats (strictly), named."""
    if not math.isfinite(value):
        return []
    better = predictors["value"] < value if higher_is_better else predictors["value"] > value
    return list(predictors.loc[better, "predictor"])
