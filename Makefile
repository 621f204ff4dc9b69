# Everyday actions. `make demo` and `make test` do their own set-up on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-unit lint bench kafka-start kafka-stop clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)
	bash scripts/kafka.sh fetch

demo: setup
	$(BIN)/aiguilleur demo

test: setup
	bash scripts/test.sh

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: setup
	bash scripts/bench.sh

kafka-start: setup
	bash scripts/kafka.sh start

kafka-stop:
	bash scripts/kafka.sh stop

clean:
	rm -rf .cache/networks .cache/faust-state .pytest_cache .mypy_cache .ruff_cache
