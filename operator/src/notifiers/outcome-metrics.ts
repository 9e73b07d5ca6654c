/**
 * The metrics face of outcomes: an OutcomeSink that counts actions by actionner and result,
 * records action duration and ingest-to-action latency, and counts matches/suppressions.
 * Labels are bounded (actionner names, four results, two scopes; never rule or pod names).
 */
import type { FalcoEvent } from '../falco/event.js';
import { ruleKindOf, type Outcome, type RuleRef, type SuppressReason } from '../api/v1alpha1/outcome.js';
import { type OutcomeSink } from './types.js';
import type { ActionResultLabel, Metrics } from '../observability/metrics.js';

const RESULT_LABEL: Readonly<Record<Outcome['result'], ActionResultLabel>> = {
  Succeeded: 'succeeded',
  Failed: 'failed',
  Skipped: 'skipped',
  DryRun: 'dryrun',
};

/** The `scope` label of a rule match: 'cluster' for a ClusterTalonRule, 'tenant' for a TalonRule. */
export function scopeLabel(rule: Pick<RuleRef, 'kind' | 'namespace'>): 'cluster' | 'tenant' {
  return ruleKindOf(rule) === 'ClusterTalonRule' ? 'cluster' : 'tenant';
}

export function metricsSink(metrics: Metrics): OutcomeSink {
  return {
    record(o: Outcome): void {
      metrics.actions.inc({ actionner: o.actionner, result: RESULT_LABEL[o.result] });
      if (o.durationMs > 0) {
        metrics.actionDuration.observe({ actionner: o.actionner }, o.durationMs / 1000);
        metrics.ingestToAction.observe({ actionner: o.actionner }, o.ingestToActionMs / 1000);
      }
    },
    matched(rule: RuleRef, _ev: FalcoEvent): void {
      metrics.ruleMatches.inc({ scope: scopeLabel(rule) });
    },
    suppressed(_rule: RuleRef, _ev: FalcoEvent, _why: SuppressReason): void {
      metrics.eventsSuppressed.inc();
    },
  };
}
