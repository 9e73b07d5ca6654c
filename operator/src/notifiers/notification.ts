/**
 * The notification record: what every HTTP notifier tells about one outcome, in one shape
 * (the webhook body, the Elasticsearch document, the Loki line, the source of the Slack and
 * Teams texts). It always carries the trace id, the rule's identity (kind, namespace, name),
 * the target (the object the Kubernetes Events regard), the Falco alert's identity and text,
 * and the artifact location when the action stored one. Pure functions of the outcome.
 */
import type { ArtifactLocation, Outcome, OutcomeResult } from '../api/v1alpha1/outcome.js';
import { ruleKindOf } from '../api/v1alpha1/outcome.js';

export interface Notification {
  readonly time: string;
  readonly traceId: string;
  readonly result: OutcomeResult;
  readonly reason: string;
  readonly message: string;
  readonly rule: { readonly kind: 'TalonRule' | 'ClusterTalonRule'; readonly namespace?: string; readonly name: string };
  readonly action: string;
  readonly actionner: string;
  readonly target: { readonly kind: string; readonly namespace?: string; readonly name?: string };
  readonly alert: { readonly rule: string; readonly priority: string; readonly time?: string; readonly source?: string; readonly hostname?: string; readonly output?: string; readonly uuid?: string };
  readonly durationMs: number;
  readonly artifact?: ArtifactLocation;
  /** The action's additional contexts (`node.*`, `aws.*`), when it asked for any. */
  readonly contexts?: Readonly<Record<string, string>>;
}

/** `namespace/name` of a tenant rule, `name` of a cluster rule. */
export function ruleName(o: Pick<Outcome, 'rule'>): string {
  return o.rule.namespace === '' ? o.rule.name : `${o.rule.namespace}/${o.rule.name}`;
}

/** `Kind namespace/name` of the target, or `none` when the alert named no object. */
export function targetName(o: Pick<Outcome, 'target'>): string {
  const t = o.target;
  if (t.kind === 'None' || t.name === '') return 'none';
  return `${t.kind} ${t.namespace ? `${t.namespace}/` : ''}${t.name}`;
}

export function notificationOf(o: Outcome): Notification {
  const a = o.alert;
  return {
    time: o.time,
    traceId: o.traceId,
    result: o.result,
    reason: o.reason,
    message: o.message,
    rule: { kind: ruleKindOf(o.rule), ...(o.rule.namespace !== '' ? { namespace: o.rule.namespace } : {}), name: o.rule.name },
    action: o.action,
    actionner: o.actionner,
    target: o.target.kind === 'None' || o.target.name === '' ? { kind: 'None' } : { kind: o.target.kind, ...(o.target.namespace ? { namespace: o.target.namespace } : {}), name: o.target.name },
    alert: {
      rule: o.falcoRule,
      priority: o.priority,
      ...(a ? { time: a.time, source: a.source, hostname: a.hostname, output: a.output, ...(a.uuid !== undefined ? { uuid: a.uuid } : {}) } : {}),
    },
    durationMs: o.durationMs,
    ...(o.artifact ? { artifact: o.artifact } : {}),
    ...(o.contexts ? { contexts: o.contexts } : {}),
  };
}

/** What happened, in words: "succeeded", "failed", "was skipped", "was a dry run (nothing done)". */
export function resultPhrase(r: OutcomeResult): string {
  switch (r) {
    case 'Succeeded':
      return 'succeeded';
    case 'Failed':
      return 'failed';
    case 'Skipped':
      return 'was skipped';
    case 'DryRun':
      return 'was a dry run (nothing done)';
  }
}

/** "Action `kill` (kubernetes:terminate) of rule `shop/kill-shells` failed on Pod shop/web-1". */
export function headline(o: Outcome, code: (s: string) => string = (s) => s): string {
  return `Action ${code(o.action)} (${o.actionner}) of rule ${code(ruleName(o))} ${resultPhrase(o.result)} on ${targetName(o)}`;
}
