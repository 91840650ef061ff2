# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
CHAOS_ARGS  ?=
FUZZ_ARGS   ?=

.PHONY: help install run test test-fast chaos fuzz lint format screenshots clean

help:
	@echo "make run        start everything (embedded Redis, SQLite, sandboxes, web, worker, beat, Flower)"
	@echo "make test       run the whole test suite"
	@echo "make test-fast  the suite without the slow chaos runs"
	@echo "make chaos      events under kills, Redis restarts, GHL and CRM faults (a few minutes)"
	@echo "make fuzz       thousands of hostile requests at the receiver, a worker behind it"
	@echo "make lint       ruff and mypy"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/socialbridge dev

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest --skip-slow $(PYTEST_ARGS)

# Both start every process in a temporary folder, print their figures and fail with a report
# (docs/reliability.md). chaos runs on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set.
chaos: install
	$(BIN)/python -m tests.faults.chaos $(CHAOS_ARGS)

fuzz: install
	$(BIN)/python -m tests.faults.fuzz $(FUZZ_ARGS)

# The console's pictures in docs/console.md, taken by its browser tests.
screenshots: install
	$(BIN)/python -m pytest tests/browser --screenshots docs/screenshots $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
