# koho-gateway: `make run` starts the gateway on its embedded defaults, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# Test processes (pytest-xdist); the suite is I/O- and process-bound, so two workers fit a 2-core machine.
TEST_WORKERS ?= 2

.PHONY: run test install install-test lint typecheck demo sandbox bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## Start the gateway: SQLite under var/, sandbox platforms, config/municipalities, http://127.0.0.1:8080/
run: install
	$(BIN)/gateway db upgrade
	@# A credentials key of its own, so that accounts can be connected from the console (README "Connecting accounts").
	@test -n "$$GATEWAY_CREDENTIALS_KEY" || test -f var/credentials.key || (umask 077 && mkdir -p var && \
		$(BIN)/python -c "from gateway.credentials import new_key; print(new_key())" > var/credentials.key)
	GATEWAY_CREDENTIALS_KEY_FILE=$${GATEWAY_CREDENTIALS_KEY_FILE:-var/credentials.key} \
		GATEWAY_SANDBOX_PORT=$${GATEWAY_SANDBOX_PORT:-8090} $(BIN)/gateway serve

## Run the whole test suite (SQLite and PostgreSQL; see README for GATEWAY_TEST_PG_URL)
test: install-test
	$(BIN)/pytest -n $(TEST_WORKERS) --durations=15 $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check gateway tests benchmarks

typecheck: install-test
	$(BIN)/mypy

demo: install
	$(BIN)/gateway demo

sandbox: install
	$(BIN)/gateway sandbox

bench: install-test
	$(BIN)/python benchmarks/checks.py
	$(BIN)/python benchmarks/emergency_latency.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
