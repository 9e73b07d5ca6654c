/**
 * The Helm chart in e2e tests: renders it with the helm that `e2e/cluster/build.sh helm` built,
 * has the real API server judge the result (`kubectl apply --dry-run=server`), and turns the
 * chart's ServiceAccount into operator credentials — its RBAC objects applied exactly as
 * rendered and a token minted through the TokenRequest API — so that an operator process can
 * run with precisely the rights the chart grants.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { e2eKubeconfigPath, kubectlPath } from './cluster.js';
import { ensureNamespace } from './operator.js';

/** Repository root (this file runs from dist/e2e/support/; operator.ts imports this module, so not its repoRoot). */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CHART_DIR = join(repoRoot, 'charts', 'talon-operator');

/** The Kubernetes version charts are rendered for (the local plane's). */
const KUBE_VERSION = '1.36.3';

/** One manifest as rendered: a plain object with kind and metadata. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

/** `HELM`, else the helm that e2e/cluster/build.sh cached for HELM_VERSION of versions.sh. */
export function helmPath(): string {
  if (process.env.HELM) return process.env.HELM;
  const versions = readFileSync(join(repoRoot, 'e2e', 'cluster', 'versions.sh'), 'utf8');
  const version = /^HELM_VERSION=(\S+)$/m.exec(versions)?.[1];
  if (version === undefined) throw new Error('e2e/cluster/versions.sh sets no HELM_VERSION');
  const cache = process.env.TALON_CACHE ?? join(homedir(), '.cache', 'talon-operator');
  const built = join(cache, 'bin', `helm-${version}`, 'helm');
  if (!existsSync(built)) throw new Error(`no helm at ${built}: run 'bash e2e/cluster/build.sh helm' (scripts/e2e.sh does)`);
  return built;
}

export interface RenderOptions {
  readonly release?: string;
  readonly namespace?: string;
  /** Values files, relative to the chart directory (e.g. `ci/everything-values.yaml`). */
  readonly valuesFiles?: readonly string[];
  /** `--set` assignments. */
  readonly set?: readonly string[];
  readonly includeCrds?: boolean;
}

export interface CommandResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(cmd: string, args: readonly string[], input?: string): CommandResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** `helm` with the given arguments (lint, template, …). */
export function helm(...args: string[]): CommandResult {
  return run(helmPath(), args);
}

/** `helm template` of the chart; throws with helm's message when it refuses. */
export function renderChart(opts: RenderOptions = {}): string {
  const args = ['template', opts.release ?? 'talon-operator', CHART_DIR, '--namespace', opts.namespace ?? 'talon-system', '--kube-version', KUBE_VERSION];
  if (opts.includeCrds) args.push('--include-crds');
  for (const f of opts.valuesFiles ?? []) args.push('--values', join(CHART_DIR, f));
  for (const s of opts.set ?? []) args.push('--set', s);
  const r = helm(...args);
  if (r.status !== 0) throw new Error(`helm ${args.join(' ')} failed:\n${r.stderr || r.stdout}`);
  return r.stdout;
}

/** The documents of a multi-document YAML text, empty ones dropped. */
export function manifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null && typeof m === 'object');
}

/** kubectl against the e2e cluster, with `input` on stdin; never throws for a non-zero exit. */
export function kubectlRun(args: readonly string[], input?: string): CommandResult {
  return run(kubectlPath(), ['--kubeconfig', e2eKubeconfigPath(), ...args], input);
}

/**
 * Server-side dry-run apply of a YAML text: the API server runs admission, schema and strict
 * field validation and persists nothing. Server-side apply, so that CRDs larger than the
 * last-applied annotation allows are judged too.
 */
export function applyDryRun(yamlText: string): CommandResult {
  return kubectlRun(['apply', '--server-side', '--force-conflicts', '--field-manager', 'talon-e2e-chart', '--dry-run=server', '-f', '-'], yamlText);
}

function applyForReal(objects: readonly Manifest[]): void {
  const r = kubectlRun(['apply', '--server-side', '--force-conflicts', '--field-manager', 'talon-e2e-chart', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  if (r.status !== 0) throw new Error(`kubectl apply of the chart's RBAC failed:\n${r.stderr}`);
}

interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}
interface RoleRef {
  kind: string;
  name: string;
}

/** The chart's ServiceAccount and exactly the RBAC objects that grant it something. */
export interface ChartIdentity {
  readonly serviceAccount: Manifest;
  /** ServiceAccount, (Cluster)RoleBindings naming it, and the (Cluster)Roles they bind. */
  readonly objects: readonly Manifest[];
  /** The rendered ClusterRole(s) and Role(s) bound to the ServiceAccount. */
  readonly roles: readonly Manifest[];
}

/** Picks the operator's ServiceAccount out of a render and what binds rights to it. */
export function chartIdentity(rendered: readonly Manifest[]): ChartIdentity {
  const accounts = rendered.filter((m) => m.kind === 'ServiceAccount');
  if (accounts.length !== 1) throw new Error(`the render holds ${accounts.length} ServiceAccounts, want 1`);
  const sa = accounts[0]!;
  const bindsSa = (b: Manifest): boolean =>
    ((b.subjects as Subject[] | undefined) ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === sa.metadata.name && s.namespace === sa.metadata.namespace);
  const bindings = rendered.filter((m) => (m.kind === 'ClusterRoleBinding' || m.kind === 'RoleBinding') && bindsSa(m));
  const roles = rendered.filter((m) =>
    bindings.some((b) => {
      const ref = b.roleRef as RoleRef;
      return ref.kind === m.kind && ref.name === m.metadata.name && (m.kind === 'ClusterRole' || m.metadata.namespace === b.metadata.namespace);
    }),
  );
  return { serviceAccount: sa, objects: [sa, ...roles, ...bindings], roles };
}

/** "group|resource|verb" strings a role grants. */
export function grantsOf(role: Manifest): Set<string> {
  const out = new Set<string>();
  for (const r of (role.rules as { apiGroups?: string[]; resources?: string[]; verbs: string[] }[] | undefined) ?? []) {
    for (const g of r.apiGroups ?? ['']) for (const res of r.resources ?? []) for (const v of r.verbs) out.add(`${g}|${res}|${v}`);
  }
  return out;
}

export interface ChartCredentials {
  /** A kubeconfig file (0600) for the e2e cluster carrying the ServiceAccount's token. */
  readonly kubeconfig: string;
  readonly identity: ChartIdentity;
  /** `system:serviceaccount:<namespace>:<name>`. */
  readonly username: string;
}

/**
 * Renders the chart, applies its ServiceAccount and the RBAC bound to it (nothing else: no
 * Deployment runs), mints a token for that ServiceAccount with the TokenRequest API and writes
 * a kubeconfig carrying it. The operator started with that kubeconfig has exactly the chart's
 * rights. `kc` is the admin's.
 */
export async function chartCredentials(kc: k8s.KubeConfig, opts: RenderOptions = {}, expirationSeconds = 2 * 3600): Promise<ChartCredentials> {
  const identity = chartIdentity(manifests(renderChart(opts)));
  const sa = identity.serviceAccount;
  const namespace = sa.metadata.namespace!;
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await ensureNamespace(core, namespace);
  applyForReal(identity.objects);
  const tr = await core.createNamespacedServiceAccountToken({
    name: sa.metadata.name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds } },
  });
  const token = tr.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${sa.metadata.name} returned no token`);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the admin kubeconfig has no current cluster');
  const username = `system:serviceaccount:${namespace}:${sa.metadata.name}`;
  const out = new k8s.KubeConfig();
  out.loadFromOptions({
    clusters: [cluster],
    users: [{ name: username, token }],
    contexts: [{ name: 'chart-sa', cluster: cluster.name, user: username }],
    currentContext: 'chart-sa',
  });
  const dir = mkdtempSync(join(tmpdir(), 'talon-chart-sa-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'kubeconfig');
  writeFileSync(file, out.exportConfig(), { mode: 0o600 });
  return { kubeconfig: file, identity, username };
}

/** Deletes the cluster-scoped RBAC objects of `chartCredentials` (the namespaced ones go with their namespace or stay harmless). */
export function deleteClusterRbac(creds: ChartCredentials): void {
  for (const m of creds.identity.objects) {
    if (m.kind === 'ClusterRole' || m.kind === 'ClusterRoleBinding') kubectlRun(['delete', '--ignore-not-found', `${m.kind.toLowerCase()}.rbac.authorization.k8s.io`, m.metadata.name]);
  }
}
