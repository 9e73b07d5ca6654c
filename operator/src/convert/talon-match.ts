/**
 * A Talon rule's `match` block (talon-compat §3.2–3.3) as a talon.dev `match`, with the same
 * meaning:
 * - `rules`, `priority` as they are (same syntax and semantics);
 * - `source` → `sources: [source]`;
 * - `tags`: each item is comma-separated tags that must all be present, items OR'ed → one
 *   AND-group per item;
 * - `output_fields`: each item is comma-separated `key=value` / `key!=value` clauses that must
 *   all hold, items OR'ed. One item becomes `outputFields` (`=` → In, `!=` → NotIn: an absent
 *   or null field is never In and always NotIn, as in Talon). Several items become one CEL
 *   `condition`, an OR of the groups, since `outputFields` is an AND.
 *
 * Talon's clause parsing is kept, quirks included: double quotes are stripped from values, and
 * a clause whose value holds `!` or a second `=` is dropped by Talon (the match gets broader) —
 * dropped here too, with a warning. A key outside Talon's pattern fails Talon's `rules check`.
 */
import type { MatchSpec, OutputFieldSelector } from '../api/v1alpha1/types.js';
import type { Diagnostics, TalonMatch } from './talon-rules.js';

/** One `key=value` or `key!=value` clause. */
export interface Clause {
  key: string;
  negated: boolean;
  value: string;
}

/** Talon's clause check (`^[a-z0-9.\[\]]*(!)?(=)`, case-insensitive). */
const CLAUSE = /^([a-z0-9.[\]]*)(!?)=(.*)$/i;
const PRIORITY = /^(<|>)?(=)?(debug|informational|notice|warning|error|critical|alert|emergency)$/i;
const TAG = /^[a-z_0-9.]*[a-z0-9]$/i;

/** The clauses of one `output_fields` item; undefined when Talon would refuse it. */
export function parseGroup(item: string, where: string, d: Diagnostics): Clause[] | undefined {
  const clauses: Clause[] = [];
  for (const raw of item.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const m = CLAUSE.exec(part);
    if (!m) {
      d.errors.push(`${where}: output_fields clause ${JSON.stringify(part)} is not key=value or key!=value with a key of [a-z0-9.[]] (Talon refuses it)`);
      return undefined;
    }
    const value = m[3]!.trim().replaceAll('"', '');
    if (value.includes('!') || value.includes('=')) {
      d.warnings.push(`${where}: output_fields clause ${JSON.stringify(part)} has '!' or '=' in its value; Talon silently drops such a clause, so it is dropped here too (the match is broader)`);
      continue;
    }
    clauses.push({ key: m[1]!, negated: m[2] === '!', value });
  }
  return clauses;
}

const selector = (c: Clause): OutputFieldSelector => ({ key: c.key, operator: c.negated ? 'NotIn' : 'In', values: [c.value] });

const INTEGER = /^-?(0|[1-9]\d*)$/;

/**
 * CEL that holds when the field's text equals `value` as Talon compares it (`%v` of the JSON
 * value): a string equal to it, or, for an integer or true/false, that number or bool. An
 * absent or null field never equals.
 */
function equalsCel(key: string, value: string): string {
  const field = `fields[?${JSON.stringify(key)}].orValue(null)`;
  const alternatives = [`${field} == ${JSON.stringify(value)}`];
  if (INTEGER.test(value)) alternatives.push(`${field} == ${value}`);
  if (value === 'true' || value === 'false') alternatives.push(`${field} == ${value}`);
  return alternatives.length === 1 ? alternatives[0]! : `(${alternatives.join(' || ')})`;
}

/** The CEL of one group: every `=` clause holds and no `!=` clause does. */
export function groupCel(group: readonly Clause[]): string {
  if (group.length === 0) return 'true';
  return group
    .map((c) => {
      const eq = equalsCel(c.key, c.value);
      if (!c.negated) return eq;
      return eq.startsWith('(') ? `!${eq}` : `!(${eq})`;
    })
    .join(' && ');
}

/** The talon.dev match of a Talon rule's match block. */
export function convertMatch(m: TalonMatch, where: string, d: Diagnostics): MatchSpec {
  const out: MatchSpec = {};
  if (m.rules.length > 0) out.rules = [...m.rules];
  if (m.priority !== undefined) {
    if (!PRIORITY.test(m.priority)) d.errors.push(`${where}: match.priority ${JSON.stringify(m.priority)} is not [<|>][=]Level (Talon refuses it)`);
    else out.priority = m.priority;
  }
  if (m.source !== undefined) out.sources = [m.source];
  if (m.tags.length > 0) {
    const groups: string[][] = [];
    for (const item of m.tags) {
      const group = item.split(',').map((t) => t.trim()).filter((t) => t !== '');
      const bad = group.find((t) => !TAG.test(t));
      if (bad !== undefined) d.errors.push(`${where}: match.tags ${JSON.stringify(bad)} is not a tag Talon accepts`);
      groups.push(group);
    }
    out.tags = groups;
  }
  const groups: Clause[][] = [];
  for (const item of m.outputFields) {
    const g = parseGroup(item, where, d);
    if (g !== undefined) groups.push(g);
  }
  // A group left empty (every clause dropped) matches every alert, so the OR of the groups does too.
  if (groups.length === 0 || groups.some((g) => g.length === 0)) return out;
  if (groups.length === 1) out.outputFields = groups[0]!.map(selector);
  else out.condition = groups.map((g) => (g.length > 1 ? `(${groupCel(g)})` : groupCel(g))).join(' || ');
  return out;
}
