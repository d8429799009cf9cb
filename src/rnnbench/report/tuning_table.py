"""reports/tuning.csv: every lr each tuned (task, model) swept, the figures the rule judged, and the
one it selected; hand-set, shared and copied lrs as one row each, so every cell's lr is accounted for."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..config import FROM, TUNED, ConfigError, read_tuning
from ..study import Study, tuning_result_file
from ..tasks import resolve_task
from ..training.tuning import lr_table

TUNING_COLUMNS = ["task", "model", "source", "lengths", "lr", "selected", "at_edge", "seeds", "val_solved",
                  "solved_fraction", "median_steps_to_solve", "slowest_steps_to_solve", "median_val_metric",
                  "diverged"]


def tuning_table(study: Study, root: Path) -> pd.DataFrame:
    rows = []
    for model in study.every_model():
        try:
            _, results = read_tuning(root / tuning_result_file(model, study.grid_of(model)))
        except ConfigError:  # not tuned yet (a study run by hand): its cells' lrs are in results.csv
            continue
        for result in results:
            base = {"task": result.task, "model": model, "source": result.source,
                    "lengths": " ".join(str(n) for n in result.lengths)}  # pooled by the rule
            if result.source.startswith(FROM):  # the tuned lr of the model it names
                rows.append({**base, "lr": copied_lr(study, model, result.task, root), "selected": True, "at_edge": False})
            elif result.source != TUNED:
                rows.append({**base, "lr": result.lr, "selected": True, "at_edge": False})
            else:
                higher = resolve_task(result.task).headline.higher_is_better
                for row in sorted(lr_table(result.runs, higher), key=lambda r: r["lr"]):
                    rows.append({**base, **row, "selected": row["lr"] == result.lr, "at_edge": result.at_edge})
    frame = pd.DataFrame(rows, columns=TUNING_COLUMNS)
    return frame.replace([math.inf], math.nan)  # no seed solved: no steps to solve


def copied_lr(study: Study, model: str, task: str, root: Path) -> float:
    try:
        return study.tuned_lr(model, task, root)
    except ConfigError:  # the model it copies is not tuned yet
        return math.nan
