/**
 * The Lease port of the coordination room: the five calls claims, the shared budget and the
 * sweeper make on `coordination.k8s.io/v1` Leases in one namespace, with optimistic
 * concurrency. A state-based fake stands in for it in unit tests; `kubeLeaseApi` is the real one.
 *
 * Errors: `create` of an existing name and `replace`/`remove` at a stale resourceVersion
 * reject with an error whose `.code` (client-node's ApiException) is 409; a missing object 404.
 * Callers map them with `fromKubeError` (errors.ts).
 */
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';

/** A Lease as the coordination room sees it; times are ms since the epoch. */
export interface LeaseRecord {
  readonly name: string;
  /** Absent on create; required by `replace` and `remove` (the precondition). */
  readonly resourceVersion?: string;
  readonly holder: string;
  readonly acquireTime: number;
  readonly renewTime: number;
  readonly leaseDurationSeconds: number;
  readonly transitions: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface LeaseApi {
  create(lease: LeaseRecord): Promise<LeaseRecord>;
  /** undefined when the Lease does not exist. */
  read(name: string): Promise<LeaseRecord | undefined>;
  /** Replaces the Lease only if it is still at `lease.resourceVersion`. */
  replace(lease: LeaseRecord): Promise<LeaseRecord>;
  /** Deletes the Lease only if it is still at `resourceVersion`; a missing Lease is not an error. */
  remove(name: string, resourceVersion: string): Promise<void>;
  list(labelSelector: string): Promise<LeaseRecord[]>;
}

/**
 * MicroTime as the API server parses it (RFC 3339 with exactly six fractional digits). Passed
 * as a string: client-node 1.4 has no serializer for V1MicroTime and would send a `Date`
 * with three digits.
 */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function timeOf(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : 0;
  }
  return 0;
}

function toRecord(l: V1Lease): LeaseRecord {
  return {
    name: l.metadata?.name ?? '',
    ...(l.metadata?.resourceVersion !== undefined ? { resourceVersion: l.metadata.resourceVersion } : {}),
    holder: l.spec?.holderIdentity ?? '',
    acquireTime: timeOf(l.spec?.acquireTime),
    renewTime: timeOf(l.spec?.renewTime),
    leaseDurationSeconds: l.spec?.leaseDurationSeconds ?? 0,
    transitions: l.spec?.leaseTransitions ?? 0,
    labels: l.metadata?.labels ?? {},
    annotations: l.metadata?.annotations ?? {},
  };
}

function toLease(r: LeaseRecord, namespace: string): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: r.name,
      namespace,
      labels: { ...r.labels },
      annotations: { ...r.annotations },
      ...(r.resourceVersion !== undefined ? { resourceVersion: r.resourceVersion } : {}),
    },
    spec: {
      holderIdentity: r.holder,
      leaseDurationSeconds: r.leaseDurationSeconds,
      // MicroTime strings: see microTime().
      acquireTime: microTime(r.acquireTime) as unknown as Date,
      renewTime: microTime(r.renewTime) as unknown as Date,
      leaseTransitions: r.transitions,
    },
  };
}

const is404 = (err: unknown): boolean => (err as { code?: unknown })?.code === 404;

/** How a counted call ended: `conflict` = 409, the answer optimistic concurrency expects. */
export type CallAnswer = 'ok' | 'conflict' | 'error';

/** The port with every call reported to `onCall` (operation name, answer), for the request metric. */
export function countedLeaseApi(api: LeaseApi, onCall: (op: keyof LeaseApi, answer: CallAnswer) => void): LeaseApi {
  const wrap =
    <A extends unknown[], R>(op: keyof LeaseApi, f: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      try {
        const r = await f(...a);
        onCall(op, 'ok');
        return r;
      } catch (err) {
        onCall(op, (err as { code?: unknown })?.code === 409 ? 'conflict' : 'error');
        throw err;
      }
    };
  return {
    create: wrap('create', (l: LeaseRecord) => api.create(l)),
    read: wrap('read', (n: string) => api.read(n)),
    replace: wrap('replace', (l: LeaseRecord) => api.replace(l)),
    remove: wrap('remove', (n: string, rv: string) => api.remove(n, rv)),
    list: wrap('list', (s: string) => api.list(s)),
  };
}

/** The real port: Leases in `namespace` through client-node's CoordinationV1Api. */
export function kubeLeaseApi(api: CoordinationV1Api, namespace: string): LeaseApi {
  return {
    async create(lease) {
      return toRecord(await api.createNamespacedLease({ namespace, body: toLease(lease, namespace) }));
    },
    async read(name) {
      try {
        return toRecord(await api.readNamespacedLease({ name, namespace }));
      } catch (err) {
        if (is404(err)) return undefined;
        throw err;
      }
    },
    async replace(lease) {
      return toRecord(await api.replaceNamespacedLease({ name: lease.name, namespace, body: toLease(lease, namespace) }));
    },
    async remove(name, resourceVersion) {
      try {
        await api.deleteNamespacedLease({ name, namespace, body: { preconditions: { resourceVersion } } });
      } catch (err) {
        if (!is404(err)) throw err;
      }
    },
    async list(labelSelector) {
      const l = await api.listNamespacedLease({ namespace, labelSelector });
      return l.items.map(toRecord);
    },
  };
}
