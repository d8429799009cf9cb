"""Did a cell's step budget decide its answer? The rules, from a cell's run rows and curves.

A cell is budget-limited when either
  - its slowest solved seed needed more than BUDGET_SHARE of the budget (a somewhat harder length,
    or a less lucky seed, would have run out), or
  - an unsolved seed was still improving at the end: over the last LAST_SHARE of the budget its
    best validation gap to the solved threshold shrank by more than IMPROVEMENT of what it was.
Such a cell's "unsolved" may be "not yet"; the report flags it wherever it is used.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

BUDGET_SHARE = 0.5
LAST_SHARE = 0.25
IMPROVEMENT = 0.1


def still_improving(steps: np.ndarray, values: np.ndarray, threshold: float, higher_is_better: bool,
                    budget: int) -> bool:
    """Whether a run's validation curve was still closing on the threshold in its last quarter."""
    gap = (threshold - values) if higher_is_better else (values - threshold)
    gap = np.where(np.isfinite(gap), gap, np.inf)
    early, late = gap[steps <= (1 - LAST_SHARE) * budget], gap[steps > (1 - LAST_SHARE) * budget]
    if not early.size or not late.size or not np.isfinite(early.min()) or early.min() <= 0:
        return False
    return bool(late.min() < (1 - IMPROVEMENT) * early.min())


def rule_column(curve: pd.DataFrame) -> str:
    """The curve of the metric the solved rule reads (older curves.csv files have only the headline)."""
    return "val_rule_metric" if "val_rule_metric" in curve else "val_metric"


def budget_use(runs: pd.DataFrame, curves: pd.DataFrame | None) -> dict:
    """runs: one cell's results rows; curves: its rows of curves.csv (None: not judged)."""
    ok = runs[~runs["failed"] & ~runs["diverged"]]
    budget = pd.to_numeric(ok["max_steps"], errors="coerce")
    solved = ok[ok["solved"] | ok["val_solved"]]
    used = (pd.to_numeric(solved["solved_step"], errors="coerce") / budget[solved.index]).dropna()
    improving = 0
    if curves is not None and len(curves):
        higher = bool(ok["higher_is_better"].iloc[0]) if "higher_is_better" in ok and len(ok) else False
        for row in ok[~ok["solved"] & ~ok["val_solved"]].itertuples():
            curve = curves[curves["seed"] == row.seed].sort_values("step")
            if len(curve) and still_improving(curve["step"].to_numpy(float), curve[rule_column(curve)].to_numpy(float),
                                              float(row.solved_threshold), higher, int(row.max_steps)):
                improving += 1
    share = float(used.max()) if len(used) else math.nan
    return {"budget_used": share, "still_improving": improving,
            "budget_limited": bool((len(used) and share > BUDGET_SHARE) or improving)}
