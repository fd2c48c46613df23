# Entry points for users and CI. Each target is a thin wrapper over a real command and sets up what it needs.
# Two locked environments (see README): .venv (infra: Pulumi SDKs, policy pack) and workloads/.venv (kfp, mlflow...).

STACK ?= dev
STACKS := dev prod gcp-dev gcp-prod
INFRA_PY := .venv/bin/python
WORKLOADS_PY := workloads/.venv/bin/python
# uv from PATH, else the pinned uv that infra/bootstrap_uv.py installs into .tools/bin: it needs only python3's standard
# library, so it works where the system Python refuses installs (PEP 668: Debian 12, Ubuntu 24.04, Homebrew).
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)

# Bytecode goes to .cache/pycache, also where the environment sets PYTHONDONTWRITEBYTECODE: the provider SDKs are
# ~1,000 modules, and compiling them from source took ~4 s of every plan.
export PYTHONPYCACHEPREFIX := $(CURDIR)/.cache/pycache
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup setup-infra setup-workloads demo test lint typecheck test-infra test-workloads plan plan-all policy \
	locks cost check-eks-addons deploy-permissions bench bench-demo docs clean charts render verify mutation

setup: setup-infra setup-workloads  ## both environments

# The infra path (plan, policy, docs, the deploy and preview workflows) needs only the infra environment: a broken
# workloads lock must never block an infrastructure deploy.
setup-infra: $(UV) .venv/.synced .tools/bin/.installed .tools/checkov/.synced

setup-workloads: $(UV) workloads/.venv/.synced

$(CURDIR)/.tools/bin/uv:
	python3 infra/bootstrap_uv.py --dest .tools/bin

.venv/.synced: pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

workloads/.venv/.synced: workloads/pyproject.toml workloads/uv.lock
	cd workloads && $(UV) sync --frozen --quiet
	@touch $@

# checkov (`make verify` check 12) pins packaging<24 while pulumi needs >=26: its own locked environment.
.tools/checkov/.synced: tools/checkov/pyproject.toml tools/checkov/uv.lock
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/.tools/checkov $(UV) sync --frozen --quiet --project tools/checkov
	@touch $@

# Pinned Helm and kubectl (checksums in components/versions.py) for offline chart rendering and kustomize builds.
.tools/bin/.installed: .venv/.synced components/versions.py infra/tools.py
	$(INFRA_PY) -m infra.tools
	@touch $@

demo: setup  ## the main job: the ML lifecycle on this machine, then the offline plans; DEMO_ARGS=--fast for CI size
	$(WORKLOADS_PY) -m mlops_workloads.demo $(DEMO_ARGS)

test: setup lint locks typecheck test-infra test-workloads  ## everything CI runs

lint: setup-infra
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

locks: $(UV)  ## each lock still matches its pyproject.toml (a stale lock fails CI, in both environments)
	$(UV) lock --check
	cd workloads && $(UV) lock --check
	$(UV) lock --check --project tools/checkov

typecheck: setup  ## mypy strict: the infra code (.venv) and the workloads and pipelines (workloads/.venv)
	.venv/bin/mypy
	cd workloads && .venv/bin/mypy

test-infra: setup-infra
	.venv/bin/pytest tests/infra -q -n 2

test-workloads: setup  ## includes the slow end-to-end runs (local kfp pipeline, the demo in its fast size)
	$(WORKLOADS_PY) -m pytest tests/workloads -q -n 2

plan: setup-infra  ## STACK=<name>: tree on stdout, build/plan/<name>.json and build/plan/<name>/manifests/
	$(INFRA_PY) -m infra.plan --stack $(STACK) --json build/plan/$(STACK).json --manifests build/plan/$(STACK)/manifests

plan-all: setup-infra
	@for stack in $(STACKS); do $(INFRA_PY) -m infra.plan --stack $$stack --quiet --json build/plan/$$stack.json \
		--manifests build/plan/$$stack/manifests || exit 1; done

policy: setup-infra  ## STACK=<name>: the CrossGuard pack over the recorded plan (planned first if missing or stale)
	$(INFRA_PY) -m policies.offline --stack $(STACK)

# Render and verify read the recorded plan build/plan/<name>.json (planned first if missing or older than its sources).
charts: setup-infra  ## the pinned charts and Kubeflow Pipelines manifests into $$MLOPS_CHART_CACHE (default .cache/charts)
	$(INFRA_PY) -m infra.render.charts

render: setup-infra  ## STACK=<name>: every Helm release and kustomize Directory of the plan, into build/plan/<name>/rendered
	$(INFRA_PY) -m infra.render --stack $(STACK)

verify: setup-infra  ## STACK=<name>: every check over everything the deploy creates; build/verify/<name>.json
	$(INFRA_PY) -m infra.verify --stack $(STACK) $(VERIFY_ARGS)

# Not part of `make test`: each deleted report site reruns the policy tests (a few minutes).
mutation: setup-infra  ## delete each report site of the policy pack in turn: a test must fail (build/mutation.json)
	$(INFRA_PY) -m infra.mutation

# Monthly cost (idle/typical/peak) from build/plan/$(STACK).json, planned first if missing; build/cost/$(STACK).json.
cost: setup-infra  ## STACK=<name> [BASE=<base plan.json>: the change from it] [COST_ARGS=--json|--markdown]
	$(INFRA_PY) -m infra.cost --stack $(STACK) $(if $(BASE),--base $(BASE)) $(COST_ARGS)

# With AWS credentials (deploy.yml, preview.yml): every EKS add-on version the stack pins is one AWS offers for the
# cluster's Kubernetes minor, checked before preview/up instead of failing half-way through an update.
check-eks-addons: setup-infra  ## STACK=<name>
	@pins="$$($(INFRA_PY) -m infra.eks_addons --stack $(STACK))" || exit 1; \
	printf '%s\n' "$$pins" | while read -r addon version minor; do \
		[ -n "$$addon" ] || continue; \
		offered="$$(aws eks describe-addon-versions --addon-name "$$addon" --kubernetes-version "$$minor" \
			--query 'addons[].addonVersions[].addonVersion' --output text | tr '\t' '\n')" || exit 1; \
		if printf '%s\n' "$$offered" | grep -qx "$$version"; then echo "$$addon $$version: offered for $$minor"; \
		else echo "::error::$$addon $$version is not offered for Kubernetes $$minor; offered: $$offered"; exit 1; fi; \
	done

bench: setup  ## performance targets, measured side by side with the peer (see benchmarks/README.md)
	$(INFRA_PY) benchmarks/offline_bench.py
	$(WORKLOADS_PY) benchmarks/inference_bench.py
	$(WORKLOADS_PY) benchmarks/monitoring_bench.py

bench-demo: setup  ## the demo's lifecycle against main before the many-models work (two demos, ~8 min)
	$(INFRA_PY) benchmarks/demo_bench.py

deploy-permissions: setup-infra  ## deploy/permissions/<stack>.{deploy,preview}.json for every shipped stack
	$(INFRA_PY) -m infra.deploy_permissions $(foreach stack,$(STACKS),--stack $(stack)) --write

docs: setup-infra  ## regenerate the README's configuration reference (components/spec.py) and cost table (the stacks)
	$(INFRA_PY) -m infra.config_reference --write  # README reference and schema/stack-config.schema.json
	$(INFRA_PY) -m infra.cost --write-readme

clean:
	rm -rf build .demo .tools .cache/render .cache/pycache
