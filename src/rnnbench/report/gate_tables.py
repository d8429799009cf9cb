"""Gate statistics of every run that traced its gates (gates.npz: the LSTM family's i f g o and
cell state c, the GRU's r z n, over a few fixed test sequences): the means and the pairwise
Pearson correlations of the sigmoid gates over every unit, step and traced sequence, the numbers
tutorial 003's gate pictures state. claims.py reads this table, never the run folders."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

GATES_FILE = "gates.npz"
PAIRS = (("f", "i"), ("i", "o"), ("f", "o"))  # the LSTM's sigmoid gates, as 003 pairs them
GATE_COLUMNS = ["task", "model", "length", "seed", "solved", "run_dir", "gate_i_mean", "gate_f_mean", "gate_o_mean",
                *(f"corr_{a}_{b}" for a, b in PAIRS)]


def gate_table(results: pd.DataFrame, root: Path) -> pd.DataFrame:
    """One row per finished run with gates.npz holding the LSTM's three sigmoid gates."""
    rows = []
    ok = results[~results["failed"]] if "failed" in results else results
    for row in ok.itertuples():
        path = Path(root) / row.run_dir / GATES_FILE
        if not path.is_file():
            continue
        with np.load(path) as traces:
            if not all(g in traces for g in ("i", "f", "o")):
                continue
            gates = {g: traces[g].astype(np.float64).reshape(-1) for g in ("i", "f", "o")}
        rows.append({"task": row.task, "model": row.model, "length": int(row.length), "seed": int(row.seed),
                     "solved": bool(row.solved), "run_dir": row.run_dir,
                     **{f"gate_{g}_mean": float(v.mean()) for g, v in gates.items()},
                     **{f"corr_{a}_{b}": pearson(gates[a], gates[b]) for a, b in PAIRS}})
    return pd.DataFrame(rows, columns=GATE_COLUMNS)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r; NaN when either is constant."""
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


