/**
 * The alert's trace id: a W3C Trace Context trace-id (32 lowercase hex digits, never all
 * zeros), so the id of the webhook's 202 answer is also the OpenTelemetry trace id, and
 * logs, Events, notifications and traces of one alert share it.
 *
 * A v4 UUID without its dashes: 122 random bits from Node's batched CSPRNG (cheaper on the
 * intake path than randomBytes per call), and its version nibble keeps it non-zero.
 */
import { randomUUID } from 'node:crypto';

export const TRACE_ID_PATTERN = /^[0-9a-f]{32}$/;

export function newTraceId(): string {
  const u = randomUUID();
  return u.slice(0, 8) + u.slice(9, 13) + u.slice(14, 18) + u.slice(19, 23) + u.slice(24);
}
