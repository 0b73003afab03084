# Two commands for a fresh machine:  make run   |   make test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean gpu-check

# Create the virtual environment and install archlab with the pinned versions
# (constraints.txt). Re-runs only when the project's dependencies change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=23"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

## make run: train the default small CNN on scikit-learn's digits (no network, no data files)
run: $(STAMP)
	$(VENV)/bin/archlab train

## make test: the whole test suite
test: $(STAMP)
	$(PY) -m pytest -q

## make gpu-check: the CUDA checks, on a machine with a GPU (never part of CI; see .ci/gpu-check)
gpu-check:
	bash .ci/gpu-check

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
