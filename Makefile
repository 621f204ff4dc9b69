# Everyday actions. `make demo` and `make test` do their own set-up on a fresh clone.
# Installs come from uv.lock (every package, runtime and dev, pinned with its hashes) through uv, itself
# pinned by hash in scripts/uv-requirements.txt. `uv sync --locked` refuses to run when pyproject.toml and
# uv.lock disagree; `make lock` upgrades the lock on purpose.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UVDIR  := .cache/uv-tool
UV     := $(UVDIR)/bin/uv
# Never download a Python interpreter (the machine's python3 is the one), never resolve anew at install time.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

.PHONY: setup demo test test-unit lint lock lock-check bench image kafka-start kafka-stop clean screenshots

$(UV): scripts/uv-requirements.txt
	rm -rf $(UVDIR)
	$(PYTHON) -m venv $(UVDIR)
	$(UVDIR)/bin/python -m pip install -q --disable-pip-version-check --require-hashes \
		-r scripts/uv-requirements.txt
	touch $(UV)

$(STAMP): pyproject.toml uv.lock $(UV)
	$(UV) sync --locked --extra dev
	touch $(STAMP)

setup: $(STAMP)
	bash scripts/kafka.sh fetch

demo: setup
	$(BIN)/aiguilleur demo

test: setup lock-check
	bash scripts/test.sh

# The operator's guides' screenshots (docs/img), taken by the browser test on the demo city: rerun it after
# changing the page, and commit the images with the change.
screenshots: setup
	AIGUILLEUR_UPDATE_SCREENSHOTS=1 bash scripts/test.sh tests/integration/api/test_demo_city.py -k browser

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Upgrade every locked package to the newest version pyproject.toml allows, then install it.
lock: $(UV)
	$(UV) lock --upgrade
	$(UV) sync --locked --extra dev
	touch $(STAMP)

# Fails when pyproject.toml and uv.lock disagree (CI runs it through `make test`).
lock-check: $(UV)
	$(UV) lock --check

bench: setup
	bash scripts/bench.sh

image:
	bash scripts/build_image.sh

kafka-start: setup
	bash scripts/kafka.sh start

kafka-stop:
	bash scripts/kafka.sh stop

clean:
	rm -rf .cache/networks .cache/faust-state .pytest_cache .mypy_cache .ruff_cache
