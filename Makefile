# Two entry points for a newcomer (README.md): `make repro` and `make test`.
# Both create .venv on first use; re-running them is safe (targets are idempotent).
SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The CPU build of torch lies on the project machines; override for a CUDA build.
TORCH_SPEC ?= torch==2.13.0
# Pinned versions of everything else (see constraints.txt); `CONSTRAINTS=` installs unpinned.
CONSTRAINTS ?= constraints.txt
# Offline machines read the corpora from the local mirror beside the checkout.
ifneq ($(wildcard ../shared/corpora/MANIFEST.json),)
export WRITING_ALPACA_MIRROR ?= $(abspath ../shared/corpora)
endif
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
PYTEST_ARGS ?=

.PHONY: setup repro grid recipe-dev test lint deps-check bench-metrics clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet "$(TORCH_SPEC)"
	$(PYTHON) -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[dev]'
	touch $(STAMP)

repro: setup
	dvc repro

# The paper's ablations and findings (grid/dvc.yaml): the default run, then the grid
# systems, the greedy vs beam-16 timing and reports/findings.md
grid: setup
	dvc repro
	dvc repro grid/dvc.yaml

# Recipe variants trained and scored on dev splits (recipe_dev.yaml -> reports/recipe-dev.md)
recipe-dev: setup
	dvc repro benchmark base_model
	$(VENV)/bin/writing-alpaca recipe-dev

test: setup
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check stages tests bench

# dvc.yaml code deps == the modules each stage's command imports (house rule 12)
deps-check: setup
	$(PYTHON) -m pytest tests/test_dvc_deps.py

bench-metrics: setup
	$(PYTHON) bench/bench_metrics.py

clean-venv:
	rm -rf $(VENV)
