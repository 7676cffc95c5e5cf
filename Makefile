# National population and identity registry: the everyday commands.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
PIPFLAGS := --quiet --disable-pip-version-check
PYTEST_ARGS ?= -n 4  # the suite waits on PostgreSQL, Chromium and sockets more than on the CPU
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench fuzz format clean install install-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install $(PIPFLAGS) --upgrade pip setuptools wheel

# Reinstall when the dependency list changes (the stamp is older than pyproject.toml).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install $(PIPFLAGS) -e . --config-settings editable_mode=compat
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install $(PIPFLAGS) -e ".[test,dev]" --config-settings editable_mode=compat
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## make run: migrate the embedded SQLite database, load a demo population, serve on $(HOST):$(PORT)
run: $(VENV)/.installed
	$(BIN)/registry migrate
	$(BIN)/registry demo
	$(BIN)/registry serve --host $(HOST) --port $(PORT)

## make test: the whole suite, against a throwaway PostgreSQL it starts itself and SQLite
test: $(VENV)/.installed-test
	$(BIN)/pytest $(PYTEST_ARGS)

## make lint: ruff, mypy --strict, and the layer contract
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## make bench: every benchmark under bench/ (never part of make test); BENCH="import --quick" for one
bench: $(VENV)/.installed-test
	$(BIN)/python -m bench $(BENCH)

## make fuzz: run each fuzz target for a bounded time
fuzz: $(VENV)/.installed-test
	$(PIP) install $(PIPFLAGS) -e ".[fuzz]" --config-settings editable_mode=compat
	$(BIN)/python -m fuzz --seconds $(or $(SECONDS),60)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .hypothesis
