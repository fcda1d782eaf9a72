# Everything a fresh machine needs: `make test` and `make preview` set themselves up.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
AF     := .venv-airflow
CK     := .venv-checkov
STACK  ?= dev
FORMAT ?= text
# A uv on PATH, else the one pip installs (run as a module: no PATH or pyenv rehash needed).
UV     := $(or $(shell command -v uv 2>/dev/null),$(PYTHON) -m uv)

.PHONY: help venv kube-bin bwrap stacks lock lint typecheck unit test-fast contract workflows docs docs-build test preview bootstrap-preview snapshots bench apis astro-env agent-values airflow-pool promtool clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.synced: requirements.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==0.13.8"
	@$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(PY) requirements.lock
	@touch $@

venv: $(VENV)/.synced ## create .venv with exactly the pinned lock

# The real-Airflow side has its own venv: Airflow needs protobuf 7, Pulumi pins 5.x.
$(AF)/.synced: requirements-airflow.lock $(VENV)/.synced
	@$(UV) venv --quiet --allow-existing --python $(PYTHON) $(AF)
	$(UV) pip sync --quiet --compile-bytecode --python $(AF)/bin/python requirements-airflow.lock
	@touch $@


# The real Kubernetes control plane of the tests (docs/contract-suite.md), built from the Go modules that
# tools/kubebin/go.mod pins: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, Kueue.
# Nothing is downloaded but Go modules. Rebuilt only when go.mod/go.sum change.
KUBE_BIN     := .kube-bin
KUBE_VERSION := v1.36.3
KUBE_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36 \
	-X k8s.io/component-base/version.gitTreeState=clean \
	-X k8s.io/client-go/pkg/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=36 \
	-X sigs.k8s.io/kueue/pkg/version.GitVersion=v0.19.2
$(KUBE_BIN)/.built: tools/kubebin/go.mod tools/kubebin/go.sum tools/kubebin/tools.go
	@command -v go >/dev/null || { echo "make kube-bin: needs Go (go.mod names the version)"; exit 1; }
	@mkdir -p $(KUBE_BIN)
	cd tools/kubebin && go build -ldflags "$(KUBE_LDFLAGS)" -o ../../$(KUBE_BIN)/etcd go.etcd.io/etcd/server/v3
	cd tools/kubebin && go build -ldflags "$(KUBE_LDFLAGS)" -o ../../$(KUBE_BIN)/ \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kueue/cmd/kueue
	@# kwok's own Stages (node start-up and heartbeat, pod ready and delete) from the pinned module
	@mkdir -p $(KUBE_BIN)/kwok-stages && KWOK=$$(cd tools/kubebin && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok) && \
		cp $$KWOK/kustomize/stage/node/fast/node-initialize.yaml \
		   $$KWOK/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
		   $$KWOK/kustomize/stage/pod/general/pod-ready.yaml $$KWOK/kustomize/stage/pod/general/pod-delete.yaml \
		   $(KUBE_BIN)/kwok-stages/ && chmod u+w $(KUBE_BIN)/kwok-stages/*
	@# Kueue's CRDs, from the same pinned module as its controller
	@mkdir -p $(KUBE_BIN)/crds/kueue && KUEUE=$$(cd tools/kubebin && go list -m -f '{{.Dir}}' sigs.k8s.io/kueue) && \
		cp $$KUEUE/config/components/crd/bases/*.yaml $(KUBE_BIN)/crds/kueue/ && chmod u+w $(KUBE_BIN)/crds/kueue/*
	@touch $@

# kwok's Exec CRD, from the same pinned module: a pod's exec target (the XCom runs, tests/airflow/kube_runtime.py)
KWOK_EXEC_CRD := $(KUBE_BIN)/crds/kwok/kwok.x-k8s.io_execs.yaml
$(KWOK_EXEC_CRD): tools/kubebin/go.mod tools/kubebin/go.sum
	@mkdir -p $(dir $@) && KWOK=$$(cd tools/kubebin && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok) && \
		cp $$KWOK/kustomize/crd/bases/kwok.x-k8s.io_execs.yaml $@ && chmod u+w $@

kube-bin: $(KUBE_BIN)/.built $(KWOK_EXEC_CRD) ## build the tests' Kubernetes control plane from Go modules into .kube-bin/ (once)
# checkov has its own venv too: it needs packaging<24, the stack's dev tools pin packaging 26.
$(CK)/.synced: requirements-checkov.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==0.13.8"
	@$(UV) venv --quiet --allow-existing --python $(PYTHON) $(CK)
	$(UV) pip sync --quiet --compile-bytecode --python $(CK)/bin/python requirements-checkov.lock
	@touch $@

# requirements.txt: the stack's runtime pins, what `pulumi install` (pip toolchain) installs.
# requirements.lock: the same pins plus the dev tools, what `make venv` installs.
# policies/requirements.txt: the pack's pins, the same versions, what `pulumi preview --policy-pack` installs.
lock: ## re-resolve every lock from pyproject.toml (needs network; uv keeps existing pins unless they must move)
	UV_CUSTOM_COMPILE_COMMAND="make lock" $(UV) pip compile pyproject.toml --python-version 3.11 --quiet -o requirements.txt
	UV_CUSTOM_COMPILE_COMMAND="make lock" $(UV) pip compile pyproject.toml --extra dev -c requirements.txt --python-version 3.11 --quiet -o requirements.lock
	UV_CUSTOM_COMPILE_COMMAND="make lock" $(UV) pip compile requirements-airflow.in --python-version 3.11 --quiet -o requirements-airflow.lock
	UV_CUSTOM_COMPILE_COMMAND="make lock" $(UV) pip compile requirements-checkov.in --python-version 3.11 --quiet -o requirements-checkov.lock
	cd policies && UV_CUSTOM_COMPILE_COMMAND="make lock" $(UV) pip compile pyproject.toml -c ../requirements.txt --python-version 3.11 --quiet -o requirements.txt

lint: venv ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv ## mypy
	$(VENV)/bin/mypy

# promtool (Prometheus's rule tester) from Debian's `prometheus` package: the alert tests run it.
# Installed with apt when missing and the machine allows it (root): tools/install_promtool.sh.
promtool: ## install promtool (Debian package prometheus) if it is missing; never starts a server
	@bash tools/install_promtool.sh
	@promtool --version 2>&1 | head -1

# Both run on every core (pytest-xdist); tests/conftest.py says which tests share a worker.
unit: venv promtool $(CK)/.synced kube-bin ## pytest (the stack, the policy pack, the offline plan, the alert rules, checkov, tests/kube on a real control plane)
	$(PY) -m pytest -n auto

test-fast: lint typecheck promtool $(CK)/.synced ## the quick loop: lint, types and the unit tests, without the real control plane (tests/kube) or Airflow
	$(PY) -m pytest -n auto --ignore=tests/kube

# bwrap (bubblewrap, Debian's package): the contract suite's sandbox for the pods' processes
# (tests/airflow/kube_runtime.py). Installed with apt when missing, as promtool is.
bwrap: ## install bwrap (Debian package bubblewrap) if it is missing
	@bash tools/install_deb.sh bwrap bubblewrap

contract: venv $(AF)/.synced kube-bin bwrap ## the real-Airflow contract suite (tests/airflow, own venv, on the real control plane)
	$(AF)/bin/python -m pytest -c tests/airflow/pytest.ini tests/airflow

workflows: venv ## actionlint on .github/workflows
	$(VENV)/bin/actionlint .github/workflows/*.yml

docs: venv ## serve the docs site locally (MkDocs, http://127.0.0.1:8000), rebuilt on every edit
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

docs-build: venv ## build the docs site into site/; --strict: a missing page, broken link or dead anchor fails
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

test: lint typecheck unit contract workflows docs-build ## everything CI runs

snapshots: venv ## re-record the infrastructure snapshots after an intended change (review the diff)
	$(PY) -m pytest tests/test_snapshots.py --snapshot-update

bench: venv ## benchmark make preview, against its floor, and the policy pack alone (docs/benchmarks.md; not part of make test)
	PREVIEW_EXAMPLES=1 $(PY) bench/preview_bench.py
	PREVIEW_EXAMPLES=1 $(PY) bench/preview_bench.py --floor 3
	$(PY) bench/pack_bench.py

apis: venv ## enable the Google APIs the stack needs: PROJECT=<project id> (needs gcloud and serviceusage rights)
	gcloud services enable $$($(PY) -c 'from tools.required_apis import REQUIRED_APIS; print(" ".join(REQUIRED_APIS))') --project $(PROJECT)

astro-env: venv ## write the .env for an Astro deployment: STACK=… DEPLOYMENT=… [OUTPUTS=saved.json]
	$(PY) -m tools.astro_env --stack $(STACK) --deployment $(DEPLOYMENT) $(if $(OUTPUTS),--outputs-file $(OUTPUTS))

agent-values: venv ## write a Remote Execution agent's Helm values: STACK=… DEPLOYMENT=… [VALUES=astro-values.yaml] [OUTPUTS=saved.json]
	$(PY) -m tools.agent_values --stack $(STACK) --deployment $(DEPLOYMENT) $(if $(VALUES),--values $(VALUES)) $(if $(OUTPUTS),--outputs-file $(OUTPUTS))

airflow-pool: venv ## create/update a deployment's Airflow pool for GPU tasks: STACK=… DEPLOYMENT=… (ASTRO_DEPLOYMENT_URL, ASTRO_API_TOKEN in the environment) [SETTINGS=airflow_settings.yaml] [OUTPUTS=saved.json]
	$(PY) -m tools.airflow_pool --stack $(STACK) --deployment $(DEPLOYMENT) $(if $(SETTINGS),--settings $(SETTINGS)) $(if $(OUTPUTS),--outputs-file $(OUTPUTS))

stacks: venv ## the main stacks, one a line: the bootstrap's `stacks:` (bootstrap/Pulumi.ci.yaml), which the workflows read
	@$(PY) -m tools.stacks

# Both previews refuse the shipped example values (components/config/preflight.py) unless
# PREVIEW_EXAMPLES=1 says the run previews the example on purpose, as .ci/run, tests/conftest.py
# and `make bench` do. pr.yml does not set it: its offline preview refuses the shipped examples.
preview: venv ## run STACK (default dev) offline under Pulumi mocks and print the plan [BASE=<git ref>: what changes against it; ALLOW_REPLACE=<urn,...>]
	@$(PY) -m offline.preview --stack $(STACK) --format $(FORMAT) $(if $(BASE),--base $(BASE)) $(if $(value ALLOW_REPLACE),--allow-replace '$(value ALLOW_REPLACE)') $(ARGS)

bootstrap-preview: venv ## run the day-0 program (bootstrap/, BOOTSTRAP_STACK default ci) offline under mocks, with the policy pack
	@$(PY) -m offline.preview --program bootstrap --stack $(or $(BOOTSTRAP_STACK),ci) --format $(FORMAT)

clean:
	rm -rf $(VENV) $(AF) $(CK) site .pytest_cache .mypy_cache .ruff_cache .hypothesis
