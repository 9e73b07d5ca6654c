# Pinned versions of the control-plane components (sourced by build.sh / up.sh).
# Binaries are cached under $TALON_CACHE/bin/<component>-<version>/, so bumping a
# version here triggers exactly one rebuild of that component.
K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
# The S3-compatible server the outputs tests store artifacts into (not part of the plane).
GOFAKES3_VERSION=v1.2.0
# The Helm CLI of the chart checks (helm lint/template; not part of the plane).
HELM_VERSION=v3.22.0
TALON_CACHE=${TALON_CACHE:-$HOME/.cache/talon-operator}
K8S_BIN=$TALON_CACHE/bin/k8s-$K8S_VERSION
ETCD_BIN=$TALON_CACHE/bin/etcd-$ETCD_VERSION
KWOK_BIN=$TALON_CACHE/bin/kwok-$KWOK_VERSION
GOFAKES3_BIN=$TALON_CACHE/bin/gofakes3-$GOFAKES3_VERSION
HELM_BIN=$TALON_CACHE/bin/helm-$HELM_VERSION
