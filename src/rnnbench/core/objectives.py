"""Loss and metrics for each output kind. Metrics are per-sample means, so a weighted mean over
evaluation batches is exact."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .dataset import CLASS_LAST, CLASS_SEQ, REGRESSION_LAST, REGRESSION_SEQ, Dataset


def loss(kind: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if kind in (REGRESSION_LAST, REGRESSION_SEQ):
        return F.mse_loss(out, y)
    if kind in (CLASS_LAST, CLASS_SEQ):
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    raise ValueError(f"unknown output kind {kind!r}")


def metrics(dataset: Dataset, out: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every metric this task reports, as 0-d tensors (no host sync here)."""
    kind = dataset.output_kind
    value = loss(kind, out, y)
    result = {"loss": value}
    if kind in (REGRESSION_LAST, REGRESSION_SEQ):
        result["mse"] = value
        return result
    correct = (out.argmax(-1) == y).float()
    result["accuracy"] = correct.mean()
    if kind == CLASS_SEQ:
        result["cross_entropy"] = value
        if dataset.metric == "bpc":
            result["bpc"] = value / math.log(2)
        recall = dataset.extra.get("recall_steps")
        if recall:
            result["recall_accuracy"] = correct[:, -recall:].mean()
    return result
