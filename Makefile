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

.PHONY: setup repro grid ladder recipe-table test lint deps-check bench-metrics clean-venv \
	setup-compat test-compat setup-gpu gpu-carry

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet "$(TORCH_SPEC)"
	$(PYTHON) -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[dev]'
	touch $(STAMP)

repro: setup
	dvc repro

# The paper's ablations and findings: the default run, then one DVC experiment that adds
# the grid's systems (params `grid`), the greedy vs beam-16 timing and reports/findings.md
grid: setup
	dvc repro
	$(VENV)/bin/writing-alpaca grid

# The paper's ladder (untuned -> generic -> + writing) on a pre-trained base beside the
# default one: one DVC experiment that adds params `ladder`'s rungs -> reports/ladder.md
ladder: setup
	dvc repro
	$(VENV)/bin/writing-alpaca grid --section ladder --name base-ladder --target ladder@bases --target ship

# Recipe variants are DVC experiments scored on the dev splits (docs/experiments.md):
# `dvc exp run --queue -n <name> -S key=value`, `dvc queue start`; then this table
recipe-table: setup
	$(VENV)/bin/writing-alpaca recipe-table

test: setup
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check stages tests bench

# dvc.yaml code deps == the modules each stage's command imports (house rule 12)
deps-check: setup
	$(PYTHON) -m pytest tests/test_dvc_deps.py

bench-metrics: setup
	$(PYTHON) bench/bench_metrics.py

# The lowest supported versions (pyproject.toml's ranges, house rule 15; docs/versions.md):
# a second venv, .venv-compat from constraints-compat.txt, runs the tests that use them.
# COMPAT=<name> takes .venv-<name> from constraints-<name>.txt instead: COMPAT=compat-520
# is transformers 5.20.2 (the vLLM set's) on the CPU stack, COMPAT=gpu the vLLM set itself
# (setup-gpu). torch is 2.13.0 in the compat venvs although the range starts at 2.11:
# 2.13.0 is the only CPU build of torch on the project machines (any other version is a
# multi-GB CUDA download); 2.11 is what the GPU test machine runs.
COMPAT ?= compat
COMPAT_TORCH_SPEC ?= torch==2.13.0
# Every test file that runs the ranged libraries: training, devices, generation engines,
# planning and the GPU check, plus the Hub (publish, cards), datasets (mix) and the GGUF
# load (base_model); $(wildcard) drops a file that does not exist (yet).
COMPAT_TESTS ?= $(wildcard tests/test_train.py tests/test_devices.py tests/test_engines.py \
	tests/test_predict.py tests/test_edit.py tests/test_smoke_tiny_model.py \
	tests/test_plan.py tests/test_gpu_check.py tests/test_publish.py tests/test_cards.py \
	tests/test_mix.py tests/test_base_model.py tests/test_copy_margin.py tests/test_prompt_template.py)

# One venv per constraints file: .venv-<name> from constraints-<name>.txt
VENV_EXTRAS = dev
.venv-gpu/.installed: COMPAT_TORCH_SPEC = torch==2.14.0
.venv-gpu/.installed: VENV_EXTRAS = gpu,dev
.venv-%/.installed: constraints-%.txt pyproject.toml
	test -x .venv-$*/bin/python || python3 -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet "$(COMPAT_TORCH_SPEC)"
	.venv-$*/bin/python -m pip install --quiet -c $< -e '.[$(VENV_EXTRAS)]'
	touch $@

setup-compat: .venv-$(COMPAT)/.installed

# The venv's bin/ goes first on PATH: tests that run `writing-alpaca` or `accelerate
# launch` as subprocesses must get the same versions.
test-compat: setup-compat
	.venv-$(COMPAT)/bin/python -c 'import torch, transformers, huggingface_hub as h, trl, peft, accelerate, datasets as d; print(*(f"{m.__name__} {m.__version__}" for m in (torch, transformers, h, trl, peft, accelerate, d)))'
	PATH="$(CURDIR)/.venv-$(COMPAT)/bin:$$PATH" .venv-$(COMPAT)/bin/python -m pytest $(PYTEST_ARGS) $(COMPAT_TESTS)

# The vllm engine's venv (docs/gpu.md, docs/versions.md): vLLM 0.33 pins torch 2.14.0 (a
# CUDA build, ~GBs) and transformers < 5.21, so it gets its own venv and constraints-gpu.txt
# rather than .venv. `make test-compat COMPAT=gpu` runs the compat tests in it (on the CPU).
# What a lent GPU machine needs beside the tracked tree (docs/gpu.md, "The GPU check"):
# .gpu/ (the base model's config and tokenizer, the default prompts and training rows)
# and .whl/ (the wheels the device image lacks), about 7 MiB of the 64 a call carries
gpu-carry: setup
	$(VENV)/bin/dvc repro benchmark base_model mix@writing-alpaca
	$(PYTHON) bench/gpu_prepare.py
	bench/gpu_wheels.sh
	du -sh .gpu .whl

setup-gpu: .venv-gpu/.installed

clean-venv:
	rm -rf $(VENV)
