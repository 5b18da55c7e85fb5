# Two commands: `make demo` and `make test`. Each creates .venv on first use.
# Setup is keyed on the pinned requirement files: it re-runs only when they change.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
REQS   := requirements/runtime.txt requirements/lava.txt requirements/dev.txt pyproject.toml
PYTEST_ARGS ?=

.PHONY: setup demo test lint format bench clean-venv

setup: $(STAMP)

$(STAMP): $(REQS)
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (lava-spikingunet needs Python 3.11)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -r requirements/runtime.txt -r requirements/dev.txt
	$(PIP) install --quiet --no-deps --ignore-requires-python -r requirements/lava.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
	$(PY) -c "import lava_spikingunet.lava_compat as c; c.require_lava(); print('lava OK')"
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/spikingunet demo --overwrite

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check lava_spikingunet tests benchmarks
	$(VENV)/bin/ruff format --check lava_spikingunet tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format lava_spikingunet tests benchmarks
	$(VENV)/bin/ruff check --fix lava_spikingunet tests benchmarks

bench: $(STAMP)
	$(PIP) install --quiet --no-deps -r requirements/bench.txt
	$(PY) -m benchmarks.run_all

clean-venv:
	rm -rf $(VENV)
