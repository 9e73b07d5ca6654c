/**
 * The Falco alert as the engine sees it: parsed once, frozen, never mutated.
 *
 * Contract for `outputFields` values: string | number | bigint | boolean | null | array.
 * Integers beyond Number.MAX_SAFE_INTEGER arrive as `bigint` so their exact value survives
 * (`evt.time` is nanoseconds since the epoch). Keys are flat literal field names
 * (`proc.aname[2]` stays one key). A `null` value means Falco could not resolve the field.
 */
export type FieldValue = string | number | bigint | boolean | null | readonly FieldValue[];

/** Falco priorities, lowest first; the level of a priority is its index + 1 (Debug = 1). */
export const PRIORITIES = [
  'Debug',
  'Informational',
  'Notice',
  'Warning',
  'Error',
  'Critical',
  'Alert',
  'Emergency',
] as const;
export type Priority = (typeof PRIORITIES)[number];

const PRIORITY_LEVELS: ReadonlyMap<string, number> = new Map(
  PRIORITIES.flatMap((p, i) => [[p.toLowerCase(), i + 1]] as [string, number][]),
);

/** Level of a priority name (case-insensitive); 0 for unknown names, as Talon does. */
export function priorityLevel(name: string): number {
  return PRIORITY_LEVELS.get(name.toLowerCase()) ?? 0;
}

export interface FalcoEvent {
  readonly rule: string;
  readonly priority: string;
  /** priorityLevel(priority), computed once at parse time. */
  readonly priorityLevel: number;
  /** Defaults to "syscall" when absent or empty, as Talon does. */
  readonly source: string;
  /** RFC 3339 time as sent; "" when absent. */
  readonly time: string;
  readonly hostname: string;
  readonly output: string;
  readonly tags: readonly string[];
  readonly outputFields: Readonly<Record<string, FieldValue>>;
  /** Falcosidekick's uuid; informational only (regenerated per hop, never used for dedup). */
  readonly uuid?: string;
  /** performance.now() when the webhook accepted the alert (for ingest-to-action latency). */
  readonly receivedAt: number;
  /** Identifier for logs and outcomes, unique per accepted alert. */
  readonly traceId: string;
}

/** A field's value; `undefined` when absent. `null` (unresolved by Falco) is returned as `null`. */
export function field(ev: FalcoEvent, key: string): FieldValue | undefined {
  return Object.prototype.hasOwnProperty.call(ev.outputFields, key) ? ev.outputFields[key] : undefined;
}

/** A field as text for object names: strings as-is, numbers/bigints in decimal; otherwise undefined. */
export function fieldText(ev: FalcoEvent, key: string): string | undefined {
  const v = field(ev, key);
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return undefined;
}
