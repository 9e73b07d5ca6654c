import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir, ruleOf, sampleEvent, sampleFiles } from '../../test/builders.js';
import { ConditionEnvironment, type MatchSpec } from './match.js';
import { RuleIndex } from './rule-index.js';

interface MatchTable {
  readonly rules: readonly { readonly name: string; readonly match: MatchSpec }[];
  readonly expected: Readonly<Record<string, readonly string[]>>;
}

const table = JSON.parse(readFileSync(join(fixturesDir(), 'match-table.json'), 'utf8')) as MatchTable;
const conditions = new ConditionEnvironment();
const conditionFailures: string[] = [];
const rules = table.rules.map((r, order) =>
  ruleOf(
    r.name,
    { order, match: r.match },
    { conditions, onConditionFailure: (f) => conditionFailures.push(`${r.name}: ${f.message}`) },
  ),
);

describe('sample alerts × match table', () => {
  it('the table covers every sample alert', () => {
    assert.deepEqual(Object.keys(table.expected).sort(), sampleFiles());
  });

  for (const file of sampleFiles()) {
    it(file, () => {
      const ev = sampleEvent(file);
      const expected = table.expected[file] ?? [];
      const matched = rules.filter((r) => r.matcher.test(ev)).map((r) => r.name);
      assert.deepEqual(matched, expected);
      for (const r of rules) {
        const e = r.matcher.explain(ev);
        assert.equal(e.matched, expected.includes(r.name), `${r.name}: ${e.reason ?? 'matched'}`);
        if (!e.matched) assert.ok(e.failed && e.reason, r.name);
      }
      assert.deepEqual(conditionFailures, []);
      const index = RuleIndex.build(rules);
      assert.deepEqual(
        index.evaluate(ev, undefined).map((r) => r.name),
        expected,
      );
    });
  }
});
