/**
 * The operator's way to the API server, with @kubernetes/client-node loaded only when a typed
 * client is first used (kube/client-node-lite.ts says what loading it costs: ≈66 MiB of RSS idle,
 * about twice that at peak under load).
 *
 * The always-on paths — informers, raw PATCHes and Events, status patches, the expiry and
 * revert sweeps' lists — need only the server, its CA, and the credentials. For the
 * configurations a cluster actually runs with, those are read here: the in-cluster service
 * account (token file re-read, like client-node's FileAuth), or a kubeconfig whose current
 * user is a client certificate and/or a bearer token (data or files). Anything else in a
 * kubeconfig (exec or auth-provider plugins, basic auth, impersonation, a proxy, several
 * files in KUBECONFIG) is left to client-node, loaded at start as before.
 *
 * The typed clients (`makeLazyClients`) are proxies: the first call of any method loads
 * client-node, builds its KubeConfig from the same source, and forwards; every method of a
 * client-node API returns a promise, so callers see no difference. The list calls the
 * periodic sweeps make are answered by raw requests instead (LIST_OVER_RAW), so an idle
 * operator never loads the package.
 */
import { existsSync, readFileSync } from 'node:fs';
import type https from 'node:https';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import type { Clients } from './client.js';
import { memoAsync } from '../lib/first-use.js';
import { AgentPool, CachedMaterial, type AuthMaterial } from './pool.js';
import type { PodStreams } from './pod-streams.js';
import { REQUEST_SIGNAL, RawClient, apiPath, type AuthSource, type RawKube } from './raw.js';
import type { KeepAliveKubeConfig } from './transport.js';

/** The in-cluster service account's files (as client-node's loadFromCluster reads them). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeAccess extends AuthSource {
  /** client-node's KubeConfig from the same source: loaded on first call. */
  kubeConfig(): Promise<KubeConfig>;
  /** Whether client-node has been loaded (a typed client was used, or the kubeconfig needed it). */
  typedLoaded(): boolean;
  /** Closes pooled connections (shutdown). */
  destroy(): void;
}

export interface LoadKubeAccessOptions {
  /** Path of a kubeconfig file; when set it wins over everything else. */
  readonly kubeconfig?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Where the in-cluster service account's files are (tests). */
  readonly serviceAccountDir?: string;
}

/** Where client-node's KubeConfig comes from, so the lazily loaded one matches ours. */
type Source = { readonly kind: 'file'; readonly path: string } | { readonly kind: 'cluster' } | { readonly kind: 'default' };

/** What a simple kubeconfig or the service account yields: read again at each refresh. */
interface Credentials {
  readonly server: string;
  readonly ca?: () => Buffer;
  readonly cert?: () => Buffer;
  readonly key?: () => Buffer;
  readonly token?: () => string;
  readonly insecure: boolean;
  readonly serverName?: string;
}

/**
 * Loads the access: an explicit `kubeconfig` path wins; otherwise the in-cluster service
 * account when KUBERNETES_SERVICE_HOST is set; otherwise KUBECONFIG, then ~/.kube/config (as
 * client-node's loadFromDefault). Throws if the chosen file cannot be read or parsed, or if no
 * current cluster results.
 */
export async function loadKubeAccess(opts: LoadKubeAccessOptions = {}): Promise<KubeAccess> {
  const env = opts.env ?? process.env;
  let source: Source;
  let creds: Credentials | undefined;
  if (opts.kubeconfig) {
    source = { kind: 'file', path: opts.kubeconfig };
    creds = simpleKubeconfig(opts.kubeconfig);
  } else if (env.KUBERNETES_SERVICE_HOST) {
    source = { kind: 'cluster' };
    creds = serviceAccount(env, opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  } else {
    const files = (env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
    const file = files.length === 0 ? join(homedir(), '.kube', 'config') : files.length === 1 ? files[0] : undefined;
    source = file !== undefined && existsSync(file) ? { kind: 'file', path: file } : { kind: 'default' };
    creds = source.kind === 'file' ? simpleKubeconfig(source.path) : undefined;
  }
  if (creds === undefined) return typedAccess(await loadTyped(source));
  return new SimpleAccess(creds, source);
}

/** client-node's KubeConfig from `source` (loads the package). */
async function loadTyped(source: Source): Promise<KeepAliveKubeConfig> {
  const { KeepAliveKubeConfig } = await import('./transport.js');
  const kc = new KeepAliveKubeConfig();
  if (source.kind === 'file') kc.loadFromFile(source.path);
  else if (source.kind === 'cluster') kc.loadFromCluster();
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error('kubeconfig has no current cluster');
  return kc;
}

/** Access through client-node's own auth (the configurations this module does not read). */
function typedAccess(kc: KeepAliveKubeConfig): KubeAccess {
  return {
    server: kc.getCurrentCluster()?.server ?? '',
    authMaterial: (refresh) => kc.authMaterial(refresh),
    kubeConfig: async () => kc,
    typedLoaded: () => true,
    destroy: () => kc.destroyAgent(),
  };
}

/** Our own auth for a simple kubeconfig or the service account; client-node only on demand. */
class SimpleAccess implements KubeAccess {
  readonly server: string;
  private readonly pool = new AgentPool();
  private readonly material: CachedMaterial;
  /** client-node's KubeConfig once loaded (a load in flight makes no connection, so destroy() needs only this). */
  private typed: KeepAliveKubeConfig | undefined;
  private readonly loadTypedOnce = memoAsync(async () => (this.typed = await loadTyped(this.source)));

  constructor(
    private readonly creds: Credentials,
    private readonly source: Source,
  ) {
    this.server = creds.server;
    this.material = new CachedMaterial(async () => this.compute());
  }

  authMaterial(refresh = false): Promise<AuthMaterial> {
    return this.material.get(refresh);
  }

  kubeConfig(): Promise<KubeConfig> {
    return this.loadTypedOnce();
  }

  typedLoaded(): boolean {
    return this.typed !== undefined;
  }

  destroy(): void {
    this.pool.destroy();
    this.material.forget();
    this.typed?.destroyAgent();
  }

  /** Reads the files again (a rotated certificate swaps the pool; a projected token is re-read). */
  private compute(): AuthMaterial {
    const c = this.creds;
    const o: https.AgentOptions = {};
    if (c.ca) o.ca = c.ca();
    if (c.cert) o.cert = c.cert();
    if (c.key) o.key = c.key();
    if (c.insecure) o.rejectUnauthorized = false;
    if (c.serverName !== undefined) o.servername = c.serverName;
    const token = c.token?.().trim();
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    // A plain-http server (a test's fake API server) needs no TLS material and no pool of ours.
    return { headers, agent: this.server.startsWith('http:') ? undefined : this.pool.agentFor(o) };
  }
}

/** The service account's server, CA and token (re-read at each refresh: projected tokens rotate). */
function serviceAccount(env: NodeJS.ProcessEnv, dir: string): Credentials {
  const host = env.KUBERNETES_SERVICE_HOST as string;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const caFile = join(dir, 'ca.crt');
  const tokenFile = join(dir, 'token');
  return {
    server,
    ...(existsSync(caFile) ? { ca: () => readFileSync(caFile) } : {}),
    token: () => readFileSync(tokenFile, 'utf8'),
    insecure: false,
  };
}

const CLUSTER_KEYS = new Set(['server', 'certificate-authority', 'certificate-authority-data', 'insecure-skip-tls-verify', 'tls-server-name', 'extensions']);
/** As client-node reads a user (config_types.js): `token-file`, not kubectl's `tokenFile`, which it ignores (so a kubeconfig with it goes to client-node, as before). */
const USER_KEYS = new Set(['client-certificate', 'client-certificate-data', 'client-key', 'client-key-data', 'token', 'token-file', 'extensions']);

/**
 * The credentials of a kubeconfig file whose current context uses only what this module reads
 * (CLUSTER_KEYS, USER_KEYS, an http(s) server); undefined for anything else, which client-node
 * then handles. Throws, as client-node would, when the file cannot be read or parsed or names
 * no current cluster.
 */
function simpleKubeconfig(path: string): Credentials | undefined {
  const doc = parseYaml(readFileSync(path, 'utf8')) as Record<string, unknown> | null;
  if (doc === null || typeof doc !== 'object') throw new Error(`kubeconfig ${path}: not a kubeconfig document`);
  const named = (list: unknown, name: unknown): Record<string, unknown> | undefined => {
    if (!Array.isArray(list)) return undefined;
    return (list as Array<Record<string, unknown>>).find((e) => e !== null && typeof e === 'object' && e.name === name);
  };
  const context = named(doc.contexts, doc['current-context'])?.context as Record<string, unknown> | undefined;
  const cluster = named(doc.clusters, context?.cluster)?.cluster as Record<string, unknown> | undefined;
  if (context === undefined || cluster === undefined || typeof cluster.server !== 'string') throw new Error('kubeconfig has no current cluster');
  const user = (named(doc.users, context.user)?.user ?? {}) as Record<string, unknown>;
  const simple =
    /^https?:\/\//.test(cluster.server) &&
    Object.keys(cluster).every((k) => CLUSTER_KEYS.has(k)) &&
    Object.keys(user).every((k) => USER_KEYS.has(k)) &&
    Object.entries({ ...cluster, ...user }).every(([k, v]) => k === 'extensions' || typeof v === 'string' || typeof v === 'boolean');
  if (!simple) return undefined;
  const base = dirname(resolve(path));
  const file = (f: unknown) => {
    const p = isAbsolute(String(f)) ? String(f) : join(base, String(f));
    return () => readFileSync(p);
  };
  const data = (d: unknown) => {
    const b = Buffer.from(String(d), 'base64');
    return () => b;
  };
  // A file wins over data, as in client-node's bufferFromFileOrString.
  const pick = (dataKey: unknown, fileKey: unknown) => (fileKey ? file(fileKey) : dataKey ? data(dataKey) : undefined);
  const ca = pick(cluster['certificate-authority-data'], cluster['certificate-authority']);
  const cert = pick(user['client-certificate-data'], user['client-certificate']);
  const key = pick(user['client-key-data'], user['client-key']);
  const tokenFile = user['token-file'] !== undefined ? file(user['token-file']) : undefined;
  const token = typeof user.token === 'string' ? () => user.token as string : tokenFile ? () => tokenFile().toString('utf8') : undefined;
  return {
    server: cluster.server,
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(token ? { token } : {}),
    insecure: cluster['insecure-skip-tls-verify'] === true,
    ...(typeof cluster['tls-server-name'] === 'string' ? { serverName: cluster['tls-server-name'] } : {}),
  };
}

// --- typed clients, loaded on first use ------------------------------------------------------

/** A method of a typed client answered by a raw request instead (the sweeps' lists). */
type RawMethod = (raw: RawKube, params: Record<string, unknown>, signal: AbortSignal | undefined) => Promise<unknown>;

/** The query string of a list call's parameters (only the ones the sweeps pass). */
function listQuery(params: Record<string, unknown>): string {
  const q = new URLSearchParams();
  for (const k of ['labelSelector', 'fieldSelector', 'limit', 'continue'] as const) if (params[k] !== undefined) q.set(k, String(params[k]));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

const rawList =
  (path: (p: Record<string, unknown>) => string): RawMethod =>
  (raw, params, signal) =>
    raw.request({ method: 'GET', path: path(params) + listQuery(params), ...(signal ? { signal } : {}) });

/**
 * The list calls of the periodic expiry and revert sweeps (actionners/revert.ts, expiry.ts,
 * remote-deny.ts, calico): they run every `revertSweepInterval` whether or not anything was
 * ever changed, so they must not load client-node. Their callers read labels, annotations and
 * spec fields of the items, which plain JSON carries as the typed answer does.
 */
export const LIST_OVER_RAW: Readonly<Record<'core' | 'networking' | 'custom', Readonly<Record<string, RawMethod>>>> = {
  core: {
    listPodForAllNamespaces: rawList(() => apiPath('api', 'v1', 'pods')),
    listNode: rawList(() => apiPath('api', 'v1', 'nodes')),
  },
  networking: {
    listNetworkPolicyForAllNamespaces: rawList(() => apiPath('apis', 'networking.k8s.io', 'v1', 'networkpolicies')),
  },
  custom: {
    listCustomObjectForAllNamespaces: rawList((p) => apiPath('apis', String(p.group), String(p.version), String(p.plural))),
    listClusterCustomObject: rawList((p) => apiPath('apis', String(p.group), String(p.version), String(p.plural))),
  },
};

/** The AbortSignal a call's options carry (actionners/kubernetes/common.ts requestOptions). */
function signalOf(options: unknown): AbortSignal | undefined {
  return options !== null && typeof options === 'object' ? ((options as Record<symbol, unknown>)[REQUEST_SIGNAL] as AbortSignal | undefined) : undefined;
}

/**
 * A typed client whose first method call loads it: `load` runs once (again after a failure),
 * and `rawMethods` are answered over `raw` without loading anything.
 */
export function lazyApi<T extends object>(load: () => Promise<T>, raw?: RawKube, rawMethods: Readonly<Record<string, RawMethod>> = {}): T {
  const api = memoAsync(load);
  return new Proxy({} as T, {
    get(_target, prop) {
      if (typeof prop !== 'string' || prop === 'then') return undefined;
      const viaRaw = raw !== undefined ? rawMethods[prop] : undefined;
      if (viaRaw !== undefined) return (params: Record<string, unknown> = {}, options?: unknown) => viaRaw(raw as RawKube, params, signalOf(options));
      return (...args: unknown[]) => api().then((a) => (a as Record<string, (...x: unknown[]) => unknown>)[prop]!(...args));
    },
  });
}

/** The operator's API clients over `access`: raw requests now, typed clients on first use. */
export function makeLazyClients(access: KubeAccess): Clients {
  const raw = new RawClient(access);
  const typed = <T>(name: 'CoreV1Api' | 'AppsV1Api' | 'NetworkingV1Api' | 'PolicyV1Api' | 'CustomObjectsApi' | 'EventsV1Api' | 'ApiextensionsV1Api' | 'CoordinationV1Api'): Promise<T> =>
    Promise.all([access.kubeConfig(), import('@kubernetes/client-node')]).then(([kc, k8s]) => kc.makeApiClient(k8s[name] as never) as T);
  const streams = lazyApi<PodStreams>(async () => {
    const [kc, { makePodStreams }] = await Promise.all([access.kubeConfig(), import('./pod-streams.js')]);
    return makePodStreams(kc);
  });
  return Object.freeze({
    core: lazyApi(() => typed<Clients['core']>('CoreV1Api'), raw, LIST_OVER_RAW.core),
    apps: lazyApi(() => typed<Clients['apps']>('AppsV1Api')),
    networking: lazyApi(() => typed<Clients['networking']>('NetworkingV1Api'), raw, LIST_OVER_RAW.networking),
    policy: lazyApi(() => typed<Clients['policy']>('PolicyV1Api')),
    custom: lazyApi(() => typed<Clients['custom']>('CustomObjectsApi'), raw, LIST_OVER_RAW.custom),
    events: lazyApi(() => typed<Clients['events']>('EventsV1Api')),
    apiext: lazyApi(() => typed<Clients['apiext']>('ApiextensionsV1Api')),
    coordination: lazyApi(() => typed<Clients['coordination']>('CoordinationV1Api')),
    streams,
    raw,
    kubeConfig: () => access.kubeConfig(),
  });
}
