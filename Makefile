# The two commands of the README: `make demo` (set up + run the main job on the
# local stack) and `make test` (set up + the whole test suite). Both install
# everything they need into .venv first, once.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_SPEC ?= jobs/examples/stream-inline.yaml
PYTEST_ARGS ?=

.PHONY: install demo lint test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(BIN)/claude-jobs run $(DEMO_SPEC)
	@echo "--- results:" && $(BIN)/claude-jobs results $(DEMO_SPEC) --format table

lint: $(STAMP)
	$(BIN)/ruff check runner infra tests bench
	$(BIN)/ruff format --check runner infra tests bench
	$(BIN)/lint-imports

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	-$(BIN)/claude-jobs local down
	rm -rf $(VENV) .claude-jobs .pytest_cache jobs/examples/results
