/**
 * Builders and helpers for e2e tests that post Falco alerts to a real operator and check what
 * happened to real objects: alert builders (each alert distinct for the dedup key), parallel
 * posting over keep-alive connections, rule status and outcome waits (TalonRule, or
 * ClusterTalonRule with the namespace CLUSTER), Events regarding
 * an object, extra kwok nodes, a watch-based object cache, a stand-in scheduler (binding
 * pods to nodes), and Prometheus sample lookup.
 */
import * as k8s from '@kubernetes/client-node';
import { eventually } from './cluster.js';
import { sampleAlert, type OperatorProcess } from './operator.js';
import { describeObject, resourceOf, GROUP, VERSION, type Talon, type TalonObject } from './talon.js';

// --- alerts ------------------------------------------------------------------------------

let seq = 0;
const timeBase = Date.now() * 1000;

/** A distinct `evt.time` (a safe integer, so JSON keeps it exact): alerts never collide in the dedup key. */
export function nextEvtTime(): number {
  seq += 1;
  return timeBase + seq;
}

export interface PodAlertOptions {
  /** The Falco rule name (TalonRule `match.rules`). */
  readonly rule: string;
  readonly namespace: string;
  readonly pod: string;
  readonly priority?: string;
  /** Extra or overriding output fields. */
  readonly fields?: Record<string, unknown>;
  /** Explicit `evt.time`; default a fresh one. */
  readonly evtTime?: number;
}

/**
 * A syscall alert about a pod, shaped like Falco's "Terminal shell in container" sample, with
 * `container.id` removed (kwok pods run no containers, so the terminate actionner's
 * replaced-pod check has nothing to compare).
 */
export function podAlert(o: PodAlertOptions): Record<string, unknown> {
  const base = sampleAlert('terminal-shell-in-container.json');
  const fields: Record<string, unknown> = { ...(base.output_fields as Record<string, unknown>) };
  delete fields['container.id'];
  const evtTime = o.evtTime ?? nextEvtTime();
  Object.assign(fields, { 'k8s.ns.name': o.namespace, 'k8s.pod.name': o.pod, 'evt.time': evtTime }, o.fields);
  return {
    ...base,
    rule: o.rule,
    priority: o.priority ?? base.priority,
    output: `${o.rule} (k8s.ns=${o.namespace} k8s.pod=${o.pod})`,
    time: new Date(Math.floor(evtTime / 1000)).toISOString(),
    output_fields: fields,
  };
}

export interface AuditAlertOptions {
  readonly rule: string;
  /** `ka.target.resource` (plural, e.g. serviceaccounts). */
  readonly resource: string;
  readonly name: string;
  readonly namespace?: string;
  readonly fields?: Record<string, unknown>;
}

/** A k8s_audit alert about an object, based on Falco's "K8s Serviceaccount Created" sample. */
export function auditAlert(o: AuditAlertOptions): Record<string, unknown> {
  const base = sampleAlert('k8saudit__k8s-serviceaccount-created.json');
  const evtTime = nextEvtTime();
  const fields: Record<string, unknown> = {
    ...(base.output_fields as Record<string, unknown>),
    'evt.time': evtTime,
    'ka.target.resource': o.resource,
    'ka.target.name': o.name,
    ...o.fields,
  };
  if (o.namespace === undefined) delete fields['ka.target.namespace'];
  else fields['ka.target.namespace'] = o.namespace;
  return {
    ...base,
    rule: o.rule,
    output: `${o.rule} (resource=${o.resource} name=${o.name} ns=${o.namespace ?? ''})`,
    time: new Date(Math.floor(evtTime / 1000)).toISOString(),
    output_fields: fields,
  };
}

/** Posts one alert and asserts the webhook queued it (202). */
export async function postAccepted(op: OperatorProcess, alert: unknown): Promise<void> {
  const r = await op.post(alert);
  if (r.status !== 202) throw new Error(`webhook answered ${r.status}: ${r.body}`);
}

/**
 * Posts `count` alerts built by `make(i)` with `concurrency` requests in flight (fetch keeps
 * connections alive). Returns how many were answered with each status.
 */
export async function postMany(op: OperatorProcess, count: number, make: (i: number) => unknown, concurrency = 20): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      const r = await fetch(`${op.url}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(make(i)) });
      await r.arrayBuffer();
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return statuses;
}

// --- rule status (TalonRule, or ClusterTalonRule with the namespace CLUSTER) --------------

export interface LastOutcome {
  time: string;
  falcoRule: string;
  target: { apiVersion?: string; kind: string; namespace?: string; name: string; uid?: string };
  action: string;
  actionner: string;
  result: 'Succeeded' | 'Failed' | 'Skipped' | 'DryRun';
  reason: string;
  message: string;
  artifact?: { output: string; location: string; bytes: number; truncated: boolean };
}

export interface RuleStatus {
  matchedEvents: number;
  suppressedEvents: number;
  results: { succeeded: number; failed: number; skipped: number; dryRun: number };
  lastOutcomes: LastOutcome[];
}

export async function ruleStatus(talon: Talon, namespace: string, name: string): Promise<RuleStatus> {
  const s = ((await talon.get('talonrules', namespace, name)).status ?? {}) as Partial<RuleStatus>;
  const r: Partial<RuleStatus['results']> = s.results ?? {};
  return {
    matchedEvents: s.matchedEvents ?? 0,
    suppressedEvents: s.suppressedEvents ?? 0,
    results: { succeeded: r.succeeded ?? 0, failed: r.failed ?? 0, skipped: r.skipped ?? 0, dryRun: r.dryRun ?? 0 },
    lastOutcomes: s.lastOutcomes ?? [],
  };
}

export const resultsTotal = (s: RuleStatus): number => s.results.succeeded + s.results.failed + s.results.skipped + s.results.dryRun;

/** Waits until the rule's status lists an outcome satisfying `pred` (status is flushed every few seconds). */
export async function waitOutcome(
  talon: Talon,
  namespace: string,
  rule: string,
  pred: (o: LastOutcome) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<LastOutcome> {
  return eventually(
    `outcome of ${describeObject('talonrules', namespace, rule)}: ${what}`,
    async () => (await ruleStatus(talon, namespace, rule)).lastOutcomes.find(pred),
    timeoutMs,
    200,
  );
}

/** An outcome about the named target object. */
export const about =
  (kind: string, name: string, extra: Partial<Pick<LastOutcome, 'result' | 'reason' | 'actionner'>> = {}) =>
  (o: LastOutcome): boolean =>
    o.target.kind === kind &&
    o.target.name === name &&
    (extra.result === undefined || o.result === extra.result) &&
    (extra.reason === undefined || o.reason === extra.reason) &&
    (extra.actionner === undefined || o.actionner === extra.actionner);

/**
 * Creates a TalonRule (or, with namespace CLUSTER, a ClusterTalonRule) and waits until the
 * operator has loaded it: a Ready=True condition for its generation whose message names the
 * expected scope ("cluster" for a ClusterTalonRule, "tenant" for a TalonRule).
 *
 * Other operators may watch the same cluster and write their conditions too; the wait
 * watches every write from before the creation instead of polling the last one.
 */
export async function applyRuleLoaded(
  kc: k8s.KubeConfig,
  talon: Talon,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  scope: 'cluster' | 'tenant',
  timeoutMs = 30_000,
): Promise<TalonObject> {
  let resolveLoaded!: () => void;
  const loaded = new Promise<void>((r) => (resolveLoaded = r));
  const { plural, cluster } = resourceOf('talonrules', namespace);
  const path = cluster ? `/apis/${GROUP}/${VERSION}/${plural}` : `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${plural}`;
  const w = await ObjectWatch.start<TalonObject>(kc, path, { fieldSelector: `metadata.name=${name}` }, (_type, o) => {
    const ready = o.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status === 'True' && ready.observedGeneration === o.metadata.generation && ready.message.includes(scope)) resolveLoaded();
  });
  try {
    const created = await talon.applyRule(namespace, name, spec);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`timed out after ${timeoutMs} ms waiting for ${describeObject('talonrules', namespace, name)} loaded as a ${scope} rule`)), timeoutMs);
    });
    try {
      await Promise.race([loaded, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return created;
  } finally {
    w.stop();
  }
}

/** An inline action. */
export function inline(name: string, actionner: string, parameters: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, actionner, parameters, ...extra };
}

// --- Events -----------------------------------------------------------------------------

export const REPORTING_CONTROLLER = 'talon.dev/operator';

/** The operator's events.k8s.io/v1 Events regarding an object (`namespace`: where they live; 'default' for cluster-scoped objects). */
export async function eventsRegarding(
  kc: k8s.KubeConfig,
  namespace: string,
  regarding: { kind: string; name: string; uid?: string },
): Promise<k8s.EventsV1Event[]> {
  const api = kc.makeApiClient(k8s.EventsV1Api);
  const list = await api.listNamespacedEvent({ namespace });
  return list.items.filter(
    (e) =>
      e.reportingController === REPORTING_CONTROLLER &&
      e.regarding?.kind === regarding.kind &&
      e.regarding?.name === regarding.name &&
      (regarding.uid === undefined || e.regarding?.uid === regarding.uid),
  );
}

/** Occurrences an Event stands for: `series.count`, else 1 (event-recorder's counting contract). */
export const occurrences = (events: readonly k8s.EventsV1Event[]): number => events.reduce((n, e) => n + (e.series?.count ?? 1), 0);

// --- nodes ------------------------------------------------------------------------------

/** Creates a fake node managed by kwok and waits until it is Ready. */
export async function createKwokNode(core: k8s.CoreV1Api, name: string): Promise<void> {
  await core.createNode({
    body: {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { type: 'kwok', 'kubernetes.io/hostname': name, 'talon.dev/e2e': 'true' } },
    },
  });
  await eventually(
    `node ${name} Ready`,
    async () => (await core.readNode({ name })).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    60_000,
    200,
  );
}

export async function deleteNode(core: k8s.CoreV1Api, name: string): Promise<void> {
  await core.deleteNode({ name }).catch(() => undefined);
}

// --- watches ----------------------------------------------------------------------------

type WatchType = 'ADDED' | 'MODIFIED' | 'DELETED';

/**
 * A cache of the objects under a list path, fed by a watch that starts from "now" (the
 * server sends the existing objects as ADDED first) and restarts when the server closes it.
 * `onEvent` sees every change with the local time it arrived (performance.now()).
 */
export class ObjectWatch<T extends k8s.KubernetesObject> {
  readonly objects = new Map<string, T>();
  private ac: AbortController | undefined;
  private stopped = false;
  private resourceVersion: string | undefined;

  private constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly path: string,
    private readonly query: Record<string, string>,
    private readonly onEvent?: (type: WatchType, obj: T, at: number) => void,
  ) {}

  static async start<T extends k8s.KubernetesObject>(
    kc: k8s.KubeConfig,
    path: string,
    query: Record<string, string>,
    onEvent?: (type: WatchType, obj: T, at: number) => void,
  ): Promise<ObjectWatch<T>> {
    const w = new ObjectWatch<T>(kc, path, query, onEvent);
    await w.connect();
    return w;
  }

  private async connect(): Promise<void> {
    const query: Record<string, string | boolean> = { ...this.query, allowWatchBookmarks: true };
    if (this.resourceVersion !== undefined) query.resourceVersion = this.resourceVersion;
    this.ac = await new k8s.Watch(this.kc).watch(
      this.path,
      query,
      (type: string, obj: T) => {
        const at = performance.now();
        if (obj?.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
        if (type === 'BOOKMARK') return;
        if (type === 'ERROR') {
          this.resourceVersion = undefined;
          return;
        }
        const key = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
        if (type === 'DELETED') this.objects.delete(key);
        else this.objects.set(key, obj);
        this.onEvent?.(type as WatchType, obj, at);
      },
      () => {
        if (this.stopped) return;
        setTimeout(() => void this.connect().catch(() => undefined), 200);
      },
    );
  }

  stop(): void {
    this.stopped = true;
    this.ac?.abort();
  }
}

const podPath = (namespace: string) => `/api/v1/namespaces/${namespace}/pods`;

/** Watches the pods of a namespace matching a label selector. */
export function watchPods(
  kc: k8s.KubeConfig,
  namespace: string,
  labelSelector: string,
  onEvent?: (type: WatchType, pod: k8s.V1Pod, at: number) => void,
): Promise<ObjectWatch<k8s.V1Pod>> {
  return ObjectWatch.start<k8s.V1Pod>(kc, podPath(namespace), { labelSelector }, onEvent);
}

export const isReady = (p: k8s.V1Pod): boolean => (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
export const isTerminating = (p: k8s.V1Pod): boolean => p.metadata?.deletionTimestamp !== undefined && p.metadata.deletionTimestamp !== null;

/**
 * Stands in for the scheduler (the test plane has none) for the pods of one workload: binds
 * every pod without a node to the node `choose(pod, n)` names, `n` counting the pods bound
 * so far (0-based).
 */
export class PodBinder {
  private readonly seen = new Set<string>();
  private bound = 0;
  private watch: ObjectWatch<k8s.V1Pod> | undefined;
  readonly placements: { pod: string; node: string }[] = [];

  private constructor(
    private readonly core: k8s.CoreV1Api,
    private readonly namespace: string,
    private readonly choose: (pod: k8s.V1Pod, n: number) => string,
  ) {}

  static async start(kc: k8s.KubeConfig, namespace: string, labelSelector: string, choose: (pod: k8s.V1Pod, n: number) => string): Promise<PodBinder> {
    const b = new PodBinder(kc.makeApiClient(k8s.CoreV1Api), namespace, choose);
    b.watch = await watchPods(kc, namespace, labelSelector, (type, pod) => {
      if (type !== 'DELETED') b.maybeBind(pod);
    });
    return b;
  }

  private maybeBind(pod: k8s.V1Pod): void {
    const name = pod.metadata?.name ?? '';
    if (pod.spec?.nodeName || isTerminating(pod) || this.seen.has(name)) return;
    this.seen.add(name);
    const node = this.choose(pod, this.bound++);
    this.placements.push({ pod: name, node });
    void this.core
      .createNamespacedPodBinding({ name, namespace: this.namespace, body: { apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { apiVersion: 'v1', kind: 'Node', name: node } } })
      .catch(() => this.seen.delete(name));
  }

  stop(): void {
    this.watch?.stop();
  }
}

// --- metrics ----------------------------------------------------------------------------

/** Value of the Prometheus sample `name` whose labels include `labels` (any order), 0 when absent. */
export async function metricValue(op: OperatorProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricSum(await op.metrics(), name, labels);
}

/** The sum of the samples `name` in a /metrics text whose labels include `labels` (any order), 0 when none. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = new Map<string, string>();
    for (const p of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got.set(p[1]!, p[2]!);
    if (Object.entries(labels).every(([k, v]) => got.get(k) === v)) total += Number(m[4]);
  }
  return total;
}
