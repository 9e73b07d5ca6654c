import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventFrom, issueCondition, nestedCondition } from '../../test/builders.js';
import { COST_LIMIT, CostLimitError, estimateCost } from './cel-cost.js';
import { compileMatch, ConditionEnvironment, type ConditionFailure } from './match.js';
import { Environment } from '@marcbachmann/cel-js';

const ev = (over: Record<string, unknown> = {}) =>
  eventFrom({ rule: 'r', priority: 'Warning', output: 'o', tags: ['a', 'b'], output_fields: { 'proc.name': 'bash' }, ...over });

const astOf = (src: string) => new Environment().registerVariable('tags', 'list<string>').registerVariable('fields', 'map<string, dyn>').parse(src).ast;

describe('CEL cost: compile time', () => {
  it('refuses the 2,444-character probe of the issue with its estimated cost', () => {
    const src = issueCondition();
    assert.ok(src.length > 2400 && src.length < 2500, `${src.length}`);
    const r = new ConditionEnvironment().compile(src);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.match(r.message, /^estimated cost \d+ exceeds the limit of 100000 evaluation steps/);
    const cost = Number(/estimated cost (\d+)/.exec(r.message)?.[1]);
    assert.ok(cost > 8e9, `${cost}`);
  });

  it('the rule gets the same message on spec.match.condition', () => {
    const r = compileMatch({ condition: issueCondition() });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.errors[0]?.path, 'spec.match.condition');
    assert.match(r.errors[0]?.message ?? '', /exceeds the limit of 100000 evaluation steps/);
  });

  it('accepts ordinary conditions, and loops over the alert within the assumed sizes', () => {
    const env = new ConditionEnvironment();
    for (const src of [
      'fields["proc.pname"] != "runc" || priority == "Critical"',
      'tags.exists(t, t.startsWith("mitre_"))',
      'tags.all(t, tags.exists(u, u == t))',
      'fields.exists(k, k.startsWith("k8s.") && string(fields[k]).contains("prod"))',
    ]) {
      assert.equal(env.compile(src).ok, true, src);
    }
  });

  it('multiplies nested comprehensions by their ranges, literal lists by their exact size', () => {
    const one = estimateCost(astOf('[1,2,3].all(x, x > 0)'));
    const two = estimateCost(astOf('[1,2,3].all(x, [1,2,3].all(y, x + y > 0))'));
    assert.ok(two > 3 * one, `${one} ${two}`);
    assert.ok(estimateCost(astOf('tags.exists(t, tags.exists(u, fields.exists(k, k == t + u)))')) > COST_LIMIT);
  });

  it('never underestimates: a condition at its own estimate as the limit evaluates to the end', () => {
    for (const src of [
      'true',
      '[1,2,3].all(x, x > 0)',
      '[1,2,3].exists(x, x > 5) || [4,5].map(y, y * 2).size() == 2',
      '[[1,2],[3,4,5]].all(l, l.all(x, x > 0))',
      'tags.all(t, t != "") && fields.all(k, k != "")',
      '[1,2,3,4].filter(x, x % 2 == 0).all(y, y > 1)',
      nestedCondition(20, 3),
    ]) {
      const budget = estimateCost(astOf(src));
      const env = new ConditionEnvironment({ costLimit: budget });
      const r = env.compile(src);
      assert.equal(r.ok, true, src);
      if (!r.ok) continue;
      // the alert has at most the assumed tags and fields
      assert.equal(r.program.evaluate(ev({ tags: Array(64).fill('t'), output_fields: Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`f${i}`, 'v'])) })), true, src);
    }
  });
});

describe('CEL cost: run time', () => {
  it('aborts an evaluation that exceeds the limit on a larger alert than assumed', () => {
    const env = new ConditionEnvironment();
    const r = env.compile('tags.all(t, tags.exists(u, u == t + "x") || true)');
    assert.equal(r.ok, true);
    if (!r.ok) return;
    assert.equal(r.program.evaluate(ev()), true);
    const big = ev({ tags: Array.from({ length: 2000 }, (_, i) => `t${i}`) });
    assert.throws(() => r.program.evaluate(big), (err: unknown) => err instanceof CostLimitError && /cost limit of 100000/.test(err.message));
    // the environment is usable afterwards, with a fresh budget
    assert.equal(r.program.evaluate(ev()), true);
  });

  it('a result computed after the budget ran out is void, even where CEL absorbs errors', () => {
    const env = new ConditionEnvironment({ costLimit: 50 });
    const r = env.compile('tags.exists(t, t == "nope") || true');
    assert.equal(r.ok, false, 'tags assumed at 64 elements: over 50');
    const small = new ConditionEnvironment({ costLimit: 400 });
    const p = small.compile('tags.exists(t, t == "nope") || true');
    assert.equal(p.ok, true);
    if (!p.ok) return;
    assert.throws(() => p.program.evaluate(ev({ tags: Array(500).fill('x') })), CostLimitError);
  });

  it('the matcher reports a cost failure as kind "cost" and does not match', () => {
    const failures: ConditionFailure[] = [];
    const r = compileMatch({ condition: 'tags.all(t, tags.exists(u, u == t + "x") || true)' }, 'spec.match', { onConditionFailure: (f) => failures.push(f) });
    assert.equal(r.ok, true);
    if (!r.ok) return;
    assert.equal(r.matcher.test(ev({ tags: Array.from({ length: 2000 }, (_, i) => `t${i}`) })), false);
    assert.deepEqual(failures.map((f) => f.kind), ['cost']);
    assert.equal(r.matcher.test(ev()), true);
  });
});
