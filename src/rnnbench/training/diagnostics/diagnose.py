"""All diagnostics of one finished run: gradient flow at initialisation and after training, gate
statistics and gate traces, on a fixed batch of the test split."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ...models import Network
from ...tasks import Dataset, Task
from .gate_activity import gate_statistics, gate_traces
from .gradient_flow import gradient_flow

FLOW_BATCH = 256
PROBE_BATCH = 64  # during training, at every evaluation: a quarter of the cost
TRACE_SEQUENCES = 4


@dataclass
class Diagnosis:
    flow_rows: list[dict[str, float]]  # gradflow.csv: t, phase, norm_h, norm_c, norm_law
    metrics: dict[str, float | str]  # grad_* and gate_* summaries, merged into the final record
    traces: dict[str, np.ndarray] = field(default_factory=dict)  # gates.npz


def batch_of(dataset: Dataset, split: str, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = dataset.splits[split]
    return tuple(torch.from_numpy(np.ascontiguousarray(a[:size])).to(device) for a in (x, y))


def gradient_ratio_probe(task: Task, dataset: Dataset, model: Network):
    """For the trainer's evaluations: ‖∂L/∂h₀‖/‖∂L/∂h_T‖ on a fixed validation batch, so the
    history shows when a model opens its gradient path. None for a cell that cannot unroll."""
    if not model.can_unroll:
        return None
    x, y = batch_of(dataset, "val", PROBE_BATCH, next(model.parameters()).device)
    return lambda trained: {"grad_ratio": gradient_flow(trained, task, x, y).summary()["ratio_first_last"]}


def unavailable(reason: str) -> Diagnosis:
    """No gradflow.csv or gates.npz; the record says why under `diagnostics`."""
    return Diagnosis([], {"diagnostics": f"unavailable: {reason}"})


def diagnose(task: Task, dataset: Dataset, initial: Network, trained: Network | None) -> Diagnosis:
    """initial: the model as it was at step 0 (same seed); trained: None when the run diverged."""
    if not initial.can_unroll:
        return unavailable(f"the cell {type(initial.rnn).__qualname__} has no unroll(x, trace) method")
    x, y = batch_of(dataset, "test", FLOW_BATCH, next(initial.parameters()).device)
    rows, metrics = [], {}
    for phase, model in (("init", initial), ("trained", trained)):
        if model is None:
            continue
        flow = gradient_flow(model, task, x, y)
        rows += [{"t": t, "phase": phase, "norm_h": float(h), "norm_c": float(c), "norm_law": float(law)}
                 for t, (h, c, law) in enumerate(zip(flow.norm_h, flow.norm_c, flow.norm_law))]
        metrics.update({f"grad_{k}_{phase}": v for k, v in flow.summary().items()})
    traces = {}
    if trained is not None:
        batch_traces = gate_traces(trained, x)
        metrics.update(gate_statistics(batch_traces))
        traces = {name: value[:TRACE_SEQUENCES] for name, value in batch_traces.items()}
        if traces:
            traces["x"] = dataset.splits["test"][0][:TRACE_SEQUENCES]
    return Diagnosis(rows, metrics, traces)
