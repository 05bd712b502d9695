# ethoflow: two commands set up and run everything.
#   make repro   create .venv, install the locked dependencies, run `dvc repro` on the demo data
#   make test    same environment: ruff (lint + format check), then the whole test suite
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ethoflow-installed
export PATH := $(abspath $(BIN)):$(PATH)
export PYTHONHASHSEED := 0

.PHONY: install repro test lock doctor slurm-start slurm-stop clean-venv

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# DVC's page template for `dvc plots show|diff`, with Vega inlined from the installed panel package (offline).
PLOTS_PAGE := .dvc/plots/page.html
$(PLOTS_PAGE): $(STAMP) .dvc/plots/page.in.html
	$(BIN)/ethoflow report plots-template --source .dvc/plots/page.in.html --out $@

install: $(STAMP) $(PLOTS_PAGE)

# Validate the whole params.yaml first: DVC deletes a stage's outs before running it, so a
# misspelled key must stop here (exit 2, file and key named), before DVC touches any output.
repro: $(STAMP) $(PLOTS_PAGE)
	$(BIN)/ethoflow check-params
	$(BIN)/dvc repro

# Lint and format check first (ruff, configured in pyproject.toml), then the suite on two pytest-xdist
# workers (tests/conftest.py: the real-Slurm modules run one after another on one worker, every other
# module's tests on one worker).
PYTEST_ARGS ?= -n 2
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

doctor: $(STAMP)
	$(BIN)/ethoflow doctor

# Re-resolve requirements.lock from pyproject.toml in a scratch environment.
lock:
	rm -rf .venv-lock && $(PY) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q --upgrade pip
	.venv-lock/bin/python -m pip install -q torch==2.13.0 -e '.[dev]'
	{ echo "# Locked dependencies for ethoflow (Python 3.11, Linux x86-64, CPU)."; \
	  echo "# Regenerate with 'make lock' after changing pyproject.toml."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | sed -e 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > requirements.lock
	rm -rf .venv-lock

slurm-start:
	sudo -n true 2>/dev/null && sudo scripts/local-slurm.sh start || scripts/local-slurm.sh start

slurm-stop:
	scripts/local-slurm.sh stop

clean-venv:
	rm -rf $(VENV)
