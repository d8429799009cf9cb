# The two set-up commands of the README: `make study` (the main job) and `make test`.
# Each creates the virtual environment from the lock file when it is missing or stale.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# --compile-bytecode: as pip does. Without it every import compiles from source again wherever
# PYTHONDONTWRITEBYTECODE is set, as on this project's CI hosts (docs/measurements.md).
UV = $(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python
# Where torch comes from: the default index here; CI on GitHub passes the CPU wheel index.
TORCH_INDEX ?=

.PHONY: study test try exp-show sync-mlflow mlflow-ui long-piece long-pause long-resume long-report clean-venv
# Where `make try` writes: outside the repository, so the committed reports/ stay as they are.
TRY ?= /tmp/rnnbench-try

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: this takes the local CPU wheel here and the CUDA build on a GPU machine.
	$(BIN)/python -m pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	# The rest by uv, from the same lock file: it fetches in parallel, several times faster than pip
	# on a fresh machine (docs/measurements.md), and keeps the torch above, which the lock pins too.
	$(BIN)/python -m pip install -q uv==0.13.9
	$(UV) -c constraints.txt -e '.[study]'
	touch $@

# The tests' own extras (pytest, import-linter, Ray) on top: the main job does not install them.
$(VENV)/.installed-test: $(VENV)/.installed
	$(UV) -c constraints.txt -e '.[study,test]'
	touch $@

# Stage commands call `python`: put the venv first on PATH so they run in it.
RUN := PATH="$(CURDIR)/$(BIN):$$PATH"

study: $(VENV)/.installed
	$(RUN) dvc repro

# Two pytest workers, a test file each at a time: the two end-to-end files (conftest puts them
# first) run beside each other and the unit files (CI on 2 cores: docs/measurements.md).
# PYTHONDONTWRITEBYTECODE emptied: the suite starts hundreds of Python processes (every DVC stage),
# which then compile rnnbench once, not each time (.dvcignore keeps __pycache__ out of the hashes).
test: $(VENV)/.installed-test
	$(RUN) PYTHONDONTWRITEBYTECODE= python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

try: $(VENV)/.installed
	$(RUN) rnnbench study --params studies/tiny.yaml --root $(TRY)
	@echo "the smoke-test report: $(TRY)/reports/report.md"

# The headline of `dvc exp show` (every param and dependency hash makes ~170 columns).
exp-show: $(VENV)/.installed
	$(RUN) dvc exp show --drop '.*' --keep 'Experiment|Created|seeds|points|.*t50|.*critical_length|.*critical_censored|.*_at_longest'

sync-mlflow: $(VENV)/.installed
	$(RUN) rnnbench sync-mlflow

# A fresh clone has no run folders (DVC's) and no store: the committed export rebuilds it first.
mlflow-ui: $(VENV)/.installed
	test -f mlflow.db || $(RUN) rnnbench sync-mlflow --from-export reports/mlflow_runs.jsonl.gz
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port 5000

# The long CPU study (studies/long-cpu.yaml) is longer than one sitting, so it runs in pieces: each
# `make long-piece` continues from the finished runs (kill it at any point) and appends its start
# and end to $(LONG)/pieces.log; `make long-report` writes reports/long/ from what has run.
LONG ?= ../rnnbench-long
long-piece: $(VENV)/.installed
	mkdir -p $(LONG)
	echo "piece start $$(date -u +%FT%TZ) commit $$(git rev-parse --short HEAD)" >> $(LONG)/pieces.log
	$(RUN) rnnbench study --params studies/long-cpu.yaml --root $(LONG) --no-report; \
	  echo "piece end $$(date -u +%FT%TZ) rc $$?" >> $(LONG)/pieces.log

# Stop a running piece's processes where they are (the host is wanted for something else) and let
# them go on; pieces.log records both, and the report leaves the pause out of the running time.
# ("[-]-params": a pattern that matches the study's processes and not the shell running pkill.)
long-pause:
	pkill -STOP -f '[-]-params studies/long-cpu.yaml --root $(LONG)' && echo "paused $$(date -u +%FT%TZ)" >> $(LONG)/pieces.log

long-resume:
	pkill -CONT -f '[-]-params studies/long-cpu.yaml --root $(LONG)' && echo "resumed $$(date -u +%FT%TZ)" >> $(LONG)/pieces.log

long-report: $(VENV)/.installed
	$(RUN) rnnbench report --params studies/long-cpu.yaml --root $(LONG)
	rm -rf reports/long && cp -r $(LONG)/reports reports/long && cp $(LONG)/pieces.log reports/long/

clean-venv:
	rm -rf $(VENV)
