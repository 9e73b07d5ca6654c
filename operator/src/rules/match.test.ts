import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventFrom } from '../../test/builders.js';
import type { FalcoEvent } from '../falco/event.js';
import {
  compileMatch,
  ConditionEnvironment,
  parsePriority,
  type CompiledMatcher,
  type ConditionFailure,
  type MatchSpec,
  type OutputFieldExpr,
} from './match.js';

function ev(overrides: Record<string, unknown> = {}): FalcoEvent {
  return eventFrom({
    rule: 'Terminal shell in container',
    priority: 'Warning',
    source: 'syscall',
    hostname: 'node-1',
    output: 'a shell',
    time: '2025-05-18T10:18:15.901045861Z',
    tags: ['container', 'shell', 'mitre_execution'],
    output_fields: {},
    ...overrides,
  });
}

function matcher(spec: MatchSpec | undefined, onConditionFailure?: (f: ConditionFailure) => void): CompiledMatcher {
  const r = compileMatch(spec, 'spec.match', onConditionFailure ? { onConditionFailure } : {});
  if (!r.ok) assert.fail(`unexpected spec errors: ${JSON.stringify(r.errors)}`);
  return r.matcher;
}

function errorsOf(spec: unknown): { path: string; message: string }[] {
  const r = compileMatch(spec as MatchSpec);
  if (r.ok) assert.fail(`expected spec errors for ${JSON.stringify(spec)}`);
  return r.errors;
}

const FIELDS = {
  s: 'nginx-7d9',
  empty: '',
  n: 443,
  neg: -1,
  f: 1.5,
  zero: 0,
  big: 1747563495901045861n,
  beyond53: 9007199254740993n,
  huge: 18446744073670260079n,
  t: true,
  fl: false,
  nul: null,
  arr: ['a', 'bc'],
  numarr: [1, 2],
  numstr: '201',
  hex: '0x1F',
} as const;

type Row = [key: string, operator: OutputFieldExpr['operator'], values: string[] | undefined, expected: boolean];

const OPERATOR_TABLE: Row[] = [
  ['s', 'Exists', undefined, true],
  ['empty', 'Exists', undefined, true],
  ['zero', 'Exists', undefined, true],
  ['fl', 'Exists', undefined, true],
  ['arr', 'Exists', undefined, true],
  ['nul', 'Exists', undefined, false],
  ['missing', 'Exists', undefined, false],
  ['nul', 'DoesNotExist', undefined, true],
  ['missing', 'DoesNotExist', undefined, true],
  ['s', 'DoesNotExist', undefined, false],
  ['empty', 'DoesNotExist', undefined, false],

  ['s', 'In', ['nginx-7d9'], true],
  ['s', 'In', ['x', 'nginx-7d9'], true],
  ['s', 'In', ['nginx'], false],
  ['empty', 'In', [''], true],
  ['n', 'In', ['443'], true],
  ['n', 'In', ['443.0'], false],
  ['n', 'In', ['0443'], false],
  ['neg', 'In', ['-1'], true],
  ['f', 'In', ['1.5'], true],
  ['zero', 'In', ['0'], true],
  ['big', 'In', ['1747563495901045861'], true],
  ['big', 'In', ['1747563495901045860'], false],
  ['huge', 'In', ['18446744073670260079'], true],
  ['t', 'In', ['true'], true],
  ['t', 'In', ['True'], false],
  ['fl', 'In', ['false'], true],
  ['nul', 'In', ['null'], false],
  ['nul', 'In', [''], false],
  ['missing', 'In', [''], false],
  ['arr', 'In', ['bc'], true],
  ['arr', 'In', ['b'], false],
  ['numarr', 'In', ['2'], true],
  ['numstr', 'In', ['201'], true],

  ['s', 'NotIn', ['x'], true],
  ['s', 'NotIn', ['nginx-7d9'], false],
  ['n', 'NotIn', ['443'], false],
  ['big', 'NotIn', ['1747563495901045861'], false],
  ['big', 'NotIn', ['1747563495901045860'], true],
  ['nul', 'NotIn', ['x'], true],
  ['missing', 'NotIn', ['x'], true],
  ['arr', 'NotIn', ['a'], false],
  ['arr', 'NotIn', ['z'], true],

  ['s', 'StartsWith', ['ngi'], true],
  ['s', 'StartsWith', ['x', 'ngi'], true],
  ['s', 'StartsWith', ['gin'], false],
  ['n', 'StartsWith', ['44'], true],
  ['big', 'StartsWith', ['174756349590104586'], true],
  ['t', 'StartsWith', ['tr'], true],
  ['arr', 'StartsWith', ['b'], true],
  ['nul', 'StartsWith', [''], false],
  ['missing', 'StartsWith', [''], false],
  ['s', 'EndsWith', ['7d9'], true],
  ['s', 'EndsWith', ['nginx'], false],
  ['huge', 'EndsWith', ['079'], true],
  ['f', 'EndsWith', ['.5'], true],
  ['s', 'Contains', ['x-7'], true],
  ['s', 'Contains', ['zz'], false],
  ['big', 'Contains', ['63495901'], true],
  ['nul', 'Contains', [''], false],

  ['s', 'Matches', ['^nginx-[0-9a-f]+$'], true],
  ['s', 'Matches', ['7d'], true],
  ['s', 'Matches', ['^x'], false],
  ['n', 'Matches', ['^4\\d\\d$'], true],
  ['big', 'Matches', ['^1747563495901045861$'], true],
  ['arr', 'Matches', ['^b'], true],
  ['nul', 'Matches', ['.*'], false],
  ['missing', 'Matches', ['.*'], false],

  ['n', 'Gt', ['442'], true],
  ['n', 'Gt', ['443'], false],
  ['n', 'Gt', ['442.5'], true],
  ['n', 'Gt', ['1747563495901045860'], false],
  ['neg', 'Gt', ['-2'], true],
  ['f', 'Gt', ['1.49'], true],
  ['f', 'Gt', ['1.5'], false],
  ['zero', 'Gt', ['-0.5'], true],
  ['big', 'Gt', ['1747563495901045860'], true],
  ['big', 'Gt', ['1747563495901045861'], false],
  ['big', 'Gt', ['1747563495901045860.5'], true],
  ['big', 'Gt', ['1747563495901045861.5'], false],
  ['beyond53', 'Gt', ['9007199254740992'], true],
  ['huge', 'Gt', ['18446744073670260078'], true],
  ['huge', 'Gt', ['18446744073670260079'], false],
  ['numstr', 'Gt', ['200'], true],
  ['numstr', 'Gt', ['201'], false],
  ['numarr', 'Gt', ['1'], true],
  ['numarr', 'Gt', ['2'], false],
  ['hex', 'Gt', ['0'], false],
  ['s', 'Gt', ['0'], false],
  ['t', 'Gt', ['0'], false],
  ['nul', 'Gt', ['-1'], false],
  ['missing', 'Gt', ['-1'], false],

  ['n', 'Lt', ['444'], true],
  ['n', 'Lt', ['443'], false],
  ['n', 'Lt', ['443.5'], true],
  ['n', 'Lt', ['1747563495901045860'], true],
  ['neg', 'Lt', ['0'], true],
  ['f', 'Lt', ['2'], true],
  ['big', 'Lt', ['1747563495901045862'], true],
  ['big', 'Lt', ['1747563495901045861'], false],
  ['big', 'Lt', ['1747563495901045861.5'], true],
  ['beyond53', 'Lt', ['9007199254740993'], false],
  ['huge', 'Lt', ['1'], false],
  ['numstr', 'Lt', ['202'], true],
  ['nul', 'Lt', ['1'], false],
  ['missing', 'Lt', ['1'], false],
];

describe('outputFields operators', () => {
  const alert = ev({ output_fields: FIELDS });
  for (const [key, operator, values, expected] of OPERATOR_TABLE) {
    it(`${key} ${operator} ${JSON.stringify(values ?? [])} → ${expected}`, () => {
      const m = matcher({ outputFields: [{ key, operator, ...(values ? { values } : {}) }] });
      assert.equal(m.test(alert), expected);
      const explained = m.explain(alert);
      assert.equal(explained.matched, expected);
      if (!expected) {
        assert.equal(explained.failed, 'outputFields[0]');
        assert.match(explained.reason ?? '', new RegExp(`^expected ${key} ${operator}`));
      }
    });
  }

  it('ANDs the expressions and names the first failing one by its spec index', () => {
    const m = matcher({
      outputFields: [
        { key: 's', operator: 'Matches', values: ['^nginx'] },
        { key: 'k8s.ns.name', operator: 'NotIn', values: ['kube-system'] },
        { key: 'n', operator: 'In', values: ['80'] },
      ],
    });
    assert.equal(m.test(ev({ output_fields: { ...FIELDS, n: 80 } })), true);
    const e = m.explain(ev({ output_fields: FIELDS }));
    assert.deepEqual(e, { matched: false, failed: 'outputFields[2]', reason: 'expected n In ["80"], got 443' });
    const absent = m.explain(ev({ output_fields: { n: 80 } }));
    assert.equal(absent.failed, 'outputFields[0]');
    assert.equal(absent.reason, 'expected s Matches ["^nginx"], got no such field');
  });
});

describe('priority', () => {
  const table: [spec: string, priority: string, expected: boolean][] = [
    ['Warning', 'Warning', true],
    ['Warning', 'Error', false],
    ['=Warning', 'Warning', true],
    ['=Warning', 'Notice', false],
    ['warning', 'Warning', true],
    ['WARNING', 'Warning', true],
    ['Warning', 'warning', true],
    ['>=Warning', 'Warning', true],
    ['>=Warning', 'Emergency', true],
    ['>=Warning', 'Notice', false],
    ['>=Warning', 'Bogus', false],
    ['>Critical', 'Critical', false],
    ['>Critical', 'Alert', true],
    ['<Notice', 'Informational', true],
    ['<Notice', 'Debug', true],
    ['<Notice', 'Notice', false],
    ['<Notice', 'Bogus', true],
    ['<=Notice', 'Notice', true],
    ['<=Notice', 'Warning', false],
    ['Informational', 'Informational', true],
    ['=Debug', 'Debug', true],
  ];
  for (const [spec, priority, expected] of table) {
    it(`${spec} vs ${priority} → ${expected}`, () => {
      const m = matcher({ priority: spec });
      const alert = ev({ priority });
      assert.equal(m.test(alert), expected);
      if (!expected) assert.deepEqual(m.explain(alert).failed, 'priority');
    });
  }

  it('explains with the expected comparison and the alert priority', () => {
    const e = matcher({ priority: '>=Error' }).explain(ev({ priority: 'Notice' }));
    assert.deepEqual(e, {
      matched: false,
      failed: 'priority',
      reason: 'expected priority >=Error, got "Notice" (level 3)',
    });
  });

  it('rejects unknown levels, Info, and malformed comparators', () => {
    for (const bad of [
      'Info',
      'info',
      '>=Info',
      'Severe',
      '=>Warning',
      '>>Error',
      '>= Warning',
      'Warning ',
      '!=Error',
    ]) {
      const errors = errorsOf({ priority: bad });
      assert.equal(errors.length, 1, bad);
      assert.equal(errors[0]?.path, 'spec.match.priority');
    }
    assert.match(errorsOf({ priority: 'Info' })[0]?.message ?? '', /"Info" is not accepted: write "Informational"/);
    assert.match(
      errorsOf({ priority: 'Severe' })[0]?.message ?? '',
      /unknown priority "Severe"; expected one of Debug, Informational/,
    );
  });

  it('exposes the admitted levels as a mask', () => {
    const p = parsePriority('>=Error');
    assert.ok(p.ok);
    assert.equal(p.mask, 0b111100000);
    assert.equal(matcher({ priority: '<Notice' }).priorityMask, 0b000000111);
    assert.equal(matcher({}).priorityMask, 0b111111111);
  });
});

describe('rules, sources and tags', () => {
  it('rules: exact names, OR', () => {
    const m = matcher({ rules: ['Write below binary dir', 'Terminal shell in container'] });
    assert.equal(m.test(ev()), true);
    assert.equal(m.test(ev({ rule: 'terminal shell in container' })), false);
    assert.deepEqual(m.ruleNames, ['Write below binary dir', 'Terminal shell in container']);
    const many = matcher({ rules: ['a', 'b', 'c', 'd', 'e', 'Terminal shell in container'] });
    assert.equal(many.test(ev()), true);
    assert.equal(many.test(ev({ rule: 'f' })), false);
    assert.deepEqual(m.explain(ev({ rule: 'Other' })), {
      matched: false,
      failed: 'rules',
      reason:
        'expected the Falco rule to be one of ["Write below binary dir","Terminal shell in container"], got "Other"',
    });
  });

  it('sources: OR, an alert without a source is syscall', () => {
    const m = matcher({ sources: ['syscall', 'k8s_audit'] });
    assert.equal(m.test(ev({ source: undefined })), true);
    assert.equal(m.test(ev({ source: 'k8s_audit' })), true);
    assert.equal(m.test(ev({ source: 'aws_cloudtrail' })), false);
    assert.deepEqual(m.sources, ['syscall', 'k8s_audit']);
    assert.equal(m.explain(ev({ source: 'aws_cloudtrail' })).failed, 'sources');
  });

  it('tags: OR of AND-groups', () => {
    const m = matcher({ tags: [['container', 'shell'], ['mitre_persistence']] });
    const table: [string[], boolean][] = [
      [['container', 'shell'], true],
      [['shell', 'x', 'container'], true],
      [['mitre_persistence'], true],
      [['container'], false],
      [[], false],
    ];
    for (const [tags, expected] of table) assert.equal(m.test(ev({ tags })), expected, JSON.stringify(tags));
    assert.deepEqual(m.explain(ev({ tags: ['container'] })), {
      matched: false,
      failed: 'tags',
      reason:
        'expected the tags to include all of one group of [["container","shell"],["mitre_persistence"]], got ["container"]',
    });
  });

  it('empty or absent criteria match everything; null names none', () => {
    for (const spec of [undefined, {}, { rules: [], sources: [], tags: [], outputFields: [] }]) {
      const m = matcher(spec as MatchSpec | undefined);
      assert.equal(m.test(ev({ rule: 'anything', priority: 'Bogus', tags: [] })), true);
      assert.equal(m.ruleNames, null);
      assert.equal(m.sources, null);
      assert.deepEqual(m.explain(ev()), { matched: true });
    }
  });

  it('ANDs all criteria and explains the first failure in evaluation order', () => {
    const m = matcher({
      rules: ['Terminal shell in container'],
      priority: '>=Warning',
      sources: ['syscall'],
      tags: [['shell']],
      outputFields: [{ key: 'k8s.ns.name', operator: 'NotIn', values: ['kube-system'] }],
      condition: 'hostname == "node-1"',
    });
    assert.equal(m.test(ev()), true);
    assert.equal(m.explain(ev({ priority: 'Debug', rule: 'x', tags: [] })).failed, 'priority');
    assert.equal(m.explain(ev({ rule: 'x', tags: [] })).failed, 'rules');
    assert.equal(m.explain(ev({ source: 'k8s_audit', tags: [] })).failed, 'sources');
    assert.equal(m.explain(ev({ tags: [] })).failed, 'tags');
    assert.equal(m.explain(ev({ output_fields: { 'k8s.ns.name': 'kube-system' } })).failed, 'outputFields[0]');
    assert.equal(m.explain(ev({ hostname: 'node-2' })).failed, 'condition');
    assert.equal(m.test(ev({ hostname: 'node-2' })), false);
  });
});

describe('spec errors', () => {
  const table: [spec: unknown, paths: string[]][] = [
    [{ outputFields: [{ key: 'a', operator: 'Exists', values: ['x'] }] }, ['spec.match.outputFields[0].values']],
    [{ outputFields: [{ key: 'a', operator: 'DoesNotExist', values: [''] }] }, ['spec.match.outputFields[0].values']],
    [{ outputFields: [{ key: 'a', operator: 'In' }] }, ['spec.match.outputFields[0].values']],
    [{ outputFields: [{ key: 'a', operator: 'StartsWith', values: [] }] }, ['spec.match.outputFields[0].values']],
    [{ outputFields: [{ key: 'a', operator: 'Gt', values: ['1', '2'] }] }, ['spec.match.outputFields[0].values']],
    [{ outputFields: [{ key: 'a', operator: 'Lt' }] }, ['spec.match.outputFields[0].values']],
    [{ outputFields: [{ key: 'a', operator: 'Gt', values: ['abc'] }] }, ['spec.match.outputFields[0].values[0]']],
    [{ outputFields: [{ key: 'a', operator: 'Gt', values: ['1e3'] }] }, ['spec.match.outputFields[0].values[0]']],
    [{ outputFields: [{ key: 'a', operator: 'Lt', values: [''] }] }, ['spec.match.outputFields[0].values[0]']],
    [{ outputFields: [{ key: 'a', operator: 'Matches', values: ['a', 'b'] }] }, ['spec.match.outputFields[0].values']],
    [
      { outputFields: [{ key: 'a', operator: 'Matches', values: ['(unclosed'] }] },
      ['spec.match.outputFields[0].values[0]'],
    ],
    [
      { outputFields: [{ key: 'a', operator: 'Matches', values: ['(?=lookahead)'] }] },
      ['spec.match.outputFields[0].values[0]'],
    ],
    [{ outputFields: [{ key: 'a', operator: 'Equals', values: ['x'] }] }, ['spec.match.outputFields[0].operator']],
    [{ outputFields: [{ operator: 'Exists' }] }, ['spec.match.outputFields[0].key']],
    [{ outputFields: [{ key: 'a', operator: 'In', values: [1] }] }, ['spec.match.outputFields[0].values']],
    [{ outputFields: ['k8s.ns.name=default'] }, ['spec.match.outputFields[0]']],
    [{ outputFields: 'x' }, ['spec.match.outputFields']],
    [{ rules: 'Terminal shell in container' }, ['spec.match.rules']],
    [{ rules: ['ok', '', 3] }, ['spec.match.rules[1]', 'spec.match.rules[2]']],
    [{ sources: [''] }, ['spec.match.sources[0]']],
    [{ tags: [[]] }, ['spec.match.tags[0]']],
    [{ tags: ['container'] }, ['spec.match.tags[0]']],
    [{ tags: 'container' }, ['spec.match.tags']],
    [{ priority: 3 }, ['spec.match.priority']],
    [{ condition: 'rule ==' }, ['spec.match.condition']],
    [{ condition: 'nosuchvar == 1' }, ['spec.match.condition']],
    [{ condition: 'rule + 1 == 2' }, ['spec.match.condition']],
    [{ condition: 'rule' }, ['spec.match.condition']],
    [{ condition: '' }, ['spec.match.condition']],
    [{ condition: 7 }, ['spec.match.condition']],
    [{ condition: 'output.matches("(?=x)")' }, ['spec.match.condition']],
    [[], ['spec.match']],
  ];
  for (const [spec, paths] of table) {
    it(`${JSON.stringify(spec)} → ${paths.join(', ')}`, () => {
      const errors = errorsOf(spec);
      assert.deepEqual(
        errors.map((e) => e.path),
        paths,
      );
      for (const e of errors) assert.ok(e.message.length > 0);
    });
  }

  it('reports every problem at once, under the given base path', () => {
    const r = compileMatch(
      {
        priority: 'Info',
        outputFields: [
          { key: 'a', operator: 'Exists' },
          { key: 'b', operator: 'Gt', values: ['x'] },
        ],
        condition: '(',
      },
      'match',
    );
    assert.equal(r.ok, false);
    if (!r.ok)
      assert.deepEqual(
        r.errors.map((e) => e.path),
        ['match.priority', 'match.outputFields[1].values[0]', 'match.condition'],
      );
  });

  it('states what is wrong', () => {
    assert.equal(
      errorsOf({ outputFields: [{ key: 'a', operator: 'Exists', values: ['x'] }] })[0]?.message,
      'values must be empty for operator Exists, got 1',
    );
    // The API server's CEL and the compiler share the operator table: Matches takes exactly one regex.
    assert.equal(
      errorsOf({ outputFields: [{ key: 'a', operator: 'Matches', values: ['^a', '^b'] }] })[0]?.message,
      'operator Matches takes exactly one value, got 2',
    );
    assert.equal(
      errorsOf({ outputFields: [{ key: 'a', operator: 'Gt', values: ['1', '2'] }] })[0]?.message,
      'operator Gt takes exactly one value, got 2',
    );
    assert.match(
      errorsOf({ condition: 'rule' })[0]?.message ?? '',
      /must be a bool expression, but its type is string/,
    );
    assert.match(errorsOf({ condition: 'nosuchvar == 1' })[0]?.message ?? '', /nosuchvar/);
    assert.match(
      errorsOf({ condition: 'output.matches("(?=x)")' })[0]?.message ?? '',
      /invalid RE2 regular expression "\(\?=x\)" in matches\(\)/,
    );
  });
});

describe('condition (CEL)', () => {
  const alert = ev({
    hostname: 'node-1',
    output: 'Warning shell (user=root)',
    output_fields: {
      'evt.time': 1747563495901045861n,
      'proc.pname': 'runc',
      'proc.tty': 34816,
      'user.uid': 0,
      'k8s.ns.name': null,
      'proc.aname[2]': 'systemd',
      ok: true,
    },
  });
  const table: [condition: string, expected: boolean][] = [
    ['rule == "Terminal shell in container"', true],
    ['priority == "Warning" && priorityLevel == 4', true],
    ['priorityLevel >= 5', false],
    ['source == "syscall" && hostname == "node-1"', true],
    ['output.contains("user=root")', true],
    ['"shell" in tags && tags.exists(t, t.startsWith("mitre_"))', true],
    ['size(tags) == 3', true],
    ['fields["proc.pname"] != "runc" || priority == "Critical"', false],
    ['fields["proc.tty"] == 34816 && fields["user.uid"] == 0', true],
    ['fields["proc.tty"] > 34815', true],
    ['fields["evt.time"] > 1747563495901045860', true],
    ['fields["evt.time"] > 1747563495901045861', false],
    ['fields["evt.time"] == 1747563495901045861', true],
    ['fields["k8s.ns.name"] == null', true],
    ['"k8s.pod.name" in fields', false],
    ['fields[?"k8s.pod.name"].orValue("none") == "none"', true],
    ['fields["proc.aname[2]"] == "systemd"', true],
    ['fields["ok"]', true],
    ['fields["proc.pname"].matches("^ru")', true],
    ['fields["proc.pname"].matches("^un")', false],
    ['matches(output, "user=ro+t")', true],
    ['output == "a.matches(\\"b\\")" || "x.matches(y)".contains("matches")', true],
  ];
  for (const [condition, expected] of table) {
    it(`${condition} → ${expected}`, () => {
      const m = matcher({ condition });
      assert.equal(m.test(alert), expected);
      assert.equal(m.explain(alert).matched, expected);
      assert.equal(m.conditionFailures, 0);
    });
  }

  it('an evaluation error is no match, reported through the hook and counted', () => {
    const failures: ConditionFailure[] = [];
    const m = matcher({ condition: 'fields["k8s.pod.name"] == "x"' }, (f) => failures.push(f));
    assert.equal(m.test(alert), false);
    assert.equal(m.test(alert), false);
    assert.equal(m.conditionFailures, 2);
    assert.deepEqual(
      failures.map((f) => [f.kind, f.count]),
      [
        ['error', 1],
        ['error', 2],
      ],
    );
    assert.match(failures[0]?.message ?? '', /k8s\.pod\.name/);
    const e = m.explain(alert);
    assert.equal(e.failed, 'condition');
    assert.match(e.reason ?? '', /failed to evaluate/);
    assert.equal(m.conditionFailures, 2, 'explain does not count');
  });

  it('a non-bool result is no match, reported as non-bool', () => {
    const failures: ConditionFailure[] = [];
    const m = matcher({ condition: 'fields["proc.pname"]' }, (f) => failures.push(f));
    assert.equal(m.test(alert), false);
    assert.deepEqual(
      failures.map((f) => f.kind),
      ['non-bool'],
    );
    assert.match(failures[0]?.message ?? '', /string "runc"/);
    assert.match(m.explain(alert).reason ?? '', /not a bool/);
  });

  it('integer overflow and invalid dynamic patterns are evaluation errors', () => {
    const failures: ConditionFailure[] = [];
    const overflow = matcher({ condition: 'fields["evt.time"] * 10 > 0' }, (f) => failures.push(f));
    assert.equal(overflow.test(alert), false);
    const dynamic = matcher({ condition: 'output.matches(fields["proc.pname"] + "(")' }, (f) => failures.push(f));
    assert.equal(dynamic.test(alert), false);
    assert.deepEqual(
      failures.map((f) => f.kind),
      ['error', 'error'],
    );
  });

  it('matches() runs in linear time (RE2), not by backtracking', () => {
    const m = matcher({ condition: 'fields["s"].matches("^(a+)+$")' });
    assert.equal(m.test(ev({ output_fields: { s: `${'a'.repeat(64)}!` } })), false);
    assert.equal(m.test(ev({ output_fields: { s: 'a'.repeat(64) } })), true);
  });

  it('reuses its activation without leaking values between alerts', () => {
    const m = matcher({ condition: 'rule == "x"' });
    m.test(alert);
    const second = ev({ rule: 'x' });
    assert.equal(m.test(second), true);
  });

  it('compiles against a shared environment', () => {
    const conditions = new ConditionEnvironment();
    const a = compileMatch({ condition: 'hostname == "node-1"' }, 'spec.match', { conditions });
    const b = compileMatch({ condition: 'output.matches("ro+t")' }, 'spec.match', { conditions });
    assert.ok(a.ok && b.ok);
    if (a.ok && b.ok) {
      assert.equal(a.matcher.test(alert), true);
      assert.equal(b.matcher.test(alert), true);
    }
  });
});
