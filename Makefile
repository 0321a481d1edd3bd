# The two commands of the README: `make demo` (set up + run the main job on the
# local stack) and `make test` (set up + `make lint` + the whole test suite). Both install
# everything they need into .venv first, once, and again when pyproject.toml or
# requirements.lock changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
UV := UV_PYTHON_DOWNLOADS=never $(BIN)/uv
# `make lock LOCK_ARGS=--upgrade` moves every package to the newest version its range allows;
# without it, versions already in the lock stay and only what pyproject.toml changed moves.
LOCK_ARGS ?=
DEMO_SPEC ?= jobs/examples/stream-inline.yaml
DEMO_REPORT ?= jobs/examples/results/$(basename $(notdir $(DEMO_SPEC))).report.html
# Two pytest-xdist workers (the suite's fixtures are per worker, see tests/conftest.py);
# groups keep a module-scoped fixture on one worker; no reorder keeps the long tests first.
PYTEST_ARGS ?= -n 2 --dist loadgroup --no-loadscope-reorder
# Every Python process these targets start caches the bytecode of what it imports (a `.pyc` beside
# each module, written once, atomically), even where PYTHONDONTWRITEBYTECODE is set, as on this
# machine and CI: otherwise each of the hundreds of `claude-jobs` processes the tests start would
# compile the SDKs it imports again (about 2 s of CPU for anthropic + the Google clients). Only what
# is imported is compiled: `uv --compile-bytecode` compiled all 14,000 modules of the venv (25 s).
export PYTHONDONTWRITEBYTECODE :=

.PHONY: install lock demo lint system-packages test bench clean

install: $(STAMP)

# Exactly the versions of requirements.lock ([local,dev]: the local stack, Pulumi, the test and
# lint tools), synced by uv (itself pinned there), then this project, editable, with no deps.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$$(grep -m1 '^uv==' $(LOCK) | cut -d' ' -f1)"
	$(UV) pip sync --quiet --python $(BIN)/python $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-* && touch $@

# Re-resolve requirements.lock from pyproject.toml's ranges (for every platform, Python >= 3.11), with
# the hash of every file, so an install gets the very files that were tested.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet "$$(grep -m1 '^uv==' $(LOCK) | cut -d' ' -f1 | grep . || echo uv)"
	$(UV) pip compile --quiet pyproject.toml --extra local --extra dev --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" $(LOCK_ARGS) -o $(LOCK)

demo: $(STAMP)
	$(BIN)/claude-jobs run $(DEMO_SPEC)
	@echo "--- results:" && $(BIN)/claude-jobs results $(DEMO_SPEC) --format table
	@echo "--- report:" && $(BIN)/claude-jobs report $(DEMO_SPEC) --output $(DEMO_REPORT)

# ruff (lint + format), the import contracts of docs/internals.md, mypy (pyproject.toml configures each).
lint: $(STAMP)
	$(BIN)/ruff check runner infra tests bench
	$(BIN)/ruff format --check runner infra tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

# The lint gate first (a failing check stops here), then the tests.
# Debian packages the tests use: curl (the seed pages' curl samples, run as written) and chromium
# (the report's browser tests). Installed with apt-get when missing; without root or sudo, one line
# says what to install (the browser tests then skip, except under CI=true where they fail; the
# curl samples fail).
system-packages:
	@missing=""; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
	  else echo "make test: the tests need Debian packages it cannot install without root: apt-get install$$missing"; exit 0; fi; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq$$missing; \
	fi

test: system-packages lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	-$(BIN)/claude-jobs local down
	rm -rf $(VENV) .claude-jobs .pytest_cache jobs/examples/results
