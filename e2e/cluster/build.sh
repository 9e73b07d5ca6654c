#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl, etcd, kwok, gofakes3 (the
# S3-compatible server of the outputs tests) and helm (the chart checks) from the Go module
# proxy (no downloads of prebuilt binaries), into a cache keyed by version.
# Idempotent: a component whose binaries are already cached is skipped.
#   build.sh               the plane and gofakes3 (not helm: `build.sh helm`, as make check-chart does)
#   build.sh gofakes3 ...  only the named ones (etcd, kwok, k8s, gofakes3, helm)
# See ../../../shared/reference/testcluster.md and e2e/cluster/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
# Two cores: the big generated packages need memory, not parallelism.
GO_P=${TALON_GO_P:-2}
work=$TALON_CACHE/build
mkdir -p "$work"

log() { echo "[build $(date +%H:%M:%S)] $*" >&2; }

build_k8s() {
  if [ -x "$K8S_BIN/kube-apiserver" ] && [ -x "$K8S_BIN/kube-controller-manager" ] && [ -x "$K8S_BIN/kubectl" ]; then
    log "k8s $K8S_VERSION cached in $K8S_BIN"; return
  fi
  local s="v0.${K8S_VERSION#v1.}" d="$work/k8s-$K8S_VERSION"
  rm -rf "$d"; mkdir -p "$d"; cd "$d"
  go mod init local/k8sbin >/dev/null 2>&1
  local mod
  mod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  local goline; goline=$(awk '$1=="go"{print $2}' "$mod")
  log "k8s.io/kubernetes $K8S_VERSION go.mod says go $goline (local: $(go env GOVERSION))"
  # Generate the staging replace list from the real go.mod instead of hard-coding it.
  for m in $(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "$mod"); do
    go mod edit -replace="$m=$m@$s"
  done
  go mod edit -require="k8s.io/kubernetes@$K8S_VERSION"
  local minor; minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  local ldf="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldf="$ldf -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  log "downloading modules for k8s $K8S_VERSION"
  # Explicit @version: a bare `go get pkg` means @upgrade and would pull a newer k8s.io/kubernetes.
  go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION" 2>&1 | grep -v '^go: downloading' >&2 || true
  log "compiling kube-apiserver, kube-controller-manager, kubectl (-p $GO_P)"
  mkdir -p "$K8S_BIN.tmp"
  go build -p "$GO_P" -pgo=off -trimpath -ldflags "$ldf" -o "$K8S_BIN.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl
  rm -rf "$K8S_BIN"; mv "$K8S_BIN.tmp" "$K8S_BIN"
  log "k8s done"
}

# go_tool NAME VERSION MODULE PACKAGE OUT_DIR [LDFLAGS]: builds the one binary PACKAGE of MODULE
# at VERSION into OUT_DIR (through OUT_DIR.tmp, so an interrupted build leaves no half cache),
# unless it is cached there already.
go_tool() {
  local name=$1 version=$2 module=$3 pkg=$4 out=$5 ldflags=${6:-"-s -w"}
  if [ -x "$out/$name" ]; then log "$name $version cached"; return; fi
  local d="$work/$name-$version"
  rm -rf "$d"; mkdir -p "$d"; cd "$d"
  go mod init "local/${name}bin" >/dev/null 2>&1
  go mod edit -require="$module@$version"
  go get "$pkg@$version" 2>&1 | grep -v '^go: downloading' >&2 || true
  log "compiling $name"
  mkdir -p "$out.tmp"
  go build -p "$GO_P" -trimpath -ldflags "$ldflags" -o "$out.tmp/$name" "$pkg"
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "$name done"
}

build_etcd() { go_tool etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3 "$ETCD_BIN"; }

build_kwok() {
  if [ -x "$KWOK_BIN/kwok" ] && [ -d "$KWOK_BIN/stage" ]; then log "kwok $KWOK_VERSION cached"; return; fi
  local d="$work/kwok-$KWOK_VERSION"
  rm -rf "$d"; mkdir -p "$d"; cd "$d"
  go mod init local/kwokbin >/dev/null 2>&1
  go mod edit -require="sigs.k8s.io/kwok@$KWOK_VERSION"
  go get "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" 2>&1 | grep -v '^go: downloading' >&2 || true
  log "compiling kwok"
  mkdir -p "$KWOK_BIN.tmp"
  go build -p "$GO_P" -trimpath -ldflags "-s -w" -o "$KWOK_BIN.tmp/kwok" sigs.k8s.io/kwok/cmd/kwok
  # The stage definitions ship in the module; keep a copy beside the binary.
  local src; src=$(go list -m -f '{{.Dir}}' "sigs.k8s.io/kwok")
  cp -r "$src/kustomize/stage" "$KWOK_BIN.tmp/stage"; chmod -R u+w "$KWOK_BIN.tmp/stage"
  rm -rf "$KWOK_BIN"; mv "$KWOK_BIN.tmp" "$KWOK_BIN"
  log "kwok done"
}

build_gofakes3() { go_tool gofakes3 "$GOFAKES3_VERSION" github.com/johannesboyne/gofakes3 github.com/johannesboyne/gofakes3/cmd/gofakes3 "$GOFAKES3_BIN"; }

# The version `helm version` prints is stamped as helm's own Makefile does.
build_helm() { go_tool helm "$HELM_VERSION" helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm "$HELM_BIN" "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"; }

start=$(date +%s)
if [ $# -eq 0 ]; then set -- etcd kwok gofakes3 k8s; fi
for c in "$@"; do
  case $c in
    etcd|kwok|k8s|gofakes3|helm) "build_$c" ;;
    *) echo "build.sh: unknown component '$c' (etcd, kwok, k8s, gofakes3, helm)" >&2; exit 2 ;;
  esac
done
log "$* ready in $(( $(date +%s) - start ))s"
