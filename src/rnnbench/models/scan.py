"""Parallel scans for the diagonal linear recurrence h_t = a_t * h_{t-1} + b_t (h_0 = 0), over dim 1
(time) of [B, T, H] tensors: a few whole-tensor operations instead of a Python loop over T.

Two forms, because the models need two:
- `log_space_scan` (Heinsen 2023, used by Feng et al. 2024 for minGRU/minLSTM): a, b > 0 given as
  logs; h = exp(cumsum(log a) + logcumsumexp(log b - cumsum(log a))). Two cumulative ops, stable
  in the log domain, but only for positive a and b (minGRU's g(x) keeps its candidate positive).
- `doubling_scan` (Hillis & Steele 1986): any a and b, complex included (the LRU's eigenvalues);
  ceil(log2 T) rounds, round d composes each step's map with the one d steps before it. O(T log T)
  work, exact up to rounding, no division by a (which a cumulative-product form would need, and
  which overflows once |a|^t underflows).
Both equal the step-by-step loop to float tolerance (tests/test_models.py).
"""
from __future__ import annotations

import torch


def log_space_scan(log_a: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """h_t = a_t h_{t-1} + b_t with h_0 = 0, from log a and log b (both [B, T, H])."""
    a_star = torch.cumsum(log_a, dim=1)
    return torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=1))


def doubling_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """h_t = a_t h_{t-1} + b_t with h_0 = 0; a broadcasts against b ([B, T, H], or [H] for a
    constant per-unit factor)."""
    length = b.shape[1]
    a = a.expand_as(b)
    h, d = b, 1
    while d < length:
        # Step t now holds the map of steps (t-2d, t]: its own (t-d, t] after the one ending at t-d.
        h = torch.cat([h[:, :d], h[:, d:] + a[:, d:] * h[:, :-d]], dim=1)
        a = torch.cat([a[:, :d], a[:, d:] * a[:, :-d]], dim=1)
        d *= 2
    return h
