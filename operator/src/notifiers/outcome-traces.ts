/**
 * The fixed outcome sink that turns each action outcome into a `talon.action` span of its
 * alert's trace (observability/tracing.ts); present only when tracing is enabled.
 */
import type { AlertTracer } from '../observability/tracing.js';
import type { OutcomeSink } from './types.js';

export function traceSink(tracer: AlertTracer): OutcomeSink {
  return {
    record: (o) => tracer.actionDone(o),
    matched: () => undefined,
    suppressed: () => undefined,
  };
}
