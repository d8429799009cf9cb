"""The report's figures (PNG). One colour per model in every figure; every axis labelled; each
figure says in its title what it shows, so it reads without the text.

Inputs are the report's own tables (summary, curves) plus, for the diagnostics and task figures,
the run folders' gradflow.csv, gates.npz, metrics.json (per-position test metric) and model.pt.
"""
from __future__ import annotations

import math
import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from ..config import ModelConfig  # noqa: E402
from ..models import build_network, memory_law  # noqa: E402
from ..study import Study  # noqa: E402
from ..tasks import Dataset, Metric, resolve_task  # noqa: E402
from ..training.run_outputs import GRADFLOW_FILE, FinishedRun, UnreadableRun, read_gate_traces, read_run  # noqa: E402
from .tables import cell_metric_and_baseline, seed_table, task_lengths  # noqa: E402

# The classic models keep the colours readers know from the report; any other model gets a colour
# of its own from its name, so a new model needs no entry here.
MODEL_COLOURS = {
    "rnn": "#d62728", "lstm": "#1f77b4", "gru": "#2ca02c",
    "rnn-numpy": "#ff9896", "lstm-numpy": "#9ecae1",
    "lstm-fb0": "#9467bd", "lstm-nfg": "#8c564b", "lstm-nog": "#e377c2", "lstm-cifg": "#7f7f7f",
    "lstm-peephole": "#bcbd22",
}
DPI = 110
GATE_UNITS = 5


def colour(model: str):
    return MODEL_COLOURS.get(model) or plt.cm.tab20(zlib.crc32(model.encode()) % 20)


def declared(task: str, metric: str) -> Metric:
    """The task's own declaration of a metric: its label and axis scale (plain, when it has none)."""
    try:
        return resolve_task(task).metric(metric)
    except KeyError:
        return Metric(metric, higher_is_better=False, label=metric)


def metric_label(task: str, metric: str) -> str:
    return declared(task, metric).label


def log_scale(task: str, metric: str) -> bool:
    return declared(task, metric).log_scale


MAX_COLUMNS = 2  # panels per row: a figure stays about 2:1 or narrower, readable at 900 px


def panel_grid(count: int, width: float = 4.6, height: float = 4.2, columns: int = MAX_COLUMNS, **kwargs):
    """A figure of `count` panels in rows of at most `columns` (the cells past `count` hidden) and
    the panels as a flat list; constrained layout keeps titles, suptitle and colour bar apart."""
    columns = max(1, min(count, columns))
    rows = max(1, math.ceil(count / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False,
                             layout="constrained", **kwargs)
    flat = list(axes.flat)
    for ax in flat[max(count, 1):]:
        ax.set_visible(False)
    return fig, flat[:max(count, 1)]


def save(fig, path: Path) -> Path:
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def empty_panel(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9, color="#555")
    ax.set_xticks([]), ax.set_yticks([])


def main_tasks(study: Study) -> list[str]:
    return study.task_names()


def seed_mean_curve(runs: pd.DataFrame, column: str, geometric: bool = False, hold_last: bool = True):
    """Mean and min/max over seeds per step (see tables.seed_table for hold_last)."""
    table = seed_table(runs, column, hold_last)
    values = np.log10(table.clip(lower=1e-30)) if geometric else table
    mean = values.mean(axis=1)
    lo, hi = values.min(axis=1), values.max(axis=1)
    if geometric:
        mean, lo, hi = 10 ** mean, 10 ** lo, 10 ** hi
    return table.index.to_numpy(), mean.to_numpy(), lo.to_numpy(), hi.to_numpy()


def curves_panel(ax, curves: pd.DataFrame, task: str, length: int, models, column: str, baseline: float | None,
                 metric: str, log: bool, hold_last: bool = True, dashed: tuple[str, ...] = ()) -> None:
    """`dashed`: models drawn dashed (a side grid's, over the model it is read against)."""
    cell = curves[(curves["task"] == task) & (curves["length"] == length)]
    drawn = False
    for model in models:
        runs = cell[cell["model"] == model]
        if runs.empty:
            continue
        steps, mean, lo, hi = seed_mean_curve(runs, column, geometric=log, hold_last=hold_last)
        style = "--" if model in dashed else "-"
        ax.plot(steps, mean, style, color=colour(model), label=f"{model} ({runs['seed'].nunique()} seeds)")
        ax.fill_between(steps, lo, hi, color=colour(model), alpha=0.2, linewidth=0)
        drawn = True
    if not drawn:
        empty_panel(ax, f"{task} T={length}: no completed runs")
        return
    if baseline is not None and np.isfinite(baseline):
        ax.axhline(baseline, color="black", linestyle="--", linewidth=1, label=f"baseline {baseline:.3g}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(metric)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def learning_curves(study: Study, summary: pd.DataFrame, curves: pd.DataFrame, path: Path) -> Path:
    tasks = main_tasks(study)
    fig, axes = panel_grid(len(tasks))
    for ax, task in zip(axes, tasks):
        length = max(task_lengths(study, summary, task), default=0)
        metric, baseline = cell_metric_and_baseline(summary, task, length)
        curves_panel(ax, curves, task, length, study.models, "val_metric", baseline,
                     f"validation {metric_label(task, metric)}", log_scale(task, metric))
        ax.set_title(f"{task}, T={length}: mean over seeds, band = min-max", fontsize=10)
    fig.suptitle("Learning curves at each task's longest length (dashed: chance baseline)", fontsize=11)
    return save(fig, path)


def metric_vs_length(study: Study, results: pd.DataFrame, summary: pd.DataFrame, path: Path) -> Path:
    """Every seed's final test metric (points) and the median (line), the solved threshold and the baseline."""
    tasks = main_tasks(study)
    fig, axes = panel_grid(len(tasks))
    for ax, task in zip(axes, tasks):
        rows = summary[(summary["task"] == task) & summary["model"].isin(study.models) & (summary["completed"] > 0)]
        if rows.empty:
            empty_panel(ax, f"{task}: no completed runs")
            continue
        metric = rows["metric"].iloc[0]
        runs = results[(results["task"] == task) & ~results["failed"] & ~results["diverged"]]
        for k, model in enumerate(study.models):
            own = rows[rows["model"] == model].sort_values("length")
            if own.empty:
                continue
            shift = 1 + 0.04 * (k - (len(study.models) - 1) / 2)  # side by side, on a log axis
            ax.plot(own["length"] * shift, own["median"], color=colour(model), marker="_", markersize=12, label=model)
            seeds = runs[runs["model"] == model]
            ax.scatter(seeds["length"] * shift, seeds["test_metric"].astype(float), color=colour(model), s=12,
                       alpha=0.6, edgecolors="none")
        baselines = rows.groupby("length")["baseline"].first()
        ax.plot(baselines.index, baselines.values, color="black", linestyle="--", linewidth=1, label="baseline")
        threshold = results.loc[results["task"] == task, "solved_threshold"].dropna()
        if len(threshold):
            ax.axhline(float(threshold.iloc[0]), color="grey", linestyle=":", linewidth=1.2, label="solved threshold")
        ax.set_xscale("log")
        ax.set_xticks(sorted(rows["length"].unique()))
        ax.set_xticklabels([str(n) for n in sorted(rows["length"].unique())])
        ax.minorticks_off()
        if log_scale(task, metric):
            ax.set_yscale("log")
        ax.set_xlabel("sequence length T (log scale)")
        ax.set_ylabel(f"test {metric_label(task, metric)}")
        ax.set_title(f"{task}: points = seeds, line = median", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle("Final test metric against sequence length", fontsize=11)
    return save(fig, path)


def solved_heatmap(study: Study, summary: pd.DataFrame, critical: pd.DataFrame, path: Path) -> Path:
    """Solved fraction per model x length, one panel per task; the critical length's cell framed."""
    searched = set(critical["task"]) if "task" in critical else set()
    tasks = [task for task in main_tasks(study) if task in searched] or main_tasks(study)  # where a model stops
    fig, axes = panel_grid(len(tasks), 7.0, 1.0 + 0.45 * len(study.models), columns=1)
    image = None
    for ax, task in zip(axes, tasks):
        lengths = sorted({int(n) for n in summary.loc[summary["task"] == task, "length"]})  # grid and searches
        grid = np.full((len(study.models), len(lengths)), np.nan)
        for row in summary[(summary["task"] == task) & summary["model"].isin(study.models)].itertuples():
            grid[study.models.index(row.model), lengths.index(row.length)] = row.solved_fraction
            ax.text(lengths.index(row.length), study.models.index(row.model), f"{row.solved}/{row.seeds}",
                    ha="center", va="center", fontsize=8)
        image = ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
        for row in critical[(critical["task"] == task) & critical["model"].isin(study.models)].itertuples():
            if not pd.isna(row.critical_length) and row.critical_length in lengths:
                ax.add_patch(plt.Rectangle((lengths.index(row.critical_length) - 0.5, study.models.index(row.model) - 0.5),
                                           1, 1, fill=False, edgecolor="black", linewidth=2))
        ax.set_xticks(range(len(lengths)), [str(n) for n in lengths])
        ax.set_yticks(range(len(study.models)), list(study.models))
        ax.set_xlabel("sequence length T")
        ax.set_title(f"{task}: seeds solved (framed: critical length)", fontsize=10)
    if image is not None:
        fig.colorbar(image, ax=axes, label="solved fraction", shrink=0.8)
    fig.suptitle("Where each model stops solving", fontsize=11)
    return save(fig, path)


def gradient_ratio_training(study: Study, results: pd.DataFrame, curves: pd.DataFrame, path: Path) -> Path:
    """‖∂L/∂h₀‖/‖∂L/∂h_T‖ on a fixed validation batch at every evaluation (curves.csv), per seed,
    with each solved seed's solve step marked: when (and whether) a model opens its gradient path."""
    tasks = main_tasks(study)
    fig, axes = panel_grid(len(tasks))
    for ax, task in zip(axes, tasks):
        length = max(task_lengths(study, results, task), default=0)
        cell = curves[(curves["task"] == task) & (curves["length"] == length) & curves["grad_ratio"].notna()]
        runs = results[(results["task"] == task) & (results["length"] == length) & results["solved"]]
        for model in study.models:
            solve_steps = dict(zip(runs.loc[runs["model"] == model, "seed"], runs.loc[runs["model"] == model, "solved_step"]))
            for i, (seed, curve) in enumerate(cell[cell["model"] == model].groupby("seed")):
                ratio = curve["grad_ratio"].astype(float).clip(lower=1e-300)
                ax.plot(curve["step"], ratio, color=colour(model), alpha=0.7, linewidth=1,
                        label=model if i == 0 else None)
                at = ratio[curve["step"] == solve_steps.get(seed)]
                if len(at):
                    ax.scatter([solve_steps[seed]], [float(at.iloc[0])], color=colour(model), marker="*",
                               s=80, zorder=3, edgecolors="black", linewidths=0.5)
        if cell.empty:
            empty_panel(ax, f"{task} T={length}: no gradient ratios recorded")
            continue
        finish_log_panel(ax, "training step", r"$\|\partial L/\partial h_0\| / \|\partial L/\partial h_T\|$",
                         f"{task}, T={length}: one line per seed, star = solved")
    fig.suptitle("The gradient path during training (fixed validation batch)", fontsize=11)
    return save(fig, path)


def finish_log_panel(ax, xlabel: str, ylabel: str, title: str, legend_columns: int = 1) -> None:
    """A panel whose values span orders of magnitude: log y, labels, title, legend, grid."""
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncol=legend_columns)
    ax.grid(alpha=0.3)


def read_flow(results: pd.DataFrame, root: Path, task: str, model: str, length: int) -> pd.DataFrame | None:
    rows = results[(results["task"] == task) & (results["model"] == model) & (results["length"] == length)]
    frames = [pd.read_csv(root / row.run_dir / GRADFLOW_FILE).assign(seed=row.seed) for row in rows.itertuples()
              if (root / row.run_dir / GRADFLOW_FILE).is_file()]
    return pd.concat(frames, ignore_index=True) if frames else None


def flow_lengths(study: Study, task: str, results: pd.DataFrame) -> list[int]:
    lengths = task_lengths(study, results, task)
    middle = [n for n in lengths if n >= 50][:1] or lengths[len(lengths) // 2 : len(lengths) // 2 + 1]
    return sorted(set(middle + lengths[-1:]))


def gradient_flow(study: Study, results: pd.DataFrame, root: Path, path: Path) -> Path:
    task = "adding" if "adding" in main_tasks(study) else main_tasks(study)[0]
    lengths = flow_lengths(study, task, results)
    fig, axes = panel_grid(len(lengths))
    for ax, length in zip(axes, lengths):
        drawn = False
        for model in study.models:
            flow = read_flow(results, root, task, model, length)
            if flow is None:
                continue
            for phase, style in (("init", "--"), ("trained", "-")):
                own = flow[flow["phase"] == phase]
                if own.empty:
                    continue
                # Geometric median over seeds: the norms span dozens of orders of magnitude.
                median = own.groupby("t")["norm_h"].apply(lambda v: 10 ** np.median(np.log10(v.clip(lower=1e-300))))
                ax.plot(median.index, median.values, style, color=colour(model), label=f"{model} {phase}")
                drawn = True
        if not drawn:
            empty_panel(ax, f"{task} T={length}: no gradient-flow data")
            continue
        finish_log_panel(ax, "time step t (loss read at the last step)", r"$\|\partial L / \partial h_t\|$ (batch mean)",
                         f"{task}, T={length}: median over seeds", legend_columns=2)
    fig.suptitle("Gradient flow back through time: dashed at initialisation, solid after training", fontsize=11)
    return save(fig, path)


def geometric_median(flow: pd.DataFrame, column: str) -> pd.Series:
    """Per t over seeds: the norms span dozens of orders of magnitude."""
    return flow.groupby("t")[column].apply(lambda v: 10 ** np.median(np.log10(v.clip(lower=1e-300))))


def memory_laws(study: Study, results: pd.DataFrame, root: Path, path: Path) -> Path:
    """Per model with a memory law, at the longest length of the first memory task: the law's
    prediction beside the gradient measured on the state it governs, trained, median over seeds."""
    task = "adding" if "adding" in main_tasks(study) else main_tasks(study)[0]
    length = max(task_lengths(study, results, task), default=0)
    panels = []
    for model in study.models:
        flow = read_flow(results, root, task, model, length)
        if flow is None or "norm_law" not in flow or flow["norm_law"].isna().all():
            continue
        panels.append((model, flow[flow["phase"] == "trained"]))
    fig, axes = panel_grid(len(panels), 4.2, 4.0)
    if not panels:
        empty_panel(axes[0], f"{task} T={length}: no model with a memory law")
    for ax, (model, flow) in zip(axes, panels):
        state = "norm_c" if flow["norm_c"].notna().any() else "norm_h"
        measured, law = geometric_median(flow, state), geometric_median(flow, "norm_law")
        ax.plot(measured.index, measured.values, "-", color=colour(model), linewidth=3, label="measured")
        ax.plot(law.index, law.values, "--", color="black", linewidth=1, label=f"law {memory_law(model)}")
        finish_log_panel(ax, "time step t", r"$\|\partial L / \partial c_t\|$" if state == "norm_c"
                         else r"$\|\partial L / \partial h_t\|$", model, legend_columns=1)
    fig.suptitle(f"Analytic vs measured gradient decay, {task} T={length}, trained", fontsize=11)
    return save(fig, path)


def pick_gate_run(results: pd.DataFrame, root: Path, task: str, model: str):
    """A solved run at the longest length this model solved, with its gate traces."""
    solved = results[(results["task"] == task) & (results["model"] == model) & results["solved"]]
    for row in solved.sort_values(["length", "seed"], ascending=[False, True]).itertuples():
        traces = read_gate_traces(root / row.run_dir)
        if traces:
            return int(row.length), int(row.seed), traces
    return None


def gate_traces(study: Study, results: pd.DataFrame, root: Path, path: Path) -> Path:
    """Adding problem: what the LSTM's input and forget gates, and the GRU's update gate, do at the
    two marked steps of one test sequence."""
    task = "adding"
    panels = []
    if task in main_tasks(study):
        for model, gate, meaning in (("lstm", "i", "LSTM input gate i"), ("lstm", "f", "LSTM forget gate f"),
                                     ("gru", "z", "GRU update gate z (1 = keep the old state)")):
            picked = pick_gate_run(results, root, task, model)
            if picked and gate in picked[2]:
                panels.append((model, gate, meaning, *picked))
    fig, axes = plt.subplots(len(panels) + 1, 1, figsize=(11, 2.1 * (len(panels) + 1) + 0.6), squeeze=False,
                             sharex=True)
    axes = axes[:, 0]
    if not panels:
        empty_panel(axes[0], "no solved adding run of lstm or gru with gate traces")
        return save(fig, path)
    x = panels[0][5]["x"][0]
    markers = np.flatnonzero(x[:, 1] > 0.5)
    axes[0].bar(np.arange(len(x)), x[:, 0], color="#999", width=1.0, label="value")
    axes[0].bar(markers, x[markers, 0], color="black", width=1.0, label="marked values (the sum's terms)")
    axes[0].set_ylabel("input value")
    axes[0].set_title(f"Adding problem, test sequence 0 (T={len(x)}): the target is the sum of the two marked values "
                      "(red dotted: marked steps)", fontsize=10)
    axes[0].legend(fontsize=7, loc="upper right")
    for ax, (model, gate, meaning, length, seed, traces) in zip(axes[1:], panels):
        own_markers = np.flatnonzero(traces["x"][0][:, 1] > 0.5)
        values = traces[gate][0]  # [T, H]
        # The units whose activation at the marked steps departs most from their own typical value:
        # a heatmap of all units hides them among the constant ones.
        reaction = np.abs(values[own_markers] - np.median(values, axis=0)).max(axis=0)
        for unit in np.argsort(reaction)[::-1][:GATE_UNITS]:
            ax.plot(values[:, unit], linewidth=0.9, alpha=0.8, label=f"unit {unit}")
        ax.plot(values.mean(axis=1), color="black", linewidth=2, label=f"mean of {values.shape[1]} units")
        for m in own_markers:
            ax.axvline(m, color="red", linewidth=1.2, linestyle=":")
        ax.set_ylim(-0.03, 1.03)
        ax.set_ylabel("activation")
        ax.set_title(f"{meaning}: trained {model}, T={length}, seed {seed} "
                     f"({GATE_UNITS} units reacting most at the marked steps)", fontsize=9)
        ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
        ax.grid(alpha=0.3)
    for ax in axes:
        ax.set_xlim(-0.5, len(x) - 0.5)
    for m in markers:
        axes[0].axvline(m, color="red", linewidth=0.8, linestyle=":")
    axes[-1].set_xlabel("time step t")
    return save(fig, path)


def grad_norm(study: Study, curves: pd.DataFrame, path: Path) -> Path:
    tasks = main_tasks(study)
    fig, axes = panel_grid(len(tasks))
    for ax, task in zip(axes, tasks):
        length = max(task_lengths(study, curves, task), default=0)
        curves_panel(ax, curves, task, length, study.models, "grad_norm", None,
                     "gradient norm before clipping", log=True, hold_last=False)
        ax.set_title(f"{task}, T={length}: mean over each evaluation window", fontsize=10)
    fig.suptitle("Global gradient norm during training (geometric mean over seeds, band = min-max)", fontsize=11)
    return save(fig, path)


def side_grid_figure(study: Study, summary: pd.DataFrame, curves: pd.DataFrame, folder: Path, grid: str) -> Path | None:
    """Side grid `grid`'s figure, <grid>.png, as its params ask (`figure`: bars or curves); None when
    the grid has no model (no figure, not an empty one)."""
    side = study.side_grids[grid]
    if not side.models or not side.lengths:
        return None
    path = folder / f"{grid}.png"
    if side.figure == "curves":
        return side_grid_curves(study, side, curves, summary, path, grid)
    return side_grid_bars(study, side, summary, path, grid)


def side_grid_bars(study: Study, side, summary: pd.DataFrame, path: Path, grid: str) -> Path:
    fig, ax = plt.subplots(figsize=(8.0, 4.0))
    models = side.compared(study.models)
    rows = summary[(summary["task"] == side.task) & summary["model"].isin(models)
                   & summary["length"].isin(side.lengths) & (summary["completed"] > 0)]
    if rows.empty:
        empty_panel(ax, f"side grid {grid!r}: no completed runs")
        return save(fig, path)
    labels, means, errors, colours, notes = [], [], [], [], []
    for length in side.lengths:
        for model in models:
            row = rows[(rows["model"] == model) & (rows["length"] == length)]
            if row.empty:
                continue
            row = row.iloc[0]
            labels.append(f"{model}\nT={length}")
            means.append(row["median"])
            errors.append([row["median"] - row["min"], row["max"] - row["median"]] if row["completed"] else [0, 0])
            colours.append(colour(model))
            notes.append(f"{row['solved_fraction'] * row['seeds']:.0f}/{row['seeds']:.0f} solved")
    positions = np.arange(len(labels))
    ax.bar(positions, means, yerr=np.nan_to_num(np.array(errors, dtype=float).T), color=colours, capsize=4)
    for p, mean, note in zip(positions, means, notes):
        ax.text(p, mean, note, ha="center", va="bottom", fontsize=7)
    metric = rows["metric"].iloc[0]
    ax.axhline(rows["baseline"].iloc[0], color="black", linestyle="--", linewidth=1, label="baseline")
    ax.set_xticks(positions)
    ax.set_xticklabels(labels, fontsize=7)
    if log_scale(side.task, metric):
        ax.set_yscale("log")
    ax.set_ylabel(f"test {metric_label(side.task, metric)}")
    ax.set_title(f"side grid {grid} ({side.task}): median over seeds, bars = min to max", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    return save(fig, path)


def side_grid_curves(study: Study, side, curves: pd.DataFrame, summary: pd.DataFrame, path: Path, grid: str) -> Path:
    """Each model of the grid (dashed) over the main-grid model it is read against, at the grid's
    shortest length: validation curves, mean over seeds with the min-max band."""
    length = min(side.lengths)
    fig, axes = panel_grid(len(side.models))
    for ax, model in zip(axes, side.models):
        against = side.compares_to[model]
        metric, baseline = cell_metric_and_baseline(summary, side.task, length)
        curves_panel(ax, curves, side.task, length, [against, model], "val_metric", baseline,
                     f"validation {metric_label(side.task, metric)}", log_scale(side.task, metric), dashed=(model,))
        ax.set_title(f"{model} (dashed) vs {against}, {side.task} T={length}", fontsize=9)
    fig.suptitle(f"side grid {grid}: each model beside the one it is read against", fontsize=11)
    return save(fig, path)


def seed_run(root: Path, row) -> FinishedRun | None:
    """A results row's run folder read back (None when it cannot be: collect_results marked it)."""
    try:
        return read_run(row.run_dir, root)
    except UnreadableRun:
        return None


def recall_by_position(study: Study, results: pd.DataFrame, root: Path, path: Path) -> Path | None:
    """Copy memory: test accuracy at each recall position (the last S steps), per model and length,
    every seed thin and the mean thick: where recall breaks down along the copied string."""
    lengths = task_lengths(study, results, "copy")[-3:]  # a searched task: its three longest
    if "copy" not in main_tasks(study) or not lengths:
        return None
    fig, axes = panel_grid(len(lengths), 4.2, 3.4, sharey=True)
    for ax, length in zip(axes, lengths):
        for model in study.models:
            runs = results[(results["task"] == "copy") & (results["model"] == model) & (results["length"] == length)
                           & ~results["failed"]]
            curves = []
            for row in runs.itertuples():
                record = run.record if (run := seed_run(root, row)) else {}
                held = int(record.get("config", {}).get("task", {}).get("options", {}).get("symbols", 10))
                by_position = record.get("test_by_position") or []
                if len(by_position) >= held:
                    curves.append(by_position[-held:])
            for curve in curves:
                ax.plot(np.arange(1, len(curve) + 1), curve, color=colour(model), alpha=0.25, linewidth=0.8)
            if curves:
                ax.plot(np.arange(1, len(curves[0]) + 1), np.mean(curves, axis=0), color=colour(model), linewidth=2,
                        marker="o", markersize=3, label=f"{model} ({len(curves)} seeds)")
        ax.axhline(1 / 8, color="grey", linestyle="--", linewidth=1, label="chance (1/8)")
        ax.set_ylim(0, 1.03)
        ax.set_title(f"copy, T={length}: recall accuracy per position", fontsize=10)
        ax.set_xlabel("recall position (1 = first symbol copied)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    axes[0].legend(fontsize=7)
    return save(fig, path)


def sine_predictions(study: Study, results: pd.DataFrame, root: Path, path: Path) -> Path | None:
    """Tutorial 003's picture, from the study's runs: one test series, the next-value targets and
    each model's predictions (first seed, shortest sine length)."""
    if "sine" not in main_tasks(study):
        return None
    fig, ax = plt.subplots(figsize=(8.0, 4.0))
    lengths = task_lengths(study, results, "sine")
    if not lengths:
        empty_panel(ax, "sine is not in this study's grid")
        return save(fig, path)
    length = lengths[0]
    folder = root / "data" / f"sine-{length}"
    try:
        data = Dataset.load(folder)
    except (OSError, ValueError, KeyError):
        empty_panel(ax, f"no sine data at {folder}")
        return save(fig, path)
    x, y = data.splits["test"]
    steps = np.arange(1, length + 1)
    ax.plot(steps, y[0], color="black", linewidth=2, label="target x(t+1) (noisy)")
    for model in study.models:
        runs = results[(results["task"] == "sine") & (results["model"] == model) & (results["length"] == length)
                       & ~results["failed"] & ~results["diverged"]].sort_values("seed")
        if runs.empty:
            continue
        row = runs.iloc[0]
        run = seed_run(root, row)
        if run is None:
            continue
        spec = run.record.get("config", {}).get("model", {})
        try:
            net = build_network(ModelConfig(spec["name"], spec["hidden_size"], spec["num_layers"]), 1, 1, per_step=True)
            net.load_state_dict(run.weights())
        except (OSError, RuntimeError, KeyError, TypeError, ValueError, UnreadableRun):
            continue
        with torch.no_grad():
            predicted = net.eval()(torch.from_numpy(x[:1]))[0].numpy().reshape(-1)
        ax.plot(steps, predicted, color=colour(model), linewidth=1.3,
                label=f"{model} (seed {int(row.seed)}, test MSE {row.test_metric:.3g})")
    ax.set_xlabel("time step t")
    ax.set_ylabel("value")
    ax.set_title(f"sine, T={length}: next-value predictions on test series 0 against the truth", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return save(fig, path)


def gate_correlations(study: Study, results: pd.DataFrame, root: Path, path: Path) -> Path:
    """Tutorial 003's gate pictures, from a solved LSTM run where memory matters (the longest solved
    length of the first memory task with one): the correlation of the gates' activations over
    every unit, step and traced test sequence, and the cell state's evolution along one sequence."""
    picked = None
    for task in study.task_names():
        if resolve_task(task).memory_task:
            picked = pick_gate_run(results, root, task, "lstm")
            if picked and "c" in picked[2]:
                break
            picked = None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 5.0), gridspec_kw={"width_ratios": [1, 1.8]},
                                      layout="constrained")  # keeps the left panel's title inside the figure
    if picked is None:
        empty_panel(left, "no solved lstm run with gate traces")
        empty_panel(right, "")
        return save(fig, path)
    length, seed, traces = picked
    gates = [g for g in ("i", "f", "g", "o") if g in traces]
    matrix = np.corrcoef(np.stack([traces[g].reshape(-1) for g in gates]))
    image = left.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
    left.set_xticks(range(len(gates)), gates), left.set_yticks(range(len(gates)), gates)
    for (a, b), value in np.ndenumerate(matrix):
        left.text(b, a, f"{value:.2f}", ha="center", va="center", fontsize=9)
    fig.colorbar(image, ax=left, fraction=0.046)
    left.set_title(f"gate correlation (Pearson)\nlstm {task} T={length} seed {seed}", fontsize=9)
    cell = traces["c"][0]  # [T, H]
    spread = np.abs(cell).max(axis=0)
    for unit in np.argsort(spread)[::-1][:GATE_UNITS]:
        right.plot(cell[:, unit], linewidth=1, label=f"unit {unit}")
    right.set_xlabel("time step t")
    right.set_ylabel("cell state c")
    right.set_title(f"cell state along test sequence 0: the {GATE_UNITS} units with the largest |c|", fontsize=9)
    right.legend(fontsize=7)
    right.grid(alpha=0.3)
    return save(fig, path)
