# sevens: `make demo` runs a simulated DAQ run, `make test` runs the test suite.
# Both create or update the local .venv first, so each works alone on a fresh machine.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_SECONDS ?= 20

.PHONY: venv bytecode demo test lint bench clean

venv: $(STAMP)

# every process of a run imports the package afresh: with its bytecode written (which PYTHONDONTWRITEBYTECODE,
# set on many CI hosts, stops Python from doing itself) `sevens daq --duration 1` takes 14 % less CPU
bytecode: venv
	@$(BIN)/python -m compileall -q -j0 daq monitor analysis simulators

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,gui,epics,cluster]'
	$(BIN)/sevens warm --simulate  # the numba kernels compiled once here, not at the first run's start
	@touch $(STAMP)

# with a display, the GUI opens first and follows the run live (it stays open on the finished run:
# close it to end the demo); without one, or without Qt's system libraries, the run goes on headless
demo: bytecode
	@gui=""; \
	if [ -z "$$DISPLAY$$WAYLAND_DISPLAY" ]; then echo "demo: no display; the run goes on without the GUI"; \
	elif $(BIN)/sevens gui --check; then \
		$(BIN)/sevens gui --connect --control --run-dir runs & gui=$$!; \
	else echo "demo: the run goes on without the GUI"; fi; \
	$(BIN)/sevens daq --simulate --duration $(DEMO_SECONDS) --rate-boost 100000 --run-dir runs; status=$$?; \
	if [ -n "$$gui" ]; then echo "demo: the GUI shows the finished run; close it to end the demo"; wait $$gui; fi; \
	exit $$status

test: bytecode
# two workers (serially the suite used 1.09 of the 2 cores), then the timing-sensitive tests (marker
# `serial`: the supervisor's timeouts and the chaos rounds) alone
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -n 2 -m 'not serial' --durations=30
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -m serial --durations=30

lint: venv
	$(BIN)/ruff check .

bench: venv
	$(BIN)/python benchmarks/bench_features.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
