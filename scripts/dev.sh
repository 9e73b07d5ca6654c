#!/usr/bin/env bash
# `make dev`: the local control plane (started if not running), the CRDs and samples
# applied, and the operator running in the foreground against it.
set -euo pipefail
cd "$(dirname "$0")/.."
. e2e/cluster/versions.sh
D=${TALON_E2E_DIR:-$TALON_CACHE/e2e}
KUBECTL=("$K8S_BIN/kubectl" --kubeconfig="$D/kubeconfig")
if ! { [ -f "$D/kubeconfig" ] && "${KUBECTL[@]}" get --raw=/readyz >/dev/null 2>&1; }; then
  bash e2e/cluster/up.sh
fi
echo "kubeconfig: $D/kubeconfig   (export KUBECONFIG=$D/kubeconfig; kubectl: $K8S_BIN/kubectl)"
"${KUBECTL[@]}" apply -k crds/ >/dev/null
"${KUBECTL[@]}" wait --for=condition=Established crd --all --timeout=60s >/dev/null
"${KUBECTL[@]}" create namespace talon-system --dry-run=client -o yaml | "${KUBECTL[@]}" apply -f - >/dev/null
"${KUBECTL[@]}" apply -k config/samples >/dev/null
# The image's V8 flags and malloc setting (operator/src/lib/node-flags.ts).
export MALLOC_ARENA_MAX=2
exec node --max-semi-space-size=4 --heap-growing-percent=50 --no-memory-reducer dist/operator/src/cli.js run --config "${TALON_CONFIG:-config/dev/talon.yaml}" --kubeconfig "$D/kubeconfig"
