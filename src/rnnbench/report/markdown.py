"""reports/report.md: the study's front page, rendered from the report's tables.

Every number here comes from results.csv through `summarise` and the functions in `tables` and
`published` (a test parses the tables back and recomputes them). Missing, failed and diverged
runs are counted in the tables, never dropped silently.
"""
from __future__ import annotations

import math
import numbers
from datetime import datetime, timezone

import pandas as pd

from ..study import Study
from .tables import SOLVED_MAJORITY, side_grid_models

NONE = "—"


def number(value, digits: int = 4) -> str:
    """Integers (lengths, steps) in full; other values to `digits` significant digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NONE
    if isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e6):
        return str(int(value))
    return f"{value:.{digits}g}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def cell_note(row) -> str:
    notes = []
    if row.completed == 0:
        notes.append("no completed run")
    if row.diverged:
        notes.append(f"{row.diverged} diverged")
    if row.failed:
        notes.append(f"{row.failed} failed or missing")
    return "; ".join(notes)


SUMMARY_HEADER = ["model", "T", "mean", "std", "95% CI ±", "solved", "median steps to solve", "mean wall s",
                  "steps/s", "note"]


def summary_rows(rows: pd.DataFrame) -> list[list[str]]:
    out = []
    for row in rows.itertuples():
        solved = round(row.solved_fraction * row.seeds)
        out.append([row.model, str(row.length), number(row.mean), number(row.std), number(row.ci95),
                    f"{solved}/{row.seeds}", number(row.median_steps_to_solve), number(row.mean_wall_s, 3),
                    number(row.mean_steps_per_s, 3), cell_note(row)])
    return out


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def reading(row) -> str:
    if missing(row.longest_tested):
        return "not measured: no completed run"
    if missing(row.critical_length):
        return f"fails already at the shortest tested length (T={number(row.shortest_tested)})"
    text = (f"solves every tested length up to T={number(row.longest_tested)}"
            if row.critical_length == row.longest_tested and row.monotone else f"solves up to T={number(row.critical_length)}")
    if not missing(row.first_length_none_solved):
        text += f"; no seed solves T={int(row.first_length_none_solved)}"
    if not row.monotone:
        text += "; not monotone in T (a shorter length below half solved)"
    return text


def critical_section(critical: pd.DataFrame) -> str:
    rows = [[r.task, r.model, number(r.critical_length), number(r.first_length_none_solved),
             NONE if missing(r.longest_tested) else f"{number(r.shortest_tested)}–{number(r.longest_tested)}", reading(r)] for r in critical.itertuples()]
    return table(["task", "model", "critical length", "first T none solved", "T tested", "reading"], rows)


def decay_section(decay: pd.DataFrame) -> str:
    rows = [[r.task, r.model, str(r.length), number(r.half_life_init, 3), number(r.half_life_trained, 3),
             number(r.ratio_init, 2), number(r.ratio_trained, 2), str(r.runs)] for r in decay.itertuples()]
    return table(["task", "model", "T", "half-life init (steps)", "half-life trained (steps)",
                  "‖∂L/∂h₀‖/‖∂L/∂h_T‖ init", "‖∂L/∂h₀‖/‖∂L/∂h_T‖ trained", "runs"], rows)


def published_section(anchors: pd.DataFrame) -> str:
    rows = []
    for r in anchors.itertuples():
        ours = (f"{number(r.our_mean)} ± {number(r.our_ci95)} at T={number(r.our_length)}, "
                f"{number(r.our_solved_fraction * 100, 3)}% of seeds solved (baseline {number(r.our_baseline)})"
                if r.our_length is not None and not pd.isna(r.our_length) else "not run in this study")
        rows.append([r.task, r.model, f"T={r.their_length}: {r.metric} {number(r.their_value)} ({r.their_note})", ours])
    sources = sorted(set(anchors["source"]))
    budgets = sorted(set(anchors["budget"]))
    return (table(["task", "model", "published (someone else's number)", "ours, nearest length we ran"], rows)
            + "\n\nSources: " + "; ".join(sources) + ". Their budget: " + "; ".join(budgets)
            + ". Our budget: params.yaml (hidden size, steps, seeds above). Different budgets and lengths: "
            "compare what is learned and what is not, not the digits.")


def findings(critical: pd.DataFrame, study: Study) -> str:
    lines = []
    for task in study.task_names():
        own = critical[(critical["task"] == task) & critical["model"].isin(study.models)]
        if own.empty:
            continue
        parts = [f"{r.model} {reading(r)}" for r in own.itertuples()]
        lines.append(f"- **{task}**: " + "; ".join(parts) + ".")
    return "\n".join(lines)


def why(decay: pd.DataFrame, study: Study) -> str:
    """The gradient story in one line: the h_0 / h_T gradient ratio at each task's longest length."""
    lines = []
    for task in study.task_names():
        longest = max(study.lengths(task))
        rows = decay[(decay["task"] == task) & (decay["length"] == longest)
                     & decay["model"].isin(study.models) & (decay["runs"] > 0)]
        if rows.empty:
            continue
        parts = [f"{r.model} {number(r.ratio_init, 2)} → {number(r.ratio_trained, 2)}" for r in rows.itertuples()]
        lines.append(f"- **why ({task}, T={longest})**: ‖∂L/∂h₀‖/‖∂L/∂h_T‖ at initialisation → after "
                     "training, median over seeds: " + "; ".join(parts) + ".")
    return "\n".join(lines)


def header(results: pd.DataFrame, study: Study) -> str:
    completed = results[~results["failed"]]
    hosts = sorted(set(results["host"].dropna())) if "host" in results else []
    finished = pd.to_datetime(results.get("finished_at"), errors="coerce", utc=True).dropna() \
        if "finished_at" in results else pd.Series(dtype="datetime64[ns, UTC]")
    total_train = pd.to_numeric(completed["wall_s"], errors="coerce").sum()
    span = (f"runs finished between {finished.min():%Y-%m-%d %H:%M} and {finished.max():%Y-%m-%d %H:%M} UTC; "
            if len(finished) else "")
    n_missing = int(results["error"].astype(str).str.startswith("missing").sum())
    return "\n".join([
        "# rnnbench: where vanilla RNNs, LSTMs and GRUs stop learning long-range dependencies",
        "",
        f"Generated by `dvc repro` (stage `report`) on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from params.yaml.",
        f"Machine: {'; '.join(hosts) if hosts else 'unknown'}.",
        f"Runs: {len(results)} ({len(study.cells())} cells × {len(study.seeds)} seeds): "
        f"{len(completed)} completed, {int(results['diverged'].sum())} diverged, "
        f"{int(results['failed'].sum()) - n_missing} failed, {n_missing} missing.",
        f"Time: {span}the runs' wall times add up to {total_train / 60:.1f} min (a cell's seeds may train "
        "at once, `seed_processes`, so this can exceed the time that passed, and per-run times and "
        "steps/s are under that load; the whole `dvc repro` is timed in the README).",
    ])


FIGURES = [
    ("learning_curves.png", "Learning curves at each task's longest length: validation metric per model, mean over "
     "seeds with the min–max band; the dashed line is the chance baseline."),
    ("metric_vs_length.png", "Final test metric against sequence length, mean over seeds with 95% t-intervals."),
    ("gradient_flow.png", "Gradient flow back through time, ‖∂L/∂h_t‖ against t on a log scale, at "
     "initialisation (dashed) and after training (solid)."),
    ("gate_traces.png", "Gate activations of a trained LSTM (input and forget gates) and GRU (update gate) on one "
     "adding sequence; red dotted lines mark the two marked steps."),
    ("grad_norm.png", "Global gradient norm (before clipping) during training, log scale."),
    ("ablations.png", "LSTM ablations: final metric per variant beside the standard LSTM, with solved counts."),
    ("reference.png", "The NumPy reference models against the fused torch models: same initial weights, same batches."),
]


def render(study: Study, results: pd.DataFrame, summary: pd.DataFrame, critical: pd.DataFrame,
           decay: pd.DataFrame, anchors: pd.DataFrame) -> str:
    main = summary[summary["model"].isin(study.models)]
    parts = [header(results, study), "",
             "## Findings", "",
             f"Critical length = the longest T at which at least {SOLVED_MAJORITY:.0%} of the seeds solved the task "
             "(solved rules per task are in the README).", "",
             findings(critical, study), why(decay, study), "",
             "## Critical length", "", critical_section(critical), ""]
    for task in study.task_names():
        rows = main[main["task"] == task]
        if rows.empty:
            continue
        metric = rows["metric"].iloc[0]
        baseline = rows["baseline"].dropna()
        parts += [f"## {task}: test {metric} per model and length", "",
                  f"Baseline (no memory): {number(baseline.iloc[0]) if len(baseline) else NONE}. "
                  "mean/std/CI over completed seeds; solved = seeds meeting the task's rule on the test split.", "",
                  table(SUMMARY_HEADER, summary_rows(rows)), ""]
    for name, title, text in (
            ("ablations", "LSTM ablations", "Greff et al. 2017's variants and forget bias 0 (Jozefowicz et al. 2015), "
             "beside the standard LSTM at the same length."),
            ("reference", "NumPy reference", "The from-scratch NumPy models, trained by the same trainer from the same "
             "initial weights as the fused models.")):
        grid = study.side_grids.get(name)
        if not grid or not grid.models:
            continue
        rows = summary[(summary["task"] == grid.task) & summary["length"].isin(grid.lengths)
                       & summary["model"].isin(side_grid_models(study, name))]
        parts += [f"## {title} ({grid.task})", "", text, "", table(SUMMARY_HEADER, summary_rows(rows)), ""]
    parts += ["## Gradient decay", "",
              "Median over seeds. Half-life: steps back in time over which ‖∂L/∂h_t‖ halves (fitted slope of "
              "log-norm against t); ratio: ‖∂L/∂h₀‖/‖∂L/∂h_T‖ on a fixed test batch, loss read at the last step.", "",
              decay_section(decay), "",
              "## Published results beside ours", "", published_section(anchors), "",
              "## Figures", ""]
    for name, caption in FIGURES:
        parts += [f"![{caption}](figures/{name})", "", f"*{caption}*", ""]
    return "\n".join(parts)
