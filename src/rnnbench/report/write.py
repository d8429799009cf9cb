"""Write the report files under reports/ from the current study's runs."""
from __future__ import annotations

import json
from pathlib import Path

from ..run_outputs import write_atomic
from ..study import Study
from .aggregate import collect_results, learning_curves, metrics_tree, summarise


def write_report(study: Study, root: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    results = collect_results(study, root)
    summary = summarise(results)
    written = {
        "results.csv": results.to_csv(index=False, float_format="%.6g"),
        "summary.csv": summary.to_csv(index=False, float_format="%.6g"),
        "curves.csv": learning_curves(study, root).to_csv(index=False, float_format="%.6g"),
        "metrics.json": json.dumps(metrics_tree(summary), indent=2) + "\n",
    }
    for name, text in written.items():
        write_atomic(out / name, text.encode())
    return [out / name for name in written]
