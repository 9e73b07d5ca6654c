/**
 * How e2e tests reach a cluster. Only two sources, never a plain KUBECONFIG (these tests
 * delete pods and drain nodes): TALON_E2E_KUBECONFIG names an existing cluster explicitly;
 * otherwise the local control plane started by `make cluster-up` at $TALON_E2E_DIR/kubeconfig.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';

export function e2eKubeconfigPath(): string {
  const explicit = process.env.TALON_E2E_KUBECONFIG;
  if (explicit) return explicit;
  const dir = process.env.TALON_E2E_DIR ?? join(homedir(), '.cache', 'talon-operator', 'e2e');
  return join(dir, 'kubeconfig');
}

export function loadE2EKubeConfig(): k8s.KubeConfig {
  const path = e2eKubeconfigPath();
  if (!existsSync(path)) {
    throw new Error(`no e2e cluster: ${path} does not exist; run 'make cluster-up' or set TALON_E2E_KUBECONFIG`);
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** Polls `fn` until it returns a value other than undefined/false, or throws after timeoutMs. */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/**
 * A fresh namespace for one test file (delete it with deleteNamespace). Returns once its
 * `default` ServiceAccount exists: until the controller manager creates it, the
 * ServiceAccount admission plugin refuses pods in the namespace (403).
 */
export async function createNamespace(core: k8s.CoreV1Api, prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  await core.createNamespace({ body: { metadata: { name, labels: { 'talon.dev/e2e': 'true' } } } });
  await waitForDefaultServiceAccount(core, name);
  return name;
}

export async function waitForDefaultServiceAccount(core: k8s.CoreV1Api, namespace: string): Promise<void> {
  await eventually(
    `ServiceAccount ${namespace}/default`,
    async () => {
      await core.readNamespacedServiceAccount({ name: 'default', namespace });
      return true;
    },
    90_000,
    200,
  );
}

export async function deleteNamespace(core: k8s.CoreV1Api, name: string): Promise<void> {
  await core.deleteNamespace({ name }).catch(() => undefined);
}

/** A pod bound directly to a kwok node (no scheduler needed); kwok marks it Running. */
export function podManifest(
  name: string,
  opts: { node?: string; labels?: Record<string, string>; ownerReferences?: k8s.V1OwnerReference[] } = {},
): k8s.V1Pod {
  return {
    metadata: { name, labels: opts.labels ?? { app: name }, ...(opts.ownerReferences ? { ownerReferences: opts.ownerReferences } : {}) },
    spec: {
      nodeName: opts.node ?? 'kwok-node-0',
      containers: [{ name: 'main', image: 'registry.invalid/fake:1' }],
      tolerations: [{ operator: 'Exists' }],
    },
  };
}

export async function waitForPodRunning(core: k8s.CoreV1Api, namespace: string, name: string): Promise<k8s.V1Pod> {
  return eventually(`pod ${namespace}/${name} Running`, async () => {
    const p = await core.readNamespacedPod({ name, namespace });
    return p.status?.phase === 'Running' ? p : undefined;
  });
}

/** kubectl built with the local plane (same version), else the one on PATH. */
export function kubectlPath(): string {
  const cache = process.env.TALON_CACHE ?? join(homedir(), '.cache', 'talon-operator');
  const built = join(cache, 'bin', 'k8s-v1.36.3', 'kubectl');
  return existsSync(built) ? built : 'kubectl';
}

/**
 * A KubeConfig for the same cluster that acts as another user: the admin's credentials with
 * the `Impersonate-User` header (kubeconfig `users[].user.as`), which the API server honours
 * for the admin (system:masters) and then authorizes every request as `user` (member of
 * system:authenticated only).
 */
export function impersonating(kc: k8s.KubeConfig, user: string): k8s.KubeConfig {
  const admin = kc.getCurrentUser();
  const cluster = kc.getCurrentCluster();
  if (!admin || !cluster) throw new Error('impersonating: the kubeconfig has no current user or cluster');
  const as = new k8s.KubeConfig();
  const name = `as-${user}`;
  as.loadFromOptions({
    clusters: [cluster],
    users: [{ ...admin, name, impersonateUser: user }],
    contexts: [{ name, cluster: cluster.name, user: name }],
    currentContext: name,
  });
  return as;
}

/**
 * Stops or starts one component of the local control plane (e2e/cluster/component.sh: the
 * same command line, port and certificates; `start kube-apiserver` waits for /readyz).
 * Only for the local plane: throws when TALON_E2E_KUBECONFIG names another cluster.
 */
export function controlPlane(op: 'stop' | 'start', component: 'kube-apiserver' | 'kube-controller-manager'): void {
  if (process.env.TALON_E2E_KUBECONFIG) throw new Error('controlPlane() needs the local control plane (e2e/cluster/up.sh), not TALON_E2E_KUBECONFIG');
  const script = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'e2e', 'cluster', 'component.sh');
  execFileSync('bash', [script, op, component], { stdio: ['ignore', 'ignore', 'inherit'] });
}
