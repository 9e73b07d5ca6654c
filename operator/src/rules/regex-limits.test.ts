import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventFrom } from '../../test/builders.js';
import { compileMatch, ConditionEnvironment } from './match.js';
import { compileBoundedRegex, expandedSize, MAX_EXPANDED_SIZE, MAX_PATTERN_LENGTH } from './regex-limits.js';

/** The probe of issue 14: 146 × `.{1000}`, 1,022 characters. */
const PROBE = '.{1000}'.repeat(146);

describe('regex caps', () => {
  it('measures counted repetition expanded, groups and alternatives summed', () => {
    assert.equal(expandedSize('abc'), 3);
    assert.equal(expandedSize('.{1000}'), 1000);
    assert.equal(expandedSize('[a-z]{2,6}'), 6);
    assert.equal(expandedSize('a{3,}'), 4);
    assert.equal(expandedSize('\\d+'), 2);
    assert.ok(expandedSize('(a.{100}){100}') >= 10_000);
    assert.ok(expandedSize('(x|y)') >= 3);
    assert.equal(expandedSize('\\Qa.b\\E'), 3);
    assert.equal(expandedSize(PROBE), 146_000);
  });

  it('refuses the probe of the issue, an over-long pattern and nested repetition, at compile time', () => {
    assert.equal(PROBE.length, 1022);
    const r = compileBoundedRegex(PROBE);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.message, /expands to 146000 instructions.*at most 1000/);
    const long = compileBoundedRegex('a'.repeat(MAX_PATTERN_LENGTH + 1));
    assert.equal(long.ok, false);
    if (!long.ok) assert.match(long.message, /1025 characters long; at most 1024/);
    assert.equal(compileBoundedRegex('(.{100}){100}').ok, false);
    assert.equal(compileBoundedRegex(`.{${MAX_EXPANDED_SIZE}}`).ok, true);
    assert.equal(compileBoundedRegex('^/usr/(s)?bin/[a-z]{1,32}$').ok, true);
  });

  it('outputFields Matches and CEL matches() refuse the probe with the cap in the message', () => {
    const fields = compileMatch({ outputFields: [{ key: 'proc.cmdline', operator: 'Matches', values: [PROBE] }] });
    assert.equal(fields.ok, false);
    if (!fields.ok) {
      assert.equal(fields.errors[0]?.path, 'spec.match.outputFields[0].values[0]');
      assert.match(fields.errors[0]?.message ?? '', /invalid RE2 regular expression: .*146000 instructions/);
    }
    const cel = new ConditionEnvironment().compile(`output.matches("${PROBE}")`);
    assert.equal(cel.ok, false);
    if (!cel.ok) assert.match(cel.message, /in matches\(\): .*146000 instructions/);
  });

  it('a pattern taken from the alert is held to the same caps at run time', () => {
    const r = new ConditionEnvironment().compile('output.matches(string(fields["pattern"]))');
    assert.equal(r.ok, true);
    if (!r.ok) return;
    const alert = (pattern: string) => eventFrom({ rule: 'r', output: 'x'.repeat(5000), output_fields: { pattern } });
    assert.equal(r.program.evaluate(alert('^x+$')), true);
    assert.throws(() => r.program.evaluate(alert(PROBE)), /146000 instructions/);
  });
});
