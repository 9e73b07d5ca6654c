/**
 * The alert's trace id: a W3C Trace Context trace-id (32 lowercase hex digits, never all
 * zeros), so the id of the webhook's 202 answer is also the OpenTelemetry trace id, and
 * logs, Events, notifications and traces of one alert share it.
 *
 * 128 random bits from Node's CSPRNG, drawn 256 ids at a time into one buffer and written as
 * hex in one call: randomUUID's text (built a character pair at a time) and the slicing that
 * removed its dashes were 3 % of a matched alert's allocations (issue 15, bench/RESULTS.md §6).
 */
import { randomFillSync } from 'node:crypto';

export const TRACE_ID_PATTERN = /^[0-9a-f]{32}$/;

const ID_BYTES = 16;
const pool = Buffer.allocUnsafeSlow(ID_BYTES * 256);
let offset = pool.length;
const ALL_ZEROS = '0'.repeat(2 * ID_BYTES);

export function newTraceId(): string {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + ID_BYTES);
  offset += ID_BYTES;
  // All zeros is not a valid trace-id (probability 2^-128): draw again.
  return id === ALL_ZEROS ? newTraceId() : id;
}
