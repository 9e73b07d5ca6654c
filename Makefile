# talon-operator — `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export TALON_E2E_DIR ?= $(HOME)/.cache/talon-operator/e2e
KUBECONFIG_E2E := $(TALON_E2E_DIR)/kubeconfig
NODE_MODULES_STAMP := node_modules/.package-lock.json

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(NODE_MODULES_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund

.PHONY: install
install: $(NODE_MODULES_STAMP) ## Install npm dependencies (npm ci)

.PHONY: build
build: install ## Compile TypeScript to dist/ (then make the package's bin files executable, for npx and kubectl)
	rm -rf dist && npx tsc -p tsconfig.json
	node dist/scripts/bin-executable.js

.PHONY: generate
generate: build ## Regenerate crds/, config/rbac/role.yaml, docs/reasons.md and docs/reference/ from the TypeScript sources
	node dist/scripts/gen-crds.js
	node dist/scripts/gen-rbac.js
	node dist/scripts/gen-reasons.js
	node dist/scripts/gen-docs.js

.PHONY: check-generated
check-generated: build ## Fail when committed CRDs, RBAC, docs/reasons.md, docs/reference/ or the Helm chart's copies differ from the generators, or an import points up
	node dist/scripts/check-layers.js
	node dist/scripts/gen-crds.js --check
	node dist/scripts/gen-rbac.js --check
	node dist/scripts/gen-reasons.js --check
	node dist/scripts/gen-docs.js --check
	node charts/talon-operator/ci/render-check.mjs

.PHONY: system-packages
system-packages: ## Install the Debian packages the tests run (lua5.1 for the Argo CD health checks); idempotent, apt-get as root
	bash scripts/system-packages.sh

.PHONY: check-chart
check-chart: build ## helm lint --strict and helm template of the chart (default and every ci/*-values.yaml), with helm built from the Go module proxy (cached)
	bash e2e/cluster/build.sh helm
	. e2e/cluster/versions.sh && HELM="$$HELM_BIN/helm" node charts/talon-operator/ci/render-check.mjs --require-helm

.PHONY: test-unit
test-unit: build ## Unit tests (operator/src/**/*.test.ts)
	npm run --silent test:unit

.PHONY: test-integration
test-integration: build ## Integration tests: real HTTP servers and protocol peers on loopback (builds gofakes3 if not cached)
	bash e2e/cluster/build.sh gofakes3
	npm run --silent test:integration

.PHONY: test-e2e
test-e2e: build ## E2E tests against a real kube-apiserver (starts and stops the local plane unless TALON_E2E_KUBECONFIG is set)
	bash scripts/install-chromium.sh
	bash scripts/e2e.sh

.PHONY: test
test: build system-packages check-generated check-chart test-unit test-integration test-e2e ## Everything CI runs: build, generated-file checks, chart checks, unit, integration, e2e

.PHONY: cluster-build
cluster-build: ## Build (or reuse cached) kube-apiserver, kube-controller-manager, kubectl, etcd, kwok, gofakes3, helm
	bash e2e/cluster/build.sh
	bash e2e/cluster/build.sh helm

.PHONY: cluster-up
cluster-up: ## Start the local control plane in the background; kubeconfig at $(TALON_E2E_DIR)/kubeconfig
	bash e2e/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop every process cluster-up started
	bash e2e/cluster/down.sh

.PHONY: dev
dev: build ## Run the operator locally on the embedded control plane (starts it if needed)
	bash scripts/dev.sh

.PHONY: bench
.PHONY: bench-operator
bench-operator: build ## The real operator process beside a bare server, alert to effect, storm (needs `make cluster-up`; bench/RESULTS.md)
	node dist/bench/operator.bench.js

bench: build ## Run the benchmarks (figures go in bench/RESULTS.md by hand)
	node dist/bench/match.bench.js
	node dist/bench/intake.bench.js
	node dist/bench/journal.bench.js
	node dist/bench/console-intake.bench.js
	bash e2e/cluster/build.sh gofakes3
	node --expose-gc dist/bench/artifact-stream.bench.js
