# Two commands for a newcomer: `make demo` (set up, run the main job on the embedded data) and
# `make test` (set up, lint, run the fast test suite). Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup demo test test-slow test-gpu lint format clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# The demo: the default search (digits, stages space, TPE) at a demo's budget, 8 trials of 2 proxy epochs,
# so that it ends in about five minutes on a 2-core machine (benchmarks/README.md, "The default demo").
demo: setup
	$(BIN)/espnas search --trials 8 --proxy-epochs 2

test: setup lint
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

test-gpu: setup
	$(BIN)/python -m pytest -q -m gpu

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
