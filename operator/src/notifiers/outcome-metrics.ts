/**
 * The metrics face of outcomes: an OutcomeSink that counts actions by actionner and result,
 * records action duration and ingest-to-action latency, and counts matches/suppressions.
 * Labels are bounded (actionner names and four results; never rule or pod names).
 */
import type { FalcoEvent } from '../falco/event.js';
import { type Outcome, type RuleRef, type SuppressReason } from '../api/v1alpha1/outcome.js';
import { type OutcomeSink } from './types.js';
import type { ActionResultLabel, Metrics } from '../observability/metrics.js';

const RESULT_LABEL: Readonly<Record<Outcome['result'], ActionResultLabel>> = {
  Succeeded: 'succeeded',
  Failed: 'failed',
  Skipped: 'skipped',
  DryRun: 'dryrun',
};

export function metricsSink(metrics: Metrics, controlNamespace: string): OutcomeSink {
  return {
    record(o: Outcome): void {
      metrics.actions.inc({ actionner: o.actionner, result: RESULT_LABEL[o.result] });
      if (o.durationMs > 0) {
        metrics.actionDuration.observe({ actionner: o.actionner }, o.durationMs / 1000);
        metrics.ingestToAction.observe({ actionner: o.actionner }, o.ingestToActionMs / 1000);
      }
    },
    matched(rule: RuleRef, _ev: FalcoEvent): void {
      metrics.ruleMatches.inc({ scope: rule.namespace === controlNamespace ? 'cluster' : 'tenant' });
    },
    suppressed(_rule: RuleRef, _ev: FalcoEvent, _why: SuppressReason): void {
      metrics.eventsSuppressed.inc();
    },
  };
}
