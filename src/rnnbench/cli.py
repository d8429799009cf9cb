"""The `rnnbench` command. Everything is parsed and validated here, once, before any work starts;
a bad value is one line on stderr naming the key and what is allowed, exit status 2."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from .config import ConfigError, DataConfig, ModelConfig, RunConfig, TaskConfig, TrainConfig, require_choice

EXIT_BAD_INPUT = 2


def parse_option(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise ConfigError(f"task.options: expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def task_config(name: str, length: int, options: dict) -> TaskConfig:
    from .tasks import TASKS

    require_choice("task.name", name, TASKS)
    return TaskConfig(name, length, TASKS[name].parse_options(options, "task.options"))


def add_task_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="adding | xor | copy | sine | charlm")
    parser.add_argument("--length", type=int, required=True, help="sequence length T")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a task option, e.g. strict_markers=true (repeatable)")
    d = DataConfig()
    parser.add_argument("--n-train", type=int, default=d.n_train)
    parser.add_argument("--n-val", type=int, default=d.n_val)
    parser.add_argument("--n-test", type=int, default=d.n_test)
    parser.add_argument("--data-seed", type=int, default=d.seed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="generate one task's dataset at one length")
    add_task_arguments(gen)
    gen.add_argument("--out", type=Path, required=True, help="folder for train/val/test.npz + meta.json")

    tr = sub.add_parser("train", help="train one model on one task at one length")
    add_task_arguments(tr)
    m, t = ModelConfig(), TrainConfig()
    tr.add_argument("--model", required=True, help="rnn | lstm | gru")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", type=Path, required=True, help="run folder: metrics.json, history.csv, model.pt")
    tr.add_argument("--data", type=Path, help="a folder written by `rnnbench generate` (default: generate in memory)")
    tr.add_argument("--hidden-size", type=int, default=m.hidden_size)
    tr.add_argument("--num-layers", type=int, default=m.num_layers)
    tr.add_argument("--forget-bias", type=float, default=m.forget_bias)
    tr.add_argument("--steps", type=int, default=t.steps)
    tr.add_argument("--batch-size", type=int, default=t.batch_size)
    tr.add_argument("--lr", type=float, default=t.lr)
    tr.add_argument("--clip-norm", type=float, default=t.clip_norm, help="0 turns clipping off")
    tr.add_argument("--eval-every", type=int, default=t.eval_every)
    tr.add_argument("--no-early-stop", action="store_true")
    tr.add_argument("--device", default=t.device, help="auto | cpu | cuda")

    sample = sub.add_parser("sample", help="sample text from a trained charlm run (rnn or lstm) with a temperature")
    sample.add_argument("--run", type=Path, required=True, help="a charlm run folder (metrics.json + model.pt)")
    sample.add_argument("--prime", default="def ", help="text fed in before sampling starts")
    sample.add_argument("--length", type=int, default=300, help="characters to draw")
    sample.add_argument("--temperature", type=float, default=0.7, help="<1 sharper, >1 flatter")
    sample.add_argument("--seed", type=int, default=0)

    study = sub.add_parser("study", help="run a whole study without DVC or MLflow (e.g. on an offline GPU machine)")
    study.add_argument("--params", type=Path, default=Path("params.yaml"))
    study.add_argument("--root", type=Path, default=Path("."), help="where runs/ and reports/ go")
    study.add_argument("--no-report", action="store_true",
                       help="train every cell only (a machine without pandas/scipy/matplotlib); `rnnbench report` later")

    report = sub.add_parser("report", help="write reports/ from the runs of a study already on disk")
    report.add_argument("--params", type=Path, default=Path("params.yaml"))
    report.add_argument("--root", type=Path, default=Path("."), help="where runs/ is and reports/ goes")

    sync = sub.add_parser("sync-mlflow", help="log every run of the study found on disk that MLflow lacks")
    sync.add_argument("--params", type=Path, default=Path("params.yaml"))
    return parser


def data_config(args) -> DataConfig:
    return DataConfig(n_train=args.n_train, n_val=args.n_val, n_test=args.n_test, seed=args.data_seed)


def run_config(args) -> RunConfig:
    options = dict(parse_option(o) for o in args.option)
    return RunConfig(
        task=task_config(args.task, args.length, options),
        model=ModelConfig(args.model, args.hidden_size, args.num_layers, args.forget_bias),
        train=TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, clip_norm=args.clip_norm,
                          eval_every=args.eval_every, early_stop=not args.no_early_stop, device=args.device),
        data=data_config(args), seed=args.seed,
    ).validate()


def load_dataset(folder: Path, task: TaskConfig):
    from .tasks import Dataset

    if not (folder / "meta.json").is_file():
        raise ConfigError(f"data: {str(folder)!r} holds no dataset (meta.json missing); run `rnnbench generate` first")
    dataset = Dataset.load(folder)
    if (dataset.task, dataset.length) != (task.name, task.length):
        raise ConfigError(f"data: {str(folder)!r} holds {dataset.task} T={dataset.length}, "
                          f"not {task.name} T={task.length}")
    return dataset


def command_generate(args) -> int:
    from .tasks import TASKS

    options = dict(parse_option(o) for o in args.option)
    task = task_config(args.task, args.length, options)
    task.validate()
    data = data_config(args)
    data.validate()
    dataset = TASKS[task.name].build(task.length, data, task.options)
    dataset.save(args.out)
    print(f"generated {task.name} T={task.length}: {dataset.meta()['sizes']} -> {args.out} "
          f"(baseline {dataset.metric}={dataset.baseline:.4g}, checksum {dataset.checksum()})")
    return 0


def command_train(args) -> int:
    from .progress import TrainingBar, finished_line
    from .core.run_outputs import write_run
    from .tasks import TASKS
    from .core.train import resolve_device, train

    config = run_config(args)
    try:
        resolve_device(config.train.device)
    except RuntimeError as err:
        raise ConfigError(str(err)) from None
    if args.data:
        dataset = load_dataset(args.data, config.task)
    else:
        dataset = TASKS[config.task.name].build(config.task.length, config.data, config.task.options)
    bar = TrainingBar(f"{config.model.name} {config.task.name} T={config.task.length} s{config.seed}", dataset.metric)
    result = train(config, dataset, on_eval=bar)
    bar.close()
    write_run(args.out, config, result, dataset.checksum())
    print(finished_line(result.final))
    return 0


def command_sample(args) -> int:
    from .config import require_positive
    from .sampling import load_charlm_run, sample_text

    require_positive("length", args.length)
    net, vocab = load_charlm_run(args.run)
    print(sample_text(net, vocab, args.prime, args.length, args.temperature, args.seed))
    return 0


REPORT_MODULES = ("pandas", "scipy", "matplotlib")


def require_modules(names: Sequence[str], purpose: str, remedy: str = "") -> None:
    """Refuse up front, not after an hour of training, when a module a later step imports is missing."""
    import importlib.util

    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"{purpose} needs {', '.join(missing)}, not installed here{remedy}")


def command_study(args) -> int:
    """Every cell of the study in this process, then the report: the DVC pipeline's work without
    DVC's caching or MLflow, for machines without them (the lent GPU box: torch and numpy; with
    --no-report the report is made later, elsewhere, by `rnnbench report`)."""
    import time

    from .core.sweep import train_cell
    from .study import load_study
    from .tasks import TASKS

    require_modules(["yaml"], "reading the params file (PyYAML)")
    if not args.no_report:
        require_modules(REPORT_MODULES, "the report", "; pass --no-report to train only and run `rnnbench report` "
                        "where they are")
    study = load_study(args.params)
    start = time.perf_counter()
    datasets = {}
    for cell in study.cells():
        if (cell.task, cell.length) not in datasets:
            plan = study.tasks[cell.task]
            datasets[cell.task, cell.length] = TASKS[cell.task].build(cell.length, study.data, plan.options)
        train_cell(study, cell, datasets[cell.task, cell.length], args.root)
    print(f"study: {len(study.cells())} cells x {len(study.seeds)} seeds in {(time.perf_counter() - start) / 60:.1f} min")
    if not args.no_report:
        write_study_report(study, args.root)
    return 0


def command_report(args) -> int:
    from .study import load_study

    require_modules(REPORT_MODULES, "the report")
    write_study_report(load_study(args.params), args.root)
    return 0


def write_study_report(study, root: Path) -> None:
    from .report.write import write_report

    for path in write_report(study, root, root / "reports"):
        print(f"wrote {path}")


def command_sync_mlflow(args) -> int:
    from .study import load_study
    from .tracking import sync_study

    created, existing = sync_study(load_study(args.params))
    print(f"mlflow: {created} runs logged now, {existing} already in the store")
    return 0


def stage_main(body) -> None:
    """Run a DVC stage body; bad input is one line on stderr and exit status 2.

    A stage that ends (done or refused) leaves through os._exit: after importing torch, Python's
    own shutdown (final garbage collection, module teardown) takes 0.4 s, once per stage, ~15 s of
    the default study. Every file a stage writes is closed when its `with` block ends and its pools
    are joined by then; stdio and logging are flushed here. Any other exception keeps Python's
    normal exit, traceback first.
    """
    try:
        body()
        code = 0
    except ConfigError as err:
        print(f"rnnbench: error: {err}", file=sys.stderr)
        code = EXIT_BAD_INPUT
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


COMMANDS = {"generate": command_generate, "train": command_train, "sample": command_sample,
            "study": command_study, "report": command_report, "sync-mlflow": command_sync_mlflow}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as err:
        print(f"rnnbench: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
