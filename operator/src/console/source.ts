/**
 * What the console reads, from the Kubernetes API only (never from this process's memory, so
 * every replica shows the same): the talon.dev rules with their status, the Events the
 * operator wrote, and TalonApprovals. Reads use the operator's own credentials and are then
 * filtered by the user's RBAC (access.ts); an approval decision is written with the user's
 * own token, so the API server's audit log names the person who decided.
 */
import { CustomObjectsApi, EventsV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type EventsV1Event } from '@kubernetes/client-node';
import { fromKubeError } from '../errors.js';
import {
  GROUP,
  VERSION,
  CLUSTER_TALON_RULE_PLURAL,
  TALON_RULE_PLURAL,
  type TalonRule,
} from '../api/v1alpha1/types.js';
import { REPORTING_CONTROLLER, TRACE_ID_ANNOTATION } from '../kube/event-recorder.js';

export const APPROVAL_PLURAL = 'talonapprovals';
export type Decision = 'Approved' | 'Rejected';

/** A TalonApproval as the console uses it (talon.dev/v1alpha1, namespaced). */
export interface Approval {
  readonly metadata: { readonly namespace?: string; readonly name?: string; readonly creationTimestamp?: string | Date };
  readonly spec: {
    readonly rule?: { readonly kind?: string; readonly name?: string; readonly namespace?: string };
    readonly action?: { readonly name?: string; readonly actionner?: string; readonly parameters?: unknown };
    readonly target?: { readonly kind?: string; readonly namespace?: string; readonly name?: string; readonly uid?: string };
    readonly alert?: { readonly rule?: string; readonly priority?: string; readonly output?: string; readonly time?: string; readonly traceId?: string };
    readonly expiresAt?: string;
    readonly decision?: Decision;
    readonly decisionReason?: string;
  };
  readonly status?: { readonly phase?: string };
}

/** A rule with the kind it was read as. */
export type RuleObject = TalonRule & { readonly kind: 'TalonRule' | 'ClusterTalonRule' };

/** One outcome as an Event of the operator tells it. */
export interface OutcomeEvent {
  readonly time: string;
  readonly namespace: string;
  readonly result: string;
  readonly actionner: string;
  readonly note: string;
  readonly type: string;
  /** Occurrences the Event stands for (series.count, else 1). */
  readonly count: number;
  readonly regarding: { readonly kind: string; readonly namespace?: string; readonly name: string };
  readonly rule?: { readonly kind: string; readonly namespace?: string; readonly name: string };
  readonly traceId?: string;
}

export interface ConsoleSource {
  rules(): Promise<readonly RuleObject[]>;
  /** Outcome Events of the operator in every namespace, newest first. */
  outcomeEvents(): Promise<readonly OutcomeEvent[]>;
  /** `installed: false` when the TalonApproval kind is not served (its CRD is absent). */
  approvals(): Promise<{ readonly installed: boolean; readonly items: readonly Approval[] }>;
  /** Sets spec.decision (and decisionReason) of an approval as the holder of `token`. */
  decide(token: string, namespace: string, name: string, decision: Decision, reason: string): Promise<void>;
}

const OUTCOME_RESULTS = new Set(['Succeeded', 'Failed', 'Skipped', 'DryRun']);
const RULE_KINDS = new Set(['TalonRule', 'ClusterTalonRule']);

/** The Events that report an outcome: one per outcome (the target's, or the rule's when there is no target). */
export function toOutcomeEvent(e: EventsV1Event): OutcomeEvent | undefined {
  if (e.reportingController !== REPORTING_CONTROLLER || !OUTCOME_RESULTS.has(e.reason ?? '') || !(e.action ?? '').includes(':')) return undefined;
  const regarding = e.regarding;
  if (!regarding?.kind || !regarding.name) return undefined;
  const aboutRule = RULE_KINDS.has(regarding.kind);
  if (aboutRule && e.related?.name) return undefined; // the target's Event tells the same outcome
  const ruleRef = aboutRule ? regarding : e.related;
  const time = e.series?.lastObservedTime ?? e.eventTime ?? e.metadata?.creationTimestamp;
  const traceId = e.metadata?.annotations?.[TRACE_ID_ANNOTATION];
  return {
    time: time instanceof Date ? time.toISOString() : String(time ?? ''),
    namespace: e.metadata?.namespace ?? '',
    result: e.reason!,
    actionner: e.action!,
    note: e.note ?? '',
    type: e.type ?? 'Normal',
    count: e.series?.count ?? 1,
    regarding: { kind: regarding.kind, ...(regarding.namespace ? { namespace: regarding.namespace } : {}), name: regarding.name },
    ...(ruleRef?.kind && ruleRef.name && RULE_KINDS.has(ruleRef.kind) ? { rule: { kind: ruleRef.kind, ...(ruleRef.namespace ? { namespace: ruleRef.namespace } : {}), name: ruleRef.name } } : {}),
    ...(traceId ? { traceId } : {}),
  };
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** A KubeConfig for the same cluster authenticated by a bearer token only. */
function asTokenHolder(kc: KubeConfig, token: string): KubeConfig {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const user = new KubeConfig();
  user.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'console-user', token }],
    contexts: [{ name: 'console-user', cluster: cluster.name, user: 'console-user' }],
    currentContext: 'console-user',
  });
  return user;
}

/**
 * Reuses the rule and Event reads for `ttlMs` (all users share them), so a page reload does
 * not list every Event of the cluster again; those pages are at most that stale. Approvals
 * are always read afresh (a decision must show at once).
 */
export function cachedSource(inner: ConsoleSource, ttlMs: number, now: () => number = Date.now): ConsoleSource {
  const memo = <T>(read: () => Promise<T>): (() => Promise<T>) => {
    let last: { at: number; value: Promise<T> } | undefined;
    return () => {
      const t = now();
      if (last === undefined || t - last.at >= ttlMs) {
        const value = read();
        last = { at: t, value };
        value.catch(() => {
          if (last?.value === value) last = undefined;
        });
      }
      return last.value;
    };
  };
  return { rules: memo(() => inner.rules()), outcomeEvents: memo(() => inner.outcomeEvents()), approvals: () => inner.approvals(), decide: (...a) => inner.decide(...a) };
}

export function kubeConsoleSource(kc: KubeConfig): ConsoleSource {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const events = kc.makeApiClient(EventsV1Api);
  const list = async (plural: string): Promise<Record<string, unknown>[]> =>
    ((await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as { items?: Record<string, unknown>[] }).items ?? [];
  return {
    rules: async () => {
      const [ns, cluster] = await Promise.all([list(TALON_RULE_PLURAL), list(CLUSTER_TALON_RULE_PLURAL)]);
      return [
        ...cluster.map((r) => ({ ...(r as unknown as TalonRule), kind: 'ClusterTalonRule' as const })),
        ...ns.map((r) => ({ ...(r as unknown as TalonRule), kind: 'TalonRule' as const })),
      ];
    },
    outcomeEvents: async () => {
      const all = await events.listEventForAllNamespaces({ limit: 5000 });
      const out = all.items.map(toOutcomeEvent).filter((e): e is OutcomeEvent => e !== undefined);
      return out.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
    },
    approvals: async () => {
      try {
        return { installed: true, items: (await list(APPROVAL_PLURAL)) as unknown as Approval[] };
      } catch (err) {
        if (fromKubeError(err).status === 404) return { installed: false, items: [] };
        throw err;
      }
    },
    decide: async (token, namespace, name, decision, reason) => {
      const api = asTokenHolder(kc, token).makeApiClient(CustomObjectsApi);
      const body = { spec: { decision, ...(reason !== '' ? { decisionReason: reason } : {}) } };
      await api.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: APPROVAL_PLURAL, name, body }, mergePatch);
    },
  };
}
