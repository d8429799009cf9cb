"""The report's derived tables, each computed from results.csv's rows (never from run folders), so
a test can recompute every number in report.md from the CSV alone."""
from __future__ import annotations

import math

import pandas as pd

from ..models import MODELS, memory_law
from ..tasks import resolve_task
from .aggregate import KEY
from .statistics import exact_interval, fisher_p, holm, rank_sum_p
from .threshold import estimate_t50, threshold_reading

SOLVED_MAJORITY = 0.5  # "solved at length T" = at least half of the seeds solved it
P_SIGNIFICANT = 0.05

# Censoring of a critical length: what the grid allows us to say.
NOT_CENSORED = "none"          # solved at some tested length, failed at a longer one
ABOVE = "above"                # solved at the longest length tested: the critical length is >= it
BELOW = "below"                # failed at the shortest length tested: < it
SINGLE_LENGTH = "single_length"  # one length tested: no critical length at all


def task_lengths(study, frame: pd.DataFrame, task: str) -> list[int]:
    """The lengths the report reads a task at: its grid's, or for a task only the searches ran,
    every length a main-grid model's runs have in `frame` (results, summary or curves)."""
    grid = study.lengths(task)
    if grid:
        return sorted(grid)
    own = frame[(frame["task"] == task) & frame["model"].isin(study.models)]
    return sorted({int(n) for n in own["length"]})


def is_memory_task(task: str) -> bool:
    """Whether the report reads a critical length for this task (Task.memory_task)."""
    try:
        return resolve_task(task).memory_task
    except Exception:  # noqa: BLE001 -- a task that no longer imports: read it as a memory task
        return True


# Where a critical length comes from (critical_length.csv's `source`): its search, finished or not, or the grid.
SEARCHED = "search"
UNFINISHED = "search, unfinished"  # its search has not found its answer yet: the reading is "so far"
SEARCH_SOURCES = (SEARCHED, UNFINISHED)


def critical_lengths(summary: pd.DataFrame, searched: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per memory task x model (tasks with memory_task False get none), read from its search
    (search_tables.search_lengths) where the study searched it, else from the grid: the bracket (the longest
    length at which at least half the seeds solved the task, and the shortest longer one at which
    fewer did), how the lengths tested censor it, whether solved fractions fall monotonically with
    length (any rise, even 0/5 -> 1/5, is flagged), the threshold T50 with its 95% profile-likelihood
    interval fitted to every completed run (threshold.py), and every tested length's count with its
    exact interval. Cells with no completed run say nothing either way."""
    searched = searched if searched is not None else pd.DataFrame(columns=["task", "model"])
    by_search = set(zip(searched["task"], searched["model"]))
    groups = [(key, group, SEARCHED if group["finished"].all() else UNFINISHED)
              for key, group in searched.groupby(["task", "model"], sort=False)]
    groups += [(key, group, "grid") for key, group in summary.groupby(["task", "model"], sort=False)
               if key not in by_search]
    rows = []
    for (task, model), group, source in groups:
        if not is_memory_task(task):
            continue
        tested = group[group["completed"] > 0].sort_values("length")
        majority = tested.loc[tested["solved_fraction"] >= SOLVED_MAJORITY, "length"]
        none = tested.loc[tested["solved_fraction"] == 0, "length"]
        critical = int(majority.max()) if len(majority) else None
        fractions = tested["solved_fraction"].to_numpy()
        if len(tested) == 0:
            censored = ""
        elif len(tested) == 1:
            censored = SINGLE_LENGTH
        elif critical is None:
            censored = BELOW
        elif critical == int(tested["length"].max()):
            censored = ABOVE
        else:
            censored = NOT_CENSORED
        above = tested.loc[(tested["length"] > (critical or 0)) & (tested["solved_fraction"] < SOLVED_MAJORITY), "length"]
        threshold = estimate_t50(tested["length"].tolist(), tested["solved"].tolist(), tested["completed"].tolist())
        rows.append({
            "task": task, "model": model,
            "critical_length": critical,
            "censored": censored,
            "reading": critical_reading(critical, censored, tested),
            "first_length_none_solved": int(none.min()) if len(none) else None,
            "shortest_tested": int(tested["length"].min()) if len(tested) else None,
            "longest_tested": int(tested["length"].max()) if len(tested) else None,
            "monotone": bool((fractions[1:] <= fractions[:-1]).all()),
            # the failure that bounds the reading is the one a budget could decide
            "budget_limited": bool(tested.loc[tested["length"] == above.min(), "budget_limited"].any())
                              if len(above) and "budget_limited" in tested else False,
            "bracket_failed": int(above.min()) if len(above) else None,
            "t50": threshold.t50, "t50_low": threshold.low, "t50_high": threshold.high,
            "t50_censored": threshold.censored, "t50_reading": threshold_reading(threshold),
            "tested": tested_counts(tested), "source": source,
            "lrs": lr_by_length(tested) if source in SEARCH_SOURCES else "",
        })
    return pd.DataFrame(rows, columns=CRITICAL_COLUMNS)


CRITICAL_COLUMNS = ["task", "model", "critical_length", "censored", "reading", "first_length_none_solved",
                    "shortest_tested", "longest_tested", "monotone", "budget_limited", "bracket_failed",
                    "t50", "t50_low", "t50_high", "t50_censored", "t50_reading", "tested", "source", "lrs"]


def lr_by_length(tested: pd.DataFrame) -> str:
    """The lr each searched length trained with, `(bound)` where the sweep ended at a stated bound,
    `-> lr (confirmed)` where its confirmation ran at another lr (search_lengths' `relearnt`), and
    ` and lr (the shorter bound's)` where a second confirmation ran at the lr the shorter bound was
    solved at, `counted` where the length counts its seeds (`by_lower`)."""
    def confirmed(r) -> str:
        first = f" -> {r.confirm_lr:g} (confirmed)" if getattr(r, "relearnt", False) else ""
        second = getattr(r, "lower_lr", None)
        if second is None or not getattr(r, "at_lower", 0):
            return first
        return f"{first} and {second:g} (the shorter bound's{', counted' if r.by_lower else ''})"
    return "; ".join(f"{r.length}: {r.lr:g}{' (bound)' if r.lr_at_bound else ''}{confirmed(r)}" for r in tested.itertuples())


def tested_counts(tested: pd.DataFrame) -> str:
    """Each tested length's solved count with its exact 95% interval: `10: 5/5 [0.48, 1]; 50: 0/5 [0, 0.52]`."""
    parts = []
    for r in tested.itertuples():
        low, high = exact_interval(int(r.solved), int(r.completed))
        parts.append(f"{r.length}: {int(r.solved)}/{int(r.completed)} [{low:.2g}, {high:.2g}]")
    return "; ".join(parts)


def critical_reading(critical: int | None, censored: str, tested: pd.DataFrame) -> str:
    """The critical length as the report prints it: "≥ 200", "< 10", "not determined", or the length."""
    if censored == "":
        return "not measured"
    if censored == SINGLE_LENGTH:
        return "not determined"
    if censored == BELOW:
        return f"< {int(tested['length'].min())}"
    if censored == ABOVE:
        return f"≥ {critical}"
    return str(critical)


def contrasts(study, summary: pd.DataFrame, results: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every pair of main-grid models at every length both ran: solved counts with the two-sided
    Fisher exact p, and the completed seeds' test metric with the exact rank-sum (Mann-Whitney) p.
    The pairs params declare (`primary_contrasts`) are one family: both tests of each, Holm-adjusted
    (`p_holm`, the smaller of its two). Every other row is exploratory and its p is unadjusted."""
    rows = []
    main = summary[summary["model"].isin(study.models)]
    primary = {(t, n, frozenset((a, b))) for t, n, a, b in getattr(study, "primary_contrasts", ())}
    for (task, length), group in main.groupby(["task", "length"], sort=False):
        cells = {r.model: r for r in group.itertuples()}
        ordered = [m for m in study.models if m in cells]
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                ra, rb = cells[a], cells[b]
                rows.append({"task": task, "length": int(length), "model_a": a, "solved_a": int(ra.solved),
                             "seeds_a": int(ra.seeds), "model_b": b, "solved_b": int(rb.solved),
                             "seeds_b": int(rb.seeds),
                             "p_value": fisher_p(int(ra.solved), int(ra.seeds), int(rb.solved), int(rb.seeds)),
                             "metric_p": metric_p(results, task, int(length), a, b),
                             "family": "primary" if (task, int(length), frozenset((a, b))) in primary else "exploratory"})
    frame = pd.DataFrame(rows, columns=CONTRAST_COLUMNS[:-1])
    family = frame.index[frame["family"] == "primary"]
    tests = [*frame.loc[family, "p_value"], *frame.loc[family, "metric_p"].fillna(1.0)]
    adjusted = holm(tests)
    frame["p_holm"] = math.nan
    for k, row in enumerate(family):
        frame.loc[row, "p_holm"] = min(adjusted[k], adjusted[k + len(family)])
    return frame[CONTRAST_COLUMNS]


CONTRAST_COLUMNS = ["task", "length", "model_a", "solved_a", "seeds_a", "model_b", "solved_b", "seeds_b", "p_value",
                    "metric_p", "family", "p_holm"]


def metric_p(results: pd.DataFrame | None, task: str, length: int, a: str, b: str) -> float:
    """The exact rank-sum p of two models' completed seeds' test metric at one length (nan without results)."""
    if results is None:
        return math.nan
    own = results[(results["task"] == task) & (results["length"] == length) & ~results["failed"] & ~results["diverged"]]
    return rank_sum_p(own.loc[own["model"] == a, "test_metric"].astype(float),
                      own.loc[own["model"] == b, "test_metric"].astype(float))


def half_life(rate: float) -> float:
    """Steps over which the gradient halves going back in time, from the fitted decay rate; inf
    when it does not decay (rate <= 0): "no decay", never a missing value."""
    if rate is None or not math.isfinite(rate):
        return math.nan
    return math.log(2) / rate if rate > 0 else math.inf


NON_EXPONENTIAL_R2 = 0.9  # below: one exponential does not describe the curve; its half-life is marked

DECAY_PHASES = ("init", "trained")


def gradient_decay(results: pd.DataFrame) -> pd.DataFrame:
    """Per task x model x length x outcome (solved / unsolved seeds apart), medians over seeds of the
    gradient half-life (from the fitted decay rate), the fit's R², and ||dL/dh_0|| / ||dL/dh_T||, at
    initialisation and trained. Medians, because the ratio spans tens of orders of magnitude.
    `runs` counts the seeds whose gradient was measured (a model that cannot unroll has none)."""
    rows = []
    measured = results[pd.to_numeric(results["grad_decay_rate_init"], errors="coerce").notna()]
    for (task, model, length, solved), group in measured.groupby([*KEY, "solved"], sort=False):
        row = {"task": task, "model": model, "length": int(length), "outcome": "solved" if solved else "unsolved"}
        for phase in DECAY_PHASES:
            rates = pd.to_numeric(group[f"grad_decay_rate_{phase}"], errors="coerce").dropna()
            row[f"half_life_{phase}"] = half_life(float(rates.median())) if len(rates) else math.nan
            r2 = pd.to_numeric(group[f"grad_fit_r2_{phase}"], errors="coerce").dropna()
            row[f"fit_r2_{phase}"] = float(r2.median()) if len(r2) else math.nan
            ratio = pd.to_numeric(group[f"grad_ratio_first_last_{phase}"], errors="coerce").dropna()
            row[f"ratio_{phase}"] = float(ratio.median()) if len(ratio) else math.nan
        row["runs"] = len(group)
        rows.append(row)
    return pd.DataFrame(rows, columns=DECAY_TABLE_COLUMNS)


DECAY_TABLE_COLUMNS = ["task", "model", "length", "outcome", "half_life_init", "half_life_trained", "fit_r2_init",
                       "fit_r2_trained", "ratio_init", "ratio_trained", "runs"]


def memory_law_exact(model: str) -> bool:
    """Whether the model's law equals its gradient by construction (a diagonal recurrence whose factor
    depends on the input only: minGRU, minLSTM, the LRU): law / measured = 1 then checks the code only."""
    return bool(getattr(MODELS.resolve(model), "memory_law_exact", False))


def memory_laws(results: pd.DataFrame, critical: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per task x model x length, for every model with a memory law (its per-unit factor by its
    equations: prod f_t, |lambda|^t, ...): the half-life of the law's prediction beside the measured
    half-life of the gradient on the state the law governs (c for an LSTM, else h), both from the
    same fit, medians over seeds, at initialisation and trained. `law_over_measured` > 1: the law
    promises a longer memory than the gradient has (what it leaves out shortens it); where the law is
    exact by construction (`law_exact`) it is 1 and says nothing. What can differ, and so informs:
    the trained half-life against the task x model's T50 from critical_length.csv
    (`half_life_over_t50` < 1: the model solves lengths longer than its gradient's half-life)."""
    rows = []
    if "grad_law_decay_rate_trained" not in results:
        return pd.DataFrame(columns=MEMORY_LAW_COLUMNS)
    have = results[pd.to_numeric(results["grad_law_decay_rate_init"], errors="coerce").notna()]
    for (task, model, length), group in have.groupby(KEY, sort=False):
        row = {"task": task, "model": model, "length": int(length), "law": memory_law(model)}
        for phase in DECAY_PHASES:
            for source, column in (("measured", "grad_state_decay_rate"), ("law", "grad_law_decay_rate")):
                rates = pd.to_numeric(group[f"{column}_{phase}"], errors="coerce").dropna()
                row[f"{source}_half_life_{phase}"] = half_life(float(rates.median())) if len(rates) else math.nan
        measured, law = row["measured_half_life_trained"], row["law_half_life_trained"]
        row["law_over_measured"] = (law / measured if math.isfinite(measured) and measured > 0 and math.isfinite(law)
                                    else math.nan)
        row["law_exact"] = memory_law_exact(model)
        t50 = math.nan
        if critical is not None and len(critical):
            own = critical[(critical["task"] == task) & (critical["model"] == model)]
            t50 = float(own["t50"].iloc[0]) if len(own) and pd.notna(own["t50"].iloc[0]) else math.nan
        row["t50"] = t50
        row["half_life_over_t50"] = measured / t50 if math.isfinite(t50) and t50 > 0 else math.nan
        row["runs"] = len(group)
        rows.append(row)
    return pd.DataFrame(rows, columns=MEMORY_LAW_COLUMNS)


MEMORY_LAW_COLUMNS = ["task", "model", "length", "law", "measured_half_life_init", "law_half_life_init",
                      "measured_half_life_trained", "law_half_life_trained", "law_over_measured", "law_exact", "t50",
                      "half_life_over_t50", "runs"]


def gradient_ratio_course(study, results: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Per task at its longest length, per model: the median over seeds of ‖∂L/∂h₀‖/‖∂L/∂h_T‖ at
    initialisation, at the solved seeds' solve step, and at each run's last evaluation."""
    rows = []
    for task in study.task_names():
        if not task_lengths(study, results, task):
            continue
        length = max(task_lengths(study, results, task))
        for model in study.models:
            runs = results[(results["task"] == task) & (results["model"] == model) & (results["length"] == length)
                           & ~results["failed"]]
            own = curves[(curves["task"] == task) & (curves["model"] == model) & (curves["length"] == length)]
            if runs.empty or own.empty or own["grad_ratio"].isna().all():
                continue
            at_solve, at_end = [], []
            for run in runs.itertuples():
                seed = own[own["seed"] == run.seed].sort_values("step")
                if seed.empty:
                    continue
                at_end.append(float(seed["grad_ratio"].iloc[-1]))
                if run.solved and not pd.isna(run.solved_step):
                    hit = seed.loc[seed["step"] == run.solved_step, "grad_ratio"]
                    at_solve += [float(hit.iloc[0])] if len(hit) else []
            init = pd.to_numeric(runs["grad_ratio_first_last_init"], errors="coerce").dropna()
            rows.append({"task": task, "model": model, "length": length, "seeds": len(runs),
                         "solved": int(runs["solved"].sum()),
                         "ratio_init": float(init.median()) if len(init) else math.nan,
                         "ratio_at_solve": float(pd.Series(at_solve).median()) if at_solve else math.nan,
                         "ratio_at_end": float(pd.Series(at_end).median()) if at_end else math.nan})
    return pd.DataFrame(rows, columns=["task", "model", "length", "seeds", "solved", "ratio_init", "ratio_at_solve",
                                       "ratio_at_end"])


def seed_table(runs: pd.DataFrame, column: str, hold_last: bool = True) -> pd.DataFrame:
    """[step x seed] values of one cell's runs. With hold_last, a run that stopped early (solved)
    holds its last value to the end, so averages are not taken over fewer and fewer runs; without
    it (quantities of the training process itself) a stopped run simply ends."""
    table = runs.pivot_table(index="step", columns="seed", values=column).sort_index()
    return table.ffill() if hold_last else table


def cell_metric_and_baseline(summary: pd.DataFrame, task: str, length: int) -> tuple[str, float | None]:
    """The headline metric's name and the chance baseline of one task at one length."""
    rows = summary[(summary["task"] == task) & (summary["length"] == length)]
    metric = rows["metric"].dropna()
    baseline = rows["baseline"].dropna()
    return (metric.iloc[0] if len(metric) else "metric"), (float(baseline.iloc[0]) if len(baseline) else None)


def mean_learning_curves(study, summary: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """`dvc plots show` data: each task's validation curve at its longest length, mean over seeds
    per model (a run that stopped early holds its last value)."""
    frames = []
    for task in study.task_names():
        if not task_lengths(study, curves, task):
            continue
        length = max(task_lengths(study, curves, task))
        cell = curves[(curves["task"] == task) & (curves["length"] == length) & curves["model"].isin(study.models)]
        _, baseline = cell_metric_and_baseline(summary, task, length)
        for model, runs in cell.groupby("model", sort=False):
            mean = seed_table(runs, "val_metric").mean(axis=1)
            frames.append(pd.DataFrame({"panel": f"{task} T={length}", "model": model, "step": mean.index,
                                        "val_metric": mean.to_numpy(),
                                        "baseline": math.nan if baseline is None else baseline}))
    columns = ["panel", "model", "step", "val_metric", "baseline"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def metric_by_length(study, summary: pd.DataFrame) -> pd.DataFrame:
    """`dvc plots show` data: final test metric per model against length, median and range over seeds."""
    rows = summary[summary["model"].isin(study.models) & (summary["completed"] > 0)]
    frame = pd.DataFrame({"panel": rows["task"] + " (" + rows["metric"] + ")", "model": rows["model"],
                          "length": rows["length"], "median": rows["median"], "low": rows["min"], "high": rows["max"],
                          "baseline": rows["baseline"]})
    return frame.reset_index(drop=True)


def plot_files(study, summary: pd.DataFrame, curves: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """`dvc plots show` data, one file per task (its own axes), under a folder per template:
    plots/length_<scale>/<task>.csv and plots/curves_<scale>/<task>.csv, scale `log` where the
    task's headline metric declares that its values span decades (MSE, cross-entropy), else `linear`
    (accuracy, bits per character). A study with no task of one kind leaves that folder out, and
    `dvc plots show` then warns that it found nothing there."""
    lengths, learning = metric_by_length(study, summary), mean_learning_curves(study, summary, curves)
    files = {}
    for task in study.task_names():
        by_length = lengths[lengths["panel"].str.startswith(f"{task} (")]
        during = learning[learning["panel"].str.startswith(f"{task} T=")]
        scale = "log" if resolve_task(task).headline.log_scale else "linear"
        files[f"plots/length_{scale}/{task}.csv"] = by_length.reset_index(drop=True)
        files[f"plots/curves_{scale}/{task}.csv"] = during.reset_index(drop=True)
    return files
