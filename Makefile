# Everything a fresh machine needs: `make test` and `make preview` set themselves up.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STACK  ?= dev
FORMAT ?= text
# A uv on PATH, else the one pip installs (run as a module: no PATH or pyenv rehash needed).
UV     := $(or $(shell command -v uv 2>/dev/null),$(PYTHON) -m uv)

.PHONY: help venv lock lint typecheck unit test preview snapshots bench clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.synced: requirements.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==0.13.8"
	@$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(PY) requirements.lock
	@touch $@

venv: $(VENV)/.synced ## create .venv with exactly the pinned lock

lock: ## re-resolve requirements.lock (and the policy pack's) from pyproject.toml (needs network)
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 --quiet -o requirements.lock
	cd policies && $(UV) pip compile pyproject.toml --python-version 3.11 --quiet -o requirements.lock

lint: venv ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv ## mypy
	$(VENV)/bin/mypy

unit: venv ## pytest
	$(PY) -m pytest

test: lint typecheck unit ## everything CI runs

snapshots: venv ## re-record the infrastructure snapshots after an intended change (review the diff)
	$(PY) -m pytest tests/test_snapshots.py --snapshot-update

bench: venv ## benchmark make preview (numbers go in README; not part of make test)
	$(PY) bench/preview_bench.py

preview: venv ## run STACK (default dev) offline under Pulumi mocks and print the plan
	@$(PY) -m offline.preview --stack $(STACK) --format $(FORMAT) $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
