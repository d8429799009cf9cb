"""The `rnnbench` command. Everything is parsed and validated here, once, before any work starts;
a bad value is one line on stderr naming the flag (and its config key) and what is allowed, exit 2.

`rnnbench train` trains exactly as the study does: with `--config` it runs one seed of a cell's
configs file; otherwise it resolves the cell's settings from params.yaml with the study's own
layering, then applies the flags given. Either way one torch thread, and every output a study run
writes, diagnostics included.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import yaml

from . import __version__
from .config import (HAND_SET, SHARED, ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig,
                     read_run_configs, require_positive)
from .process_exit import EXIT_BAD_INPUT, EXIT_FAILED_RUN, EXIT_INTERRUPTED
from .models import MODELS, model_options
from .progress import VERBOSITY_ENV, say
from .study import Cell, load_study, plan_task, require_fits_in_memory
from .tasks import TASKS, Dataset, resolve_task
from .training.run_outputs import staged_folder
from .training.sweep import one_torch_thread, train_seed
from .training.trainer import resolve_device

EXECUTORS = ("local", "ray")
# The flag a user typed for each config key, so that an error names what was typed.
FLAGS = {"train.steps": "--steps", "train.batch_size": "--batch-size", "train.lr": "--lr",
         "train.clip_norm": "--clip-norm", "train.eval_every": "--eval-every", "train.device": "--device",
         "model.hidden_size": "--hidden-size", "model.num_layers": "--num-layers", "model.options": "--model-option",
         "model.name": "--model", "model": "--model", "task": "--task", "task.length": "--length",
         "task.options": "--option", "seed": "--seed", "data": "--data", "params": "--params"}
TRAIN_FLAGS = ("steps", "batch_size", "lr", "clip_norm", "eval_every", "device")  # TrainConfig fields
MODEL_FLAGS = ("hidden_size", "num_layers")  # ModelConfig fields


def with_flag(message: str) -> str:
    """Prefix a config error with the flag behind its key: `--lr (train.lr): must be ...`."""
    key = message.split(":", 1)[0]
    for prefix in sorted(FLAGS, key=len, reverse=True):
        if key == prefix or key.startswith(prefix + "."):
            return f"{FLAGS[prefix]} ({key}){message[len(key):]}"
    return message


def parse_option(text: str, key: str = "task.options") -> tuple[str, object]:
    if "=" not in text:
        raise ConfigError(f"{key}: expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):  # not JSON (or nested too deep): the text itself
        value = raw
    return key, value


def params_defaults(path: Path) -> dict[str, Any]:
    """The shared model/train values of a params file, for --help; {} when it cannot be read."""
    try:
        params = yaml.safe_load(path.read_text()) or {}
        return {**(params.get("model") or {}), **(params.get("train") or {})}
    except Exception:  # noqa: BLE001 -- help text only; the command itself reports a bad file
        return {}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every flag's default in its help, unless it has none or its help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (not action.option_strings or "default" in text or action.default is None or action.default is False
                or action.default == [] or action.default is argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """A bad flag is one line (`--help` shows the usage), exit 2, with the nearest known flag or
    command when one is close ("did you mean --steps?"); its subcommands' parsers are Parsers too."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}{did_you_mean(self, message)}\n")


def known_words(parser: argparse.ArgumentParser) -> list[str]:
    """Every flag and subcommand name of `parser` and of its subcommands' parsers."""
    words = []
    for action in parser._actions:
        words += action.option_strings
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words += [name, *known_words(sub)]
    return words


def did_you_mean(parser: argparse.ArgumentParser, message: str) -> str:
    """"; did you mean X?" for the first unknown flag or choice in an argparse message, else ""."""
    import difflib
    import re

    typed = re.findall(r"unrecognized arguments: (\S+)", message) or re.findall(r"invalid choice: '([^']+)'", message)
    if not typed:
        return ""
    word = typed[0].split("=")[0]
    close = difflib.get_close_matches(word, [w for w in known_words(parser) if w != word], n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""  # a word right elsewhere is no suggestion here


def build_parser(params: Path = Path("params.yaml")) -> argparse.ArgumentParser:
    parser = Parser(prog="rnnbench", description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"rnnbench {__version__}")
    talk = parser.add_mutually_exclusive_group()
    talk.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const="quiet",
                      help="only failures, warnings and each stage's last line (no bars, no per-run lines)")
    talk.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const="verbose",
                      help="a line per evaluation in a log (normal: per quarter of a run's budget); "
                           f"for `dvc repro`, set {VERBOSITY_ENV}=quiet|verbose instead")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser = sub.add_parser
    sub.add_parser = lambda *a, **k: add_parser(*a, formatter_class=HelpFormatter, **k)
    models = ", ".join(MODELS.names())
    tasks = ", ".join(TASKS.names())

    gen = sub.add_parser("generate", help="generate one task's dataset at one length")
    gen.add_argument("--task", required=True, help=f"{tasks}, or an import path pkg.module.Class")
    gen.add_argument("--length", type=int, required=True, help="sequence length T")
    gen.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="a task option (repeatable)")
    gen.add_argument("--params", type=Path, default=params, help="data sizes and task options from here")
    gen.add_argument("--out", type=Path, required=True, help="folder for train/val/test.npz + meta.json")

    shared = params_defaults(params)
    t, m = TrainConfig(), ModelConfig()

    def default(name: str, fallback: Any) -> str:
        source = f"{params} " if name in shared else "built-in "
        return f"default: {shared.get(name, fallback)!r} ({source}value; tasks.<t>.train / per_model.<m> entries win)"

    tr = sub.add_parser("train", help="train one run exactly as the study does, outputs and diagnostics included")
    what = tr.add_argument_group("what to train")
    what.add_argument("--config", type=Path, help="a cell's configs file (configs/<task>-<length>/<model>.json): "
                    "reproduces that study run bit for bit on CPU")
    what.add_argument("--task", help=f"{tasks}, or an import path pkg.module.Class")
    what.add_argument("--model", help=f"{models}, or an import path pkg.module.Class (or pkg.module:Class)")
    what.add_argument("--length", type=int, help="sequence length T")
    what.add_argument("--seed", type=int, default=0, help="the run's seed (init, batches)")
    what.add_argument("--params", type=Path, default=params, help="the study whose settings a cell gets")
    what.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="a task option (repeatable)")
    files = tr.add_argument_group("data and outputs")
    files.add_argument("--out", type=Path, required=True, help="the run folder: metrics.json, history.csv, model.pt, "
                       "gradflow.csv, gates.npz")
    files.add_argument("--replace", action="store_true", help="replace an existing non-empty --out folder whole")
    files.add_argument("--data", type=Path, help="a folder written by `rnnbench generate` or the study "
                       "(default: generate in memory)")
    net = tr.add_argument_group("model (override the study's values)")
    for name in ("hidden_size", "num_layers"):
        net.add_argument(f"--{name.replace('_', '-')}", type=int, help=default(name, getattr(m, name)))
    net.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                     help="one of the model's own options (repeatable), e.g. forget_bias=0 for an LSTM")
    opt = tr.add_argument_group("training (override the study's values)")
    for name in ("steps", "batch_size", "eval_every"):
        opt.add_argument(f"--{name.replace('_', '-')}", type=int, help=default(name, getattr(t, name)))
    opt.add_argument("--lr", type=float, help=default("lr", t.lr))
    opt.add_argument("--clip-norm", type=float, help=default("clip_norm", t.clip_norm) + "; 0 turns clipping off")
    opt.add_argument("--no-early-stop", action="store_true", help="train the whole budget even once solved")
    opt.add_argument("--device", choices=("auto", "cpu", "cuda"), help=default("device", t.device))

    check = sub.add_parser("check-model", help="check a model: shapes, backward, a short smoke training, "
                           "parameter count, diagnostics")
    check.add_argument("model", help=f"{models}, or an import path pkg.module.Class")
    check.add_argument("--hidden-size", type=int, default=16, help="the cell's hidden size")
    check.add_argument("--steps", type=int, default=300, help="smoke training steps on adding T=10")

    sample = sub.add_parser("sample", help="sample text from a trained charlm run with a temperature (rnn, lstm: by the NumPy reference)")
    sample.add_argument("--run", type=Path, required=True, help="a charlm run folder (metrics.json + model.pt)")
    sample.add_argument("--prime", default="ROMEO:", help="text fed in before sampling starts")
    sample.add_argument("--length", type=int, default=300, help="characters to draw")
    sample.add_argument("--temperature", type=float, default=0.7, help="<1 sharper, >1 flatter")
    sample.add_argument("--seed", type=int, default=0, help="the sampling generator's seed")
    sample.add_argument("--trust-model", action="append", default=[], metavar="IMPORT.PATH",
                        help="build this model named by import path in the run's record (its code runs); "
                             "registry models need no trust")

    study = sub.add_parser("study", help="run a whole study without DVC or MLflow (e.g. on an offline GPU machine)")
    study.add_argument("--params", type=Path, default=params, help="the study file")
    study.add_argument("--root", type=Path, default=Path("."), help="where runs/ and reports/ go")
    study.add_argument("--no-report", action="store_true",
                       help="train every cell only (a machine without pandas/scipy/matplotlib); `rnnbench report` later")

    report = sub.add_parser("report", help="write reports/ from the runs of a study already on disk")
    report.add_argument("--params", type=Path, default=params, help="the study file")
    report.add_argument("--root", type=Path, default=Path("."), help="where runs/ is and reports/ goes")

    disp = sub.add_parser("dispatch", help="train the study's stale cells on an executor (processes here, or Ray) "
                          "and leave the repository as `dvc repro` would")
    disp.add_argument("--executor", choices=EXECUTORS, default="local",
                      help="local: worker processes on this machine; ray: a Ray cluster (local on 127.0.0.1 "
                      "unless --address or RAY_ADDRESS)")
    disp.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                      help="runs at once (local), or the CPUs of a local Ray cluster; default: the CPU count")
    disp.add_argument("--address", help="a running Ray cluster's address (ray only; default RAY_ADDRESS)")
    disp.add_argument("--cpus-per-run", type=float, default=1.0,
                      help="Ray CPUs each run (a seed of a cell) asks for (ray only)")
    disp.add_argument("--gpus-per-run", type=float, default=0.0, help="Ray GPUs each run asks for, fractions "
                      "allowed (ray only); a fraction also caps the run's share of GPU memory. With GPUs a job "
                      "is a whole cell, whose seeds train as one stack unless params say `engine: processes`")

    sync = sub.add_parser("sync-mlflow", help="log every run of the study found on disk that MLflow lacks")
    sync.add_argument("--params", type=Path, default=params, help="the study file")
    sync.add_argument("--from-export", type=Path, metavar="FILE",
                      help="log the runs of a committed export instead (reports/mlflow_runs.jsonl.gz: a fresh "
                      "clone's store, rebuilt without training or run folders)")
    return parser


def resolved_config(args) -> RunConfig:
    """One run's config: a seed of a cell's configs file, or the study's layering for the cell the
    flags name with the flags given on top."""
    if args.config:
        given = [flag for flag in ("task", "model", "length", *MODEL_FLAGS, *TRAIN_FLAGS)
                 if getattr(args, flag) is not None] + (["option"] if args.option else []) + \
            (["model_option"] if args.model_option else [])
        if given or args.no_early_stop:
            flag = "--" + (given[0] if given else "no_early_stop").replace("_", "-")
            raise ConfigError(f"{flag}: not with --config, which holds the run's every setting")
        configs = {c.seed: c for c in read_run_configs(args.config)}
        if args.seed not in configs:
            raise ConfigError(f"--seed: {args.config} has seeds {sorted(configs)}, not {args.seed}")
        config = configs[args.seed]
        # As the flags are checked below: a name or length no run could train is refused before any work.
        where = f"--config {args.config}"
        MODELS.resolve(config.model.name, f"{where} model.name")
        resolve_task(config.task.name, f"{where} task.name").validate_length(config.task.length, f"{where} task.length")
        require_fits_in_memory(f"{where} task.length", config.data.n_train + config.data.n_val + config.data.n_test,
                               config.task.length)
        return config.validate()
    missing = [f"--{name}" for name in ("task", "model", "length") if getattr(args, name) is None]
    if missing:
        raise ConfigError(f"{missing[0]}: required without --config")
    if not args.params.is_file():
        raise ConfigError(f"--params: no such file {str(args.params)!r}; the study's settings come from it")
    study = load_study(args.params)
    model = MODELS.canonical(args.model, "model")
    chosen = resolve_task(args.task, "task")
    chosen.validate_length(args.length, "task.length")
    task = chosen.name
    tuned = None
    if args.lr is None and task in study.model_tasks(model) and study.lr_source(model, task) not in (HAND_SET, SHARED):
        try:  # the study's own choice, where its tune stage has made it
            tuned = study.tuned_lr(model, task, args.params.parent)
        except ConfigError:  # not tuned yet: the untuned layering, said so once training starts
            args.lr_note = (f"rnnbench: note: {model}'s lr on {task} is chosen by the study's tuning, which has not "
                            f"run here (no {args.params.parent / 'tuning' / (model + '.json')}); training with "
                            "train.lr instead (`dvc repro` tunes it, --lr sets it)")
    config = study.run_config(Cell(task, model, args.length), args.seed, tuned)
    options = dict(parse_option(o) for o in args.option)
    if options:
        plan = plan_task(task, {"options": {**config.task.options, **options}}, "task")
        config = replace(config, task=replace(config.task, options=plan.options))
    train_flags = {k: getattr(args, k) for k in TRAIN_FLAGS if getattr(args, k) is not None}
    if args.no_early_stop:
        train_flags["early_stop"] = False
    model_flags = {k: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k) is not None}
    own = dict(parse_option(o, "model.options") for o in args.model_option)
    if own:
        model_flags["options"] = model_options(model, {**config.model.options, **own}, "model.options")
    config = replace(config, train=replace(config.train, **train_flags), model=replace(config.model, **model_flags))
    MODELS.resolve(config.model.name, "model")
    return config.validate()


def require_free_out(out: Path, replace_existing: bool) -> None:
    """Refuse to mix two runs in one folder: an existing non-empty --out is replaced whole (by the
    staged run, once it is written) or not at all."""
    here = Path.cwd().resolve()
    if out.resolve() == here or out.resolve() in here.parents or (out / ".git").exists():
        # replacing it whole would take the working directory (and a repository) with it
        raise ConfigError(f"--out: {str(out)!r} is the working directory, one above it or a repository; "
                          "name a run folder, e.g. runs/demo")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not replace_existing:
        raise ConfigError(f"--out: {str(out)!r} exists and is not empty; pass --replace to replace it whole")


def command_generate(args) -> int:
    study = load_study(args.params) if args.params.is_file() else None
    task = resolve_task(args.task, "task")
    task.validate_length(args.length, "task.length")
    base = study.task_plan(task.name).options if study else {}
    options = task.resolved_options({**base, **dict(parse_option(o) for o in args.option)}, "task.options")
    data = study.data if study else DataConfig()
    require_fits_in_memory("--length", data.n_train + data.n_val + data.n_test, args.length)
    dataset = task.build(args.length, data, options)
    dataset.save(args.out)
    say(f"generated {task.name} T={args.length}: {dataset.meta()['sizes']} -> {args.out} "
          f"(baseline {dataset.metric}={dataset.baseline:.4g}, checksum {dataset.checksum()})", sys.stdout)
    return 0


def command_train(args) -> int:
    config = resolved_config(args)
    try:
        resolve_device(config.train.device)
    except RuntimeError as err:
        raise ConfigError(str(err)) from None
    task = resolve_task(config.task.name)
    dataset = (Dataset.load_checked(args.data, config.task.name, config.task.length, options=config.task.options)
               if args.data else task.build(config.task.length, config.data, config.task.options))
    require_free_out(args.out, args.replace)
    if getattr(args, "lr_note", None):  # after every check: a refusal stays one line
        say(args.lr_note)
    # Staged as a study cell is: the old --out stays until the new run is written, then is replaced whole.
    with staged_folder(args.out) as staging, one_torch_thread():  # one thread, as every study run
        record = train_seed(config, dataset, dataset.checksum(), staging, shown_as=args.out)
    return 1 if record.get("failed") else 0


def command_check_model(args) -> int:
    from .model_check import check_model

    require_positive("--hidden-size", args.hidden_size)
    require_positive("--steps", args.steps)
    print(check_model(args.model, args.hidden_size, args.steps))
    return 0


def command_sample(args) -> int:
    from .sampling import load_charlm_run, sample_text

    require_positive("--length", args.length)
    net, vocab = load_charlm_run(args.run, trusted=args.trust_model)
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
    """Every step of the study in this process (steps/sequence.py): the DVC pipeline's work without
    DVC's caching or MLflow, for machines without them (the lent GPU box: torch and numpy; with
    --no-report the report is made later, elsewhere, by `rnnbench report`)."""
    if not args.no_report:
        require_modules(REPORT_MODULES, "the report", "; pass --no-report to train only and run `rnnbench report` "
                        "where they are")
    from .steps.sequence import run_study

    return run_study(load_study(args.params), args.root, with_report=not args.no_report)


def command_report(args) -> int:
    require_modules(REPORT_MODULES, "the report")
    write_study_report(load_study(args.params), args.root)
    return 0


def write_study_report(study, root: Path) -> None:
    from .report.write import write_report

    for path in write_report(study, root, root / "reports"):
        say(f"wrote {path}", sys.stdout)


def check_ray_address(address: str | None) -> None:
    """A cluster address Ray can join, answering now: one line naming --address otherwise (Ray itself
    waits on an address nobody answers for over 10 minutes, deaf to SIGTERM)."""
    import socket

    if not address or address == "auto":
        return
    if address.startswith("ray://"):
        raise ConfigError(f"--address: {address!r} is a Ray Client address, which dispatch does not use; give the head "
                          "node's cluster address host:port (e.g. 10.0.0.5:6379), or leave --address out for a local cluster")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--address: {address!r} is not host:port (e.g. 10.0.0.5:6379) or 'auto'")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as err:
        raise ConfigError(f"--address: nothing answers at {address} ({err.strerror or err}); start the cluster "
                          "(`ray start --head`) or leave --address out for a local one") from None


def command_dispatch(args) -> int:
    """Parsed and checked here, before DVC or any worker starts."""
    from .dispatch.driver import DispatchError, dispatch

    if args.jobs < 1:
        raise ConfigError(f"--jobs: must be a positive integer, got {args.jobs}")
    for flag in ("cpus_per_run", "gpus_per_run"):
        value = getattr(args, flag)
        if not math.isfinite(value) or value < 0 or (flag == "cpus_per_run" and value == 0):
            raise ConfigError(f"--{flag.replace('_', '-')}: must be a finite number "
                              f"{'> 0' if flag == 'cpus_per_run' else '>= 0'}, got {value}")
    if args.executor != "ray" and (args.address or args.cpus_per_run != 1.0 or args.gpus_per_run):
        raise ConfigError("--address, --cpus-per-run, --gpus-per-run: only with --executor ray")
    require_modules(("dvc",), "dispatch", "; install the study extra")
    if args.executor == "ray":
        check_ray_address(args.address or os.environ.get("RAY_ADDRESS"))
    study = load_study("params.yaml")  # the study DVC runs: params.yaml in the repository root
    if args.executor == "ray":
        require_modules(("ray",), "--executor ray", "; pip install 'rnnbench[ray]'")
        from .dispatch.executors import RayExecutor

        def open_executor():
            try:
                return RayExecutor(args.jobs, args.address, args.cpus_per_run, args.gpus_per_run)
            except Exception as err:  # noqa: BLE001 -- Ray's own start-up failures, said in one line
                cause = " ".join(str(err).split())[:300] or type(err).__name__
                raise DispatchError(f"Ray could not start ({type(err).__name__}: {cause})") from None
    else:
        from .dispatch.executors import LocalExecutor

        def open_executor():
            return LocalExecutor(args.jobs)
    try:
        # A GPU worker gets a whole cell, so that its seeds can train as one stack (params `engine`).
        whole_cells = args.gpus_per_run > 0 and study.execution.engine != "processes"
        return dispatch(study, open_executor, whole_cells)
    except DispatchError as err:
        print(f"rnnbench: dispatch stopped: {err}", file=sys.stderr)
        return EXIT_FAILED_RUN
    except KeyboardInterrupt:
        print("rnnbench: dispatch interrupted; the cells that landed are committed, the rest stay stale",
              file=sys.stderr)
        return EXIT_INTERRUPTED


def command_sync_mlflow(args) -> int:
    from .tracking import import_export, sync_study, tracking_uri

    if args.from_export is not None and not args.from_export.is_file():
        raise ConfigError(f"--from-export: no such file {str(args.from_export)!r} (the report stage writes "
                          "reports/mlflow_runs.jsonl.gz)")
    study = load_study(args.params) if args.from_export is None else None
    try:
        synced = import_export(args.from_export) if study is None else sync_study(study)
    except ConfigError:
        raise
    except Exception as err:  # noqa: BLE001 -- any store failure, in one line as the report stage says it
        cause = " ".join(str(err).split())[:300] or type(err).__name__
        raise ConfigError(f"MLFLOW_TRACKING_URI: logging the runs to {tracking_uri()} failed "
                          f"({type(err).__name__}: {cause})") from None
    print(synced.line())
    return 0


COMMANDS = {"generate": command_generate, "train": command_train, "check-model": command_check_model,
            "sample": command_sample, "study": command_study, "report": command_report,
            "sync-mlflow": command_sync_mlflow, "dispatch": command_dispatch}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbosity:  # through the environment: the stages and workers it starts say as much
        os.environ[VERBOSITY_ENV] = args.verbosity
    try:
        return COMMANDS[args.command](args)
    except ConfigError as err:
        print(f"rnnbench: error: {with_flag(str(err))}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
