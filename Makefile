# gridhook: `make run` and `make test` do all set-up themselves on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)
JARS := .gridhook/kafka/lib/.pom-sha256

.PHONY: run test lint unit integration chaos bench kafka-jars asyncapi bodies clean

run: $(INSTALLED) kafka-jars ## start broker, topics and every service; Ctrl-C stops all
	$(BIN)/gridhook run

test: lint ## lint, then every test (starts its own broker unless KAFKA_BOOTSTRAP_SERVERS)
	$(MAKE) kafka-jars
	$(BIN)/pytest -q
	cd examples/subscriber && ../../$(BIN)/pytest -q

unit: $(INSTALLED) ## only the tests that need no broker and no process (tests/unit)
	$(BIN)/pytest -q tests/unit

integration: $(INSTALLED) kafka-jars ## only the tests against the real broker and processes
	$(BIN)/pytest -q tests/integration

chaos: $(INSTALLED) kafka-jars ## kills under load on a three-broker cluster; prints a summary table
	$(BIN)/pytest -q tests/chaos

lint: $(INSTALLED) ## ruff, mypy strict, layer contracts, dead code, the schemas against the released contract
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/vulture
	cd examples/subscriber && ../../$(BIN)/mypy
	$(BIN)/gridhook contract check
	$(BIN)/gridhook docs asyncapi -o docs/asyncapi.json --check
	$(BIN)/gridhook docs bodies -o gridhook/subscriber/bodies.py --check

bench: $(INSTALLED) kafka-jars ## run the benchmarks, write bench/results/
	$(BIN)/python -m bench

asyncapi: $(INSTALLED) ## regenerate docs/asyncapi.json from the catalogue and schemas
	$(BIN)/gridhook docs asyncapi -o docs/asyncapi.json

bodies: $(INSTALLED) ## regenerate the subscriber kit's typed bodies from the schemas
	$(BIN)/gridhook docs bodies -o gridhook/subscriber/bodies.py

kafka-jars: $(INSTALLED)
	@if [ -z "$$KAFKA_BOOTSTRAP_SERVERS" ]; then $(BIN)/gridhook kafka fetch >/dev/null; fi

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@# setuptools announces every editable install with an informational UserWarning
	PYTHONWARNINGS=ignore::UserWarning $(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

clean: ## remove the venv and local state (Kafka data and jars, databases)
	-$(BIN)/gridhook kafka stop 2>/dev/null
	rm -rf $(VENV) .gridhook .pytest_cache .mypy_cache .ruff_cache
