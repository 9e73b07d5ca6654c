/**
 * Bounded strings for what the operator writes to the API server. Alerts carry text of any
 * length (a Falco rule name can be 1 MiB); a status, label or Event field over its schema's
 * limit makes the whole write fail, so everything written is clipped first.
 */
import { createHash } from 'node:crypto';

/** The longest label value Kubernetes accepts. */
export const LABEL_VALUE_MAX = 63;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * `text` when it has at most `max` UTF-16 units, else its first `max - 1` followed by `…`. A
 * surrogate pair is never split (a lone surrogate is not valid UTF-8 on the wire). The limit
 * counts UTF-16 units, so it also holds for the API server's count of characters.
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - 1);
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

/**
 * A valid label value standing for `text`: `text` itself when it is one; otherwise its valid
 * characters, cut to leave room for `-` and 8 hex digits of its SHA-256 (so two long names
 * with the same beginning stay distinct), trimmed to begin and end with an alphanumeric.
 */
export function labelValue(text: string): string {
  if (text.length <= LABEL_VALUE_MAX && LABEL_VALUE.test(text)) return text;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 8);
  const head = text
    .replace(/[^-A-Za-z0-9_.]/g, '-')
    .slice(0, LABEL_VALUE_MAX - hash.length - 1)
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[^A-Za-z0-9]+$/, '');
  return head === '' ? hash : `${head}-${hash}`;
}
