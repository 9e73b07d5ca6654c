#!/usr/bin/env bash
# Runs the e2e tier. Against TALON_E2E_KUBECONFIG when set (an existing cluster, named
# explicitly); otherwise starts the local control plane and always stops it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TALON_E2E_KUBECONFIG:-}" ]; then
  trap 'bash e2e/cluster/down.sh' EXIT
  bash e2e/cluster/up.sh
fi
# The chart tests (e2e/chart.test.ts, the least-privilege tier) render the chart with helm.
bash e2e/cluster/build.sh helm
npm run --silent test:e2e
# The least-privilege tier: the actionner, capture, cloud-function, download, forensics,
# network-policy and notifier suites again, every operator process with the Helm chart's
# ServiceAccount token instead of the admin's (e2e/support/operator.ts LEAST_PRIVILEGE).
npm run --silent test:e2e:least-privilege
