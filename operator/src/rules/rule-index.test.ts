import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { eventFrom, ruleOf, type RuleOptions } from '../../test/builders.js';
import type { FalcoEvent } from '../falco/event.js';
import { RuleIndex } from './rule-index.js';
import type { CompiledRule, Matcher } from './types.js';

/** The operator's own namespace: no longer special, its TalonRules are tenant rules. */
const OPERATOR_NS = 'talon-system';

function ev(overrides: Record<string, unknown> = {}): FalcoEvent {
  return eventFrom({
    rule: 'Terminal shell in container',
    priority: 'Warning',
    source: 'syscall',
    tags: ['container'],
    output_fields: { 'k8s.ns.name': 'team-a' },
    ...overrides,
  });
}

const keys = (rules: readonly CompiledRule[]): string[] => rules.map((r) => r.key);

describe('RuleIndex.evaluate', () => {
  const shell = { rules: ['Terminal shell in container'] };

  it('orders cluster rules by (order, name), then the target namespace tenant rules by (order, name)', () => {
    const index = RuleIndex.build(
      [
        ruleOf('t-z', { namespace: 'team-a', order: 0 }),
        ruleOf('c-late', { order: 5, match: shell }),
        ruleOf('t-a', { namespace: 'team-a', order: 0, match: shell }),
        ruleOf('t-first', { namespace: 'team-a', order: -1 }),
        ruleOf('c-b', { order: 1 }),
        ruleOf('c-a', { order: 1, match: shell }),
        ruleOf('c-first', { order: -3, match: { priority: '>=Notice' } }),
        ruleOf('other-tenant', { namespace: 'team-b' }),
      ],
    );
    assert.deepEqual(keys(index.evaluate(ev(), 'team-a')), [
      'c-first',
      'c-a',
      'c-b',
      'c-late',
      'team-a/t-first',
      'team-a/t-a',
      'team-a/t-z',
    ]);
  });

  it('matches tenant rules only for alerts targeting their namespace', () => {
    const index = RuleIndex.build([ruleOf('c'), ruleOf('t', { namespace: 'team-a' })]);
    assert.deepEqual(keys(index.evaluate(ev(), 'team-a')), ['c', 'team-a/t']);
    assert.deepEqual(keys(index.evaluate(ev(), 'team-b')), ['c']);
    assert.deepEqual(keys(index.evaluate(ev(), undefined)), ['c']);
  });

  it("no namespace is special: a TalonRule in the operator's own namespace is a tenant rule there", () => {
    const index = RuleIndex.build([ruleOf('c'), ruleOf('own', { namespace: OPERATOR_NS })]);
    assert.equal(index.get(`${OPERATOR_NS}/own`)?.scope, 'tenant');
    assert.deepEqual(keys(index.evaluate(ev(), 'team-a')), ['c']);
    assert.deepEqual(keys(index.evaluate(ev(), undefined)), ['c']);
    assert.deepEqual(keys(index.evaluate(ev(), OPERATOR_NS)), ['c', `${OPERATOR_NS}/own`]);
  });

  it('a ClusterTalonRule x and a TalonRule ns/x are two rules with two keys', () => {
    const cluster = ruleOf('x', { order: 1 });
    const tenant = ruleOf('x', { namespace: 'team-a', order: 0 });
    const index = RuleIndex.build([cluster, tenant]);
    assert.equal(index.size, 2);
    assert.equal(index.get('x'), cluster);
    assert.equal(index.get('team-a/x'), tenant);
    assert.deepEqual([cluster.kind, tenant.kind], ['ClusterTalonRule', 'TalonRule']);
    assert.deepEqual(keys(index.evaluate(ev(), 'team-a')), ['x', 'team-a/x']);
    assert.deepEqual(keys(index.without('x').rules()), ['team-a/x']);
    assert.deepEqual(keys(index.without('team-a/x').rules()), ['x']);
  });

  it('skips rules whose criteria fail, whichever candidate list they come from', () => {
    const index = RuleIndex.build(
      [
        ruleOf('named-other', { match: { rules: ['Write below binary dir'] } }),
        ruleOf('named-two', { match: { rules: ['Write below binary dir', 'Terminal shell in container'] } }),
        ruleOf('named-but-field', {
          match: { rules: ['Terminal shell in container'], outputFields: [{ key: 'x', operator: 'Exists' }] },
        }),
        ruleOf('audit-only', { match: { sources: ['k8s_audit'] } }),
        ruleOf('syscall-only', { match: { sources: ['syscall', 'k8s_audit'] } }),
        ruleOf('critical', { match: { priority: '>=Critical' } }),
        ruleOf('low', { match: { priority: '<=Warning' } }),
        ruleOf('tagged', { match: { tags: [['container']] } }),
      ],
    );
    assert.deepEqual(keys(index.evaluate(ev(), undefined)), [
      'low',
      'named-two',
      'syscall-only',
      'tagged',
    ]);
    assert.deepEqual(
      keys(
        index.evaluate(
          ev({ rule: 'K8s Serviceaccount Created', source: 'k8s_audit', priority: 'Critical', tags: [] }),
          undefined,
        ),
      ),
      ['audit-only', 'critical', 'syscall-only'],
    );
    assert.deepEqual(keys(index.evaluate(ev({ priority: 'Bogus', tags: [] }), undefined)), [
      'low',
      'named-two',
      'syscall-only',
    ]);
  });

  it('continue: false on a cluster rule stops every later rule, cluster and tenant', () => {
    const index = RuleIndex.build(
      [
        ruleOf('a', { order: 0 }),
        ruleOf('stop', { order: 1, continue: false, match: shell }),
        ruleOf('c', { order: 2 }),
        ruleOf('t', { namespace: 'team-a' }),
      ],
    );
    assert.deepEqual(keys(index.evaluate(ev(), 'team-a')), ['a', 'stop']);
    assert.deepEqual(keys(index.evaluate(ev({ rule: 'Other' }), 'team-a')), [
      'a',
      'c',
      'team-a/t',
    ]);
  });

  it('a tenant rule never suppresses a cluster rule, whatever their order values', () => {
    const index = RuleIndex.build([
      ruleOf('t-stop', { namespace: 'team-a', order: -1_000_000, continue: false, match: shell }),
      ruleOf('c-last', { order: 1_000_000, match: shell }),
    ]);
    assert.deepEqual(keys(index.evaluate(ev(), 'team-a')), ['c-last', 'team-a/t-stop']);
    const explained = index.explain(ev(), 'team-a').map((x) => [x.rule.key, x.explanation.matched]);
    assert.deepEqual(explained, [
      ['c-last', true],
      ['team-a/t-stop', true],
    ]);
  });

  it('continue: false on a tenant rule stops only later tenant rules', () => {
    const index = RuleIndex.build(
      [
        ruleOf('t-stop', { namespace: 'team-a', order: 0, continue: false, match: shell }),
        ruleOf('t-later', { namespace: 'team-a', order: 1 }),
        ruleOf('c-late', { order: 100 }),
      ],
    );
    assert.deepEqual(keys(index.evaluate(ev(), 'team-a')), ['c-late', 'team-a/t-stop']);
  });

  it('suspended and dry-run rules match and keep their continue semantics', () => {
    const index = RuleIndex.build(
      [ruleOf('s', { suspend: true, continue: false }), ruleOf('z', { dryRun: true })]
    );
    assert.deepEqual(keys(index.evaluate(ev(), undefined)), ['s']);
  });

  it('accepts matchers that expose no priority mask', () => {
    const bare: Matcher = {
      ruleNames: null,
      sources: null,
      test: (e) => e.priority === 'Warning',
      explain: (e) =>
        e.priority === 'Warning' ? { matched: true } : { matched: false, failed: 'priority', reason: 'no' },
    };
    const index = RuleIndex.build([{ ...ruleOf('bare'), matcher: bare }]);
    assert.deepEqual(keys(index.evaluate(ev(), undefined)), ['bare']);
    assert.deepEqual(keys(index.evaluate(ev({ priority: 'Bogus' }), undefined)), []);
  });
});

describe('RuleIndex access paths', () => {
  const fieldRule = (
    name: string,
    key: string,
    operator: 'In' | 'StartsWith' | 'Matches',
    values: string[],
    order = 0,
  ) => ruleOf(name, { order, match: { outputFields: [{ key, operator, values }] } });
  const index = RuleIndex.build(
    [
      fieldRule('in-text', 'f', 'In', ['web']),
      fieldRule('in-number', 'f', 'In', ['443']),
      fieldRule('in-big', 'f', 'In', ['18446744073670260079']),
      fieldRule('in-bool', 'f', 'In', ['true']),
      fieldRule('in-proto', 'constructor', 'In', ['c']),
      fieldRule('prefix-exact', 'f', 'StartsWith', ['web']),
      fieldRule('prefix-short', 'f', 'StartsWith', ['w', 'zzz']),
      fieldRule('prefix-number', 'f', 'StartsWith', ['44']),
      fieldRule('regex-prefix', 'f', 'Matches', ['^we+b']),
      fieldRule('regex-any', 'f', 'Matches', ['eb$']),
      ruleOf('tags-second-group', { match: { tags: [['x', 'y'], ['z']] } }),
      ruleOf('tags-first-group', { match: { tags: [['x', 'y'], ['z']] }, order: 1 }),
      ruleOf('residual', { order: -1, match: { priority: '>=Notice' } }),
    ],
  );
  const names = (fields: Record<string, unknown>, tags: string[] = []) =>
    index.evaluate(ev({ rule: 'r', tags, output_fields: fields }), undefined).map((r) => r.name);

  it('finds rules by field value, prefix and tag, in evaluation order', () => {
    assert.deepEqual(names({ f: 'web' }), [
      'residual',
      'in-text',
      'prefix-exact',
      'prefix-short',
      'regex-any',
      'regex-prefix',
    ]);
    assert.deepEqual(names({ f: 'weeb' }), ['residual', 'prefix-short', 'regex-any', 'regex-prefix']);
    assert.deepEqual(names({ f: 443 }), ['residual', 'in-number', 'prefix-number']);
    assert.deepEqual(names({ f: 18446744073670260079n }), ['residual', 'in-big']);
    assert.deepEqual(names({ f: true }), ['residual', 'in-bool']);
    assert.deepEqual(names({ f: ['x', ['web']] }), [
      'residual',
      'in-text',
      'prefix-exact',
      'prefix-short',
      'regex-any',
      'regex-prefix',
    ]);
    assert.deepEqual(names({ f: null }), ['residual']);
    assert.deepEqual(names({}), ['residual']);
    assert.deepEqual(names({ constructor: 'c' }), ['residual', 'in-proto']);
    assert.deepEqual(names({}, ['z']), ['residual', 'tags-second-group', 'tags-first-group']);
    assert.deepEqual(names({}, ['y', 'x']), ['residual', 'tags-second-group', 'tags-first-group']);
    assert.deepEqual(names({}, ['x']), ['residual']);
  });
});

describe('RuleIndex substring access path (Contains, EndsWith)', () => {
  let tested: string[] = [];
  /** A rule whose matcher records each `test` call, so tests can tell which rules were candidates. */
  const textRule = (
    name: string,
    operator: 'Contains' | 'EndsWith',
    values: string[],
    order = 0,
    key = 'proc.cmdline',
  ): CompiledRule => {
    const r = ruleOf(name, {
      order,
      match: {
        outputFields: [
          { key: 'k8s.ns.name', operator: 'NotIn', values: ['kube-system'] },
          { key, operator, values },
        ],
      },
    });
    const m = r.matcher as Matcher & { priorityMask: number; indexHints: unknown };
    const spy = {
      ruleNames: m.ruleNames,
      sources: m.sources,
      priorityMask: m.priorityMask,
      indexHints: m.indexHints,
      test: (e: FalcoEvent) => {
        tested.push(name);
        return m.test(e);
      },
      explain: (e: FalcoEvent) => m.explain(e),
    };
    return { ...r, matcher: spy };
  };
  const index = RuleIndex.build(
    [
      textRule('one', 'Contains', [' --app-7']),
      textRule('several', 'Contains', ['needle', 'haystack', '--x'], 1),
      textRule('overlap-abcd', 'Contains', ['abcd']),
      textRule('overlap-bcde', 'Contains', ['bcde']),
      textRule('overlap-abc', 'Contains', ['abc'], 2),
      textRule('short-ab', 'Contains', ['ab'], 2),
      textRule('single-b', 'Contains', ['b'], 2),
      textRule('repeated', 'Contains', ['aaa'], 3),
      textRule('ends', 'EndsWith', ['.sh', 'zz'], 3),
      textRule('proto', 'Contains', ['ctor'], 3, 'constructor'),
      textRule('empty', 'Contains', ['', 'q'], 4),
      textRule('digits', 'Contains', ['234'], 3),
    ],
  );
  const run = (fields: Record<string, unknown>): { matched: string[]; tested: string[] } => {
    tested = [];
    const matched = index.evaluate(ev({ rule: 'r', output_fields: fields }), undefined).map((r) => r.name);
    return { matched, tested: [...tested] };
  };

  it('finds a rule only through its substring and tests no rule whose substrings are absent', () => {
    assert.deepEqual(run({ 'proc.cmdline': 'node x.js --app-7 --v' }), {
      matched: ['one', 'empty'],
      tested: ['one', 'empty'],
    });
    assert.deepEqual(run({ 'proc.cmdline': 'node x.js --app-8' }), { matched: ['empty'], tested: ['empty'] });
    assert.deepEqual(run({ 'proc.cmdline': 'zzz' }), { matched: ['ends', 'empty'], tested: ['ends', 'empty'] });
    assert.deepEqual(run({}), { matched: [], tested: ['empty'] });
    assert.deepEqual(run({ 'proc.cmdline': null }), { matched: [], tested: ['empty'] });
  });

  it('matches any of several substrings, and a rule once however many of them occur', () => {
    assert.deepEqual(run({ 'proc.cmdline': 'a haystack' }).matched, ['several', 'empty']);
    assert.deepEqual(run({ 'proc.cmdline': '--x needle haystack needle' }).matched, ['several', 'empty']);
    assert.deepEqual(run({ 'proc.cmdline': 'needl aystack -x' }).matched, ['empty']);
  });

  it('finds overlapping, nested, repeated and short substrings', () => {
    assert.deepEqual(run({ 'proc.cmdline': 'xabcdex' }).matched, [
      'overlap-abcd',
      'overlap-bcde',
      'overlap-abc',
      'short-ab',
      'single-b',
      'empty',
    ]);
    assert.deepEqual(run({ 'proc.cmdline': 'abcabc' }).matched, ['overlap-abc', 'short-ab', 'single-b', 'empty']);
    assert.deepEqual(run({ 'proc.cmdline': 'bcd' }).matched, ['single-b', 'empty']);
    assert.deepEqual(run({ 'proc.cmdline': 'aa' }).matched, ['empty']);
    assert.deepEqual(run({ 'proc.cmdline': 'aaaa' }).matched, ['repeated', 'empty']);
  });

  it('EndsWith is a candidate by substring and still checked in full', () => {
    assert.deepEqual(run({ 'proc.cmdline': '/usr/run.sh' }).matched, ['ends', 'empty']);
    assert.deepEqual(run({ 'proc.cmdline': '/usr/run.sh -x' }), { matched: ['empty'], tested: ['ends', 'empty'] });
  });

  it('looks into list elements and number text, and other criteria still apply', () => {
    assert.deepEqual(run({ 'proc.cmdline': ['x', ['run --app-7']] }).matched, ['one', 'empty']);
    assert.deepEqual(run({ 'proc.cmdline': 12345 }).matched, ['digits', 'empty']);
    assert.deepEqual(run({ 'proc.cmdline': 'q --app-7', 'k8s.ns.name': 'kube-system' }), {
      matched: [],
      tested: ['one', 'empty'],
    });
    assert.deepEqual(run({ constructor: 'constructor' }).matched, ['proto']);
    assert.deepEqual(run({ 'proc.cmdline': 'constructor' }).matched, ['empty']);
  });
});

describe('RuleIndex copy-on-write', () => {
  it('with / without return new indexes and leave the old one unchanged', () => {
    const a = ruleOf('a');
    const empty = RuleIndex.build([]);
    const one = empty.with(a);
    const two = one.with(ruleOf('t', { namespace: 'team-a' }));
    assert.equal(empty.size, 0);
    assert.equal(one.size, 1);
    assert.equal(two.size, 2);
    assert.equal(two.get('a'), a);
    assert.equal(two.get('team-a/t')?.name, 't');
    assert.deepEqual(keys(one.evaluate(ev(), 'team-a')), ['a']);
    assert.deepEqual(keys(two.evaluate(ev(), 'team-a')), ['a', 'team-a/t']);

    const less = two.without('team-a/t');
    assert.deepEqual(keys(less.rules()), ['a']);
    assert.deepEqual(keys(less.evaluate(ev(), 'team-a')), ['a']);
    assert.deepEqual(keys(two.rules()), ['a', 'team-a/t']);
    assert.equal(two.without('nope/nope'), two);
  });

  it('with replaces a rule of the same key and re-sorts it', () => {
    const index = RuleIndex.build([ruleOf('a', { order: 0 }), ruleOf('b', { order: 1 })]);
    const moved = index.with(ruleOf('a', { order: 2 }));
    assert.equal(moved.size, 2);
    assert.deepEqual(keys(moved.rules()), ['b', 'a']);
    const renamed = moved.with(ruleOf('a', { order: 2, match: { rules: ['Other'] } }));
    assert.deepEqual(keys(renamed.evaluate(ev(), undefined)), ['b']);
    assert.deepEqual(keys(renamed.evaluate(ev({ rule: 'Other' }), undefined)), ['b', 'a']);
  });

  it('build keeps the last rule of a duplicated key; rules() lists cluster then tenants by namespace', () => {
    const index = RuleIndex.build(
      [
        ruleOf('t', { namespace: 'team-b' }),
        ruleOf('a', { order: 1 }),
        ruleOf('t', { namespace: 'team-a' }),
        ruleOf('a', { order: 0, continue: false }),
      ],
    );
    assert.equal(index.size, 3);
    assert.equal(index.get('a')?.continue, false);
    assert.deepEqual(keys(index.rules()), ['a', 'team-a/t', 'team-b/t']);
  });
});

describe('RuleIndex.explain', () => {
  it('explains every rule: matched, failed criterion, stopped by continue, other namespace', () => {
    const index = RuleIndex.build(
      [
        ruleOf('a', { order: 0, match: { priority: '>=Critical' } }),
        ruleOf('b', { order: 1, continue: false }),
        ruleOf('c', { order: 2 }),
        ruleOf('t', { namespace: 'team-a' }),
        ruleOf('u', { namespace: 'team-b' }),
      ],
    );
    const got = index.explain(ev(), 'team-a').map((x) => [x.rule.key, x.explanation.matched, x.explanation.failed]);
    assert.deepEqual(got, [
      ['a', false, 'priority'],
      ['b', true, undefined],
      ['c', false, 'continue'],
      ['team-a/t', false, 'continue'],
      ['team-b/u', false, 'namespace'],
    ]);
    const other = index.explain(ev(), undefined).find((x) => x.rule.key === 'team-a/t');
    assert.match(
      other?.explanation.reason ?? '',
      /only matches alerts whose target is in "team-a"; the alert has no target namespace/,
    );
  });
});

/** The evaluation order written naively: sort everything, test everything. */
function reference(rules: readonly CompiledRule[], e: FalcoEvent, target: string | undefined): string[] {
  const byOrder = (a: CompiledRule, b: CompiledRule) =>
    a.order - b.order || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const out: string[] = [];
  for (const r of rules.filter((r) => r.scope === 'cluster').sort(byOrder)) {
    if (!r.matcher.test(e)) continue;
    out.push(r.key);
    if (!r.continue) return out;
  }
  if (target === undefined) return out;
  for (const r of rules.filter((r) => r.scope === 'tenant' && r.namespace === target).sort(byOrder)) {
    if (!r.matcher.test(e)) continue;
    out.push(r.key);
    if (!r.continue) break;
  }
  return out;
}

describe('RuleIndex agrees with the naive evaluation order', () => {
  const names = ['A', 'B', 'C'];
  const ruleArb = fc.record({
    name: fc.constantFrom('r1', 'r2', 'r3', 'r4', 'r5', 'r6'),
    // undefined: a ClusterTalonRule; the operator's namespace is a tenant namespace like any other.
    namespace: fc.constantFrom<string | undefined>(undefined, undefined, OPERATOR_NS, 'team-a', 'team-b'),
    order: fc.integer({ min: -1, max: 2 }),
    continue: fc.boolean(),
    rules: fc.constantFrom<string[] | undefined>(undefined, undefined, undefined, ['A'], ['B', 'C'], names),
    sources: fc.constantFrom<string[] | undefined>(undefined, undefined, ['syscall'], ['syscall', 'k8s_audit']),
    priority: fc.constantFrom(undefined, undefined, '>=Warning', '<Notice', '=Error', '<=Emergency'),
    tags: fc.option(fc.array(fc.subarray(['x', 'y', 'z'], { minLength: 1 }), { minLength: 1, maxLength: 3 }), {
      nil: undefined,
      freq: 2,
    }),
    fieldIn: fc.array(
      fc.record({
        key: fc.constantFrom('proc.name', 'k8s.ns.name', 'list', 'num', 'constructor'),
        values: fc.subarray(['a', 'b', '1', '18446744073670260079', 'true'], { minLength: 1 }),
      }),
      { maxLength: 1 },
    ),
    notIn: fc.option(fc.constantFrom('a', 'b'), { nil: undefined }),
    prefix: fc.array(
      fc.record({
        key: fc.constantFrom('proc.name', 'list', 'num'),
        operator: fc.constantFrom('StartsWith' as const, 'Matches' as const, 'Contains' as const, 'EndsWith' as const),
        values: fc.subarray(['a', 'ab', 'bx', '1', '18446', '', '^a', '^ab', '^a.*x', 'b$'], {
          minLength: 1,
          maxLength: 2,
        }),
      }),
      { maxLength: 2 },
    ),
  });
  const fieldValue = fc.constantFrom<unknown>(
    undefined,
    null,
    'a',
    'b',
    'abx',
    'ab',
    1,
    12,
    18446744073670260079n,
    true,
    ['a', 'x'],
    ['b', 1, ['ab']],
  );
  const eventArb = fc.record({
    rule: fc.constantFrom('A', 'B', 'C', 'D'),
    source: fc.constantFrom('syscall', 'k8s_audit', 'aws_cloudtrail'),
    priority: fc.constantFrom('Debug', 'Notice', 'Warning', 'Error', 'Critical', 'Emergency', 'Bogus'),
    tags: fc.subarray(['x', 'y', 'z']),
    output_fields: fc.record({
      'proc.name': fieldValue,
      'k8s.ns.name': fieldValue,
      list: fieldValue,
      num: fieldValue,
      constructor: fieldValue,
    }),
  });
  const toRule = (r: typeof ruleArb extends fc.Arbitrary<infer T> ? T : never): CompiledRule => {
    const opts: RuleOptions = {
      ...(r.namespace !== undefined ? { namespace: r.namespace } : {}),
      order: r.order,
      continue: r.continue,
      match: {
        ...(r.rules ? { rules: r.rules } : {}),
        ...(r.sources ? { sources: r.sources } : {}),
        ...(r.priority ? { priority: r.priority } : {}),
        ...(r.tags ? { tags: r.tags } : {}),
        outputFields: [
          ...r.fieldIn.map((f) => ({ key: f.key, operator: 'In' as const, values: f.values })),
          ...(r.notIn ? [{ key: 'proc.name', operator: 'NotIn' as const, values: [r.notIn] }] : []),
          ...r.prefix.map((f) => ({
            key: f.key,
            operator: f.operator,
            values: f.operator === 'Matches' ? f.values.slice(0, 1) : f.values,
          })),
        ],
      },
    };
    return ruleOf(r.name, opts);
  };

  it('evaluate, explain and incremental updates all match the reference', () => {
    fc.assert(
      fc.property(
        fc.array(ruleArb, { maxLength: 14 }),
        eventArb,
        fc.constantFrom(undefined, OPERATOR_NS, 'team-a', 'team-b', 'team-c'),
        fc.array(fc.nat(20), { maxLength: 4 }),
        (specs, evSpec, target, removals) => {
          const unique = new Map<string, CompiledRule>();
          for (const s of specs) {
            const r = toRule(s);
            unique.set(r.key, r);
          }
          const rules = [...unique.values()];
          const fields = Object.fromEntries(Object.entries(evSpec.output_fields).filter(([, v]) => v !== undefined));
          const e = eventFrom({ ...evSpec, output_fields: fields });
          const index = RuleIndex.build(specs.map(toRule));
          const expected = reference(rules, e, target);
          assert.deepEqual(keys(index.evaluate(e, target)), expected);
          const explained = index.explain(e, target);
          assert.equal(explained.length, rules.length);
          assert.deepEqual(
            explained.filter((x) => x.explanation.matched).map((x) => x.rule.key),
            expected,
          );

          let incremental = RuleIndex.build([]);
          for (const s of specs) incremental = incremental.with(toRule(s));
          assert.deepEqual(keys(incremental.rules()), keys(index.rules()));
          assert.deepEqual(keys(incremental.evaluate(e, target)), expected);

          const removed = removals
            .map((i) => rules[i % Math.max(rules.length, 1)]?.key)
            .filter((k): k is string => k !== undefined);
          let shrunk = index;
          for (const k of removed) shrunk = shrunk.without(k);
          const kept = rules.filter((r) => !removed.includes(r.key));
          assert.equal(shrunk.size, kept.length);
          assert.deepEqual(keys(shrunk.evaluate(e, target)), reference(kept, e, target));
        },
      ),
      { numRuns: 300 },
    );
  });
});
