# needlepen: every target sets itself up; a fresh machine needs only Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TYPED  := protocol driver simulator tui

.PHONY: help install demo test lint pytest qa fuzz mutate bench clean

help:
	@echo "make demo   - start the clinicians' TUI on the built-in simulator"
	@echo "make test   - set up .venv, then ruff, mypy and the test suite (ci profile)"
	@echo "make lint   - ruff, mypy and the import contracts (lint-imports)"
	@echo "make qa     - the safety suites under the thorough hypothesis profile, 50 host kills on PostgreSQL"
	@echo "make fuzz   - time-bounded atheris fuzzing of the decoders and policy loader"
	@echo "make mutate - mutation testing of the safety controls (mutmut), one table"
	@echo "make bench  - benchmarks with same-run baselines"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The demo needs only the package and its runtime dependencies (no test or lint tools).
$(VENV)/.demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

demo: $(VENV)/.demo
	$(BIN)/needlepen tui

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy $(TYPED)
	$(BIN)/lint-imports

# The TUI suite runs in its own process: a smaller heap keeps garbage-collection pauses short,
# so the in-process simulated pen's 300 ms watchdog is never starved by the test runner itself.
pytest: $(STAMP)
	$(BIN)/pytest --ignore=tests/tui
	$(BIN)/pytest tests/tui

test: lint pytest

qa: $(STAMP)
	$(BIN)/pytest tests/safety tests/protocol tests/driver tests/simulator tests/conformance tests/audit --hypothesis-profile=thorough
	NEEDLEPEN_PG_KILLS=50 $(BIN)/pytest tests/audit/test_host_kill_pg.py

$(VENV)/.fuzz: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[fuzz]'
	touch $@

fuzz: $(VENV)/.fuzz
	$(BIN)/python -m tests.fuzz.run --seconds $${FUZZ_SECONDS:-60}

$(VENV)/.mutate: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[mutate]'
	touch $@

# MUTATE_GROUPS (default: all) and MUTATE_WORKERS (default 2); docs/QA.md
mutate: $(VENV)/.mutate
	$(BIN)/python -m tools.mutate --workers $${MUTATE_WORKERS:-2} $${MUTATE_GROUPS:+--groups $$MUTATE_GROUPS}

$(VENV)/.bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

bench: $(VENV)/.bench
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
