#!/usr/bin/env bash
# Starts a real local control plane on loopback: etcd, kube-apiserver,
# kube-controller-manager and kwok (fake nodes whose pods become Running; exec and
# logs served by kwok on the host). Builds the binaries first if they are not cached.
#
#   TALON_E2E_DIR   state dir (default $HOME/.cache/talon-operator/e2e): kubeconfig, certs,
#                   data, logs/, pids. Wiped on every start.
#   TALON_E2E_NODES number of fake nodes (default 2)
#
# Writes $TALON_E2E_DIR/kubeconfig and prints its path. Processes keep running in the
# background; stop them with down.sh. On failure prints the components' logs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
D=${TALON_E2E_DIR:-$TALON_CACHE/e2e}
NODES=${TALON_E2E_NODES:-2}

log() { echo "[cluster $(date +%H:%M:%S)] $*" >&2; }

"$here/down.sh" >/dev/null 2>&1 || true
t0=$(date +%s)
"$here/build.sh"
t_built=$(date +%s)

rm -rf "$D"; mkdir -p "$D/logs" "$D/pki" "$D/etcd"
: > "$D/pids"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
EP=$(free_port); PP=$(free_port); AP=$(free_port); KCMP=$(free_port); KP=$(free_port); KMP=$(free_port)
cat > "$D/ports.env" <<P
ETCD_PORT=$EP
APISERVER_PORT=$AP
KWOK_PORT=$KP
P

dump_logs() {
  for f in "$D"/logs/*.log; do echo "===== $f (last 60 lines)" >&2; tail -n 60 "$f" >&2 || true; done
}
fail() { log "FAILED: $*"; dump_logs; "$here/down.sh" || true; exit 1; }

start() { # name cmd...   (the command is kept in $D/cmd/NAME so component.sh can restart it)
  local name=$1; shift
  mkdir -p "$D/cmd"; printf '%q ' "$@" > "$D/cmd/$name"
  setsid "$@" >>"$D/logs/$name.log" 2>&1 < /dev/null &
  echo "$name $!" >> "$D/pids"
}

wait_for() { # description timeout-seconds command...
  local what=$1 t=$2; shift 2
  for _ in $(seq 1 $((t * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  fail "timed out after ${t}s waiting for $what"
}

# --- PKI (openssl) ---------------------------------------------------------------
pki=$D/pki
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=talon-e2e-ca" -keyout ca.key -out ca.crt 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > apiserver.ext
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -extfile apiserver.ext -out apiserver.crt 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=admin" -keyout admin.key -out admin.csr 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' > client.ext
  openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -extfile client.ext -out admin.crt 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
) || fail "certificate generation"

b64() { base64 -w0 < "$1"; }
cat > "$D/kubeconfig" <<K
apiVersion: v1
kind: Config
clusters:
- name: talon-e2e
  cluster:
    server: https://127.0.0.1:$AP
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(b64 "$pki/admin.crt")
    client-key-data: $(b64 "$pki/admin.key")
contexts:
- name: talon-e2e
  context: {cluster: talon-e2e, user: admin}
current-context: talon-e2e
K
chmod 600 "$D/kubeconfig"

# --- etcd ----------------------------------------------------------------------------
start etcd "$ETCD_BIN/etcd" --name=default --data-dir="$D/etcd" \
  --listen-client-urls=http://127.0.0.1:$EP --advertise-client-urls=http://127.0.0.1:$EP \
  --listen-peer-urls=http://127.0.0.1:$PP --initial-advertise-peer-urls=http://127.0.0.1:$PP \
  --initial-cluster=default=http://127.0.0.1:$PP --unsafe-no-fsync --log-level=warn \
  --listen-metrics-urls=http://127.0.0.1:$(free_port)
wait_for etcd 60 curl -sf "http://127.0.0.1:$EP/health"

# --- kube-apiserver --------------------------------------------------------------
start kube-apiserver "$K8S_BIN/kube-apiserver" \
  --etcd-servers=http://127.0.0.1:$EP \
  --bind-address=127.0.0.1 --secure-port=$AP \
  --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 \
  --authorization-mode=Node,RBAC --allow-privileged=true \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --kubelet-client-certificate="$pki/admin.crt" --kubelet-client-key="$pki/admin.key" \
  --profiling=false
KUBECTL=("$K8S_BIN/kubectl" --kubeconfig="$D/kubeconfig")
wait_for kube-apiserver 180 curl -sfk "https://127.0.0.1:$AP/readyz"

# --- kube-controller-manager ------------------------------------------------------
start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig="$D/kubeconfig" --authentication-kubeconfig="$D/kubeconfig" --authorization-kubeconfig="$D/kubeconfig" \
  --leader-elect=false --bind-address=127.0.0.1 --secure-port=$KCMP \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --use-service-account-credentials=true --controllers='*' \
  --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics

# --- kwok --------------------------------------------------------------------------
# Exec runs on this host: run it as nobody (65534), never as the user running the tests.
mkdir -p "$D/containers"
# CRI log format, which kwok parses: <RFC3339Nano> <stream> <P|F> <text>
printf "%s stdout F talon-e2e container log line\n%s stderr F second line\n" "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" > "$D/containers/default.log"
{
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    cat "$KWOK_BIN/stage/$f"; echo; echo '---'
  done
  cat <<Y
kind: ClusterExec
apiVersion: kwok.x-k8s.io/v1alpha1
metadata: {name: talon-e2e-exec}
spec:
  execs:
  - local:
      workDir: /tmp
      envs: [{name: TALON_E2E, value: "1"}]
      securityContext: {runAsUser: 65534, runAsGroup: 65534}
---
kind: ClusterLogs
apiVersion: kwok.x-k8s.io/v1alpha1
metadata: {name: talon-e2e-logs}
spec:
  logs:
  - logsFile: $D/containers/default.log
    follow: false
Y
} > "$D/kwok.yaml"
start kwok "$KWOK_BIN/kwok" --kubeconfig="$D/kubeconfig" --config="$D/kwok.yaml" \
  --manage-all-nodes=true --node-ip=127.0.0.1 --node-name=localhost --node-port=$KP \
  --server-address=127.0.0.1:$KP --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --cidr=10.244.0.0/16 --node-lease-duration-seconds=40

for i in $(seq 0 $((NODES - 1))); do
  "${KUBECTL[@]}" apply -f - >/dev/null <<N || fail "creating node kwok-node-$i"
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: kwok-node-$i, kubernetes.io/os: linux, type: kwok}
spec: {}
N
done
wait_for "fake nodes Ready" 120 "${KUBECTL[@]}" wait --for=condition=Ready node --all --timeout=1s
wait_for "kube-controller-manager (default ServiceAccount)" 120 "${KUBECTL[@]}" -n default get serviceaccount default

t_up=$(date +%s)
echo "BUILD_SECONDS=$((t_built - t0))" >> "$D/ports.env"
echo "START_SECONDS=$((t_up - t_built))" >> "$D/ports.env"
log "control plane up in $((t_up - t_built))s (build/cache check $((t_built - t0))s); kubeconfig: $D/kubeconfig"
echo "$D/kubeconfig"
