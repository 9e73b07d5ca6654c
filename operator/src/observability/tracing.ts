/**
 * OpenTelemetry traces (config `tracing`, off by default): one trace per accepted alert,
 * exported over OTLP/HTTP. The trace id IS the alert's trace id — the `traceId` of the
 * webhook's 202 answer (a W3C trace id, lib/trace-id.ts) — so logs, Events, notifications and
 * traces share it.
 *
 * Spans (all reconstructed with explicit times, so nothing on the intake path waits on OTel):
 *   talon.alert            root: from the webhook reading the alert to the end of matching
 *     talon.match          the rule-index evaluation; attribute talon.matched_rules
 *     talon.action         one per action outcome (start = end − duration), status ERROR when Failed
 *     talon.notify         one per delivery to a notifier instance (retries included)
 * The root span's id is the trace id's last 16 hex digits, so the later spans find their
 * parent from the trace id alone (no per-alert state kept in memory). Sampling is decided
 * from the trace id (its last 8 hex digits against `samplingRatio`), the same answer for
 * every span of one alert.
 *
 * The OpenTelemetry packages are loaded by `createAlertTracer` (lib/first-use.ts), which runs
 * only with `tracing.enabled`: an operator that does not trace does not carry them.
 */
import type { Attributes, Tracer } from '@opentelemetry/api';
import type { IdGenerator } from '@opentelemetry/sdk-trace-base';
import { firstUse } from '../lib/first-use.js';

const otel = firstUse('@opentelemetry', async () => {
  const [api, exporter, resources, sdk] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace-base'),
  ]);
  return { api, exporter, resources, sdk };
});

export interface TracingConfig {
  readonly endpoint: string;
  readonly samplingRatio: number;
  readonly serviceName: string;
}

/** What a trace needs of an alert (falco/event.ts FalcoEvent is one). `receivedAt` is performance.now() at receipt. */
export interface TracedAlert {
  readonly traceId: string;
  readonly receivedAt: number;
  readonly rule: string;
  readonly priority: string;
  readonly source: string;
}

/** What a trace needs of an outcome (api/v1alpha1/outcome.ts Outcome is one). */
export interface TracedOutcome {
  readonly traceId: string;
  readonly time: string;
  readonly durationMs: number;
  readonly rule: { readonly namespace: string; readonly name: string };
  readonly action: string;
  readonly actionner: string;
  readonly result: string;
  readonly reason: string;
  readonly target: { readonly kind: string; readonly namespace?: string; readonly name: string };
}

export interface AlertTracer {
  /** The alert was matched: `matchStarted` is performance.now() when evaluation began. */
  alertEvaluated(alert: TracedAlert, matchedRules: readonly string[], matchStarted: number): void;
  actionDone(o: TracedOutcome): void;
  /** A delivery to a notifier instance ended; times in ms since the epoch. */
  notificationDone(o: TracedOutcome, notifier: string, result: 'sent' | 'failed', startedMs: number, endedMs: number): void;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

/** Random ids, except the next trace id / span id when one is set (synchronously, right before a root span starts). */
class AlertIdGenerator implements IdGenerator {
  nextTraceId: string | undefined;
  nextSpanId: string | undefined;
  constructor(private readonly random: IdGenerator) {}
  generateTraceId(): string {
    const id = this.nextTraceId ?? this.random.generateTraceId();
    this.nextTraceId = undefined;
    return id;
  }
  generateSpanId(): string {
    const id = this.nextSpanId ?? this.random.generateSpanId();
    this.nextSpanId = undefined;
    return id;
  }
}

const TRACE_ID = /^[0-9a-f]{32}$/;
/** The root span's id of an alert's trace. */
export const alertSpanId = (traceId: string): string => traceId.slice(16);

/** Whether an alert's trace is sampled at `ratio` (deterministic in the trace id). */
export function sampled(traceId: string, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  return parseInt(traceId.slice(24), 16) / 0x1_0000_0000 < ratio;
}

const wallOf = (perfMs: number): number => Date.now() - (performance.now() - perfMs);

/** Loads OpenTelemetry and starts the exporter; rejects (`cannot load @opentelemetry: …`) when a package is missing. */
export async function createAlertTracer(config: TracingConfig): Promise<AlertTracer> {
  const {
    api: { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace },
    exporter: { OTLPTraceExporter },
    resources: { resourceFromAttributes },
    sdk: { AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, RandomIdGenerator },
  } = await otel();
  const ids = new AlertIdGenerator(new RandomIdGenerator());
  const exporter = new OTLPTraceExporter({ url: config.endpoint });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    sampler: new AlwaysOnSampler(),
    idGenerator: ids,
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000, maxQueueSize: 20_000, maxExportBatchSize: 512 })],
  });
  const tracer: Tracer = provider.getTracer('talon-operator');
  const traced = (traceId: string): boolean => TRACE_ID.test(traceId) && sampled(traceId, config.samplingRatio);
  const parentOf = (traceId: string) =>
    trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: alertSpanId(traceId), traceFlags: TraceFlags.SAMPLED, isRemote: false });
  const child = (traceId: string, name: string, start: number, end: number, attributes: Attributes, failed = false): void => {
    const span = tracer.startSpan(name, { startTime: start, attributes, kind: SpanKind.INTERNAL }, parentOf(traceId));
    if (failed) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end(end);
  };
  const outcomeAttributes = (o: TracedOutcome): Attributes => ({
    'talon.rule': `${o.rule.namespace === '' ? '' : `${o.rule.namespace}/`}${o.rule.name}`,
    'talon.action': o.action,
    'talon.actionner': o.actionner,
    'talon.result': o.result,
    'talon.reason': o.reason,
    'talon.target': `${o.target.kind} ${o.target.namespace ? `${o.target.namespace}/` : ''}${o.target.name}`,
  });

  return {
    alertEvaluated: (alert, matchedRules, matchStarted) => {
      if (!traced(alert.traceId)) return;
      const now = Date.now();
      ids.nextTraceId = alert.traceId;
      ids.nextSpanId = alertSpanId(alert.traceId);
      const root = tracer.startSpan(
        'talon.alert',
        { root: true, kind: SpanKind.SERVER, startTime: wallOf(alert.receivedAt), attributes: { 'falco.rule': alert.rule, 'falco.priority': alert.priority, 'falco.source': alert.source } },
        ROOT_CONTEXT,
      );
      root.end(now);
      child(alert.traceId, 'talon.match', wallOf(matchStarted), now, { 'talon.matched_rules': [...matchedRules] });
    },
    actionDone: (o) => {
      if (!traced(o.traceId)) return;
      const end = Date.parse(o.time);
      if (Number.isNaN(end)) return;
      child(o.traceId, 'talon.action', end - o.durationMs, end, outcomeAttributes(o), o.result === 'Failed');
    },
    notificationDone: (o, notifier, result, startedMs, endedMs) => {
      if (!traced(o.traceId)) return;
      child(o.traceId, 'talon.notify', startedMs, endedMs, { ...outcomeAttributes(o), 'talon.notifier': notifier, 'talon.notification_result': result }, result === 'failed');
    },
    shutdown: () => provider.shutdown(),
  };
}
