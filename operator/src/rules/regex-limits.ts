/**
 * Regular expressions users write (`Matches`, CEL `matches()`) are RE2: linear in the text,
 * but the constant is the size of the compiled program, and counted repetition expands it
 * (`.{1000}` is a thousand instructions; 146 of them took 0.9 s on a 5 KB field). So a
 * pattern is refused at compile time when its text exceeds MAX_PATTERN_LENGTH or its
 * expanded size (atoms, with `{n,m}` repeating what precedes it m times) exceeds
 * MAX_EXPANDED_SIZE. The size is the same measure RE2 applies to its program size; computed
 * from the text, before anything is compiled.
 */
import { RE2JS } from 're2js';

/** Characters of a pattern. */
export const MAX_PATTERN_LENGTH = 1024;
/** Instructions of a pattern once counted repetitions are expanded. */
export const MAX_EXPANDED_SIZE = 1000;

export type BoundedRegex = { ok: true; re: RE2JS } | { ok: false; message: string };

/** The end (exclusive) of the character class starting at `i` (`[`). */
function classEnd(p: string, i: number): number {
  let j = i + 1;
  if (p[j] === '^') j++;
  if (p[j] === ']') j++;
  while (j < p.length && p[j] !== ']') {
    if (p[j] === '\\') j += 2;
    else if (p[j] === '[' && p[j + 1] === ':') {
      const close = p.indexOf(':]', j + 2);
      j = close === -1 ? j + 1 : close + 2;
    } else j++;
  }
  return j + 1;
}

/** The end (exclusive) of the escape starting at `i` (`\`), and how many atoms it stands for. */
function escapeEnd(p: string, i: number): { end: number; atoms: number } {
  const c = p[i + 1];
  if (c === 'Q') {
    const close = p.indexOf('\\E', i + 2);
    const end = close === -1 ? p.length : close;
    return { end: close === -1 ? p.length : close + 2, atoms: Math.max(1, end - (i + 2)) };
  }
  if ((c === 'p' || c === 'P' || c === 'x') && p[i + 2] === '{') {
    const close = p.indexOf('}', i + 3);
    return { end: close === -1 ? p.length : close + 1, atoms: 1 };
  }
  if (c === 'p' || c === 'P') return { end: i + 3, atoms: 1 };
  if (c === 'x') return { end: i + 4, atoms: 1 };
  return { end: i + 2, atoms: 1 };
}

/**
 * The pattern's size with counted repetitions expanded: each atom (character, class, escape)
 * is 1, a group the sum of its alternatives, `x{n,m}` m times x (`x{n,}` n + 1 times).
 * Malformed text is measured as best it can be; RE2 reports the syntax error itself.
 */
export function expandedSize(p: string): number {
  const stack: { total: number; last: number }[] = [{ total: 0, last: 0 }];
  let i = 0;
  const atom = (size: number): void => {
    const top = stack[stack.length - 1]!;
    top.total += size;
    top.last = size;
  };
  while (i < p.length) {
    const c = p[i]!;
    if (c === '\\') {
      const e = escapeEnd(p, i);
      atom(e.atoms);
      i = e.end;
    } else if (c === '[') {
      atom(1);
      i = classEnd(p, i);
    } else if (c === '(') {
      stack.push({ total: 0, last: 0 });
      i++;
    } else if (c === ')') {
      const group = stack.length > 1 ? stack.pop()! : { total: 0, last: 0 };
      atom(group.total + 1);
      i++;
    } else if (c === '|') {
      stack[stack.length - 1]!.last = 0;
      stack[stack.length - 1]!.total += 1;
      i++;
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i, i + 24));
      if (m === null) {
        atom(1);
        i++;
        continue;
      }
      const min = Number(m[1]);
      const max = m[2] === undefined ? min : m[3] === '' ? min + 1 : Number(m[3]);
      const top = stack[stack.length - 1]!;
      const repeated = top.last * Math.max(1, max);
      top.total += repeated - top.last;
      top.last = repeated;
      i += m[0].length;
    } else if (c === '*' || c === '+' || c === '?') {
      stack[stack.length - 1]!.total += 1;
      i++;
    } else {
      atom(1);
      i++;
    }
  }
  let total = 0;
  for (const s of stack) total += s.total;
  return total;
}

/** Why `pattern` is refused before compiling, or undefined when it is within the caps. */
export function regexLimitError(pattern: string): string | undefined {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    return `the regular expression is ${pattern.length} characters long; at most ${MAX_PATTERN_LENGTH} are allowed`;
  }
  const size = expandedSize(pattern);
  if (size > MAX_EXPANDED_SIZE) {
    return `the regular expression expands to ${size} instructions (counted repetitions such as {n,m} multiply what they repeat); at most ${MAX_EXPANDED_SIZE} are allowed`;
  }
  return undefined;
}

/** Compiles an RE2 pattern within the caps above; the message says which cap or syntax rule failed. */
export function compileBoundedRegex(pattern: string): BoundedRegex {
  const refused = regexLimitError(pattern);
  if (refused !== undefined) return { ok: false, message: refused };
  try {
    return { ok: true, re: RE2JS.compile(pattern) };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}
