"""The tutorials' claims (claims.yaml), each measured from the report's tables and given a verdict.

Every measure reads only summary.csv, critical_length.csv, gradient_decay.csv, contrasts.csv and
gate_statistics.csv (never the run folders), so a test recomputes claims.csv from the committed
tables alone. A
measure returns (measured, verdict, note): what the study saw, in words and numbers; one of
VERDICTS; and what the verdict rests on or depends on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import yaml

from ..tasks import resolve_task
from .gate_tables import MEMORY_UNITS
from .statistics import fisher_p
from .tables import P_SIGNIFICANT, SOLVED_MAJORITY, is_memory_task

CLAIMS_FILE = Path(__file__).with_name("claims.yaml")
CONFIRMED, REFUTED, DEPENDS, NOT_MEASURED = "confirmed", "refuted", "depends", "not measured"
CANNOT_TELL = "cannot tell"  # neither shown nor refuted: "no significant difference" is never "similar"
ILLUSTRATION = "illustration"  # a toy example's numbers: measured and shown, not judged
VERDICTS = (CONFIRMED, REFUTED, DEPENDS, CANNOT_TELL, ILLUSTRATION, NOT_MEASURED)
KINDS = ("measured claim", "illustration", "ambiguous")
COLUMNS = ["id", "claim", "source", "kind", "measured", "verdict", "note"]


@dataclass(frozen=True)
class Tables:
    summary: pd.DataFrame
    critical: pd.DataFrame
    decay: pd.DataFrame
    contrasts: pd.DataFrame
    n_train: int
    gates: pd.DataFrame = field(default_factory=pd.DataFrame)  # gate_tables.gate_table: a row per traced run
    speed: pd.DataFrame = field(default_factory=pd.DataFrame)  # reports/speed.csv: the controlled benchmark
    searched: pd.DataFrame = field(default_factory=pd.DataFrame)  # search_lengths.csv: a row per searched length

    def cell(self, task: str, model: str, length: int):
        rows = self.summary[(self.summary["task"] == task) & (self.summary["model"] == model)
                            & (self.summary["length"] == length) & (self.summary["completed"] > 0)]
        return rows.iloc[0] if len(rows) else None

    def memory_tasks(self) -> list[str]:
        return [t for t in dict.fromkeys(self.summary["task"]) if is_memory_task(t)]


def inside(value: float, low: float, high: float) -> str:
    return CONFIRMED if low <= value <= high else REFUTED


def fmt(value: float, digits: int = 3) -> str:
    return "∞" if value == math.inf else f"{value:.{digits}g}"


# --- measures --------------------------------------------------------------------------------
def at_baseline(t: Tables, task, model, length, tolerance):
    """"Stuck at the baseline" = learnt nothing usable: no seed solved, and the median is not better
    than chance by more than `tolerance` (a test loss at or above chance is what guessing gives)."""
    row = t.cell(task, model, length)
    if row is None:
        return f"no {model} run at {task} T={length}", NOT_MEASURED, ""
    higher = resolve_task(task).headline.higher_is_better
    better = (row["median"] / row["baseline"] - 1) * (1 if higher else -1)  # > 0: better than chance
    measured = (f"{model} {task} T={length}: median test {row['metric']} {fmt(row['median'])} vs chance "
                f"{fmt(row['baseline'])} ({abs(better):.0%} {'better' if better > 0 else 'worse'}), "
                f"{int(row['solved'])}/{int(row['seeds'])} solved")
    return measured, CONFIRMED if better <= tolerance and row["solved"] == 0 else REFUTED, \
        f"no seed solved and not more than {tolerance:.0%} better than chance"


def solves_within_epochs(t: Tables, task, model, length, epochs):
    row = t.cell(task, model, length)
    if row is None:
        return f"no {model} run at {task} T={length}", NOT_MEASURED, ""
    solved = int(row["solved"])
    steps = row["median_steps_to_solve"]
    used = steps * row["batch_size"] / t.n_train if solved else math.nan
    measured = (f"{model} {task} T={length}: {solved}/{int(row['seeds'])} solved; median "
                f"{fmt(steps, 4)} steps = {fmt(used, 2)} epochs of {t.n_train} samples" if solved else
                f"{model} {task} T={length}: 0/{int(row['seeds'])} solved in {int(row['max_steps'])} steps")
    ok = solved / row["seeds"] >= SOLVED_MAJORITY and used <= epochs
    return measured, CONFIRMED if ok else REFUTED, f"at least half the seeds solve within {epochs} epochs"


def init_ratio(t: Tables, task: str, model: str, length: int) -> float | None:
    """‖∂L/∂h₀‖/‖∂L/∂h_T‖ at initialisation, median over the cell's runs (gradient_decay.csv's
    outcome groups pooled by their run counts)."""
    rows = t.decay[(t.decay["task"] == task) & (t.decay["model"] == model) & (t.decay["length"] == length)]
    rows = rows[rows["ratio_init"].notna() & (rows["ratio_init"] > 0)]
    if rows.empty:
        return None
    return float(rows.loc[rows["runs"].idxmax(), "ratio_init"])


def variant_fails_like(t: Tables, variant, like, reference="lstm"):
    """Two halves, each measured: the gradient vanishes at init like `like`'s (its ratio lies
    nearer, on a log scale, to `like`'s than to the `reference` model's), and so the variant fails
    like it (fewer than half its seeds solve). Both: confirmed; neither: refuted; one: depends."""
    rows = t.summary[t.summary["model"] == variant]
    if rows.empty:
        return f"no {variant} run", NOT_MEASURED, ""
    row = rows.iloc[0]
    task, length = row["task"], int(row["length"])
    other = t.cell(task, like, length)
    measured = f"{variant} {task} T={length}: {int(row['solved'])}/{int(row['seeds'])} solved"
    if other is not None:
        measured += f"; {like}: {int(other['solved'])}/{int(other['seeds'])}"
    fails = row["solved_fraction"] < SOLVED_MAJORITY
    ratios = {m: init_ratio(t, task, m, length) for m in (variant, like, reference)}
    note = f"tested at T={length} (the claim names 100) with forget bias 0 and the LSTM's lr"
    if None in ratios.values():
        return measured, CONFIRMED if fails else REFUTED, note + "; no gradient ratio at init to test the vanishing"
    measured += ("; ‖∂L/∂h₀‖/‖∂L/∂h_T‖ at init: " + ", ".join(f"{m} {ratios[m]:.2g}" for m in ratios))
    logs = {m: math.log10(v) for m, v in ratios.items()}
    vanishes = abs(logs[variant] - logs[like]) < abs(logs[variant] - logs[reference])
    verdict = CONFIRMED if vanishes and fails else REFUTED if not vanishes and not fails else DEPENDS
    halves = (f"the gradient {'does' if vanishes else 'does not'} vanish at init as the {like}'s does "
              f"(nearer its ratio than the {reference}'s with forget bias 1), and the model "
              f"{'fails' if fails else 'still learns'}")
    return measured, verdict, f"{note}; {halves}"


def accuracy_pair(t: Tables, task, low_model, low, tolerance, high_model, high, claimed_range):
    """Two halves, each read at the lengths the claim names (`claimed_range`, inclusive) over every
    length the model ran there: `low_model` at chance (median accuracy within `tolerance` of `low`)
    and `high_model` at `high` or better. A half measured and failed refutes the claim; both
    measured and holding confirm it; a half with no length in the range is not measured there."""
    lo, hi = claimed_range
    own = t.summary[(t.summary["task"] == task) & (t.summary["completed"] > 0)]
    halves, parts = {}, []
    for model, holds in ((low_model, lambda m: abs(m - low) <= tolerance), (high_model, lambda m: m >= high)):
        rows = own[(own["model"] == model) & own["length"].between(lo, hi)].sort_values("length")
        if rows.empty:
            ran = own.loc[own["model"] == model, "length"]
            parts.append(f"{model}: no length in {lo}-{hi}" + (f" (longest run T={int(ran.max())}, median accuracy "
                                                                 f"{fmt(own[(own['model'] == model) & (own['length'] == ran.max())]['median'].iloc[0])})"
                                                                 if len(ran) else ""))
            continue
        halves[model] = all(holds(m) for m in rows["median"])
        parts.append(f"{model} median accuracy " + ", ".join(f"T={int(r.length)}: {fmt(r.median)}" for r in rows.itertuples()))
    measured = f"{task}, T in {lo}-{hi}: " + "; ".join(parts)
    note = (f"read at the lengths the claim names ({lo}-{hi} steps apart), at the study's budgets and each length's "
            f"own lr where a search ran it; {low_model} at chance means within {tolerance} of {low}, {high_model} at "
            f"{high} or better, at every length it ran there")
    if not halves:
        return measured, NOT_MEASURED, note
    if not all(halves.values()):
        return measured, REFUTED, note
    return measured, CONFIRMED if len(halves) == 2 else NOT_MEASURED, note


def gradient_factor(t: Tables, task, pairs, tolerance):
    """The per-step factor exp(-rate) of ||dL/dh_t||, trained models, at every length of the task
    with a fit (never one chosen cell): confirmed when every length's factor is within `tolerance`
    of the claim's, refuted when none is, depends otherwise."""
    rows = t.decay[t.decay["task"] == task]
    if rows.empty:
        return f"no gradient measurement on {task}", NOT_MEASURED, ""
    parts, inside_ = [], []
    for model, claimed in pairs.items():
        own = rows[rows["model"] == model]
        factors = {}
        for length, group in own.groupby("length"):
            half = float(pd.to_numeric(group["half_life_trained"]).median())
            if not math.isnan(half):
                factors[int(length)] = 0.5 ** (1 / half) if half > 0 else 0.0
        if not factors:
            return f"no {model} gradient fit on {task}", NOT_MEASURED, ""
        parts.append(f"{model} " + ", ".join(f"T={n}: {fmt(f)}" for n, f in sorted(factors.items())))
        inside_ += [abs(f - claimed) <= tolerance for f in factors.values()]
    measured = f"{task}, trained, per-step factor by length: " + "; ".join(parts)
    verdict = CONFIRMED if all(inside_) else REFUTED if not any(inside_) else DEPENDS
    return measured, verdict, f"within ±{tolerance} of the claimed factor at every length with a fit"


def gate_mean(t: Tables, model, gate, low, high):
    column = f"gate_{gate}_mean"
    rows = t.summary[(t.summary["model"] == model) & t.summary["task"].isin(t.memory_tasks())]
    if column not in rows or rows[column].dropna().empty:
        return f"no {model} gate {gate} measurement", NOT_MEASURED, ""
    values = rows.dropna(subset=[column])
    by_task = values.groupby("task")[column].median()
    measured = f"{model} mean {gate} gate (median over cells): " + ", ".join(f"{k} {v:.2f}" for k, v in by_task.items())
    inside_all = ((by_task >= low) & (by_task <= high))
    if inside_all.all():
        return measured, CONFIRMED, f"every memory task inside [{low}, {high}]"
    if not inside_all.any():
        return measured, REFUTED, f"no memory task inside [{low}, {high}]"
    return measured, DEPENDS, f"on the task: inside [{low}, {high}] for {', '.join(by_task.index[inside_all])} only"


def collapse_between(t: Tables, model, low, high):
    """Per memory task, the model's T50 (the length it solves with probability 1/2) and its 95%
    interval against the claimed range: refuted when the interval misses [low, high], confirmed
    when the estimate lies inside it, depends otherwise (the interval is too wide to tell)."""
    rows = t.critical[(t.critical["model"] == model) & t.critical["task"].isin(t.memory_tasks())]
    if rows.empty:
        return f"no {model} critical length", NOT_MEASURED, ""
    parts, verdicts = [], []
    for row in rows.itertuples():
        parts.append(f"{row.task}: T50 {row.t50_reading}")
        if row.t50_high < low or row.t50_low > high:
            verdicts.append(REFUTED)
        elif not pd.isna(row.t50) and low <= row.t50 <= high:
            verdicts.append(CONFIRMED)
        else:
            verdicts.append(DEPENDS)
    verdict = verdicts[0] if len(set(verdicts)) == 1 else DEPENDS
    note = ("T50's 95% interval against the claimed range, per memory task: "
            + ", ".join(f"{r.task} {v}" for r, v in zip(rows.itertuples(), verdicts)))
    return "; ".join(parts), verdict, note


def speed_ratio(t: Tables, slow, fast, low, high, basis="measured"):
    """How much faster `fast` trains than `slow`, from the controlled benchmark (reports/speed.csv:
    each model alone on one thread, never the study's runs). basis "measured": steps/s(fast) /
    steps/s(slow), what a kernel on this machine gives; "architecture": macs(slow) / macs(fast),
    the multiply-adds per step, which no kernel changes. Both are shown; `basis` is judged."""
    rows = t.speed.set_index("model") if not t.speed.empty else pd.DataFrame()
    if slow not in rows.index or fast not in rows.index:
        return f"no speed benchmark of both {slow} and {fast}", NOT_MEASURED, ""
    a, b = rows.loc[slow], rows.loc[fast]
    measured_ratio = float(b["steps_per_s"] / a["steps_per_s"])
    cost_ratio = float(a["macs_per_step"] / b["macs_per_step"])
    measured = (f"alone on one thread ({a['task']} T={int(a['length'])}, hidden {int(a['hidden_size'])}, batch "
                f"{int(a['batch_size'])}): {fast} trains {fmt(measured_ratio)}x as many steps/s as {slow}; its cell "
                f"does {fmt(1 / cost_ratio)}x the multiply-adds per step (so {fmt(cost_ratio)}x as fast by "
                f"arithmetic alone)")
    ratio = measured_ratio if basis == "measured" else cost_ratio
    note = (f"judged on {'the measured speed (this CPU, torch ' + str(a['torch']) + '; a GPU or another kernel changes it)' if basis == 'measured' else 'the arithmetic per step (the architecture; the measured speed is the kernel)'}"
            f"; host calibration {fmt(float(a['calibration_s']))} s")
    return measured, inside(ratio, low, high), note


def parameter_ratio(t: Tables, larger, smaller, low, high):
    """n_params(larger) / n_params(smaller) in every cell both trained."""
    a = t.summary[t.summary["model"] == larger][["task", "length", "n_params"]]
    b = t.summary[t.summary["model"] == smaller][["task", "length", "n_params"]]
    both = a.merge(b, on=["task", "length"], suffixes=("_l", "_s")).dropna()
    if both.empty:
        return f"no cell with both {larger} and {smaller}", NOT_MEASURED, ""
    ratios = sorted(set((both["n_params_l"] / both["n_params_s"]).round(3)))
    measured = (f"{larger}/{smaller} parameters: {fmt(min(ratios))}" + (f" to {fmt(max(ratios))}" if len(ratios) > 1 else "")
                + f" over {len(both)} cells (the task's input and output sizes vary)")
    verdicts = {inside(r, low, high) for r in ratios}
    return measured, verdicts.pop() if len(verdicts) == 1 else DEPENDS, \
        "the recurrent weights alone give exactly 4 (LSTM/RNN) and 4/3 (LSTM/GRU); input and output layers move it"


def no_significant_difference(t: Tables, a, b):
    """"Similar performance": refuted where a contrast on a memory task tells them apart (solved
    counts or the seeds' test metric, two-sided p < 0.05); otherwise "cannot tell": with no
    equivalence margin stated by the claim, the absence of a difference confirms nothing."""
    pairs = t.contrasts[(((t.contrasts["model_a"] == a) & (t.contrasts["model_b"] == b))
                         | ((t.contrasts["model_a"] == b) & (t.contrasts["model_b"] == a)))
                        & t.contrasts["task"].isin(t.memory_tasks())]
    if pairs.empty:
        return f"no {a}/{b} contrast", NOT_MEASURED, ""
    metric = pairs["metric_p"] if "metric_p" in pairs else pd.Series(math.nan, index=pairs.index)
    different = pairs[(pairs["p_value"] < P_SIGNIFICANT) | (metric < P_SIGNIFICANT)]
    measured = (f"{len(pairs)} {a}-vs-{b} lengths on memory tasks; {len(different)} where solved counts (Fisher) or "
                f"the seeds' test metric (rank-sum) differ at p < {P_SIGNIFICANT}"
                + ("" if different.empty else ": " + ", ".join(f"{r.task} T={r.length}" for r in different.itertuples())))
    return measured, CANNOT_TELL if different.empty else REFUTED, \
        (f"{int(pairs['seeds_a'].max())} seeds, unadjusted; the claim states no margin, so no difference found "
         "cannot confirm it")


def perplexity(t: Tables, ranges):
    rows = t.summary[t.summary["task"] == "charlm"]
    if rows.empty:
        return "no charlm run", NOT_MEASURED, ""
    length = int(rows["length"].max())
    parts, verdicts = [], []
    for model, (low, high) in ranges.items():
        row = t.cell("charlm", model, length)
        if row is None:
            return f"no {model} charlm run", NOT_MEASURED, ""
        ppl = 2 ** row["median"]
        parts.append(f"{model} {fmt(ppl)} (bpc {fmt(row['median'])})")
        verdicts.append(inside(ppl, low, high))
    verdict = verdicts[0] if len(set(verdicts)) == 1 else REFUTED
    return f"charlm T={length}, per-character perplexity 2^bpc: " + "; ".join(parts), verdict, \
        "our corpus, hidden size and budget; the tutorial names none of its own"


def outlasts(t: Tables, models, baseline):
    """On every memory task, each gated model beats the baseline at some length shared by both: a
    contrast significant in its favour on solved counts or on the seeds' test metric
    (contrast_winner), as every comparison of the report reads them (exploratory, unadjusted)."""
    parts, verdicts = [], []
    for task in t.memory_tasks():
        base = t.critical[(t.critical["task"] == task) & (t.critical["model"] == baseline)]
        if base.empty:
            continue
        for model in models:
            row = t.critical[(t.critical["task"] == task) & (t.critical["model"] == model)]
            if row.empty:
                continue
            c = t.contrasts[(t.contrasts["task"] == task) & t.contrasts["model_a"].isin([model, baseline])
                            & t.contrasts["model_b"].isin([model, baseline])]
            wins = [r for r in c.itertuples() if contrast_winner(t, r) == model]
            parts.append(f"{task} {model} {row.iloc[0]['reading']} vs {baseline} {base.iloc[0]['reading']}"
                         f" ({len(wins)} length(s) with p < {P_SIGNIFICANT})")
            verdicts.append(bool(wins))
    if not verdicts:
        return "no memory task with both", NOT_MEASURED, ""
    return "; ".join(parts), CONFIRMED if all(verdicts) else (REFUTED if not any(verdicts) else DEPENDS), \
        ("a contrast in the gated model's favour at p < 0.05 (solved counts or the seeds' test metric, unadjusted) "
         "on every memory task, at the lengths both ran")


def gate_correlation(t: Tables, model, a, b, low, high):
    """Pearson's r between two gates' activations (every unit, step and traced test sequence), per
    memory task the median over the model's solved runs: inside [low, high] on every task or none."""
    column = f"corr_{a}_{b}"
    if t.gates.empty or column not in t.gates:
        return f"no {model} gate traces", NOT_MEASURED, ""
    rows = t.gates[(t.gates["model"] == model) & t.gates["solved"] & t.gates["task"].isin(t.memory_tasks())]
    by_task = rows.dropna(subset=[column]).groupby("task")[column].median()
    if by_task.empty:
        return f"no solved {model} run with gate traces on a memory task", NOT_MEASURED, ""
    counts = rows.groupby("task").size()
    measured = f"{model} r({a}, {b}), median over solved runs: " + ", ".join(
        f"{task} {r:+.2f} ({counts[task]} runs)" for task, r in by_task.items())
    ok = (by_task >= low) & (by_task <= high)
    verdict = CONFIRMED if ok.all() else REFUTED if not ok.any() else DEPENDS
    return measured, verdict, f"inside [{low}, {high}] on every memory task; traced on 4 test sequences per run"


def memory_forget_gate(t: Tables, model, low, high):
    """The forget gate of the units that carry the memory (gate_tables.memory_units: the units the
    marked inputs write to most), from the first marker on, median over the model's solved runs per
    task with markers; beside it the all-unit mean, which mixes in units the task never uses."""
    if t.gates.empty or "gate_f_memory_units" not in t.gates:
        return f"no {model} gate traces", NOT_MEASURED, ""
    rows = t.gates[(t.gates["model"] == model) & t.gates["solved"]].dropna(subset=["gate_f_memory_units"])
    if rows.empty:
        return f"no solved {model} run with marked inputs and gate traces", NOT_MEASURED, ""
    by_task = rows.groupby(["task", "length"]).agg(memory=("gate_f_memory_units", "median"),
                                                  every=("gate_f_mean", "median"), runs=("seed", "size"))
    measured = f"{model} forget gate, median over solved runs: " + "; ".join(
        f"{task} T={length}: memory units {r.memory:.3f}, all units {r.every:.3f} ({int(r.runs)} runs)"
        for (task, length), r in by_task.iterrows())
    ok = (by_task["memory"] >= low) & (by_task["memory"] <= high)
    verdict = CONFIRMED if ok.all() else REFUTED if not ok.any() else DEPENDS
    return measured, verdict, (f"the {MEMORY_UNITS} units the marked inputs write to most, inside [{low}, {high}] at every "
                               "length; traced on 4 test sequences per run")


def steps_to_solve_ratio(t: Tables, slow, fast, low, high):
    """"Converges N x faster": median steps to solve of `slow` over `fast`, at every length of a
    memory task where both solved with at least half their seeds (each at its own tuned lr)."""
    both = t.summary[t.summary["task"].isin(t.memory_tasks()) & (t.summary["solved_fraction"] >= SOLVED_MAJORITY)]
    a = both[both["model"] == slow].set_index(["task", "length"])["median_steps_to_solve"]
    b = both[both["model"] == fast].set_index(["task", "length"])["median_steps_to_solve"]
    pairs = pd.concat([a, b], axis=1, keys=["slow", "fast"]).dropna()
    if pairs.empty:
        return f"no memory-task length solved by both {slow} and {fast}", NOT_MEASURED, ""
    ratios = pairs["slow"] / pairs["fast"]
    measured = (f"{slow}/{fast} median steps to solve: " + ", ".join(
        f"{task} T={length} {fmt(r, 2)}" for (task, length), r in ratios.items()) + f"; median {fmt(float(ratios.median()), 2)}")
    ok = (ratios >= low) & (ratios <= high)
    verdict = CONFIRMED if ok.all() else REFUTED if not ok.any() else DEPENDS
    return measured, verdict, (f"inside [{low}, {high}] at every length both solve; where only the gated model "
                               "solves, there is no ratio (an infinite speed-up is not '2-3x')")


def variant_needed(t: Tables, variant, base, task, length, factor):
    """"Crucial for early training": without it (`variant`), fewer seeds solve (Fisher p < 0.05) or
    the seeds that solve need at least `factor` x the steps."""
    v, b = t.cell(task, variant, length), t.cell(task, base, length)
    if v is None or b is None:
        return f"no {variant}/{base} pair at {task} T={length}", NOT_MEASURED, ""
    p = fisher_p(int(v["solved"]), int(v["seeds"]), int(b["solved"]), int(b["seeds"]))
    ratio = v["median_steps_to_solve"] / b["median_steps_to_solve"]
    measured = (f"{task} T={length}: {variant} {int(v['solved'])}/{int(v['seeds'])} solved, median "
                f"{fmt(v['median_steps_to_solve'], 4)} steps; {base} {int(b['solved'])}/{int(b['seeds'])}, "
                f"{fmt(b['median_steps_to_solve'], 4)} steps (Fisher p = {p:.2g}; steps ratio {fmt(ratio, 2)})")
    if v["solved"] < b["solved"] and p < P_SIGNIFICANT:
        return measured, CONFIRMED, "fewer seeds solve without it (p < 0.05)"
    if not math.isnan(ratio) and ratio >= factor:
        return measured, CONFIRMED, f"the seeds that solve need at least {factor}x the steps without it (medians, no test)"
    if v["solved"] >= b["solved"] and not math.isnan(ratio) and ratio < factor:
        return measured, REFUTED, f"as many seeds solve without it, within {factor}x the steps"
    return measured, CANNOT_TELL, f"fewer seeds solve without it, but not significantly ({int(v['seeds'])} seeds)"


def searched_lrs(t: Tables) -> dict[tuple[str, str], dict[int, float]]:
    """(task, model) -> {length: the lr its search's sweep chose}, from search_lengths.csv's `lr`."""
    chosen: dict[tuple[str, str], dict[int, float]] = {}
    for row in t.searched.itertuples():
        chosen.setdefault((row.task, row.model), {})[int(row.length)] = float(row.lr)
    return chosen


def lr_advice(t: Tables, low, high):
    """"Start with low-high, lower for long sequences": the lrs the searches chose per length, (1)
    the share inside [low, high], (2) per search, whether the lr at its longest tested length is
    below the one at its shortest."""
    chosen = searched_lrs(t)
    if not chosen:
        return "no searched lengths", NOT_MEASURED, ""
    lrs = [lr for by_length in chosen.values() for lr in by_length.values()]
    share = sum(low <= lr <= high for lr in lrs) / len(lrs)
    trend = {key: (by_length[max(by_length)], by_length[min(by_length)]) for key, by_length in chosen.items()
             if len(by_length) > 1}
    lower = [key for key, (long_lr, short_lr) in trend.items() if long_lr < short_lr]
    higher = [key for key, (long_lr, short_lr) in trend.items() if long_lr > short_lr]
    measured = (f"{sum(low <= lr <= high for lr in lrs)} of {len(lrs)} chosen lrs inside [{fmt(low)}, {fmt(high)}]; "
                f"longest vs shortest length: lower in {len(lower)}, higher in {len(higher)}, equal in "
                f"{len(trend) - len(lower) - len(higher)} of {len(trend)} searches"
                + (f" (higher: {', '.join(f'{task}/{model}' for task, model in higher)})" if higher else ""))
    in_range, lowers = share >= 0.8, len(lower) > len(trend) / 2
    verdict = CONFIRMED if in_range and lowers else REFUTED if not in_range and not lowers else DEPENDS
    return measured, verdict, ("both halves: at least 80% of the chosen lrs inside the range, and lower at the longest "
                               "length in most searches (each length's lr chosen on validation, on the search's tuning seeds)")


def memory_capacity(t: Tables, task, model, tiers):
    """Accuracy tiers [[up to length, at least accuracy], ...]: every tested length up to each tier's
    length (and past the previous tier's) has a median test accuracy at least the tier's."""
    rows = t.summary[(t.summary["task"] == task) & (t.summary["model"] == model) & (t.summary["completed"] > 0)]
    if rows.empty:
        return f"no {model} {task} run", NOT_MEASURED, ""
    parts, verdicts, previous = [], [], 0
    for up_to, accuracy in tiers:
        own = rows[(rows["length"] > previous) & (rows["length"] <= up_to)].sort_values("length")
        previous = up_to
        if own.empty:
            parts.append(f"<= {up_to}: no length tested")
            verdicts.append(NOT_MEASURED)
            continue
        holds = bool((own["median"] >= accuracy).all())
        parts.append(f"<= {up_to} (need {accuracy:.0%}): " + ", ".join(
            f"T={int(r.length)} {r.median:.3f}" for r in own.itertuples()))
        verdicts.append(CONFIRMED if holds else REFUTED)
    verdict = REFUTED if REFUTED in verdicts else CONFIRMED if set(verdicts) == {CONFIRMED} else CANNOT_TELL
    return f"{model} {task}, median test accuracy: " + "; ".join(parts), verdict,         f"the tutorial names no task for its capacity tests; read on {task} (accuracy), 100% taken as >= 99.5%"


def solves_at(t: Tables, task, models, length):
    """Each model solves `task` at `length` with at least half its seeds."""
    parts, ok = [], []
    for model in models:
        row = t.cell(task, model, length)
        if row is None:
            return f"no {model} run at {task} T={length}", NOT_MEASURED, ""
        parts.append(f"{model} {int(row['solved'])}/{int(row['seeds'])} (median {row['metric']} {fmt(row['median'])})")
        ok.append(row["solved_fraction"] >= SOLVED_MAJORITY)
    return f"{task} T={length}: " + ", ".join(parts), CONFIRMED if all(ok) else REFUTED, \
        "at least half the seeds of each model solve it"


def contrast_winner(t: Tables, r) -> str | None:
    """The model a contrast row favours at p < 0.05: on solved counts (Fisher), else on the seeds'
    test metric (rank-sum) by the side of the better median; None when neither test is significant."""
    row_a, row_b = t.cell(r.task, r.model_a, r.length), t.cell(r.task, r.model_b, r.length)
    if row_a is None or row_b is None:
        return None
    if r.p_value < P_SIGNIFICANT and r.solved_a != r.solved_b:
        return r.model_a if r.solved_a > r.solved_b else r.model_b
    if getattr(r, "metric_p", math.nan) < P_SIGNIFICANT:
        higher = resolve_task(r.task).headline.higher_is_better
        return r.model_a if (row_a["median"] > row_b["median"]) == higher else r.model_b
    return None


def no_clear_winner(t: Tables, a, b):
    """"No clear winner": per task, a model wins a length where the contrast differs at p < 0.05 (solved
    counts, else the seeds' test metric) in its favour. Confirmed when each model wins on some task,
    refuted when one wins on some task and the other on none, cannot tell when neither wins anywhere."""
    pairs = t.contrasts[t.contrasts["model_a"].isin([a, b]) & t.contrasts["model_b"].isin([a, b])]
    if pairs.empty:
        return f"no {a}/{b} contrast", NOT_MEASURED, ""
    wins: dict[str, set] = {a: set(), b: set()}
    for r in pairs.itertuples():
        winner = contrast_winner(t, r)
        if winner is not None:
            wins[winner].add(r.task)
    measured = "; ".join(f"{m} better on {', '.join(sorted(tasks)) or 'no task'}" for m, tasks in wins.items())
    if wins[a] and wins[b]:
        verdict = CONFIRMED
    elif wins[a] or wins[b]:
        verdict = REFUTED
    else:
        verdict = CANNOT_TELL
    return measured, verdict, (f"exploratory, unadjusted contrasts over {len(pairs)} lengths; a winner on a task = "
                               "a length where solved counts or the seeds' test metric differ at p < 0.05")


MEASURES: dict[str, Callable[..., tuple[str, str, str]]] = {f.__name__: f for f in (
    at_baseline, solves_within_epochs, variant_fails_like, accuracy_pair, gradient_factor, gate_mean,
    collapse_between, speed_ratio, parameter_ratio, no_significant_difference, perplexity, outlasts,
    gate_correlation, memory_forget_gate, steps_to_solve_ratio, variant_needed, lr_advice, memory_capacity, solves_at, no_clear_winner)}


def read_claims(path: Path = CLAIMS_FILE) -> list[dict[str, Any]]:
    claims = yaml.safe_load(path.read_text())
    for claim in claims:
        if claim.get("kind", "measured claim") not in KINDS:
            raise ValueError(f"{path}: claim {claim['id']!r} has kind {claim['kind']!r}; allowed: {', '.join(KINDS)}")
        if (claim.get("kind") == "ambiguous") != ("readings" in claim):
            raise ValueError(f"{path}: claim {claim['id']!r}: an ambiguous claim, and only one, lists `readings`")
        if claim["measure"] not in MEASURES:
            raise ValueError(f"{path}: claim {claim['id']!r} names measure {claim['measure']!r}; "
                             f"known: {', '.join(MEASURES)}")
    return claims


def claims_table(tables: Tables, claims: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    rows = []
    for claim in claims if claims is not None else read_claims():
        kind = claim.get("kind", "measured claim")
        measure = MEASURES[claim["measure"]]
        if kind == "ambiguous":  # every reading measured and judged on its own
            judged = [(reading["words"], *measure(tables, **reading["args"])) for reading in claim["readings"]]
            measured = judged[0][1]
            verdict = judged[0][2] if len({v for _, _, v, _ in judged}) == 1 else DEPENDS
            note = "; ".join(f"reading \"{words}\": {v}" for words, _, v, _ in judged)
        else:
            measured, verdict, note = measure(tables, **claim.get("args", {}))
            if kind == "illustration":
                verdict, note = ILLUSTRATION, f"the tutorial's illustrative numbers, not a measurement ({note})"
        rows.append({"id": claim["id"], "claim": claim["words"], "source": claim["source"], "kind": kind,
                     "measured": measured, "verdict": verdict, "note": note})
    return pd.DataFrame(rows, columns=COLUMNS)
