# Two entry points: `make demo` and `make test`. Both create .venv and install the kit into it first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: install system-deps demo test test-all bench clean mutate mutate-rest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 is pinned in pyproject.toml: on a CPU machine pip takes the local CPU build,
# on a CUDA machine the regular CUDA wheel. Nothing here pulls CUDA wheels onto a CPU machine.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade "pip>=24"
	$(BIN)/python -m pip install -e ".[all,dev]"
	touch $@

install: $(VENV)/.installed

# Debian packages the tests use (Chromium for the HTML report checks, PostgreSQL); installs only what is
# missing. COMPKIT_SKIP_SYSTEM_DEPS=1 skips it, and the tests that need them skip themselves.
system-deps:
	bash scripts/system_deps.sh

demo: install          ## the steam contest end to end on generated data
	$(BIN)/compkit demo

test: install system-deps  ## the default test suite (slow tests excluded)
	$(BIN)/python -m pytest

test-all: install system-deps  ## everything, slow tests included
	$(BIN)/python -m pytest -m ""

# Mutation checks, on demand only (mutmut 3; its work folder mutants/ is git-ignored): every mutant of the
# robustness-critical code must be killed (scripts/mutation_report.py lists that scope); prints mutants,
# killed and survived per module. MUTATE_JOBS mutants at a time (default: one per core).
MUTATE_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
$(VENV)/.mutate-installed: pyproject.toml | install
	$(BIN)/python -m pip install -e ".[mutate]"
	touch $@

mutate: install $(VENV)/.mutate-installed  ## mutation checks of the critical code (long: about an hour on 2 cores)
	$(BIN)/python scripts/mutation_report.py --run critical --jobs $(MUTATE_JOBS)

# The rest of common/, sampled (all of it is ~14,000 mutants: hours): MUTATE_SAMPLE random mutants.
MUTATE_SAMPLE ?= 300
mutate-rest: install $(VENV)/.mutate-installed
	$(BIN)/python scripts/mutation_report.py --run rest --sample $(MUTATE_SAMPLE) --jobs $(MUTATE_JOBS)

clean:
	rm -rf $(VENV) .pytest_cache mutants
