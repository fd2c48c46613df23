# Entry points for users and CI. Each target is a thin wrapper over a real command and sets up what it needs.
# Two locked environments (see README): .venv (infra: Pulumi SDKs, policy pack) and workloads/.venv (kfp, mlflow...).

UV_VERSION := 0.13.9
STACK ?= dev
STACKS := dev prod gcp-dev gcp-prod
INFRA_PY := .venv/bin/python
WORKLOADS_PY := workloads/.venv/bin/python
UV := $(shell command -v uv 2>/dev/null)

# Bytecode goes to .cache/pycache, also where the environment sets PYTHONDONTWRITEBYTECODE: the provider SDKs are
# ~1,000 modules, and compiling them from source took ~4 s of every plan.
export PYTHONPYCACHEPREFIX := $(CURDIR)/.cache/pycache
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup uv demo test lint typecheck test-infra test-workloads plan plan-all policy bench docs clean charts \
	render verify

uv:
ifeq ($(UV),)
	python3 -m pip install --quiet "uv==$(UV_VERSION)"
endif

setup: uv .venv/.synced workloads/.venv/.synced .tools/bin/.installed

.venv/.synced: pyproject.toml uv.lock
	uv sync --frozen --quiet
	@touch $@

workloads/.venv/.synced: workloads/pyproject.toml workloads/uv.lock
	cd workloads && uv sync --frozen --quiet
	@touch $@

# Pinned Helm and kubectl (checksums in components/versions.py) for offline chart rendering and kustomize builds.
.tools/bin/.installed: .venv/.synced components/versions.py infra/tools.py
	$(INFRA_PY) -m infra.tools
	@touch $@

demo: setup  ## the main job: the ML lifecycle on this machine, then the offline plans; DEMO_ARGS=--fast for CI size
	$(WORKLOADS_PY) -m mlops_workloads.demo $(DEMO_ARGS)

test: setup lint typecheck test-infra test-workloads  ## everything CI runs

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

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

policy: setup  ## STACK=<name>: the CrossGuard pack over the recorded plan (planned first if missing or stale)
	$(INFRA_PY) -m policies.offline --stack $(STACK)

# Render and verify read the recorded plan build/plan/<name>.json (planned first if missing or older than its sources).
charts: setup  ## the pinned charts and Kubeflow Pipelines manifests into $$MLOPS_CHART_CACHE (default .cache/charts)
	$(INFRA_PY) -m infra.render.charts

render: setup  ## STACK=<name>: every Helm release and kustomize Directory of the plan, into build/plan/<name>/rendered
	$(INFRA_PY) -m infra.render --stack $(STACK)

verify: setup  ## STACK=<name>: every check over everything the deploy creates; build/verify/<name>.json
	$(INFRA_PY) -m infra.verify --stack $(STACK)

bench: setup  ## performance targets, measured side by side with the peer (see benchmarks/README.md)
	$(INFRA_PY) benchmarks/offline_bench.py
	$(WORKLOADS_PY) benchmarks/inference_bench.py
	$(WORKLOADS_PY) benchmarks/monitoring_bench.py

docs: setup  ## regenerate the README's configuration reference from components/spec.py
	$(INFRA_PY) -m infra.config --write-readme

clean:
	rm -rf build .demo .tools .cache/render .cache/pycache
