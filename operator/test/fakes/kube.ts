/**
 * A state-based fake of the Kubernetes API clients (client-node 1.x ObjectParam style) for
 * unit tests. Objects live in a map; every method reads or changes that state the way the API
 * server would:
 *
 * - create on an existing name → 409 AlreadyExists; read/patch/replace/delete of a missing
 *   object → 404; replace or patch carrying a stale `metadata.resourceVersion` → 409; every
 *   write bumps `resourceVersion`; delete honours `body.preconditions.uid` (409 on mismatch).
 * - patch reads the Content-Type the request options set (by running their middleware, as the
 *   real client does): merge and strategic-merge patches merge maps (lists are replaced), JSON
 *   patch applies add/replace/remove/test; with no Content-Type the client would send JSON
 *   patch, so an object body is rejected with 400 as the API server does.
 * - pods/eviction: 404 for a missing pod; a matching PodDisruptionBudget with
 *   `status.disruptionsAllowed <= 0` → 429, more than one matching → 500; otherwise the
 *   budget is decremented and the pod deleted.
 * - list supports equality label selectors (`a=b,c!=d,e,!f`) and field selectors on
 *   `metadata.name`, `metadata.namespace` and `spec.nodeName`.
 * - a request whose options carry an aborted signal rejects with an AbortError.
 * - pods/exec and pods/log are `streams`, a FakePodStreams (pod-streams.ts).
 * - `raw` (kube/raw.ts) serves GET and PATCH of core objects by path
 *   (`/api/v1/namespaces/ns/pods/name`, `/api/v1/nodes/name`) from the same state, counted
 *   and failing (`failNext`) under the typed method's name (`core.patchNamespacedPod`).
 *
 * Failures can be injected per method (`failNext`), and every call is counted (`calls`).
 * Methods not implemented throw, naming themselves.
 */
import { AbortError, ApiException, RequestContext, type ConfigurationOptions, type KubernetesObject } from '@kubernetes/client-node';
import type { KubeClients } from '../../src/actionners/types.js';
import type { RawKube, RawRequest } from '../../src/kube/raw.js';
import type { FalcoEvent, FieldValue } from '../../src/falco/event.js';
import { resolveTarget, type ResolvedTarget, type TargetSubject } from '../../src/falco/target.js';
import { FakePodStreams } from './pod-streams.js';

export type KObj = KubernetesObject & Record<string, unknown>;

interface KindInfo {
  readonly kind: string;
  readonly apiVersion: string;
  readonly namespaced: boolean;
}

/** Client method name fragment → kind. */
const CORE_KINDS: Record<string, KindInfo> = {
  Pod: { kind: 'Pod', apiVersion: 'v1', namespaced: true },
  Node: { kind: 'Node', apiVersion: 'v1', namespaced: false },
  Namespace: { kind: 'Namespace', apiVersion: 'v1', namespaced: false },
  ConfigMap: { kind: 'ConfigMap', apiVersion: 'v1', namespaced: true },
  Secret: { kind: 'Secret', apiVersion: 'v1', namespaced: true },
  Service: { kind: 'Service', apiVersion: 'v1', namespaced: true },
  ServiceAccount: { kind: 'ServiceAccount', apiVersion: 'v1', namespaced: true },
};
const APPS_KINDS: Record<string, KindInfo> = {
  Deployment: { kind: 'Deployment', apiVersion: 'apps/v1', namespaced: true },
  ReplicaSet: { kind: 'ReplicaSet', apiVersion: 'apps/v1', namespaced: true },
  StatefulSet: { kind: 'StatefulSet', apiVersion: 'apps/v1', namespaced: true },
  DaemonSet: { kind: 'DaemonSet', apiVersion: 'apps/v1', namespaced: true },
};
const NETWORKING_KINDS: Record<string, KindInfo> = {
  NetworkPolicy: { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', namespaced: true },
};
const POLICY_KINDS: Record<string, KindInfo> = {
  PodDisruptionBudget: { kind: 'PodDisruptionBudget', apiVersion: 'policy/v1', namespaced: true },
};
const CUSTOM_PLURALS: Record<string, string> = { roles: 'Role', clusterroles: 'ClusterRole', rolebindings: 'RoleBinding', clusterrolebindings: 'ClusterRoleBinding' };

const HTTP_REASONS: Record<number, string> = {
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

export function apiError(code: number, message: string): ApiException<unknown> {
  const reason = HTTP_REASONS[code] ?? 'Unknown';
  const body = { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code };
  return new ApiException(code, `HTTP-Code: ${code}\nMessage: ${reason}\nBody: ${JSON.stringify(body)}`, body, {});
}

const clone = <T>(v: T): T => (v === undefined ? v : structuredClone(v));

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** RFC 7386 JSON merge patch. */
export function mergePatchInto(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return clone(patch);
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatchInto(out[k], v);
  }
  return out;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  return path
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function jsonPatchInto(doc: unknown, ops: readonly { op: string; path: string; value?: unknown }[]): unknown {
  const root = clone(doc) as Record<string, unknown>;
  for (const op of ops) {
    const parts = pointer(op.path);
    const last = parts.pop();
    if (last === undefined) throw apiError(422, `invalid path ${op.path}`);
    let parent: unknown = root;
    for (const p of parts) {
      parent = (parent as Record<string, unknown> | undefined)?.[p];
      if (!isPlainObject(parent) && !Array.isArray(parent)) throw apiError(422, `path ${op.path} does not exist`);
    }
    const container = parent as Record<string, unknown>;
    switch (op.op) {
      case 'add':
      case 'replace':
        if (op.op === 'replace' && !(last in container)) throw apiError(422, `replace: ${op.path} does not exist`);
        container[last] = clone(op.value);
        break;
      case 'remove':
        if (!(last in container)) throw apiError(422, `remove: ${op.path} does not exist`);
        delete container[last];
        break;
      case 'test':
        if (JSON.stringify(container[last]) !== JSON.stringify(op.value)) throw apiError(422, `test failed at ${op.path}`);
        break;
      default:
        throw apiError(422, `unsupported op ${op.op}`);
    }
  }
  return root;
}

type Selector = (labels: Record<string, string>) => boolean;

export function parseLabelSelector(sel: string | undefined): Selector {
  if (sel === undefined || sel.trim() === '') return () => true;
  const terms = sel.split(',').map((t) => t.trim());
  const tests: Selector[] = terms.map((t) => {
    let m: RegExpExecArray | null;
    if ((m = /^([^!=]+)!=(.*)$/.exec(t))) {
      const [, k, v] = m as unknown as [string, string, string];
      return (l) => l[k.trim()] !== v.trim();
    }
    if ((m = /^([^!=]+)==?(.*)$/.exec(t))) {
      const [, k, v] = m as unknown as [string, string, string];
      return (l) => l[k.trim()] === v.trim();
    }
    if (t.startsWith('!')) return (l) => !(t.slice(1) in l);
    return (l) => t in l;
  });
  return (labels) => tests.every((f) => f(labels));
}

function fieldOf(obj: KObj, path: string): unknown {
  let cur: unknown = obj;
  for (const p of path.split('.')) cur = (cur as Record<string, unknown> | undefined)?.[p];
  return cur;
}

function parseFieldSelector(sel: string | undefined): (o: KObj) => boolean {
  if (sel === undefined || sel.trim() === '') return () => true;
  const terms = sel.split(',').map((t) => {
    const neg = t.includes('!=');
    const [k, v] = t.split(neg ? '!=' : /==?/) as [string, string];
    return { k: k.trim(), v: (v ?? '').trim(), neg };
  });
  return (o) => terms.every(({ k, v, neg }) => (String(fieldOf(o, k) ?? '') === v) !== neg);
}

function matchesSelector(selector: { matchLabels?: Record<string, string> } | undefined, labels: Record<string, string>): boolean {
  const ml = selector?.matchLabels ?? {};
  return Object.entries(ml).every(([k, v]) => labels[k] === v);
}

async function headersOf(options: ConfigurationOptions | undefined): Promise<{ contentType?: string; signal?: AbortSignal }> {
  const ctx = new RequestContext('http://fake', 'PATCH' as never);
  for (const mw of options?.middleware ?? []) await mw.pre(ctx).toPromise();
  const contentType = ctx.getHeaders()['Content-Type'];
  const signal = ctx.getSignal();
  return { ...(contentType !== undefined ? { contentType } : {}), ...(signal !== undefined ? { signal } : {}) };
}

interface Injected {
  code: number;
  times: number;
  message: string;
}

export interface Tombstone {
  readonly object: KObj;
  readonly gracePeriodSeconds?: number;
  readonly evicted: boolean;
}

export class FakeKube {
  private readonly objects = new Map<string, KObj>();
  private rv = 100;
  private uidSeq = 0;
  private readonly injected = new Map<string, Injected[]>();
  /** Objects deleted so far, by `Kind/namespace/name` (the last deletion wins). */
  readonly deleted = new Map<string, Tombstone>();
  /** Number of calls per method (`core.readNamespacedPod`, …). */
  readonly calls = new Map<string, number>();
  /** Called before an eviction is decided (tests use it to change PDB state between attempts). */
  beforeEvict: ((namespace: string, name: string, attempt: number) => void) | undefined;
  private evictAttempts = new Map<string, number>();
  readonly clients: KubeClients;
  /** pods/exec and pods/log: containers as programs, logs as texts (pod-streams.ts). */
  readonly streams = new FakePodStreams();

  constructor() {
    this.clients = {
      streams: this.streams,
      core: this.api('core', CORE_KINDS, { createNamespacedPodEviction: (p) => this.evict(p) }),
      apps: this.api('apps', APPS_KINDS),
      networking: this.api('networking', NETWORKING_KINDS),
      policy: this.api('policy', POLICY_KINDS),
      custom: this.api('custom', {}, this.customMethods()),
      raw: this.rawApi(),
    } as unknown as KubeClients;
  }

  /** Raw requests for core objects by path, as the typed methods with the same state (see the module doc). */
  private rawApi(): RawKube {
    return {
      request: async <T>(req: RawRequest): Promise<T> => {
        const m = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?([a-z]+)\/([^/]+)$/.exec(req.path);
        const info = m ? Object.values(CORE_KINDS).find((k) => `${k.kind.toLowerCase()}s` === m[2] && k.namespaced === (m[1] !== undefined)) : undefined;
        if (!m || !info || (req.method !== 'GET' && req.method !== 'PATCH')) throw new Error(`FakeKube: raw ${req.method} ${req.path} is not implemented`);
        const ns = info.namespaced ? 'Namespaced' : '';
        const method = `core.${req.method === 'GET' ? 'read' : 'patch'}${ns}${info.kind}`;
        this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
        await Promise.resolve();
        if (req.signal?.aborted) throw new AbortError('The operation was aborted.');
        this.takeInjected(method);
        const p = { name: decodeURIComponent(m[3] as string), ...(m[1] !== undefined ? { namespace: decodeURIComponent(m[1]) } : {}), body: req.body };
        const out = req.method === 'GET' ? this.read(info.kind, p) : this.patch(info.kind, p, req.contentType ?? 'application/json');
        return (req.discard === true ? undefined : JSON.parse(JSON.stringify(out))) as T;
      },
    };
  }

  static key(kind: string, namespace: string | undefined, name: string): string {
    return `${kind}/${namespace ?? ''}/${name}`;
  }

  /** Stores an object as the API server would on create (uid, resourceVersion, creationTimestamp). */
  add<T extends KubernetesObject>(kind: string, obj: T): T {
    const stored = this.stamp(kind, clone(obj) as KObj, true);
    const key = FakeKube.key(kind, stored.metadata?.namespace, stored.metadata?.name ?? '');
    this.objects.set(key, stored);
    return clone(stored) as T;
  }

  get<T = KObj>(kind: string, namespace: string | undefined, name: string): T | undefined {
    return clone(this.objects.get(FakeKube.key(kind, namespace, name))) as T | undefined;
  }

  list<T = KObj>(kind: string, namespace?: string): T[] {
    const out: T[] = [];
    for (const [k, v] of this.objects) if (k.startsWith(`${kind}/`) && (namespace === undefined || v.metadata?.namespace === namespace)) out.push(clone(v) as T);
    return out;
  }

  /** Replaces a stored object's content without API semantics (test set-up, e.g. a PDB's status). */
  set<T extends KubernetesObject>(kind: string, obj: T): void {
    const key = FakeKube.key(kind, obj.metadata?.namespace, obj.metadata?.name ?? '');
    const prev = this.objects.get(key);
    this.objects.set(key, this.stamp(kind, { ...clone(obj), metadata: { ...prev?.metadata, ...clone(obj.metadata) } } as KObj, prev === undefined));
  }

  /** The next `times` calls of `method` (e.g. 'core.deleteNamespacedPod') fail with HTTP `code`. */
  failNext(method: string, code: number, times = 1, message = 'injected failure'): void {
    const list = this.injected.get(method) ?? [];
    list.push({ code, times, message });
    this.injected.set(method, list);
  }

  callCount(method: string): number {
    return this.calls.get(method) ?? 0;
  }

  private stamp(kind: string, obj: KObj, fresh: boolean): KObj {
    const meta = (obj.metadata ??= {});
    if (fresh) {
      meta.uid ??= `uid-${++this.uidSeq}`;
      meta.creationTimestamp ??= new Date();
    }
    meta.resourceVersion = String(++this.rv);
    const info = [CORE_KINDS, APPS_KINDS, NETWORKING_KINDS, POLICY_KINDS].map((m) => m[kind]).find((x) => x !== undefined);
    obj.kind ??= kind;
    if (info) obj.apiVersion ??= info.apiVersion;
    return obj;
  }

  private takeInjected(method: string): void {
    const list = this.injected.get(method);
    const head = list?.[0];
    if (!list || !head) return;
    head.times -= 1;
    if (head.times <= 0) list.shift();
    throw apiError(head.code, head.message);
  }

  private api(group: string, kinds: Record<string, KindInfo>, extra: Record<string, (p: Record<string, unknown>) => unknown> = {}): object {
    const handlers = new Map<string, (p: Record<string, unknown>, o: { contentType?: string }) => unknown>();
    for (const [frag, info] of Object.entries(kinds)) {
      const ns = info.namespaced ? 'Namespaced' : '';
      handlers.set(`read${ns}${frag}`, (p) => this.read(info.kind, p));
      handlers.set(`create${ns}${frag}`, (p) => this.create(info.kind, p));
      handlers.set(`replace${ns}${frag}`, (p) => this.replace(info.kind, p));
      handlers.set(`patch${ns}${frag}`, (p, o) => this.patch(info.kind, p, o.contentType));
      handlers.set(`delete${ns}${frag}`, (p) => this.remove(info.kind, p));
      handlers.set(`list${ns}${frag}`, (p) => this.listApi(info.kind, p, info.namespaced ? (p.namespace as string) : undefined));
      if (info.namespaced) handlers.set(`list${frag}ForAllNamespaces`, (p) => this.listApi(info.kind, p ?? {}, undefined));
    }
    for (const [name, fn] of Object.entries(extra)) handlers.set(name, (p) => fn(p));
    const calls = this.calls;
    return new Proxy(
      {},
      {
        get: (_t, prop) => {
          if (typeof prop !== 'string') return undefined;
          if (prop === 'then') return undefined;
          const h = handlers.get(prop);
          const method = `${group}.${prop}`;
          if (!h) {
            return () => {
              throw new Error(`FakeKube: ${method} is not implemented`);
            };
          }
          return async (param: Record<string, unknown> = {}, options?: ConfigurationOptions) => {
            calls.set(method, (calls.get(method) ?? 0) + 1);
            const { contentType, signal } = await headersOf(options);
            await Promise.resolve();
            if (signal?.aborted) throw new AbortError('The operation was aborted.');
            this.takeInjected(method);
            return clone(h(param, contentType !== undefined ? { contentType } : {}));
          };
        },
      },
    );
  }

  private customMethods(): Record<string, (p: Record<string, unknown>) => unknown> {
    const kindOf = (p: Record<string, unknown>): string => CUSTOM_PLURALS[p.plural as string] ?? `${String(p.group)}/${String(p.plural)}`;
    return {
      getNamespacedCustomObject: (p) => this.read(kindOf(p), p),
      getClusterCustomObject: (p) => this.read(kindOf(p), p),
      deleteNamespacedCustomObject: (p) => this.remove(kindOf(p), p),
      deleteClusterCustomObject: (p) => this.remove(kindOf(p), p),
      createNamespacedCustomObject: (p) => this.create(kindOf(p), p),
      replaceNamespacedCustomObject: (p) => this.replace(kindOf(p), p),
      listCustomObjectForAllNamespaces: (p) => this.listApi(kindOf(p), p, undefined),
    };
  }

  private mustGet(kind: string, namespace: unknown, name: unknown): KObj {
    const obj = this.objects.get(FakeKube.key(kind, namespace as string | undefined, name as string));
    if (!obj) throw apiError(404, `${kind.toLowerCase()}s "${String(name)}" not found`);
    return obj;
  }

  private read(kind: string, p: Record<string, unknown>): KObj {
    return this.mustGet(kind, p.namespace, p.name);
  }

  private create(kind: string, p: Record<string, unknown>): KObj {
    const body = clone(p.body) as KObj;
    const namespace = (p.namespace as string | undefined) ?? body.metadata?.namespace;
    const name = body.metadata?.name;
    if (!name) throw apiError(422, `${kind}: metadata.name is required`);
    const key = FakeKube.key(kind, namespace, name);
    if (this.objects.has(key)) throw apiError(409, `${kind.toLowerCase()}s "${name}" already exists`);
    body.metadata = { ...body.metadata, ...(namespace !== undefined ? { namespace } : {}) };
    delete body.metadata.resourceVersion;
    const stored = this.stamp(kind, body, true);
    this.objects.set(key, stored);
    return stored;
  }

  private replace(kind: string, p: Record<string, unknown>): KObj {
    const current = this.mustGet(kind, p.namespace, p.name);
    const body = clone(p.body) as KObj;
    const rv = body.metadata?.resourceVersion;
    if (rv !== undefined && rv !== current.metadata?.resourceVersion) throw apiError(409, `the object has been modified; please apply your changes to the latest version`);
    body.metadata = { ...body.metadata, uid: current.metadata?.uid, creationTimestamp: current.metadata?.creationTimestamp, namespace: current.metadata?.namespace, name: current.metadata?.name };
    const stored = this.stamp(kind, body, false);
    this.objects.set(FakeKube.key(kind, current.metadata?.namespace, current.metadata?.name ?? ''), stored);
    return stored;
  }

  private patch(kind: string, p: Record<string, unknown>, contentType: string | undefined): KObj {
    const current = this.mustGet(kind, p.namespace, p.name);
    const body = p.body;
    let next: KObj;
    const type = contentType ?? 'application/json-patch+json';
    if (type === 'application/json-patch+json') {
      if (!Array.isArray(body)) throw apiError(400, 'json: cannot unmarshal object into Go value of type jsonpatch.Patch');
      next = jsonPatchInto(current, body) as KObj;
    } else if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') {
      if (!isPlainObject(body)) throw apiError(400, 'patch body must be an object');
      const rv = (body.metadata as Record<string, unknown> | undefined)?.resourceVersion;
      if (rv !== undefined && rv !== current.metadata?.resourceVersion) throw apiError(409, 'the object has been modified; please apply your changes to the latest version');
      next = mergePatchInto(current, body) as KObj;
    } else {
      throw apiError(415, `unsupported patch type ${type}`);
    }
    next.metadata = { ...next.metadata, uid: current.metadata?.uid, name: current.metadata?.name, namespace: current.metadata?.namespace };
    const stored = this.stamp(kind, next, false);
    this.objects.set(FakeKube.key(kind, current.metadata?.namespace, current.metadata?.name ?? ''), stored);
    return stored;
  }

  private remove(kind: string, p: Record<string, unknown>, evicted = false): KObj {
    const current = this.mustGet(kind, p.namespace, p.name);
    const body = p.body as { preconditions?: { uid?: string }; gracePeriodSeconds?: number } | undefined;
    const uid = body?.preconditions?.uid;
    if (uid !== undefined && uid !== current.metadata?.uid) throw apiError(409, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${current.metadata?.uid ?? ''}`);
    const key = FakeKube.key(kind, current.metadata?.namespace, current.metadata?.name ?? '');
    this.objects.delete(key);
    const grace = (p.gracePeriodSeconds as number | undefined) ?? body?.gracePeriodSeconds;
    this.deleted.set(key, { object: current, evicted, ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}) });
    return current;
  }

  private listApi(kind: string, p: Record<string, unknown>, namespace: string | undefined): { apiVersion: string; kind: string; metadata: { resourceVersion: string }; items: KObj[] } {
    const labels = parseLabelSelector(p.labelSelector as string | undefined);
    const fields = parseFieldSelector(p.fieldSelector as string | undefined);
    const items = [...this.objects.entries()]
      .filter(([k, o]) => k.startsWith(`${kind}/`) && (namespace === undefined || o.metadata?.namespace === namespace))
      .map(([, o]) => o)
      .filter((o) => labels(o.metadata?.labels ?? {}) && fields(o));
    return { apiVersion: 'v1', kind: `${kind}List`, metadata: { resourceVersion: String(this.rv) }, items };
  }

  private evict(p: Record<string, unknown>): Record<string, unknown> {
    const namespace = p.namespace as string;
    const name = p.name as string;
    const k = `${namespace}/${name}`;
    const attempt = (this.evictAttempts.get(k) ?? 0) + 1;
    this.evictAttempts.set(k, attempt);
    this.beforeEvict?.(namespace, name, attempt);
    const pod = this.mustGet('Pod', namespace, name);
    const labels = pod.metadata?.labels ?? {};
    const pdbs = [...this.objects.values()].filter(
      (o) => o.kind === 'PodDisruptionBudget' && o.metadata?.namespace === namespace && matchesSelector((o.spec as { selector?: { matchLabels?: Record<string, string> } })?.selector, labels),
    );
    if (pdbs.length > 1) throw apiError(500, 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
    const pdb = pdbs[0];
    if (pdb) {
      const status = (pdb.status ?? {}) as { disruptionsAllowed?: number };
      if ((status.disruptionsAllowed ?? 0) <= 0) throw apiError(429, `Cannot evict pod as it would violate the pod's disruption budget.`);
      pdb.status = { ...status, disruptionsAllowed: (status.disruptionsAllowed ?? 0) - 1 };
      this.stamp('PodDisruptionBudget', pdb, false);
    }
    this.remove('Pod', { namespace, name }, true);
    return { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } };
  }
}

/** A pod object for tests: labels, node, owner and readiness in one call. */
export function podFixture(
  namespace: string,
  name: string,
  opts: {
    labels?: Record<string, string>;
    node?: string;
    owner?: { kind: string; name: string; uid?: string };
    ready?: boolean;
    annotations?: Record<string, string>;
    phase?: string;
    containerIDs?: string[];
  } = {},
): KubernetesObject & Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      labels: opts.labels ?? { app: name },
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
      ...(opts.owner
        ? { ownerReferences: [{ apiVersion: opts.owner.kind === 'ReplicaSet' || opts.owner.kind === 'StatefulSet' || opts.owner.kind === 'DaemonSet' ? 'apps/v1' : 'batch/v1', kind: opts.owner.kind, name: opts.owner.name, uid: opts.owner.uid ?? `uid-${opts.owner.name}`, controller: true }] }
        : {}),
    },
    spec: { nodeName: opts.node ?? 'node-1', containers: [{ name: 'main', image: 'busybox' }] },
    status: {
      phase: opts.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }],
      ...(opts.containerIDs ? { containerStatuses: opts.containerIDs.map((id, i) => ({ name: `c${i}`, containerID: id, ready: true, restartCount: 0, image: 'x', imageID: 'x' })) } : {}),
    },
  };
}

let traceSeq = 0;

/** A parsed Falco alert for tests; `fields` become output_fields. */
export function falcoEvent(fields: Record<string, FieldValue>, over: Partial<FalcoEvent> = {}): FalcoEvent {
  return Object.freeze({
    rule: 'Terminal shell in container',
    priority: 'Warning',
    priorityLevel: 4,
    source: 'syscall',
    time: '2024-01-01T00:00:00.000000000Z',
    hostname: 'node-1',
    output: 'test alert',
    tags: [],
    outputFields: Object.freeze({ ...fields }),
    receivedAt: performance.now(),
    traceId: `trace-${++traceSeq}`,
    ...over,
  });
}

/**
 * The target the dispatcher hands an actionner whose use acts on `subject` (falco/target.ts
 * `resolveTarget`); throws with the resolver's message when the alert names no such object.
 */
export function targetOf(ev: FalcoEvent, subject: TargetSubject): ResolvedTarget {
  const r = resolveTarget(ev, subject);
  if (!r.ok) throw new Error(r.message);
  return r.target;
}
