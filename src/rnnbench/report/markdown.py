"""reports/report.md: the study's front page, rendered from the report's tables.

Every number here comes from results.csv through `summarise` and the functions in `tables` and
`published` (a test parses the tables back and recomputes them). Missing, failed and diverged
runs are counted in the tables, never dropped silently.
"""
from __future__ import annotations

import math
import numbers
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..config import FROM
from ..search.plans import search_plan
from ..study import Study
from ..tasks import resolve_task
from ..training.host import git_commit
from .baselines import beaten_by
from .budget import BUDGET_SHARE, IMPROVEMENT, LAST_SHARE
from .claims import VERDICTS
from .samples import CHARACTERS, SAMPLING_SEED
from .search_tables import SEARCH
from .tables import NON_EXPONENTIAL_R2, P_SIGNIFICANT, SEARCH_SOURCES, SOLVED_MAJORITY, UNFINISHED

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


SUMMARY_HEADER = ["model", "params", "T", "lr", "median", "seeds' values", "solved", "95% CI (exact)",
                  "median steps to solve", "budget used", "flags", "note"]


def seed_values(results: pd.DataFrame, task: str, model: str, length: int, column: str = "test_metric") -> str:
    runs = results[(results["task"] == task) & (results["model"] == model) & (results["length"] == length)]
    values = [number(float(v), 3) if not pd.isna(v) else NONE for v in runs.sort_values("seed")[column]]
    return ", ".join(values)


def cell_flags(row) -> str:
    flags = []
    if row.budget_limited:
        flags.append("budget-limited")
    if row.val_only:
        flags.append(f"{row.val_only} met the rule on validation only")
    return "; ".join(flags)


def interval(row) -> str:
    return f"[{number(row.solved_ci_low, 2)}, {number(row.solved_ci_high, 2)}]"


def summary_header(rows: pd.DataFrame) -> list[str]:
    """SUMMARY_HEADER, or for a task whose solved rule reads another metric than its headline (copy:
    recall accuracy, headline cross-entropy) the rule's metric first and the headline's median beside."""
    rule, metric = judged_metric(rows), rows["metric"].iloc[0]
    if rule == metric:
        return SUMMARY_HEADER
    return SUMMARY_HEADER[:4] + [f"median {rule}", f"seeds' {rule}", f"median {metric}"] + SUMMARY_HEADER[6:]


def judged_metric(rows: pd.DataFrame) -> str:
    rules = rows["rule_metric"].dropna() if "rule_metric" in rows else pd.Series(dtype=object)
    return rules.iloc[0] if len(rules) else rows["metric"].iloc[0]


def summary_rows(rows: pd.DataFrame, results: pd.DataFrame) -> list[list[str]]:
    judged = judged_metric(rows) != rows["metric"].iloc[0]
    out = []
    for row in rows.itertuples():
        lr = number(row.lr, 3) + ("" if row.lr_source == "tuned" else f" ({row.lr_source})")
        values = ([number(row.rule_median), seed_values(results, row.task, row.model, row.length, "test_rule_metric"),
                   number(row.median)] if judged else
                  [number(row.median), seed_values(results, row.task, row.model, row.length)])
        out.append([row.model, NONE if missing(row.n_params) else f"{int(row.n_params):,}", str(row.length), lr, *values,
                    f"{row.solved}/{row.seeds}", interval(row), number(row.median_steps_to_solve),
                    NONE if missing(row.budget_used) else f"{row.budget_used:.0%}", cell_flags(row), cell_note(row)])
    return out


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def reading(row) -> str:
    """A critical length as a reader should take it, censoring and flags included."""
    if missing(row.longest_tested):
        return "not measured: no completed run"
    running = str(row.source) == UNFINISHED
    ends = "search is still running" if running else \
        "search reached its cap first" if row.source in SEARCH_SOURCES else "grid ends first"
    text = {"single_length": f"not determined (one length tested, T={number(row.longest_tested)})",
            "below": f"< {number(row.shortest_tested)} (fails at the shortest length tested)",
            "above": f"≥ {number(row.critical_length)} (solves the longest length tested: the {ends})",
            "none": f"{number(row.critical_length)}"}[row.censored]
    if running and row.censored != "above":
        text += " (so far: the search is still running)"
    if row.censored == "none" and not missing(row.first_length_none_solved):
        text += f"; no seed solves T={int(row.first_length_none_solved)}"
    if not row.monotone:
        text += "; not monotone in T (a longer length solved by more seeds than a shorter one)"
    if row.budget_limited:
        text += "; the failure above it is budget-limited (a larger budget might solve it)"
    return text


def critical_section(critical: pd.DataFrame) -> str:
    rows = [[r.task, r.model, r.t50_reading, r.reading, r.censored,
             NONE if missing(r.longest_tested) else number(r.shortest_tested) if r.shortest_tested == r.longest_tested
             else f"{number(r.shortest_tested)}–{number(r.longest_tested)}",
             "yes" if r.monotone else "no", "yes" if r.budget_limited else "no", reading(r), r.tested, r.source,
             r.lrs or NONE]
            for r in critical.itertuples()]
    return table(["task", "model", "T50 (95% interval)", "critical length", "censored", "T tested", "monotone",
                  "budget-limited", "reading", "solved per length [exact 95%]", "lengths from", "lr per length"], rows)


def search_section(study: Study, searched: pd.DataFrame | None) -> list[str]:
    """How the searches went: the rule, then per task x model every length with its lr and outcome."""
    if searched is None or searched.empty:
        return []
    s = study.search
    bounds = f"{study.tune.ladder[0]:g} and {study.tune.ladder[-1]:g}"
    rule = (f"Each task x model's lengths were found by search (rnnbench/search/rule.py), not fixed in a grid: from "
            f"the start length the search doubles T while at least half of the {len(study.seeds)} seeds solve it "
            f"(up to the task's cap), halves it while they fail (down to its floor), then tries the geometric "
            f"midpoint of the bracket until its ends are within a factor {s.resolution:g} or adjacent. A length "
            f"first trains {math.ceil(len(study.seeds) / 2)} seeds and adds the rest only when they leave the "
            f"≥ 50% decision open; the two lengths that bound the answer get every seed, and a failure at the "
            f"upper one must survive {s.budget_ceiling}x the base budget (the ceiling) at the best of the ladder's "
            f"rungs from its own lr to the one the lower end was solved at and one rung past each, walked on past a "
            f"winning end up to the ladder's ends, picked on the tuning seeds with that budget (validation only; a "
            f"rung walked to after one that solved every tuning seed trains only to that one's slowest solve, past "
            f"which it could not rank first): at its own lr its failed seeds train on to the ceiling and a "
            f"seed counts solved under either budget; at another rung every seed trains again and only those runs "
            f"count. A failure that holds there must hold with the ceiling at the lr the lower end was solved at "
            f"too, where that is another rung (two tuning seeds can rank the rungs wrong), and the length counts "
            f"whichever of the two sets of seeds solved more, each whole. An answer is marked "
            f"budget-bound where the ceiling was less than {s.budget_factor}x its lower end's slowest solve. "
            f"{stopping_text(study)}Every length has its own lr: a sweep on seeds "
            f"{', '.join(map(str, s.tune_seeds))} (validation only) over the ladder's rungs around the lr chosen at "
            f"the nearest length already tuned, ranked by the tuning seeds solved, then by the slowest of their "
            f"solves, extended past a winning end, and to both sides while no rung solves "
            f"a tuning seed or learns (halfway from the memoryless baseline to perfect on validation), so a length "
            f"fails only where no lr of the ladder learnt or the best rung fails the study's seeds; the ceiling "
            f"continues each seed's longest shorter run at its lr (the same run as a fresh start with it). The "
            f"ladder's ends, {bounds}, are the "
            "stated bounds, and a chosen lr there is marked (bound). reports/search_lengths.csv and "
            "search_runs.csv hold every figure.")
    rows = [[r.task, r.model, number(r.length), f"{r.lr:g}" + (" (bound)" if r.lr_at_bound else ""), r.lrs_tried,
             f"{r.solved}/{r.seeds} [{r.solved_ci_low:.2g}, {r.solved_ci_high:.2g}]",
             (f"{r.solved_extended}/{r.extended} with {number(r.extended_steps)} steps"
              + (f" at lr {r.confirm_lr:g}" if r.relearnt else "")
              + (f"; {number(r.solved_at_lower)}/{r.at_lower} at lr {r.lower_lr:g}, the shorter bound's"
                 + (" (counted)" if r.by_lower else "") if r.at_lower else "")
              if r.extended else NONE)]
            for r in searched.itertuples()]
    return ["## Search", "", rule, "",
            table(["task", "model", "T", "lr", "lrs swept", "solved [exact 95%]", "confirmed with the ceiling, solved"], rows), ""]


def stopping_text(study: Study) -> str:
    """How the searches' runs stop, in the search section's words ('' where one runs its whole budget)."""
    trains = [search_plan(study, task, model).base.train for task, model in study.search.pairs()]
    if not trains or not all(train.early_stop for train in trains):
        return ""
    margins = {train.stop_margin for train in trains}
    margin = max(margins)
    if len(margins) > 1:
        return f"A run stops where validation meets the solved rule tightened by its own margin ({', '.join(f'{m:g}' for m in sorted(margins))}), and is judged at the rule on test. "
    if not margin:
        return ("A run stops at the first evaluation where validation meets the solved rule, and is judged "
                "on test. ")
    return (f"A run stops at the first evaluation where validation meets the solved rule tightened by "
            f"{margin:g} of the distance from its threshold to perfect, and is judged at the rule itself on test, "
            f"so a run stopped exactly at the threshold does not land on either side of it by chance (the sweeps' "
            f"runs stop at the rule: what the lr rule reads is settled there). ")


def half_life_text(value) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "no decay"
    return number(value, 3)


def fit_text(r2) -> str:
    if missing(r2):
        return NONE
    return number(r2, 2) + (" (not exponential)" if r2 < NON_EXPONENTIAL_R2 else "")


def decay_section(decay: pd.DataFrame) -> str:
    rows = [[r.task, r.model, str(r.length), r.outcome, half_life_text(r.half_life_init), fit_text(r.fit_r2_init),
             half_life_text(r.half_life_trained), fit_text(r.fit_r2_trained), number(r.ratio_init, 2),
             number(r.ratio_trained, 2), str(r.runs)] for r in decay.itertuples()]
    return table(["task", "model", "T", "seeds", "half-life init (steps)", "fit R² init", "half-life trained (steps)",
                  "fit R² trained", "‖∂L/∂h₀‖/‖∂L/∂h_T‖ init", "‖∂L/∂h₀‖/‖∂L/∂h_T‖ trained", "runs"], rows)


def memory_law_section(laws: pd.DataFrame) -> str:
    if laws.empty:
        return "No model of this study has a memory law (or none unrolled)."
    rows = [[r.task, r.model, str(r.length), f"`{r.law}`", half_life_text(r.measured_half_life_init),
             half_life_text(r.law_half_life_init), half_life_text(r.measured_half_life_trained),
             half_life_text(r.law_half_life_trained),
             "1 by construction" if r.law_exact else number(r.law_over_measured, 3),
             number(r.t50, 3), number(r.half_life_over_t50, 2), str(r.runs)]
            for r in laws.itertuples()]
    return table(["task", "model", "T", "law", "measured half-life init", "law half-life init",
                  "measured half-life trained", "law half-life trained", "law / measured (trained)",
                  "T50 (this task x model)", "half-life trained / T50", "runs"], rows)


def speed_section(speed: pd.DataFrame | None) -> list[str]:
    """The controlled speed benchmark (reports/speed.csv), the only source of the speed claims."""
    if speed is None or speed.empty:
        return []
    first = speed.iloc[0]
    rows = [[r.model, number(r.steps_per_s, 3), number(r.macs_per_step), number(r.macs_per_step / first.macs_per_step, 3)]
            for r in speed.itertuples()]
    return ["## Speed (controlled benchmark)", "",
            f"Each model alone on one torch thread, {int(first.steps)} steps at {first.task} T={int(first.length)} with "
            f"the study's settings (hidden {int(first.hidden_size)}, batch {int(first.batch_size)}), median of "
            f"{int(first.repeats)}; host calibration {number(first.calibration_s, 3)} s (rnnbench/speed.py, stage "
            "`speed`). The study's own runs are never timed for this: their seeds share the cores. Multiply-adds: "
            "the recurrent cell's per time step and sample, the architecture's cost, which no kernel changes.", "",
            table(["model", "steps/s", "multiply-adds per step", f"multiply-adds vs {first.model}"], rows), ""]


def published_section(anchors: pd.DataFrame) -> str:
    rows = []
    for r in anchors.itertuples():
        ours = (f"{number(r.our_median)} at T={number(r.our_length)}, {number(r.our_solved)}/{number(r.our_seeds)} "
                f"seeds solved (baseline {number(r.our_baseline)}; {number(r.our_params)} parameters, "
                f"{number(r.our_steps)} steps of batch {number(r.our_batch)})"
                if not missing(r.our_length) else "not run in this study")
        rows.append([r.task, r.model, r.setting, f"T={r.their_length}: {r.metric} {number(r.their_value)} "
                     f"({r.their_note}; {r.their_params})", ours])
    sources = sorted(set(anchors["source"]))
    budgets = sorted(set(anchors["budget"]))
    return (table(["task", "model", "setting", "published (someone else's number)", "ours, nearest length we ran"], rows)
            + "\n\nSources: " + "; ".join(sources) + ". Their budget: " + "; ".join(budgets)
            + ". \"different setting\": another length, model size and budget than ours; compare what is learned "
            "and what is not, never the digits.")


def solved_list(summary: pd.DataFrame, critical_row) -> str:
    """The solved counts a critical length rests on. A searched pair's are its search's, per length as the
    T50 fit reads them (the critical-length table's); the grid's cells of the pair, trained at the lr the
    protocol tuned per task, are listed apart: their counts can differ from the search's at the same length
    (other runs, another lr) and are not in the fit."""
    r = critical_row
    rows = summary[(summary["task"] == r.task) & (summary["model"] == r.model)].sort_values("length")
    if r.source not in SEARCH_SOURCES:
        return "solved " + counts(rows)
    grid = rows[rows["lr_source"] != SEARCH]
    return (f"solved per searched length [exact 95%] {r.tested}"
            + (f"; the grid's cells (the task's tuned lr, not in the fit): {counts(grid)}" if len(grid) else ""))


def counts(rows: pd.DataFrame) -> str:
    return ", ".join(f"T={r.length} {r.solved}/{r.seeds}" + (" (budget-limited)" if r.budget_limited else "")
                     for r in rows.itertuples())


def contrast_lines(pairs: pd.DataFrame, task: str) -> list[str]:
    """The declared family first: each pair with both tests and its Holm-adjusted p ("a over b" only
    below 0.05 after adjustment, else "cannot tell"); then the exploratory differences in solved
    counts, unadjusted and labelled so."""
    own = pairs[pairs["task"] == task]
    lines = []
    for r in own[own["family"] == "primary"].itertuples():
        if r.solved_a * r.seeds_b == r.solved_b * r.seeds_a:
            lead = "cannot tell by solved counts" if r.p_holm >= P_SIGNIFICANT else "the test metric differs"
        else:
            first, second = (r.model_a, r.model_b) if r.solved_a / r.seeds_a > r.solved_b / r.seeds_b else (r.model_b, r.model_a)
            lead = f"{first} over {second}" if r.p_holm < P_SIGNIFICANT else f"cannot tell {first} from {second}"
        lines.append(f"  - primary contrast, {r.model_a} vs {r.model_b} at T={r.length}: {lead} (solved {r.solved_a}/"
                     f"{r.seeds_a} vs {r.solved_b}/{r.seeds_b}, Fisher p = {number(r.p_value, 2)}; test metric "
                     f"rank-sum p = {number(r.metric_p, 2)}; Holm-adjusted over the declared family: "
                     f"p = {number(r.p_holm, 2)}).")
    rest = own[(own["family"] != "primary") & (own["solved_a"] * own["seeds_b"] != own["solved_b"] * own["seeds_a"])]
    beats, unclear = [], []
    for r in rest.itertuples():
        first, second = (r.model_a, r.model_b) if r.solved_a / r.seeds_a > r.solved_b / r.seeds_b else (r.model_b, r.model_a)
        counts = (f"{r.solved_a}/{r.seeds_a} vs {r.solved_b}/{r.seeds_b}" if first == r.model_a
                  else f"{r.solved_b}/{r.seeds_b} vs {r.solved_a}/{r.seeds_a}")
        text = f"{first} over {second} at T={r.length} ({counts}, p = {number(r.p_value, 2)})"
        (beats if r.p_value < P_SIGNIFICANT else unclear).append(text)
    if beats:
        lines.append(f"  - exploratory, unadjusted (Fisher exact, two-sided, p < {P_SIGNIFICANT}): " + "; ".join(beats) + ".")
    if unclear:
        lines.append("  - exploratory differences these seeds cannot tell apart: " + "; ".join(unclear) + ".")
    return lines


def claims_section(claims: pd.DataFrame) -> str:
    if claims.empty:
        return "No claims file was read."
    counts = claims["verdict"].value_counts()
    head = ("Each quantitative claim of the five tutorials (src/rnnbench/report/claims.yaml: the tutorial's words and "
            "how it is measured), with the verdict computed from this report's tables (reports/claims.csv): "
            + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS) + ".")
    rows = [[r.id, r.source.split("_")[0], r.claim.replace("|", "/"), r.measured.replace("|", "/"), f"**{r.verdict}**",
             r.note.replace("|", "/")] for r in claims.itertuples()]
    return head + "\n\n" + table(["claim", "tutorial", "their words", "measured here", "verdict", "rests on"], rows)


def predictors_section(main: pd.DataFrame, results: pd.DataFrame, baselines: pd.DataFrame) -> str:
    """Tasks read against reference predictors, not a critical length: each model's median beside them."""
    parts = []
    for (task, length), predictors in baselines.groupby(["task", "length"], sort=False):
        rows = main[(main["task"] == task) & (main["length"] == length)]
        if rows.empty:
            continue
        higher = bool(results.loc[results["task"] == task, "higher_is_better"].iloc[0]) if (results["task"] == task).any() else False
        metric = rows["metric"].iloc[0]
        table_rows = [[p.predictor, number(p.value)] for p in predictors.itertuples()]
        table_rows += [[f"**{r.model}** (median of {r.completed} seeds)", number(r.median)] for r in rows.itertuples()]
        beats = [f"{r.model} beats {', '.join(beaten_by(r.median, predictors, higher)) or 'none of them'}"
                 for r in rows.itertuples()]
        parts += [f"### {task}, T={length}: test {metric}", "", table(["predictor", metric], table_rows), "",
                  "; ".join(beats) + ".", ""]
    return "\n".join(parts) if parts else "No task of this study records reference predictors."


def samples_section(samples: pd.DataFrame) -> str:
    if samples.empty:
        return "No charlm run to sample."
    parts = [f"Prime {samples['prime'].iloc[0]!r}, {CHARACTERS} characters, sampling seed {SAMPLING_SEED}, "
             "the first seed's run of each model (reports/samples.csv)."]
    for (model, length), rows in samples.groupby(["model", "length"], sort=False):
        parts += ["", f"**{model}** (charlm T={length}, sampled by the {rows['sampler'].iloc[0]}):", ""]
        for r in rows.itertuples():
            parts += [f"temperature {r.temperature}:", "", "```", r.text, "```", ""]
    return "\n".join(parts)


def findings(critical: pd.DataFrame, summary: pd.DataFrame, pairs: pd.DataFrame, study: Study) -> str:
    searched = critical[critical["source"].isin(SEARCH_SOURCES)]
    running = searched[searched["source"] == UNFINISHED]
    lines = [f"- **A snapshot**: {len(running)} of the study's {len(searched)} searches are still running (it "
             "continues in pieces from its finished runs); their readings say \"so far\": what the runs up to now "
             "show, which the rest of the search can change."] if len(running) else []
    for task in study.task_names():
        own = critical[(critical["task"] == task) & critical["model"].isin(study.models)]
        if own.empty:
            continue
        lines.append(f"- **{task}**, critical length per model (T50, the length solved with probability 1/2, "
                     "with its 95% interval; then the bracket of the lengths tested):")
        lines += [f"  - {r.model}: T50 {r.t50_reading}; bracket {reading(r)}; {solved_list(summary, r)}."
                  for r in own.itertuples()]
        lines += contrast_lines(pairs, task)
    return "\n".join(lines)


def why(course: pd.DataFrame) -> str:
    """The gradient story measured over training: the h_0 / h_T gradient ratio at init, at the solve
    step and at the end, at each task's longest length, and whether the ratio at init or at the end
    separates the models that solved (at least half their seeds) from those that did not."""
    lines = []
    for task, rows in course.groupby("task", sort=False):
        parts = [f"{r.model} {number(r.ratio_init, 2)} at init → {number(r.ratio_at_solve, 2)} at its solve step → "
                 f"{number(r.ratio_at_end, 2)} at the end ({r.solved}/{r.seeds} solved)"
                 if not missing(r.ratio_at_solve) else
                 f"{r.model} {number(r.ratio_init, 2)} at init → {number(r.ratio_at_end, 2)} at the end "
                 f"({r.solved}/{r.seeds} solved)" for r in rows.itertuples()]
        lines.append(f"- **gradient ratio ({task}, T={rows['length'].iloc[0]})**: ‖∂L/∂h₀‖/‖∂L/∂h_T‖ on a fixed "
                     "validation batch, median over seeds: " + "; ".join(parts) + "." + separates(rows))
    return "\n".join(lines)


def separates(rows: pd.DataFrame) -> str:
    """Whether the ratio at init, and at the end, is larger for every model that solved than for every
    one that did not: a description of these models at this length, not a cause."""
    solved = rows["solved"] >= rows["seeds"] / 2
    if solved.all() or not solved.any():
        return ""
    said = []
    for column, when in (("ratio_init", "at init"), ("ratio_at_end", "at the end")):
        values = pd.to_numeric(rows[column], errors="coerce")
        apart = values[solved].min() > values[~solved].max()
        said.append(f"{when} it {'separates' if apart else 'does not separate'} the models that solved from those "
                    "that did not")
    return " " + "; ".join(said).capitalize() + " (a description of these models at this length, not a cause)."


def tuning_section(tuning: pd.DataFrame) -> str:
    if tuning.empty:
        return "No tuning results (the study's lrs are in the tables below)."
    rows = []
    for (task, model), group in tuning.groupby(["task", "model"], sort=False):
        chosen = group[group["selected"]]
        source = group["source"].iloc[0]
        lr = number(float(chosen["lr"].iloc[0]), 3) if len(chosen) else NONE
        if source != "tuned":
            rows.append([task, model, source, lr, NONE, NONE])
            continue
        sweep = "; ".join(f"{number(r.lr, 3)}: {int(r.val_solved)}/{int(r.seeds)}, {number(r.median_steps_to_solve)} steps, "
                          f"{number(r.median_val_metric, 3)}" for r in group.sort_values("lr").itertuples())
        edge = "yes: the best lr may lie past the ladder's end" if bool(group["at_edge"].iloc[0]) else "no"
        rows.append([task, model, f"tuned at T={', '.join(str(group['lengths'].iloc[0]).split())}", lr, sweep, edge])
    hand = tuning[tuning["source"] == "hand-set"]
    text = table(["task", "model", "lr from", "lr", "sweep: lr: val solved, median steps to solve, median val metric",
                  "at a bound of the ladder"], rows)
    if len(hand):
        text += "\n\nHand-set lrs (params.yaml, not the protocol): " + ", ".join(
            f"{r.model} on {r.task}" for r in hand.itertuples()) + "."
    return text


ENGINE_WORDS = {"separate": "trained alone", "stacked": "trained as members of a stack (equal to their runs alone "
                "only to float tolerance)"}


def header(results: pd.DataFrame, study: Study) -> str:
    completed = results[~results["failed"]]
    hosts = sorted(set(results["host"].dropna())) if "host" in results else []
    finished = pd.to_datetime(results.get("finished_at"), errors="coerce", utc=True).dropna() \
        if "finished_at" in results else pd.Series(dtype="datetime64[ns, UTC]")
    total_train = pd.to_numeric(completed["wall_s"], errors="coerce").sum()
    span = (f"runs finished between {finished.min():%Y-%m-%d %H:%M} and {finished.max():%Y-%m-%d %H:%M} UTC; "
            if len(finished) else "")
    n_missing = int(results["error"].astype(str).str.startswith("missing").sum())
    capabilities = sorted(set(results["cpu_capability"].dropna())) if "cpu_capability" in results else []
    engines = completed["engine"].fillna("separate").value_counts() if "engine" in completed \
        else pd.Series({"separate": len(completed)})
    return "\n".join([
        (f"# rnnbench SMOKE TEST of the pipeline ({study.source}): a tiny grid, its numbers are not results"
         if study.smoke_test else
         "# rnnbench: where vanilla RNNs, LSTMs and GRUs stop learning long-range dependencies"),
        "",
        f"Generated on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from `{study.source}` with the code at commit "
        f"`{git_commit(Path.cwd())[:12]}` (plus any uncommitted changes).",
        f"Machine: {'; '.join(hosts) if hosts else 'unknown'}.",
        f"Runs: {len(results)} ({len(study.cells())} cells × {len(study.seeds)} seeds"
        + (f", and {searched_rows} seeds' runs at the lengths the searches added; every search run is in "
           "reports/search_runs.csv" if (searched_rows := int((results["lr_source"] == SEARCH).sum())) else "")
        + "): "
        f"{len(completed)} completed, {int(results['diverged'].sum())} diverged, "
        f"{int(results['failed'].sum()) - n_missing} failed, {n_missing} missing.",
        f"Time: {span}the runs' wall times add up to {total_train / 60:.1f} min (a cell's seeds may train "
        "at once, `seed_processes`, so this can exceed the time that passed, and per-run times and "
        "steps/s are under that load; the whole `dvc repro` is timed in the README).",
        "Engine: " + ", ".join(f"{count} completed runs {ENGINE_WORDS.get(name, name)}"
                               for name, count in sorted(engines.items())) + " (params `engine`).",
        "",
        f"Reproducibility: rerunning on a CPU with the same instruction set ({', '.join(capabilities) or 'unknown'}, "
        "torch's CPU capability) and one torch thread per run gives bit-identical histories. Another CPU type "
        "(e.g. AVX2 instead of AVX512) or a GPU rounds differently in the fused LSTM kernels: its numbers agree "
        "only statistically, single runs can differ in their last digits and, near the threshold, in their "
        "verdict. The readings below rest on counts over seeds with exact intervals, not on one run's digits.",
    ])


DEFINITIONS = """How to read this report:
- **Solved** (one definition): a run's final model meets the task's rule on the **test** split ({rules};
  rules per task in the README). Training stops early at the first evaluation where
  the **validation** split meets it, and tuning judges validation only; a run that met the rule on validation but
  missed it on test is counted unsolved and flagged "met the rule on validation only".
- **Critical length**: T50, the length at which a model solves the task with probability 1/2, fitted to every
  run at every tested length (P(solved) = sigmoid(b (log T50 − log T)), b ≥ 0, maximum likelihood) with its 95%
  profile-likelihood interval; "> T" when the fit puts it beyond the longest length tested (only a lower bound
  is measured), "< T" below the shortest, "not determined" when the runs bound it on neither side. Beside it the bracket: the longest T at which at least {majority:.0%} of the
  seeds solved the task, censored when the grid decides it: "≥ T" (solved at the longest length tested), "< T"
  (failed at the shortest), "not determined" (one length tested). "not monotone": some longer length was solved
  by more seeds than a shorter one. {lengths}
- **Few seeds**: each cell has {seeds} seeds. Solved fractions carry exact (Clopper–Pearson) 95% intervals; a model
  "beats" another at a length only where a two-sided Fisher exact test gives p < {p}. Metrics are given as the
  median and every seed's value (no t-intervals: they are bounded and often bimodal).
- **Budget-limited**: the slowest solved seed used more than {share:.0%} of the step budget, or an unsolved seed was
  still closing on the threshold in the last {last:.0%} of it (its gap shrank by more than {improvement:.0%}): there
  "unsolved" may mean "not yet".
- **Learning rates** come from one protocol for every model (section "Tuning"): chosen on validation at each
  task's tuning length, on seeds disjoint from the study's; hand-set or copied lrs are marked.
- **Baselines**: the analytic chance value and the best constant predictor on the test split itself, both shown."""


def solved_rules(study: Study) -> str:
    """Each task's rule as the study resolved it: `adding: mse ≤ 0.01`."""
    rules = []
    for task in study.task_names():
        rule = resolve_task(task).solved_rule(study.task_plan(task).options)
        rules.append(f"{task}: {rule.metric} {'≥' if rule.higher_is_better else '≤'} {number(rule.threshold)}")
    return "; ".join(rules)


def definitions(study: Study, results: pd.DataFrame) -> str:
    searched = study.search.pairs()
    lengths = ((f"For {'every' if not study.cells() else 'each searched'} task x model the lengths were found by "
                f"search, which narrows the bracket to a factor {study.search.resolution:g} (section \"Search\")"
                + ("; the other cells' lengths are a fixed grid, so their intervals are as wide as its gaps."
                   if study.cells() else "."))
               if searched else "The lengths are a fixed grid in this study, so intervals are as wide as its gaps.")
    return DEFINITIONS.format(rules=solved_rules(study), lengths=lengths,
                              majority=SOLVED_MAJORITY, seeds=len(study.seeds), p=P_SIGNIFICANT, share=BUDGET_SHARE,
                              last=LAST_SHARE, improvement=IMPROVEMENT)


FIGURES = [
    ("solved_heatmap.png", "Seeds solved per model and length (colour: solved fraction); the framed cell is the "
     "critical length."),
    ("learning_curves.png", "Learning curves at each task's longest length: validation metric per model, mean over "
     "seeds with the min–max band; the dashed line is the chance baseline."),
    ("metric_vs_length.png", "Final test metric against sequence length: every seed (points) and the median (line); "
     "dotted: the solved threshold, dashed: the chance baseline."),
    ("grad_ratio_training.png", "‖∂L/∂h₀‖/‖∂L/∂h_T‖ on a fixed validation batch at every evaluation during training, "
     "one line per seed; stars mark solve steps."),
    ("gradient_flow.png", "Gradient flow back through time, ‖∂L/∂h_t‖ against t on a log scale, at "
     "initialisation (dashed) and after training (solid)."),
    ("gate_traces.png", "Gate activations of a trained LSTM (input and forget gates) and GRU (update gate) on one "
     "adding sequence; red dotted lines mark the two marked steps."),
    ("memory_laws.png", "Analytic vs measured: each model's memory law (dashed) beside the gradient measured on the "
     "state it governs (solid), after training, median over seeds, at the longest length of the first memory task."),
    ("grad_norm.png", "Global gradient norm (before clipping) during training, log scale."),
    ("copy_recall.png", "Copy memory: test accuracy at each recall position, every seed (thin) and the mean (thick); "
     "dashed: chance."),
    ("sine_predictions.png", "Sine: next-value predictions of each model on one test series against the noisy target."),
    ("gate_correlations.png", "A trained LSTM where memory matters: correlation of its gates' activations, and the "
     "cell state of its most active units along one test sequence."),
]
FIGURE_CAPTIONS = dict(FIGURES)
SIDE_GRID_CAPTIONS = {
    "bars": "Side grid {name}: final test metric of each of its models beside {against} (median, min–max), with "
            "solved counts.",
    "curves": "Side grid {name}: validation curves of each of its models (dashed) beside the model it is read "
              "against ({against}), mean over seeds with the min–max band."}


def figures_of(study: Study) -> list[tuple[str, str]]:
    """Every figure a report may have, with its caption: the fixed ones, then one per side grid."""
    return [*FIGURES, *((f"{name}.png", SIDE_GRID_CAPTIONS[grid.figure].format(
        name=name, against=", ".join(dict.fromkeys(grid.compares_to.values())))) for name, grid in study.side_grids.items())]


def baseline_line(rows: pd.DataFrame, of: str = "") -> str:
    """The memoryless baselines, per length where they depend on it (copy's falls with T)."""
    analytic = rows.groupby("length")["baseline"].first().dropna().sort_index()
    split = rows.groupby("length")["baseline_split"].first().dropna().sort_index()
    own = (", ".join(f"T={n}: {number(v)}" for n, v in split.items()) if len(split) else NONE)
    if analytic.nunique() > 1:
        shown = ", ".join(f"T={n}: {number(v)}" for n, v in analytic.items())
    else:
        shown = number(analytic.iloc[0]) if len(analytic) else NONE
    return f"Baseline{of} (no memory): analytic {shown}; best constant predictor on the test split itself: {own}."


def render(study: Study, results: pd.DataFrame, summary: pd.DataFrame, critical: pd.DataFrame,
           decay: pd.DataFrame, anchors: pd.DataFrame, tuning: pd.DataFrame, pairs: pd.DataFrame,
           course: pd.DataFrame, baselines: pd.DataFrame, claims: pd.DataFrame, samples: pd.DataFrame,
           laws: pd.DataFrame, searched: pd.DataFrame | None = None, drawn: list[str] | None = None,
           speed: pd.DataFrame | None = None, pieces: str = "") -> str:
    main = summary[summary["model"].isin(study.models)]
    title, *about = header(results, study).split("\n")
    heatmap = "solved_heatmap.png"
    parts = [title, "",
             "The answer first: where each model stops (the critical length with its interval), then the claims of "
             "the tutorials tested, then how to read it all and every table behind it.", "",
             "## Findings", "",
             findings(critical, summary, pairs, study), why(course), "",
             *([f"![{heatmap}](figures/{heatmap})", "", f"*{FIGURE_CAPTIONS[heatmap]}*", ""]
               if drawn is None or heatmap in drawn else []),
             "## Critical length", "", critical_section(critical), "",
             *search_section(study, searched),
             "## The tutorials' claims, tested", "", claims_section(claims), "",
             "## About this report", "", *about, *(["", pieces] if pieces else []), "", definitions(study, results), "",
             "## Tuning", "",
             "Per task and model, the lr the protocol chose (highest validation solved fraction, then fewest steps "
             "to solve, then best validation metric, then the smaller lr); reports/tuning.csv has every figure. "
             "The searched lengths' lrs are in the Search section.", "",
             tuning_section(tuning), ""]
    for task in study.task_names():
        rows = main[main["task"] == task]
        if rows.empty:
            continue
        rows = rows.assign(_order=rows["model"].map(list(study.models).index)).sort_values(["_order", "length"])
        metric, rule = rows["metric"].iloc[0], judged_metric(rows)
        title = metric if rule == metric else f"{rule} (what the solved rule judges) and {metric}"
        parts += [f"## {task}: test {title} per model and length", "",
                  baseline_line(rows, "" if rule == metric else f" of {metric}") + " Seeds' values in seed order.", "",
                  table(summary_header(rows), summary_rows(rows, results)), ""]
    for name, grid in study.side_grids.items():
        if not grid.models:
            continue
        rows = summary[(summary["task"] == grid.task) & summary["length"].isin(grid.lengths)
                       & summary["model"].isin(grid.compared(study.models))]
        against = ", ".join(dict.fromkeys(grid.compares_to.values()))
        text = grid.about or f"{', '.join(grid.models)} beside {against} at the same length."
        copied = {m: study.lr_source(m, grid.task)[len(FROM):] for m in grid.models
                  if study.lr_source(m, grid.task).startswith(FROM)}
        if copied:
            text += (" " + ", ".join(f"{m} trains with the lr tuned for {source}" for m, source in copied.items())
                     + " (`lr_from`), not one tuned for it: a model of the grid that fails may fail for its lr.")
        parts += [f"## Side grid {name} ({grid.task}): beside {against}", "", text, "",
                  table(summary_header(rows), summary_rows(rows, results)), ""]
    parts += ["## Short-range prediction and language modelling", "",
              "These tasks measure prediction from recent context, not long memory: no critical length is read for "
              "them. Each model's median is set against reference predictors fitted on the training split and read "
              "on the same test windows (reports/baselines.csv).", "",
              predictors_section(main, results, baselines), "",
              "## Samples (charlm)", "", samples_section(samples), ""]
    parts += ["## Gradient decay", "",
              "Median over seeds, solved and unsolved seeds apart. Half-life: steps back in time over which ‖∂L/∂h_t‖ "
              "halves (from the fitted slope of log-norm against t; \"no decay\" when it does not fall); fit R² "
              f"below {NON_EXPONENTIAL_R2} marks a curve one exponential does not describe. Ratio: ‖∂L/∂h₀‖/‖∂L/∂h_T‖ "
              "on a fixed test batch, loss read at the last step. runs: seeds measured.", "",
              decay_section(decay), "",
              "## Memory laws: analytic vs measured", "",
              "Each model's memory by its own equations (the per-unit factor r_t with ∂L/∂s_t = ∂L/∂s_T ∏_{k>t} r_k: "
              "∏ f_t on an LSTM's cell state, ∏ z_t on a GRU's direct path, ∏ (1 − z_t) for minGRU, ∏ f′_t for "
              "minLSTM, |u|^t for IndRNN, |λ|^t for the LRU), carried back from the gradient measured at the last "
              "step, beside the gradient measured on the same state (c for an LSTM, else h), both fitted the same way "
              "(half-life in steps; medians over seeds). For a diagonal recurrence whose factor depends on the input "
              "only (minGRU, minLSTM, LRU) the law is the gradient by construction: their ratio is 1 whatever the "
              "model learnt and is no result (shown as such). Where it is not 1, the law leaves out a path: the "
              "LSTM's and GRU's routes through h_t and their gates' own dependence on it, IndRNN's relu switching "
              "units off. What can differ, and so informs: the trained half-life against the critical length T50 "
              "the search found for the same task x model. A ratio well below 1 means the model solves lengths "
              "longer than its gradient's half-life at the length measured, so the half-life there does not set "
              "its limit. The tanh RNN has no per-unit law.", "",
              memory_law_section(laws), "",
              "## Published results beside ours", "", published_section(anchors), "",
              *speed_section(speed),
              "## Figures", ""]
    for name, caption in figures_of(study):
        if name != heatmap and (drawn is None or name in drawn):  # only the figures this study has
            parts += [f"![{name}](figures/{name})", "", f"*{caption}*", ""]
    return "\n".join(parts)
