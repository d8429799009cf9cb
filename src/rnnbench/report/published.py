"""Other people's numbers for settings close to ours, each with its source and budget, shown
beside our nearest cell and never mixed into our own tables."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

TCN_PAPER = ("Bai, Kolter & Koltun 2018, An Empirical Evaluation of Generic Convolutional and Recurrent "
             "Networks for Sequence Modeling (arXiv:1803.01271), Table 1")
TCN_BUDGET = "their own training budget and hyperparameters; models of about the same size as their TCN"


@dataclass(frozen=True)
class Anchor:
    task: str
    model: str
    length: int
    metric: str
    value: float
    source: str
    budget: str
    note: str = ""
    params: str = "about 70K parameters"  # their model size, as the source gives it


INDRNN_PAPER = "Li et al. 2018, Independently Recurrent Neural Network (IndRNN) (arXiv:1803.04831), adding problem"
CHRONO_PAPER = "Tallec & Ollivier 2018, Can Recurrent Neural Networks Warp Time? (arXiv:1804.11188), adding problem"
EURNN_PAPER = "Jing et al. 2017, Tunable Efficient Unitary Neural Networks (EUNN) (arXiv:1612.05231), copy task"
THEIR_SETUP = "their architecture, size and training budget (see the paper), not ours"

ANCHORS = (
    Anchor("adding", "lstm", 600, "mse", 0.164, TCN_PAPER, TCN_BUDGET, "at the 1/6 baseline: not learned"),
    Anchor("adding", "rnn", 600, "mse", 0.177, TCN_PAPER, TCN_BUDGET, "at the 1/6 baseline: not learned"),
    Anchor("adding", "gru", 600, "mse", 5.3e-5, TCN_PAPER, TCN_BUDGET, "learned"),
    Anchor("copy", "lstm", 1000, "cross_entropy", 0.0204, TCN_PAPER, TCN_BUDGET,
           "memoryless baseline 10 ln 8 / 1020 = 0.0204: not learned"),
    Anchor("copy", "gru", 1000, "cross_entropy", 0.0197, TCN_PAPER, TCN_BUDGET, "at the memoryless baseline"),
    Anchor("copy", "rnn", 1000, "cross_entropy", 0.0202, TCN_PAPER, TCN_BUDGET, "at the memoryless baseline"),
    Anchor("adding", "indrnn", 5000, "mse", math.nan, INDRNN_PAPER, THEIR_SETUP,
           "learned (MSE far below the 1/6 baseline) up to T=5000; stacked IndRNN layers", params="see the paper"),
    Anchor("adding", "lstm-chrono", 750, "mse", math.nan, CHRONO_PAPER, THEIR_SETUP,
           "chrono initialisation converges about 7x faster than forget bias 1 at T=750 (no MSE value quoted here)",
           params="see the paper"),
    Anchor("copy", "eurnn", 1000, "cross_entropy", 0.011, EURNN_PAPER, THEIR_SETUP,
           "below the memoryless baseline 0.0204: learned (a unitary RNN, not run here)", params="see the paper"),
)


def anchors_beside_ours(summary: pd.DataFrame) -> pd.DataFrame:
    """Each anchor with our result for the same task and model at the longest length we ran up to
    the anchor's (or the shortest above it if none is below), or nothing when we never ran it. An
    anchor at another length than ours is marked "different setting": their length, size and budget
    stand beside ours, and only what is learned and what is not compares."""
    rows = []
    for anchor in ANCHORS:
        ours = summary[(summary["task"] == anchor.task) & (summary["model"] == anchor.model) & (summary["completed"] > 0)]
        row = {"task": anchor.task, "model": anchor.model, "their_length": anchor.length, "metric": anchor.metric,
               "their_value": anchor.value, "their_note": anchor.note, "their_params": anchor.params,
               "source": anchor.source, "budget": anchor.budget, "setting": "not run here",
               "our_length": None, "our_median": math.nan, "our_solved": math.nan, "our_seeds": math.nan,
               "our_baseline": math.nan, "our_params": math.nan, "our_steps": math.nan, "our_batch": math.nan}
        if len(ours):
            below = ours[ours["length"] <= anchor.length]
            nearest = below.loc[below["length"].idxmax()] if len(below) else ours.loc[ours["length"].idxmin()]
            row.update(our_length=int(nearest["length"]), our_median=nearest["median"], our_solved=nearest["solved"],
                       our_seeds=nearest["seeds"], our_baseline=nearest["baseline"], our_params=nearest["n_params"],
                       our_steps=nearest.get("max_steps", math.nan), our_batch=nearest.get("batch_size", math.nan),
                       setting="same length" if int(nearest["length"]) == anchor.length else "different setting")
        rows.append(row)
    return pd.DataFrame(rows)
