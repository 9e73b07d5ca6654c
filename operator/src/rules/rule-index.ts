/**
 * The immutable index of compiled rules that the webhook matches every alert against.
 *
 * Evaluation order (DESIGN.md §2 "Scope and tenancy"): the ClusterTalonRules (cluster rules,
 * scope 'cluster') by (order, name), then the TalonRules (tenant rules) of the alert target's
 * namespace by (order, name). A tenant rule only matches when the target's namespace is its
 * own; no namespace is special. A matched cluster rule with `continue: false` stops every
 * later rule; a matched tenant rule with `continue: false` stops only later tenant rules, so a
 * tenant can never suppress a cluster-wide rule. `suspend` and `dryRun` do not change
 * matching or `continue`: the dispatcher honours them.
 *
 * Cost per alert is flat in the number of rules that name OTHER Falco rules, or that select
 * other alerts by an `In` field value, a field prefix or tags: each rule is reachable by one
 * access path (its Falco rule names; else one `In` expression, looked up by the alert's field
 * value; else one StartsWith or `^literal…` Matches expression, looked up by the alert's field
 * prefixes; else the rarest tag of each tag group; else one Contains or EndsWith expression,
 * looked up by one pass of a multi-substring matcher over the alert's field text; else residual
 * lists bucketed by source and admitted priority level), and an alert's candidates are the union of the lists it hits,
 * merged by precomputed position. Only residual rules are tested for every alert of their
 * source and priority. The index relies on `Matcher.ruleNames`, `Matcher.sources` and, when
 * present, `CompiledMatcher.priorityMask` and `indexHints` being implied by `test`. Names are
 * compared by UTF-16 code units, so the order does not depend on locale.
 */
import type { FalcoEvent, FieldValue } from '../falco/event.js';
import { ALL_PRIORITY_LEVELS, type CompiledMatcher, type IndexHints } from './match.js';
import { ownField, scalarText } from './match-fields.js';
import { buildSubstringIndex, collectSubstrings, type SubstringIndex } from './substring-index.js';
import type { CompiledRule, Matcher, MatchExplanation } from './types.js';

export interface RuleExplanation {
  readonly rule: CompiledRule;
  readonly explanation: MatchExplanation;
}

/** Priority levels an alert can have: 0 (unknown) … 8 (Emergency). */
const LEVELS = 9;
/** Ascending positions into a segment's rules. */
type Positions = readonly number[];
const EMPTY: Positions = Object.freeze([]);

/**
 * Rules of one namespace, sorted by (order, name), with candidate lists: ascending positions
 * into `rules`. Each rule sits on exactly one access path: its Falco rule names, else one
 * `In` expression (by field key and value), else one StartsWith or `^literal` Matches
 * expression (by field key and prefix), else its tag groups (by each group's rarest tag),
 * else one Contains / EndsWith expression (by field key and substring), else the residual
 * lists bucketed by source and admitted priority level.
 */
interface Segment {
  readonly rules: readonly CompiledRule[];
  readonly byKey: ReadonlyMap<string, CompiledRule>;
  /** rules[i].matcher, kept flat for the hot loop. */
  readonly matchers: readonly Matcher[];
  readonly byName: ReadonlyMap<string, Positions>;
  /** Parallel arrays: field key → (value text → positions). */
  readonly fieldKeys: readonly string[];
  readonly fieldOwnCheck: readonly boolean[];
  readonly byFieldValue: readonly ReadonlyMap<string, Positions>[];
  /** Parallel arrays: field key → (prefix → positions), with the distinct prefix lengths ascending. */
  readonly prefixKeys: readonly string[];
  readonly prefixOwnCheck: readonly boolean[];
  readonly prefixLengths: readonly (readonly number[])[];
  readonly byFieldPrefix: readonly ReadonlyMap<string, Positions>[];
  readonly byTag: ReadonlyMap<string, Positions>;
  /** Parallel arrays: field key → multi-substring matcher over the field's text. */
  readonly containsKeys: readonly string[];
  readonly containsOwnCheck: readonly boolean[];
  readonly byFieldSubstring: readonly SubstringIndex<Positions>[];
  /** Residual rules listing no source, per admitted priority level. */
  readonly anySource: readonly Positions[];
  /** Residual rules listing sources, per source then level. */
  readonly bySource: ReadonlyMap<string, readonly Positions[]>;
}

/**
 * Incremented per candidate lookup (single-threaded; a double, so it never wraps in practice):
 * found entries need no reset.
 */
let lookupStamp = 0;

function compareRules(a: CompiledRule, b: CompiledRule): number {
  if (a.order !== b.order) return a.order - b.order;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function hintsOf(m: Matcher): { priorityMask: number; hints: IndexHints | undefined } {
  const c = m as Partial<CompiledMatcher>;
  return {
    priorityMask: typeof c.priorityMask === 'number' ? c.priorityMask : ALL_PRIORITY_LEVELS,
    hints: typeof c.indexHints === 'object' ? c.indexHints : undefined,
  };
}

function push<K>(map: Map<K, number[]>, key: K, pos: number): void {
  const l = map.get(key);
  if (l) l.push(pos);
  else map.set(key, [pos]);
}

function levelLists(): number[][] {
  return Array.from({ length: LEVELS }, () => []);
}

function packedLevels(lists: number[][]): readonly Positions[] {
  return Object.freeze(lists.map((l) => (l.length === 0 ? EMPTY : l)));
}

/** Builds a segment from rules already sorted by (order, name). */
function segmentOf(sorted: readonly CompiledRule[]): Segment {
  const byName = new Map<string, number[]>();
  const byField = new Map<string, Map<string, number[]>>();
  const byPrefix = new Map<string, Map<string, number[]>>();
  const byTag = new Map<string, number[]>();
  const byContains = new Map<string, Map<string, number[]>>();
  const anySource = levelLists();
  const bySource = new Map<string, number[][]>();

  const tagCounts = new Map<string, number>();
  for (const rule of sorted) {
    const groups = hintsOf(rule.matcher).hints?.tagGroups;
    for (const group of groups ?? []) for (const tag of group) tagCounts.set(tag, (tagCounts.get(tag) ?? 0) + 1);
  }

  sorted.forEach((rule, pos) => {
    const { ruleNames, sources } = rule.matcher;
    if (ruleNames !== null) {
      ruleNames.forEach((name, i) => {
        if (ruleNames.indexOf(name) === i) push(byName, name, pos);
      });
      return;
    }
    const { priorityMask, hints } = hintsOf(rule.matcher);
    const fieldIn = hints?.fieldIn ?? [];
    if (fieldIn.length > 0) {
      const narrowest = fieldIn.reduce((a, b) => (b.values.length < a.values.length ? b : a));
      let values = byField.get(narrowest.key);
      if (!values) byField.set(narrowest.key, (values = new Map()));
      for (const v of new Set(narrowest.values)) push(values, v, pos);
      return;
    }
    const fieldPrefix = hints?.fieldPrefix ?? [];
    if (fieldPrefix.length > 0) {
      const shortestOf = (ps: readonly string[]) => Math.min(...ps.map((p) => p.length));
      const best = fieldPrefix.reduce((a, b) =>
        b.prefixes.length < a.prefixes.length ||
        (b.prefixes.length === a.prefixes.length && shortestOf(b.prefixes) > shortestOf(a.prefixes))
          ? b
          : a,
      );
      let prefixes = byPrefix.get(best.key);
      if (!prefixes) byPrefix.set(best.key, (prefixes = new Map()));
      for (const p of new Set(best.prefixes)) push(prefixes, p, pos);
      return;
    }
    const groups = hints?.tagGroups;
    if (groups && groups.length > 0 && groups.every((g) => g.length > 0)) {
      const rarest = groups.map((g) => g.reduce((a, b) => ((tagCounts.get(b) ?? 0) < (tagCounts.get(a) ?? 0) ? b : a)));
      for (const tag of new Set(rarest)) push(byTag, tag, pos);
      return;
    }
    const fieldContains = hints?.fieldContains ?? [];
    if (fieldContains.length > 0) {
      const shortestOf = (ss: readonly string[]) => Math.min(...ss.map((x) => x.length));
      const best = fieldContains.reduce((a, b) =>
        b.substrings.length < a.substrings.length ||
        (b.substrings.length === a.substrings.length && shortestOf(b.substrings) > shortestOf(a.substrings))
          ? b
          : a,
      );
      let substrings = byContains.get(best.key);
      if (!substrings) byContains.set(best.key, (substrings = new Map()));
      for (const x of new Set(best.substrings)) push(substrings, x, pos);
      return;
    }
    const targets: number[][][] = [];
    if (sources === null) targets.push(anySource);
    else {
      for (const source of new Set(sources)) {
        let lists = bySource.get(source);
        if (!lists) bySource.set(source, (lists = levelLists()));
        targets.push(lists);
      }
    }
    for (let level = 0; level < LEVELS; level++) {
      if ((priorityMask & (1 << level)) === 0) continue;
      for (const lists of targets) (lists[level] as number[]).push(pos);
    }
  });
  const fieldKeys = [...byField.keys()];
  const prefixKeys = [...byPrefix.keys()];
  const containsKeys = [...byContains.keys()];
  return {
    rules: Object.freeze([...sorted]),
    byKey: new Map(sorted.map((r) => [r.key, r])),
    matchers: Object.freeze(sorted.map((r) => r.matcher)),
    byName,
    fieldKeys,
    fieldOwnCheck: fieldKeys.map((k) => k in Object.prototype),
    byFieldValue: fieldKeys.map((k) => byField.get(k) as Map<string, number[]>),
    prefixKeys,
    prefixOwnCheck: prefixKeys.map((k) => k in Object.prototype),
    prefixLengths: prefixKeys.map((k) =>
      [...new Set([...(byPrefix.get(k) as Map<string, number[]>).keys()].map((p) => p.length))].sort((x, y) => x - y),
    ),
    byFieldPrefix: prefixKeys.map((k) => byPrefix.get(k) as Map<string, number[]>),
    byTag,
    containsKeys,
    containsOwnCheck: containsKeys.map((k) => k in Object.prototype),
    byFieldSubstring: containsKeys.map((k) => buildSubstringIndex(byContains.get(k) as Map<string, number[]>)),
    anySource: packedLevels(anySource),
    bySource: new Map([...bySource].map(([k, v]) => [k, packedLevels(v)])),
  };
}

const EMPTY_SEGMENT: Segment = segmentOf([]);

/** Adds the lists of `byValue` hit by a field value (each element of a list). */
function addFieldHits(byValue: ReadonlyMap<string, Positions>, value: FieldValue, hits: Positions[]): void {
  if (value === null) return;
  if (typeof value === 'object') {
    for (let i = 0; i < value.length; i++) addFieldHits(byValue, value[i] as FieldValue, hits);
    return;
  }
  const l = byValue.get(scalarText(value));
  if (l !== undefined) hits.push(l);
}

/** Adds the lists of `byPrefix` hit by a field value's prefixes of the given lengths. */
function addPrefixHits(
  byPrefix: ReadonlyMap<string, Positions>,
  lengths: readonly number[],
  value: FieldValue,
  hits: Positions[],
): void {
  if (value === null) return;
  if (typeof value === 'object') {
    for (let i = 0; i < value.length; i++) addPrefixHits(byPrefix, lengths, value[i] as FieldValue, hits);
    return;
  }
  const text = scalarText(value);
  for (let i = 0; i < lengths.length; i++) {
    const n = lengths[i] as number;
    if (n > text.length) break;
    const l = byPrefix.get(n === text.length ? text : text.slice(0, n));
    if (l !== undefined) hits.push(l);
  }
}

/** Adds the lists of the substrings of `index` that a field value (or a list element) contains. */
function addSubstringHits(index: SubstringIndex<Positions>, value: FieldValue, stamp: number, hits: Positions[]): void {
  if (value === null) return;
  if (typeof value === 'object') {
    for (let i = 0; i < value.length; i++) addSubstringHits(index, value[i] as FieldValue, stamp, hits);
    return;
  }
  collectSubstrings(index, scalarText(value), stamp, hits);
}

/** Ascending, duplicate-free union of the lists. */
function union(lists: readonly Positions[]): Positions {
  if (lists.length === 0) return EMPTY;
  if (lists.length === 1) return lists[0] as Positions;
  let n = 0;
  for (let i = 0; i < lists.length; i++) n += (lists[i] as Positions).length;
  const all = new Int32Array(n);
  let at = 0;
  for (let i = 0; i < lists.length; i++) {
    const l = lists[i] as Positions;
    for (let j = 0; j < l.length; j++) all[at++] = l[j] as number;
  }
  all.sort();
  let w = 0;
  for (let r = 0; r < n; r++) if (r === 0 || all[r] !== all[r - 1]) all[w++] = all[r] as number;
  return Array.from(all.subarray(0, w));
}

/** The candidates of `ev` on the selective access paths (names, field values, prefixes, substrings, tags). */
function selectiveCandidates(seg: Segment, ev: FalcoEvent): Positions {
  const hits: Positions[] = [];
  const named = seg.byName.get(ev.rule);
  if (named !== undefined) hits.push(named);
  const keys = seg.fieldKeys;
  if (keys.length > 0) {
    const fields = ev.outputFields;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const value = seg.fieldOwnCheck[i] ? ownField(fields, key) : fields[key];
      if (value !== undefined) addFieldHits(seg.byFieldValue[i] as ReadonlyMap<string, Positions>, value, hits);
    }
  }
  const prefixKeys = seg.prefixKeys;
  if (prefixKeys.length > 0) {
    const fields = ev.outputFields;
    for (let i = 0; i < prefixKeys.length; i++) {
      const key = prefixKeys[i] as string;
      const value = seg.prefixOwnCheck[i] ? ownField(fields, key) : fields[key];
      if (value !== undefined) {
        addPrefixHits(
          seg.byFieldPrefix[i] as ReadonlyMap<string, Positions>,
          seg.prefixLengths[i] as readonly number[],
          value,
          hits,
        );
      }
    }
  }
  const containsKeys = seg.containsKeys;
  if (containsKeys.length > 0) {
    const fields = ev.outputFields;
    const stamp = ++lookupStamp;
    for (let i = 0; i < containsKeys.length; i++) {
      const key = containsKeys[i] as string;
      const value = seg.containsOwnCheck[i] ? ownField(fields, key) : fields[key];
      if (value !== undefined) addSubstringHits(seg.byFieldSubstring[i] as SubstringIndex<Positions>, value, stamp, hits);
    }
  }
  if (seg.byTag.size > 0) {
    const tags = ev.tags;
    for (let i = 0; i < tags.length; i++) {
      const l = seg.byTag.get(tags[i] as string);
      if (l !== undefined) hits.push(l);
    }
  }
  return union(hits);
}

/**
 * Appends the rules of `seg` that match `ev` to `out`, in position order, until a matched rule
 * has `continue: false`; returns true when one did. Candidates are the union of three
 * ascending lists: selective hits, residual rules of any source, residual rules of the
 * alert's source (disjoint: each rule has one access path).
 */
function collect(seg: Segment, ev: FalcoEvent, out: CompiledRule[]): boolean {
  const level = ev.priorityLevel >= 0 && ev.priorityLevel < LEVELS ? ev.priorityLevel : 0;
  const a = selectiveCandidates(seg, ev);
  const b = seg.anySource[level] ?? EMPTY;
  const c = seg.bySource.get(ev.source)?.[level] ?? EMPTY;
  const matchers = seg.matchers;
  const na = a.length;
  const nb = b.length;
  const nc = c.length;
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < na || j < nb || k < nc) {
    const pa = i < na ? (a[i] as number) : 0x7fffffff;
    const pb = j < nb ? (b[j] as number) : 0x7fffffff;
    const pc = k < nc ? (c[k] as number) : 0x7fffffff;
    let pos: number;
    if (pa <= pb && pa <= pc) {
      pos = pa;
      i++;
    } else if (pb <= pc) {
      pos = pb;
      j++;
    } else {
      pos = pc;
      k++;
    }
    if (!(matchers[pos] as Matcher).test(ev)) continue;
    const rule = seg.rules[pos] as CompiledRule;
    out.push(rule);
    if (!rule.continue) return true;
  }
  return false;
}

export class RuleIndex {
  readonly size: number;
  readonly #cluster: Segment;
  readonly #tenants: ReadonlyMap<string, Segment>;

  private constructor(cluster: Segment, tenants: ReadonlyMap<string, Segment>) {
    this.#cluster = cluster;
    this.#tenants = tenants;
    let size = cluster.rules.length;
    for (const seg of tenants.values()) size += seg.rules.length;
    this.size = size;
  }

  /**
   * Indexes `rules`: cluster-scope rules into the cluster segment, tenant rules by namespace;
   * a later rule with the same key replaces an earlier one.
   */
  static build(rules: readonly CompiledRule[]): RuleIndex {
    const byKey = new Map<string, CompiledRule>();
    for (const r of rules) byKey.set(r.key, r);
    const clusterRules: CompiledRule[] = [];
    const byNamespace = new Map<string, CompiledRule[]>();
    for (const r of byKey.values()) {
      if (r.scope === 'cluster') {
        clusterRules.push(r);
        continue;
      }
      let l = byNamespace.get(r.namespace);
      if (!l) byNamespace.set(r.namespace, (l = []));
      l.push(r);
    }
    const tenants = new Map<string, Segment>();
    for (const [ns, list] of byNamespace) tenants.set(ns, segmentOf(list.sort(compareRules)));
    const cluster = clusterRules.length > 0 ? segmentOf(clusterRules.sort(compareRules)) : EMPTY_SEGMENT;
    return new RuleIndex(cluster, tenants);
  }

  /** The rule with `key`: `name` for a cluster rule, `namespace/name` for a tenant rule (see `ruleKey`). */
  get(key: string): CompiledRule | undefined {
    const slash = key.indexOf('/');
    return (slash < 0 ? this.#cluster : this.#tenants.get(key.slice(0, slash)))?.byKey.get(key);
  }

  /** Every rule: cluster rules in evaluation order, then each tenant namespace's (namespaces by name). */
  rules(): readonly CompiledRule[] {
    const tenantNamespaces = [...this.#tenants.keys()].sort();
    return [...this.#cluster.rules, ...tenantNamespaces.flatMap((ns) => this.#tenants.get(ns)?.rules ?? [])];
  }

  /**
   * A new index with `rule` added (or replacing the rule with its key). Rebuilds the rule's
   * segment (the cluster rules, or its namespace's): O(rules in it); prefer `build` for many
   * changes at once.
   */
  with(rule: CompiledRule): RuleIndex {
    const current = this.#segment(rule).rules.filter((r) => r.key !== rule.key);
    let lo = 0;
    let hi = current.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareRules(current[mid] as CompiledRule, rule) < 0) lo = mid + 1;
      else hi = mid;
    }
    current.splice(lo, 0, rule);
    return this.#replaceSegment(rule, current);
  }

  /** A new index without the rule `key` (see `get`); this index when there is none. */
  without(key: string): RuleIndex {
    const rule = this.get(key);
    if (!rule) return this;
    const remaining = this.#segment(rule).rules.filter((r) => r.key !== key);
    return this.#replaceSegment(rule, remaining);
  }

  /** The segment `rule` belongs in: the cluster rules, or its namespace's tenant rules. */
  #segment(rule: CompiledRule): Segment {
    return rule.scope === 'cluster' ? this.#cluster : (this.#tenants.get(rule.namespace) ?? EMPTY_SEGMENT);
  }

  #replaceSegment(rule: CompiledRule, sorted: CompiledRule[]): RuleIndex {
    const seg = segmentOf(sorted);
    if (rule.scope === 'cluster') return new RuleIndex(seg, this.#tenants);
    const tenants = new Map(this.#tenants);
    if (sorted.length === 0) tenants.delete(rule.namespace);
    else tenants.set(rule.namespace, seg);
    return new RuleIndex(this.#cluster, tenants);
  }

  /**
   * The rules that match `ev`, in evaluation order, honouring `continue`. `targetNamespace`
   * is the alert's namespace (falco/target.ts alertNamespace); undefined = cluster
   * rules only.
   */
  evaluate(ev: FalcoEvent, targetNamespace: string | undefined): CompiledRule[] {
    const matched: CompiledRule[] = [];
    const stopAll = collect(this.#cluster, ev, matched);
    if (stopAll || targetNamespace === undefined) return matched;
    const tenant = this.#tenants.get(targetNamespace);
    if (tenant !== undefined) collect(tenant, ev, matched);
    return matched;
  }

  /**
   * Every rule with why it did or did not match `ev`, for debugging: cluster rules and the
   * target namespace's tenant rules in evaluation order (`failed: "continue"` when a previous
   * rule stopped evaluation), then other namespaces' tenant rules (`failed: "namespace"`).
   * Agrees with `evaluate`: the rules with `matched: true` are exactly the ones it returns.
   */
  explain(ev: FalcoEvent, targetNamespace: string | undefined): RuleExplanation[] {
    const out: RuleExplanation[] = [];
    let stoppedBy: CompiledRule | undefined;
    const walk = (rules: readonly CompiledRule[], tenant: boolean): void => {
      let tenantStop: CompiledRule | undefined;
      for (const rule of rules) {
        const by = stoppedBy ?? tenantStop;
        if (by) {
          out.push({
            rule,
            explanation: {
              matched: false,
              failed: 'continue',
              reason: `not evaluated: ${by.kind} ${by.key} matched first and has continue: false`,
            },
          });
          continue;
        }
        const explanation = rule.matcher.explain(ev);
        out.push({ rule, explanation });
        if (explanation.matched && !rule.continue) {
          if (tenant) tenantStop = rule;
          else stoppedBy = rule;
        }
      }
    };
    walk(this.#cluster.rules, false);
    const inScope = targetNamespace !== undefined;
    if (inScope) walk(this.#tenants.get(targetNamespace)?.rules ?? [], true);
    const target =
      targetNamespace === undefined
        ? 'the alert has no target namespace'
        : `the target's namespace is "${targetNamespace}"`;
    for (const ns of [...this.#tenants.keys()].sort()) {
      if (inScope && ns === targetNamespace) continue;
      for (const rule of this.#tenants.get(ns)?.rules ?? []) {
        const reason = `tenant rule of namespace "${ns}" only matches alerts whose target is in "${ns}"; ${target}`;
        out.push({ rule, explanation: { matched: false, failed: 'namespace', reason } });
      }
    }
    return out;
  }
}
