"""Write the report under reports/ from the current study's runs: CSV/JSON tables, figures and
report.md."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from ..speed import SPEED_COLUMNS, SPEED_FILE
from ..training.run_outputs import staged_folder, write_atomic
from ..study import Study
from . import figures
from .baselines import baselines_table
from .claims import Tables, claims_table
from .aggregate import collect_results, learning_curves, metrics_tree, summarise
from .markdown import render
from .pieces import pieces_line, pieces_table
from .published import anchors_beside_ours
from .samples import charlm_samples
from .search_tables import search_lengths, search_runs, search_seed_runs
from .tables import contrasts, critical_lengths, gradient_decay, gradient_ratio_course, memory_laws, plot_files
from .gate_tables import gate_table
from .tuning_table import tuning_table

CSV_FORMAT = "%.6g"


def read_speed(root: Path) -> pd.DataFrame:
    """The speed stage's table (reports/speed.csv), empty when it has not run: the speed claims then
    read "not measured"."""
    try:
        return pd.read_csv(Path(root) / SPEED_FILE)
    except (OSError, ValueError):
        return pd.DataFrame(columns=SPEED_COLUMNS)


def write_report(study: Study, root: Path, out: Path) -> list[Path]:
    pieces = pieces_table(root)  # first: a corrupt pieces.log stops the report before it writes anything
    out.mkdir(parents=True, exist_ok=True)
    seed_runs = search_seed_runs(study, root)
    results = collect_results(study, root, seed_runs)
    curves = learning_curves(study, root, seed_runs)
    summary = summarise(results, curves)
    searched_runs = search_runs(study, root)
    searched = search_lengths(study, root, searched_runs, summary)
    critical = critical_lengths(summary, searched)
    decay = gradient_decay(results)
    laws = memory_laws(results, critical)
    anchors = anchors_beside_ours(summary)
    tuning = tuning_table(study, root)
    pairs = contrasts(study, summary, results)
    baselines = baselines_table(study, root)
    gates = gate_table(results, root)
    speed = read_speed(root)
    claims = claims_table(Tables(summary, critical, decay, pairs, study.data.n_train, gates, speed, searched))
    samples = charlm_samples(study, root)
    tables = {"results.csv": results, "summary.csv": summary, "curves.csv": curves,
              "critical_length.csv": critical, "search_runs.csv": searched_runs, "search_lengths.csv": searched, "gradient_decay.csv": decay, "memory_laws.csv": laws, "published.csv": anchors,
              "tuning.csv": tuning, "contrasts.csv": pairs,
              "gate_statistics.csv": gates, "baselines.csv": baselines, "claims.csv": claims, "samples.csv": samples}
    if not pieces.empty:
        tables["pieces.csv"] = pieces
    shutil.rmtree(out / "plots", ignore_errors=True)  # a task no longer in the study leaves no plot behind
    tables.update(plot_files(study, summary, curves))  # for `dvc plots show`
    written = {name: frame.to_csv(index=False, float_format=CSV_FORMAT) for name, frame in tables.items()}
    written["metrics.json"] = json.dumps(metrics_tree(summary, critical, study.models), indent=2) + "\n"
    # Drawn into a staging folder that replaces figures/ whole once every figure is drawn: a figure
    # the study no longer has leaves nothing behind, and a failure leaves the last figures as they were.
    with staged_folder(out / "figures") as folder:
        drawn = [path for path in (
            figures.learning_curves(study, summary, curves, folder / "learning_curves.png"),
            figures.solved_heatmap(study, summary, critical, folder / "solved_heatmap.png"),
            figures.metric_vs_length(study, results, summary, folder / "metric_vs_length.png"),
            figures.gradient_ratio_training(study, results, curves, folder / "grad_ratio_training.png"),
            figures.gradient_flow(study, results, root, folder / "gradient_flow.png"),
            figures.gate_traces(study, results, root, folder / "gate_traces.png"),
            figures.memory_laws(study, results, root, folder / "memory_laws.png"),
            figures.grad_norm(study, curves, folder / "grad_norm.png"),
            *(figures.side_grid_figure(study, summary, curves, folder, grid) for grid in study.side_grids),
            figures.recall_by_position(study, results, root, folder / "copy_recall.png"),
            figures.sine_predictions(study, results, root, folder / "sine_predictions.png"),
            figures.gate_correlations(study, results, root, folder / "gate_correlations.png"),
        ) if path is not None]  # None: the study has nothing for that figure (no copy task, no side grid)
    drawn = [out / "figures" / path.name for path in drawn]
    written["report.md"] = render(study, results, summary, critical, decay, anchors, tuning, pairs,
                                  gradient_ratio_course(study, results, curves), baselines, claims, samples, laws, searched,
                                  [path.name for path in drawn], speed, pieces_line(pieces))
    for name, text in written.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out / name, text.encode())
    return [out / name for name in written] + drawn
