/**
 * Prometheus metrics of the operator, on a registry of its own (never prom-client's global
 * default registry). Every label set is bounded: no pod, rule or namespace names.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client';

/** `result` label values of talon_events_received_total. */
export type ReceivedResult = 'accepted' | 'rejected' | 'unauthorized' | 'too_large' | 'refused' | 'error';
/** `result` label values of talon_actions_total (an outcome's result, lower-case). */
export type ActionResultLabel = 'succeeded' | 'failed' | 'skipped' | 'dryrun';
/** `result` label values of talon_notifications_total. */
export type NotificationResultLabel = 'sent' | 'failed' | 'dropped';

/** One label set's increments of a HotCounter. */
export interface CounterCell {
  inc(): void;
}

/**
 * Hot-path increments of a labelled counter. prom-client hashes the label set on every `inc`
 * (a string built and looked up per outcome); a cell is made once per label set and kept by
 * its caller, `inc` is an addition, and the sums reach the counter when it is read (`/metrics`,
 * `get()`) through its collect hook, so every read sees every increment. Label sets stay
 * bounded: callers make one cell per label set, not one per increment.
 */
export class HotCounter<L extends string> {
  private readonly cells: { readonly labels: LabelValues<L>; n: number }[] = [];

  cell(labels: LabelValues<L>): CounterCell {
    const c = { labels, n: 0 };
    this.cells.push(c);
    return {
      inc: () => {
        c.n += 1;
      },
    };
  }

  /** Adds to `counter` what the cells counted since the last call. */
  drain(counter: Counter<L>): void {
    for (const c of this.cells) {
      if (c.n === 0) continue;
      counter.inc(c.labels, c.n);
      c.n = 0;
    }
  }
}

export interface Metrics {
  readonly registry: Registry;
  /** Cells of the counters incremented per outcome or per delivery (HotCounter). */
  readonly hot: {
    readonly actions: HotCounter<'actionner' | 'result'>;
    readonly ruleMatches: HotCounter<'scope'>;
    readonly notifications: HotCounter<'notifier' | 'result'>;
    readonly eventsReceived: HotCounter<'result'>;
  };
  /** Alerts posted to the webhook, by how the webhook answered. */
  readonly eventsReceived: Counter<'result'>;
  /** Accepted alerts dropped as duplicate deliveries. */
  readonly eventsDeduplicated: Counter;
  /** Accepted alerts that matched at least one rule. */
  readonly eventsMatched: Counter;
  /** (rule, alert) matches, by the rule's scope: `cluster` | `tenant`. */
  readonly ruleMatches: Counter<'scope'>;
  /** Matches that caused no action: cooldown, merged into a pending item, suspended rule. */
  readonly eventsSuppressed: Counter;
  readonly actions: Counter<'actionner' | 'result'>;
  /** Deliveries to optional notifiers, by configured instance name and result (sent, failed, dropped). */
  readonly notifications: Counter<'notifier' | 'result'>;
  /** Time from a delivery's first attempt to its end (sent or failed, retries included), by notifier instance. */
  readonly notificationDuration: Histogram<'notifier'>;
  readonly actionDuration: Histogram<'actionner'>;
  /** From the webhook accepting an alert to the start of an action it caused. */
  readonly ingestToAction: Histogram<'actionner'>;
  /** Work items queued or running. */
  readonly queueDepth: Gauge;
  /** Destructive actions the cluster-wide budget still allows now (tokens, refilled per minute). */
  readonly budgetAvailable: Gauge;
  /** CEL conditions that failed to evaluate (counted as not matched). */
  readonly celErrors: Counter;
  /** Accepted alerts dropped because the pre-readiness buffer was full (should stay 0). */
  readonly eventsDropped: Counter;
  /** Kubernetes Event API calls by verb (create, update) and result (ok, failed). */
  readonly kubeEventWrites: Counter<'verb' | 'result'>;
  /** Event series whose write is due and waits its turn (events.maxInFlight, events.updatesPerSecond). */
  readonly kubeEventWritesWaiting: Gauge;
  /** Accepted alerts whose work is not finished (journaled when the journal is on). */
  readonly alertsUnfinished: Gauge;
  /** Body bytes of those: what admission by bytes (queue.maxBytes) compares. */
  readonly alertsUnfinishedBytes: Gauge;
  /** Unfinished alerts read back from the journal at start. */
  readonly journalReplayed: Counter;
  /** Work left undone at shutdown: `not_started` items and `abandoned` running actions. */
  readonly shutdownLeft: Counter<'state'>;
  /** Lease requests of active-active coordination (docs/replicas.md), by operation and answer (ok, conflict, error). */
  readonly coordinationRequests: Counter<'op' | 'answer'>;
  /** The Prometheus text exposition of the registry. */
  text(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsOptions {
  /** Process metrics (CPU, memory, event loop lag, GC); default true. */
  readonly defaultMetrics?: boolean;
}

/**
 * How often prom-client's event-loop-lag monitor (`nodejs_eventloop_lag_*`) samples, ms. Its
 * default, 10, is a native timer that wakes the event loop 100 times a second for ever, busy
 * or idle: at 100 alerts/s that doubled the operator's wake-ups (strace: a timed wake-up 1–2 ms
 * after each alert), and a wake-up is what an alert costs most on a shared VM (bench/RESULTS.md,
 * issue 15). Sampled 10 times a second the lag quantiles are still there.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

const ACTION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A new registry holding every operator metric. Call once per process (or per test). */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const registers = [registry];
  const hot = { actions: new HotCounter<'actionner' | 'result'>(), ruleMatches: new HotCounter<'scope'>(), notifications: new HotCounter<'notifier' | 'result'>(), eventsReceived: new HotCounter<'result'>() };
  return {
    registry,
    hot,
    eventsReceived: new Counter({
      name: 'talon_events_received_total',
      help: 'Falco alerts posted to the webhook, by answer: accepted, rejected (bad input), unauthorized, too_large, error.',
      labelNames: ['result'] as const,
      registers,
      collect() {
        hot.eventsReceived.drain(this);
      },
    }),
    eventsDeduplicated: new Counter({
      name: 'talon_events_deduplicated_total',
      help: 'Accepted alerts dropped as duplicate deliveries.',
      registers,
    }),
    eventsMatched: new Counter({
      name: 'talon_events_matched_total',
      help: 'Accepted alerts that matched at least one rule.',
      registers,
    }),
    ruleMatches: new Counter({
      name: 'talon_rule_matches_total',
      help: 'Rule matches (one per rule and alert), by rule scope: cluster or tenant.',
      labelNames: ['scope'] as const,
      registers,
      collect() {
        hot.ruleMatches.drain(this);
      },
    }),
    eventsSuppressed: new Counter({
      name: 'talon_events_suppressed_total',
      help: 'Rule matches that caused no action (cooldown, merged into a pending item, suspended rule).',
      registers,
    }),
    actions: new Counter({
      name: 'talon_actions_total',
      help: 'Action runs, by actionner and result (succeeded, failed, skipped, dryrun).',
      labelNames: ['actionner', 'result'] as const,
      registers,
      collect() {
        hot.actions.drain(this);
      },
    }),
    notifications: new Counter({
      name: 'talon_notifications_total',
      help: 'Outcome deliveries to notifiers, by configured notifier instance and result: sent, failed (after retries), dropped (queue full or shutting down).',
      labelNames: ['notifier', 'result'] as const,
      registers,
      collect() {
        hot.notifications.drain(this);
      },
    }),
    notificationDuration: new Histogram({
      name: 'talon_notification_duration_seconds',
      help: 'Time from the first attempt of a delivery to a notifier to its end (sent or failed, retries and their waits included), by notifier instance.',
      labelNames: ['notifier'] as const,
      buckets: ACTION_BUCKETS,
      registers,
    }),
    actionDuration: new Histogram({
      name: 'talon_action_duration_seconds',
      help: 'Duration of action runs, by actionner.',
      labelNames: ['actionner'] as const,
      buckets: ACTION_BUCKETS,
      registers,
    }),
    ingestToAction: new Histogram({
      name: 'talon_ingest_to_action_seconds',
      help: 'Time from the webhook accepting an alert to the start of an action it caused, by actionner.',
      labelNames: ['actionner'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    queueDepth: new Gauge({
      name: 'talon_queue_depth',
      help: 'Work items queued or running.',
      registers,
    }),
    budgetAvailable: new Gauge({
      name: 'talon_budget_available',
      help: 'Destructive actions (terminate, delete, drain, cordon) the per-minute budget still allows now; 0 = actions are Skipped/BudgetExceeded.',
      registers,
    }),
    eventsDropped: new Counter({
      name: 'talon_events_dropped_total',
      help: 'Accepted alerts dropped because the buffer held while the rule index was loading was full.',
      registers,
    }),
    kubeEventWrites: new Counter({
      name: 'talon_kube_event_writes_total',
      help: 'Kubernetes Event API calls by verb (create: a new Event; update: a series count) and result (ok, failed).',
      labelNames: ['verb', 'result'] as const,
      registers,
    }),
    kubeEventWritesWaiting: new Gauge({
      name: 'talon_kube_event_writes_waiting',
      help: 'Event series whose write is due and waits for a call in flight (events.maxInFlight) or, for an update, a token (events.updatesPerSecond); their occurrences stay counted. Staying high: counts are refreshed less often than every 10 s (raise events.updatesPerSecond for fresher counts).',
      registers,
    }),
    celErrors: new Counter({
      name: 'talon_cel_errors_total',
      help: 'CEL match conditions that failed to evaluate (treated as not matched).',
      registers,
    }),
    alertsUnfinished: new Gauge({
      name: 'talon_alerts_unfinished',
      help: 'Accepted alerts whose work is not finished (journaled when the journal is on).',
      registers,
    }),
    alertsUnfinishedBytes: new Gauge({
      name: 'talon_alerts_unfinished_bytes',
      help: 'Body bytes of the accepted, unfinished alerts (compared with queue.maxBytes).',
      registers,
    }),
    journalReplayed: new Counter({
      name: 'talon_journal_replayed_total',
      help: 'Unfinished alerts read back from the journal at start.',
      registers,
    }),
    shutdownLeft: new Counter({
      name: 'talon_shutdown_left_total',
      help: 'Work left undone at shutdown: not_started work items, abandoned running actions.',
      labelNames: ['state'] as const,
      registers,
    }),
    coordinationRequests: new Counter({
      name: 'talon_coordination_requests_total',
      help: 'Lease requests for claims, the shared budget and the sweep, by operation (create, read, replace, remove, list) and answer (ok, conflict, error).',
      labelNames: ['op', 'answer'],
      registers,
    }),
    text: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
