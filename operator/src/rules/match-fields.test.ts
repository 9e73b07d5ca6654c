import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RE2JS } from 're2js';
import { anchoredLiteralPrefix, compileFieldExpr, scalarText, type SpecError } from './match-fields.js';

describe('scalarText', () => {
  it('prints integers exactly and other scalars plainly', () => {
    assert.equal(scalarText(1747563495901045861n), '1747563495901045861');
    assert.equal(scalarText(443), '443');
    assert.equal(scalarText(-1), '-1');
    assert.equal(scalarText(1.5), '1.5');
    assert.equal(scalarText(2 ** 60), '1152921504606846976');
    assert.equal(scalarText(true), 'true');
    assert.equal(scalarText('x'), 'x');
  });
});

describe('anchoredLiteralPrefix', () => {
  const table: [string, string][] = [
    ['^/opt/app/', '/opt/app/'],
    ['^abc$', 'abc'],
    ['^abc*', 'ab'],
    ['^abc+', 'ab'],
    ['^abc?d', 'ab'],
    ['^ab{2}', 'a'],
    ['^a\\.b', 'a.b'],
    ['^a\\.+', 'a'],
    ['^a\\d', 'a'],
    ['^sh -c .*', 'sh -c '],
    ['^(a|b)c', ''],
    ['^ab|cd', ''],
    ['abc', ''],
    ['(?i)^abc', ''],
    ['^[ab]c', ''],
    ['^é*', ''],
    ['^x😀*', 'x'],
    ['^x😀', 'x😀'],
  ];
  for (const [pattern, prefix] of table) {
    it(`${pattern} → ${JSON.stringify(prefix)}`, () => assert.equal(anchoredLiteralPrefix(pattern), prefix));
  }

  it('every text the regex matches starts with the prefix', () => {
    const piece = fc.constantFrom(
      'a',
      'b',
      '\\.',
      '.',
      '*',
      '+',
      '?',
      '(a)',
      '[ab]',
      '{2}',
      'é',
      '😀',
      '|b',
      '$',
      '\\d',
      ' ',
    );
    const text = fc
      .array(fc.constantFrom('a', 'b', '.', 'é', '😀', '1', ' ', 'x'), { maxLength: 8 })
      .map((xs) => xs.join(''));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 6 }), fc.array(text, { maxLength: 10 }), (pieces, texts) => {
        const pattern = `^${pieces.join('')}`;
        let re: RE2JS;
        try {
          re = RE2JS.compile(pattern);
        } catch {
          return;
        }
        const prefix = anchoredLiteralPrefix(pattern);
        for (const t of texts)
          if (re.test(t))
            assert.ok(
              t.startsWith(prefix),
              `${pattern} matched ${JSON.stringify(t)} without prefix ${JSON.stringify(prefix)}`,
            );
      }),
      { numRuns: 500 },
    );
  });
});

describe('compileFieldExpr', () => {
  it('Matches with a literal prefix agrees with the regex alone', () => {
    const errors: SpecError[] = [];
    const p = compileFieldExpr({ key: 'k', operator: 'Matches', values: ['^/opt/app-[0-9]+/bin'] }, 0, 'x', errors);
    assert.deepEqual(errors, []);
    for (const [v, expected] of [
      ['/opt/app-12/bin/sh', true],
      ['/opt/app-/bin', false],
      ['/usr/opt/app-1/bin', false],
      ['', false],
    ] as const) {
      assert.equal(p?.testValue(v), expected, v);
    }
  });

  it('looks up keys that name Object.prototype members as own fields only', () => {
    const errors: SpecError[] = [];
    const exists = compileFieldExpr({ key: 'constructor', operator: 'Exists' }, 0, 'x', errors);
    const inList = compileFieldExpr({ key: 'toString', operator: 'In', values: ['x'] }, 0, 'x', errors);
    assert.equal(exists?.test({}), false);
    assert.equal(exists?.test({ constructor: 'c' }), true);
    assert.equal(inList?.test({}), false);
    assert.equal(inList?.test({ toString: 'x' }), true);
  });
});
