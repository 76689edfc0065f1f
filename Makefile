# Two commands do all set-up on a fresh machine:
#   make run    runs TuneDeck (embedded emulator when no credentials are set)
#   make test   runs the whole test suite
# Each creates .venv and installs what it needs the first time.

VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed-stamp

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/tunedeck $(ARGS)

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/python tests/bench/bench_dataset.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
