/**
 * The outcome of one action run (DESIGN.md §5): what the dispatcher records once per action
 * it considers (run, dry-run or skipped) and hands to every outcome sink and notifier. It is
 * also the shape of a rule's `status.lastOutcomes` entries, hence part of the API.
 */
import type { ObjectRef } from '../../lib/object-ref.js';
import type { OutcomeReason, SuppressReason } from './reasons.js';

export type OutcomeResult = 'Succeeded' | 'Failed' | 'Skipped' | 'DryRun';

export type { ObjectRef };

/**
 * The object an action is about. `kind` is a Kubernetes kind (`Pod`, `Node`, `ConfigMap`, …) or
 * `None` when the alert names no object; `namespace` is absent for cluster-scoped objects.
 */
export type OutcomeTarget = ObjectRef;

/** The rule an outcome or a match belongs to; `namespace` is '' for a cluster-scoped rule. */
export interface RuleRef {
  readonly kind?: 'TalonRule' | 'ClusterTalonRule';
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

/** The kind of the rule a RuleRef names: its `kind`, else ClusterTalonRule when `namespace` is '' and TalonRule otherwise. */
export function ruleKindOf(rule: Pick<RuleRef, 'kind' | 'namespace'>): 'TalonRule' | 'ClusterTalonRule' {
  return rule.kind ?? (rule.namespace === '' ? 'ClusterTalonRule' : 'TalonRule');
}

/** Where an action's output stored its artifact. */
export interface ArtifactLocation {
  /** The output's `category:name`, e.g. `local:file`, `aws:s3`. */
  readonly output: string;
  /** Where to find it: a path, an s3:// or gs:// URL. */
  readonly location: string;
  readonly bytes: number;
  readonly truncated: boolean;
}

/** What notifications tell about the Falco alert behind an outcome. */
export interface OutcomeAlert {
  /** The alert's `time` as sent ('' when absent). */
  readonly time: string;
  readonly source: string;
  readonly hostname: string;
  /** Falco's output text. */
  readonly output: string;
  /** Falcosidekick's uuid, when sent. */
  readonly uuid?: string;
}

export interface Outcome {
  /** RFC 3339 time the action finished (or was skipped). */
  readonly time: string;
  readonly traceId: string;
  readonly rule: RuleRef;
  /** The action's name within the rule. */
  readonly action: string;
  /** `category:name`. */
  readonly actionner: string;
  readonly target: OutcomeTarget;
  readonly result: OutcomeResult;
  /** From the reasons catalogue (reasons.ts). */
  readonly reason: OutcomeReason;
  readonly message: string;
  /** Wall time spent running the action, retries included; 0 when it did not run. */
  readonly durationMs: number;
  /** From the webhook accepting the alert to the start of this action. */
  readonly ingestToActionMs: number;
  readonly objects: readonly ObjectRef[];
  /** Set when the action produced an artifact and its output stored it. */
  readonly artifact?: ArtifactLocation;
  /** The additional contexts (`k8snode`, `aws`) fetched for this action, as the run saw them (`node.name`, `aws.region`, …). */
  readonly contexts?: Readonly<Record<string, string>>;
  /** Falco rule name of the alert. */
  readonly falcoRule: string;
  readonly priority: string;
  /** The alert's identity and text, for notifications (absent in outcomes not made from an alert). */
  readonly alert?: OutcomeAlert;
  /** How many later identical matches were merged into this work item while it was pending. */
  readonly merged: number;
  /** For an action of an escalation rule: its step (1-based) and the count of matches for the target that reached it. */
  readonly escalation?: OutcomeEscalation;
}

/** Where an outcome stands on its rule's escalation ladder. */
export interface OutcomeEscalation {
  /** 1 = the first step. */
  readonly step: number;
  /** Matches of the rule for the target in the window when the step was reached. */
  readonly count: number;
}

export type { OutcomeReason, SuppressReason };

/** Whether an outcome deserves a Warning rather than a Normal Event. */
export function isWarning(o: Pick<Outcome, 'result' | 'reason'>): boolean {
  return o.result === 'Failed' || o.reason === 'BudgetExceeded' || o.reason === 'QueueFull';
}
