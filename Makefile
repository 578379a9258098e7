# The two commands of the README. Each does its own idempotent set-up first (scripts/setup.sh).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export SITETWIN_DATA_DIR ?= $(CURDIR)/instance

.PHONY: setup test test-quick demo bench clean

setup:
	@PYTHON=$(PYTHON) VENV=$(VENV) scripts/setup.sh

## make test: install, then run the whole suite (SQLite and PostgreSQL, real models, slow tests).
test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make test-quick: the suite without the slow tests.
test-quick: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

## make demo: install, build the sample, run the loop on it, and show the result.
demo: setup
	scripts/demo.sh

## make bench: the benchmarks of bench/, written to docs/benchmarks.md.
bench: setup
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) instance .pytest_cache
