/**
 * The metrics face of outcomes: an OutcomeSink that counts actions by actionner and result,
 * records action duration and ingest-to-action latency, and counts matches/suppressions.
 * Labels are bounded (actionner names, four results, two scopes; never rule or pod names).
 */
import type { FalcoEvent } from '../falco/event.js';
import { ruleKindOf, type Outcome, type RuleRef, type SuppressReason } from '../api/v1alpha1/outcome.js';
import { type OutcomeSink } from './types.js';
import type { ActionResultLabel, CounterCell, Metrics } from '../observability/metrics.js';

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

/** An actionner's counter cells per result and its label set alone, made once (actionner names are a bounded set). */
interface ActionnerLabels {
  readonly byResult: Readonly<Record<Outcome['result'], CounterCell>>;
  readonly alone: { actionner: string };
}

export function metricsSink(metrics: Metrics): OutcomeSink {
  const scopes = { cluster: metrics.hot.ruleMatches.cell({ scope: 'cluster' }), tenant: metrics.hot.ruleMatches.cell({ scope: 'tenant' }) };
  const labels = new Map<string, ActionnerLabels>();
  const labelsOf = (actionner: string): ActionnerLabels => {
    let l = labels.get(actionner);
    if (l === undefined) {
      const of = (r: Outcome['result']): CounterCell => metrics.hot.actions.cell({ actionner, result: RESULT_LABEL[r] });
      l = { byResult: { Succeeded: of('Succeeded'), Failed: of('Failed'), Skipped: of('Skipped'), DryRun: of('DryRun') }, alone: { actionner } };
      labels.set(actionner, l);
    }
    return l;
  };
  return {
    record(o: Outcome): void {
      const l = labelsOf(o.actionner);
      l.byResult[o.result].inc();
      if (o.durationMs > 0) {
        metrics.actionDuration.observe(l.alone, o.durationMs / 1000);
        metrics.ingestToAction.observe(l.alone, o.ingestToActionMs / 1000);
      }
    },
    matched(rule: RuleRef, _ev: FalcoEvent): void {
      scopes[scopeLabel(rule)].inc();
    },
    suppressed(_rule: RuleRef, _ev: FalcoEvent, _why: SuppressReason): void {
      metrics.eventsSuppressed.inc();
    },
  };
}
