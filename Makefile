# Two commands do all set-up on a fresh machine:
#   make run    runs TuneDeck (embedded emulator when no credentials are set)
#   make test   runs the whole test suite
# Each creates .venv and installs what it needs the first time: `run` the app alone, `test` the
# app with the test tools and the trainer's extra (torch, transformers, peft: 1.3 GB).

VENV ?= .venv
PYTHON ?= python3
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

# torch first, pinned: the trainer extra's torch>=2.4 is then met by the CPU build these machines
# keep on disk instead of pulling a multi-GB CUDA build from the index.
$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(TEST_STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(VENV)/bin/tunedeck $(ARGS)

test: $(TEST_STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: $(RUN_STAMP)
	$(VENV)/bin/python tests/bench/bench_dataset.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
