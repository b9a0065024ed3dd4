# sevens: `make demo` runs a simulated DAQ run, `make test` runs the test suite.
# Both create or update the local .venv first, so each works alone on a fresh machine.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_SECONDS ?= 20

.PHONY: venv demo test lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,gui,epics,cluster]'
	@touch $(STAMP)

demo: venv
	$(BIN)/sevens daq --simulate --duration $(DEMO_SECONDS) --rate-boost 100000 --run-dir runs
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] && $(BIN)/sevens gui --help >/dev/null 2>&1; then \
		$(BIN)/sevens gui --file "$$(ls -t runs/run_*.h5 | head -n 1)"; fi

test: venv
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check .

bench: venv
	$(BIN)/python benchmarks/bench_features.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
