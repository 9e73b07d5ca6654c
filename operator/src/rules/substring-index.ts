/**
 * Multi-substring matching for the rule index: which of many fixed substrings (those that
 * Contains and EndsWith expressions need) occur in a text, in one pass over the text.
 */

/** One required substring: it occurs when `text.startsWith(substring, at - offset)` at a gram hit `at`. */
interface SubstringEntry<P> {
  readonly substring: string;
  /** Where the entry's gram starts within `substring`. */
  readonly offset: number;
  readonly value: P;
  /** The stamp of the last lookup that found it: each entry is reported once per lookup. */
  seen: number;
}

/**
 * Multi-substring matcher: every substring is keyed by one of its grams (its rarest
 * `GRAM`-code-unit slice among the field's substrings; the whole substring when shorter),
 * hashed into open tables per gram length. One pass over a text looks each of its grams up
 * and verifies the entries found in place, so a hit means the substring really occurs.
 */
export interface SubstringIndex<P> {
  /** tables[len]: hash slot → entries whose gram has `len` code units; null when none. */
  readonly tables: readonly ((SubstringEntry<P>[] | undefined)[] | null)[];
  /** log2 of each table's size. */
  readonly bits: readonly number[];
}

const GRAM = 3;

/** Hash of the `len` code units of `text` at `at` (len 1…GRAM), in [0, 2^bits). */
function gramHash(text: string, at: number, len: number, bits: number): number {
  let h = text.charCodeAt(at);
  for (let i = 1; i < len; i++) h = (Math.imul(h, 31) + text.charCodeAt(at + i)) | 0;
  return Math.imul(h ^ (h >>> 13), 0x9e3779b1) >>> (32 - bits);
}

export function buildSubstringIndex<P>(bySubstring: ReadonlyMap<string, P>): SubstringIndex<P> {
  const gramCounts = new Map<string, number>();
  const gramsOf = (s: string): Set<string> => {
    const n = Math.min(GRAM, s.length);
    const grams = new Set<string>();
    for (let i = 0; i + n <= s.length; i++) grams.add(s.slice(i, i + n));
    return grams;
  };
  for (const s of bySubstring.keys()) for (const g of gramsOf(s)) gramCounts.set(g, (gramCounts.get(g) ?? 0) + 1);
  const perLength: SubstringEntry<P>[][] = Array.from({ length: GRAM + 1 }, () => []);
  for (const [substring, value] of bySubstring) {
    const n = Math.min(GRAM, substring.length);
    let offset = 0;
    let best = Infinity;
    for (let i = 0; i + n <= substring.length; i++) {
      const count = gramCounts.get(substring.slice(i, i + n)) ?? 0;
      if (count < best) {
        best = count;
        offset = i;
      }
    }
    (perLength[n] as SubstringEntry<P>[]).push({ substring, offset, value, seen: -1 });
  }
  const bits = perLength.map((entries) => {
    let b = 4;
    while (1 << b < entries.length * 2) b++;
    return b;
  });
  const tables = perLength.map((entries, len) => {
    if (entries.length === 0) return null;
    const b = bits[len] as number;
    const table: (SubstringEntry<P>[] | undefined)[] = new Array<SubstringEntry<P>[] | undefined>(1 << b).fill(undefined);
    for (const e of entries) {
      const h = gramHash(e.substring, e.offset, len, b);
      const slot = table[h];
      if (slot) slot.push(e);
      else table[h] = [e];
    }
    return table;
  });
  return { tables, bits };
}

/**
 * Pushes onto `out` the value of every substring of `index` that occurs in `text`, each once
 * per `stamp` (the caller increments the stamp per lookup, so found entries need no reset).
 */
export function collectSubstrings<P>(index: SubstringIndex<P>, text: string, stamp: number, out: P[]): void {
  const tables = index.tables;
  for (let len = 1; len <= GRAM; len++) {
    const table = tables[len];
    if (table === null || table === undefined) continue;
    const bits = index.bits[len] as number;
    for (let at = 0; at + len <= text.length; at++) {
      const slot = table[gramHash(text, at, len, bits)];
      if (slot === undefined) continue;
      for (let j = 0; j < slot.length; j++) {
        const e = slot[j] as SubstringEntry<P>;
        const start = at - e.offset;
        if (e.seen !== stamp && start >= 0 && text.startsWith(e.substring, start)) {
          e.seen = stamp;
          out.push(e.value);
        }
      }
    }
  }
}
