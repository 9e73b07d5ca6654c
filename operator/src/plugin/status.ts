/**
 * `kubectl talon status [-n NS | -A] [--kubeconfig FILE] [--context NAME] [--outcomes N]`:
 * what the rules are doing, read straight from the cluster with the user's own kubeconfig
 * (so their RBAC decides what they see): every ClusterTalonRule and ClusterTalonAction, the
 * TalonRules and TalonActions of the namespace (`-n`, default: the context's namespace) or of
 * all namespaces (`-A`), each with its Ready condition (and why not, when not), the rules'
 * counters, their most recent outcomes (status.lastOutcomes) and the operator's recent Events
 * (reportingController talon.dev/operator).
 *
 * Exit code 0; 1 when the cluster cannot be read (the API's message is printed), 2 on usage
 * errors. Kinds the user may not list are reported as such and the rest is still shown.
 */
import { apiMessage } from './api-message.js';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import {
  CLUSTER_TALON_ACTION_KIND,
  CLUSTER_TALON_ACTION_PLURAL,
  CLUSTER_TALON_RULE_KIND,
  CLUSTER_TALON_RULE_PLURAL,
  GROUP,
  TALON_ACTION_KIND,
  TALON_ACTION_PLURAL,
  TALON_RULE_KIND,
  TALON_RULE_PLURAL,
  VERSION,
  type Condition,
  type LastOutcome,
  type TalonActionSpec,
  type TalonActionStatus,
  type TalonRuleSpec,
  type TalonRuleStatus,
} from '../api/v1alpha1/types.js';
import type { CliOutput } from '../cli.js';

/** The `reportingController` of the operator's Events. */
export const REPORTING_CONTROLLER = 'talon.dev/operator';

const USAGE = 'usage: kubectl talon status [-n NAMESPACE | -A] [--kubeconfig FILE] [--context NAME] [--outcomes N]\n';

interface Obj<Spec, Status> {
  kind: string;
  metadata: k8s.V1ObjectMeta;
  spec?: Spec;
  status?: Status;
}
export type RuleObject = Obj<TalonRuleSpec, TalonRuleStatus>;
export type ActionObject = Obj<TalonActionSpec, TalonActionStatus>;

/** What `status` shows: the objects and Events read, and what could not be read. */
export interface StatusSnapshot {
  readonly rules: readonly RuleObject[];
  readonly actions: readonly ActionObject[];
  readonly events: readonly k8s.EventsV1Event[];
  /** One line per list that failed (e.g. forbidden), shown instead of its rows. */
  readonly unreadable: readonly string[];
}

const KINDS = [
  { kind: CLUSTER_TALON_RULE_KIND, plural: CLUSTER_TALON_RULE_PLURAL, cluster: true, rule: true },
  { kind: TALON_RULE_KIND, plural: TALON_RULE_PLURAL, cluster: false, rule: true },
  { kind: CLUSTER_TALON_ACTION_KIND, plural: CLUSTER_TALON_ACTION_PLURAL, cluster: true, rule: false },
  { kind: TALON_ACTION_KIND, plural: TALON_ACTION_PLURAL, cluster: false, rule: false },
] as const;


/** Reads the snapshot. `namespace` undefined = all namespaces. */
export async function readStatus(kc: k8s.KubeConfig, namespace: string | undefined): Promise<StatusSnapshot> {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const eventsApi = kc.makeApiClient(k8s.EventsV1Api);
  const rules: RuleObject[] = [];
  const actions: ActionObject[] = [];
  const unreadable: string[] = [];
  await Promise.all(
    KINDS.map(async (k) => {
      try {
        const list = (
          k.cluster || namespace === undefined
            ? await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: k.plural })
            : await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: k.plural })
        ) as { items?: Obj<unknown, unknown>[] };
        for (const item of list.items ?? []) {
          const o = { ...item, kind: k.kind };
          if (k.rule) rules.push(o as RuleObject);
          else actions.push(o as ActionObject);
        }
      } catch (err) {
        unreadable.push(`${k.kind}s: ${apiMessage(err).text}`);
      }
    }),
  );
  let events: k8s.EventsV1Event[] = [];
  try {
    const list =
      namespace === undefined ? await eventsApi.listEventForAllNamespaces({}) : await eventsApi.listNamespacedEvent({ namespace });
    events = list.items.filter((e) => e.reportingController === REPORTING_CONTROLLER);
  } catch (err) {
    unreadable.push(`Events: ${apiMessage(err).text}`);
  }
  return { rules, actions, events, unreadable };
}

/** "3m" style age of `time` at `now`; "-" when unknown. */
export function age(time: string | Date | undefined, now: Date): string {
  if (time === undefined) return '-';
  const t = typeof time === 'string' ? Date.parse(time) : time.getTime();
  if (!Number.isFinite(t)) return '-';
  const s = Math.max(0, Math.floor((now.getTime() - t) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Ready as shown: True, or False/Unknown with its reason (and message, cut), or "-" before the operator saw it. */
function readiness(o: { metadata: k8s.V1ObjectMeta; status?: { conditions?: Condition[] } }): { ready: string; why: string } {
  const c = o.status?.conditions?.find((x) => x.type === 'Ready');
  if (!c) return { ready: '-', why: 'no Ready condition yet (is the operator running?)' };
  const stale = c.observedGeneration !== undefined && o.metadata.generation !== undefined && c.observedGeneration < o.metadata.generation;
  const why = c.status === 'True' ? '' : `${c.reason}: ${c.message}`.slice(0, 160);
  return { ready: stale ? `${c.status} (generation ${c.observedGeneration} of ${o.metadata.generation})` : c.status, why };
}

/** Left-aligned columns, two spaces apart. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

const byScopeThenName = (a: { kind: string; metadata: k8s.V1ObjectMeta }, b: { kind: string; metadata: k8s.V1ObjectMeta }): number =>
  a.kind.localeCompare(b.kind) || (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');

const nameOf = (o: { kind: string; metadata: k8s.V1ObjectMeta }): string =>
  o.metadata.namespace ? `${o.kind} ${o.metadata.namespace}/${o.metadata.name}` : `${o.kind} ${o.metadata.name}`;

/** The text `status` prints for a snapshot, at `now`; `outcomes` = how many recent outcomes and Events. */
export function renderStatus(s: StatusSnapshot, now: Date, outcomes = 10): string {
  const out: string[] = [];
  const rules = [...s.rules].sort(byScopeThenName);
  const actions = [...s.actions].sort(byScopeThenName);
  const notReady: string[] = [];
  out.push(
    `RULES (${rules.length})\n` +
      table(
        ['KIND', 'NAMESPACE', 'NAME', 'READY', 'SUSPENDED', 'DRY-RUN', 'MATCHED', 'SUPPRESSED', 'SUCCEEDED', 'FAILED', 'SKIPPED', 'LAST MATCH'],
        rules.map((r) => {
          const { ready, why } = readiness(r);
          if (why) notReady.push(`${nameOf(r)}: ${why}`);
          const st = r.status ?? {};
          return [
            r.kind,
            r.metadata.namespace ?? '',
            r.metadata.name ?? '',
            ready,
            r.spec?.suspend ? 'yes' : '',
            r.spec?.dryRun ? 'yes' : '',
            String(st.matchedEvents ?? 0),
            String(st.suppressedEvents ?? 0),
            String(st.results?.succeeded ?? 0),
            String(st.results?.failed ?? 0),
            String(st.results?.skipped ?? 0),
            st.lastMatchedTime ? `${age(st.lastMatchedTime, now)} ago` : '-',
          ];
        }),
      ),
  );
  out.push(
    `ACTIONS (${actions.length})\n` +
      table(
        ['KIND', 'NAMESPACE', 'NAME', 'ACTIONNER', 'READY'],
        actions.map((a) => {
          const { ready, why } = readiness(a);
          if (why) notReady.push(`${nameOf(a)}: ${why}`);
          return [a.kind, a.metadata.namespace ?? '', a.metadata.name ?? '', a.spec?.actionner ?? '', ready];
        }),
      ),
  );
  if (notReady.length > 0) out.push(`NOT READY (${notReady.length})\n${notReady.map((l) => `  ${l}\n`).join('')}`);

  const recent: { time: string; rule: string; o: LastOutcome }[] = [];
  for (const r of rules) for (const o of r.status?.lastOutcomes ?? []) recent.push({ time: o.time, rule: nameOf(r), o });
  recent.sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
  const shown = recent.slice(0, outcomes);
  out.push(
    `RECENT OUTCOMES (${shown.length} of ${recent.length}, newest first)\n` +
      (shown.length === 0
        ? '  none\n'
        : table(
            ['AGE', 'RULE', 'ACTION', 'TARGET', 'RESULT', 'MESSAGE'],
            shown.map(({ time, rule, o }) => [
              age(time, now),
              rule,
              o.actionner ? `${o.action} (${o.actionner})` : o.action,
              o.target ? `${o.target.kind} ${o.target.namespace ? `${o.target.namespace}/` : ''}${o.target.name}` : '-',
              o.reason ? `${o.result}/${o.reason}` : o.result,
              (o.message ?? '').replace(/\s+/g, ' ').slice(0, 100),
            ]),
          )),
  );

  const eventTime = (e: k8s.EventsV1Event): Date | string | undefined =>
    e.series?.lastObservedTime ?? e.eventTime ?? e.deprecatedLastTimestamp ?? e.metadata?.creationTimestamp;
  const stamp = (e: k8s.EventsV1Event): number => {
    const t = eventTime(e);
    return t === undefined ? 0 : new Date(t as string | Date).getTime();
  };
  const events = [...s.events].sort((a, b) => stamp(b) - stamp(a)).slice(0, outcomes);
  out.push(
    `RECENT EVENTS (${events.length} of ${s.events.length}, newest first)\n` +
      (events.length === 0
        ? '  none\n'
        : table(
            ['AGE', 'TYPE', 'REASON', 'REGARDING', 'COUNT', 'NOTE'],
            events.map((e) => [
              age(eventTime(e) as string | Date | undefined, now),
              e.type ?? '',
              e.reason ?? '',
              `${e.regarding?.kind ?? ''} ${e.regarding?.namespace ? `${e.regarding.namespace}/` : ''}${e.regarding?.name ?? ''}`,
              String(e.series?.count ?? 1),
              (e.note ?? '').replace(/\s+/g, ' ').slice(0, 100),
            ]),
          )),
  );
  if (s.unreadable.length > 0) out.push(`NOT READABLE WITH YOUR CREDENTIALS\n${s.unreadable.map((l) => `  ${l}\n`).join('')}`);
  return out.join('\n');
}

/** The plugin subcommand. */
export async function statusCommand(args: readonly string[], out: CliOutput): Promise<number> {
  let values: { namespace?: string; 'all-namespaces'?: boolean; kubeconfig?: string; context?: string; outcomes?: string };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        namespace: { type: 'string', short: 'n' },
        'all-namespaces': { type: 'boolean', short: 'A' },
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        outcomes: { type: 'string' },
      },
    }));
  } catch (err) {
    out.stderr(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const outcomes = values.outcomes === undefined ? 10 : Number(values.outcomes);
  if (!Number.isInteger(outcomes) || outcomes < 0 || (values.namespace !== undefined && values['all-namespaces'])) {
    out.stderr(USAGE);
    return 2;
  }
  const kc = new k8s.KubeConfig();
  try {
    if (values.kubeconfig !== undefined) kc.loadFromFile(values.kubeconfig);
    else kc.loadFromDefault();
    if (values.context !== undefined) kc.setCurrentContext(values.context);
  } catch (err) {
    out.stderr(`kubeconfig: ${(err as Error).message}\n`);
    return 1;
  }
  if (!kc.getCurrentCluster()) {
    out.stderr('kubeconfig: no current cluster (set KUBECONFIG, --kubeconfig or --context)\n');
    return 1;
  }
  const namespace = values['all-namespaces'] ? undefined : (values.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default');
  const snapshot = await readStatus(kc, namespace);
  if (snapshot.unreadable.length === KINDS.length + 1) {
    out.stderr(`cannot read the cluster:\n${snapshot.unreadable.map((l) => `  ${l}\n`).join('')}`);
    return 1;
  }
  out.stdout(`${namespace === undefined ? 'all namespaces' : `namespace ${namespace}`} (and the cluster-scoped kinds), context ${kc.getCurrentContext()}\n\n`);
  out.stdout(renderStatus(snapshot, new Date(), outcomes));
  return 0;
}
