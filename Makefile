# Entry points for users and CI. Each target is a thin wrapper over a real command and sets up what it needs.
# Two locked environments (see README): .venv (infra: Pulumi SDKs, policy pack) and workloads/.venv (kfp, mlflow...).

STACK ?= dev
STACKS := dev prod gcp-dev gcp-prod
INFRA_PY := .venv/bin/python
WORKLOADS_PY := workloads/.venv/bin/python
# uv from PATH, else the pinned uv that infra/bootstrap_uv.py installs into .tools/bin: it needs only python3's standard
# library, so it works where the system Python refuses installs (PEP 668: Debian 12, Ubuntu 24.04, Homebrew).
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)

.PHONY: setup demo test lint locks typecheck test-infra test-workloads plan plan-all policy bench docs clean

setup: $(UV) .venv/.synced workloads/.venv/.synced .tools/bin/.installed

$(CURDIR)/.tools/bin/uv:
	python3 infra/bootstrap_uv.py --dest .tools/bin

.venv/.synced: pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

workloads/.venv/.synced: workloads/pyproject.toml workloads/uv.lock
	cd workloads && $(UV) sync --frozen --quiet
	@touch $@

# Pinned Helm and kubectl (checksums in components/versions.py) for offline chart rendering and kustomize builds.
.tools/bin/.installed: .venv/.synced components/versions.py infra/tools.py
	$(INFRA_PY) -m infra.tools
	@touch $@

demo: setup  ## the main job: the ML lifecycle on this machine, then the offline plans; DEMO_ARGS=--fast for CI size
	$(WORKLOADS_PY) -m mlops_workloads.demo $(DEMO_ARGS)

test: setup lint locks typecheck test-infra test-workloads  ## everything CI runs

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

locks: $(UV)  ## each lock still matches its pyproject.toml (a stale lock fails CI, in both environments)
	$(UV) lock --check
	cd workloads && $(UV) lock --check

typecheck: setup
	.venv/bin/mypy

test-infra: setup
	.venv/bin/pytest tests/infra -q -n 2

test-workloads: setup  ## includes the slow end-to-end runs (local kfp pipeline, the demo in its fast size)
	$(WORKLOADS_PY) -m pytest tests/workloads -q -n 2

plan: setup  ## STACK=<name>: tree on stdout, build/plan/<name>.json and build/plan/<name>/manifests/
	$(INFRA_PY) -m infra.plan --stack $(STACK) --json build/plan/$(STACK).json --manifests build/plan/$(STACK)/manifests

plan-all: setup
	@for stack in $(STACKS); do $(INFRA_PY) -m infra.plan --stack $$stack --quiet --json build/plan/$$stack.json \
		--manifests build/plan/$$stack/manifests || exit 1; done

policy: setup  ## STACK=<name>: the CrossGuard pack over the offline plan
	$(INFRA_PY) -m policies.offline --stack $(STACK)

bench: setup  ## performance targets, measured side by side with the peer (see benchmarks/README.md)
	$(WORKLOADS_PY) benchmarks/inference_bench.py
	$(WORKLOADS_PY) benchmarks/monitoring_bench.py

docs: setup  ## regenerate the README's configuration reference from components/spec.py
	$(INFRA_PY) -m infra.config --write-readme

clean:
	rm -rf build .demo .tools
