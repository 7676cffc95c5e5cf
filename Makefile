# National population and identity registry: the everyday commands.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
PIPFLAGS := --quiet --disable-pip-version-check
# The suite waits on PostgreSQL, Chromium and sockets more than on the CPU; tests/bench (one
# xdist group) runs the benches' tiny modes one after the other on one worker.
PYTEST_ARGS ?= -n 4 --dist loadgroup
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

# argon2id is most of a password sign-in's CPU. The PyPI wheel of argon2-cffi-bindings is
# compiled for SSE2; the Argon2 code it vendors (phc-winner-argon2, opt.c) has an AVX2 path,
# which computes the same hashes (tests/identity/test_passwords.py checks RFC 9106's vector) in
# much less CPU (docs/performance.md, "AVX2 build of argon2").
# So on an x86-64 CPU with AVX2 the bindings are rebuilt from source once installed (a C
# compiler; pip fetches CMake if it is missing). Elsewhere, or with ARGON2_WHEEL=1, the wheel
# stays. A venv built so needs a CPU with AVX2 (every x86-64 server CPU since 2013-2015).
ARGON2_AVX2 := $(if $(ARGON2_WHEEL),,$(shell test "$$(uname -m)" = x86_64 && grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo yes))

$(VENV)/.argon2: pyproject.toml | $(VENV)/.installed
ifeq ($(ARGON2_AVX2),yes)
	ARGON2_CFFI_USE_SSE2=1 CFLAGS="-O3 -mavx2" $(PIP) install $(PIPFLAGS) --no-cache-dir \
	  --force-reinstall --no-deps --no-binary argon2-cffi-bindings \
	  "argon2-cffi-bindings==$$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("argon2-cffi-bindings"))')" \
	  || echo "argon2-cffi-bindings: the AVX2 build failed; the wheel stays (slower, same hashes)"
endif
	@touch $@

# The editable install compiles audit/_native.c and registry/_native*.c once; rebuild them when
# their C changes, so that the tests (tests/registry/test_native_rules.py holds the row check to
# registry/record.py's rules) run against the C in the tree.
$(VENV)/.native: audit/_native.c $(wildcard registry/_native*.c registry/_native.h) setup.py | $(VENV)/.installed
	$(BIN)/python setup.py --quiet build_ext --inplace
	@touch $@

install: $(VENV)/.installed $(VENV)/.argon2
install-test: $(VENV)/.installed-test $(VENV)/.argon2

## make run: migrate the embedded SQLite database, load a demo population, serve on $(HOST):$(PORT)
run: $(VENV)/.installed $(VENV)/.argon2
	$(BIN)/registry migrate
	$(BIN)/registry demo
	$(BIN)/registry serve --host $(HOST) --port $(PORT)

test: $(VENV)/.native

## make test: the whole suite, against a throwaway PostgreSQL it starts itself and SQLite
test: $(VENV)/.installed-test $(VENV)/.argon2
	$(BIN)/pytest $(PYTEST_ARGS)

## make lint: ruff, mypy --strict, the layer contract, and every page message in its catalog
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python tools/catalogs.py check

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## make bench: every benchmark under bench/ (make test runs each in its tiny mode); BENCH="import --quick" for one
bench: $(VENV)/.installed-test $(VENV)/.argon2
	$(BIN)/python -m bench $(BENCH)

## make fuzz: run each fuzz target for a bounded time
fuzz: $(VENV)/.installed-test
	$(PIP) install $(PIPFLAGS) -e ".[fuzz]" --config-settings editable_mode=compat
	$(BIN)/python -m fuzz --seconds $(or $(SECONDS),60)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .hypothesis
