"""Gate statistics of every run that traced its gates (gates.npz: the LSTM family's i f g o and
cell state c, the GRU's r z n, over a few fixed test sequences): the means and the pairwise
Pearson correlations of the sigmoid gates over every unit, step and traced sequence, the numbers
tutorial 003's gate pictures state; and, where the inputs carry markers (adding: a 0/1 channel
saying which values count), the units that carry the memory. claims.py reads this table, never
the run folders.

The memory units: the MEMORY_UNITS cells whose state the marked inputs move most (mean |c_p -
c_{p-1}| at the marked steps p over the traced sequences), against which the forget gate is read
from the first marker on. An all-unit mean mixes them with units the task never uses (an LSTM at
adding T=100: 0.53 over all units, 0.88 over these three)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..training.run_outputs import read_gate_traces

PAIRS = (("f", "i"), ("i", "o"), ("f", "o"))  # the LSTM's sigmoid gates, as 003 pairs them
MEMORY_UNITS = 3
GATE_COLUMNS = ["task", "model", "length", "seed", "solved", "run_dir", "gate_i_mean", "gate_f_mean", "gate_o_mean",
                *(f"corr_{a}_{b}" for a, b in PAIRS), "memory_units", "gate_f_memory_units"]


def gate_table(results: pd.DataFrame, root: Path) -> pd.DataFrame:
    """One row per finished run with gates.npz holding the LSTM's three sigmoid gates."""
    rows = []
    ok = results[~results["failed"]] if "failed" in results else results
    for row in ok.itertuples():
        arrays = read_gate_traces(Path(root) / row.run_dir)
        if not all(g in arrays for g in ("i", "f", "o")):
            continue
        gates = {g: arrays[g].astype(np.float64).reshape(-1) for g in ("i", "f", "o")}
        units, f_memory = memory_units(arrays)
        rows.append({"task": row.task, "model": row.model, "length": int(row.length), "seed": int(row.seed),
                     "solved": bool(row.solved), "run_dir": row.run_dir,
                     **{f"gate_{g}_mean": float(v.mean()) for g, v in gates.items()},
                     **{f"corr_{a}_{b}": pearson(gates[a], gates[b]) for a, b in PAIRS},
                     "memory_units": " ".join(map(str, units)), "gate_f_memory_units": f_memory})
    return pd.DataFrame(rows, columns=GATE_COLUMNS)


def memory_units(traces: dict[str, np.ndarray]) -> tuple[list[int], float]:
    """The MEMORY_UNITS units the marked inputs write to most, and their mean forget gate from each
    sequence's first marker on; ([], NaN) without a marker channel (the last input channel, 0/1 with
    a marker in every traced sequence) or a cell state."""
    x, c, f = traces.get("x"), traces.get("c"), traces.get("f")
    if x is None or c is None or f is None or x.ndim != 3:
        return [], float("nan")
    markers = x[..., -1]
    if not np.isin(markers, (0, 1)).all() or not (markers == 1).any(axis=1).all():
        return [], float("nan")
    before = np.concatenate([np.zeros_like(c[:, :1]), c[:, :-1]], axis=1)  # c_{t-1}, zero before the start
    written = (np.abs(c - before) * (markers == 1)[..., None]).sum(axis=(0, 1)) / len(c)
    units = [int(u) for u in np.argsort(written)[::-1][:MEMORY_UNITS]]
    first = (markers == 1).argmax(axis=1)
    after = [f[b, first[b]:][:, units] for b in range(len(f))]
    return units, float(np.mean(np.concatenate([a.reshape(-1) for a in after])))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r; NaN when either is constant."""
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


