/**
 * Matching cost of one alert against large rule sets (engine only: no HTTP, no dispatch).
 *
 *   npm run build && node dist/bench/match.bench.js
 *
 * Rule mix: rules that name OTHER Falco rules (the name index skips them) plus rules that
 * name no Falco rule. Those are reached through the index's other access paths (In values,
 * field prefixes, tags) or are residual, tested for every alert of their source and priority;
 * `namelessMatch` documents the mix. The worst-case row makes every nameless rule one no
 * index reaches (a numeric `Gt`), tested on every alert.
 * Timings are the best of 7 rounds, so a busy machine inflates them less.
 */
import { sampleEvent } from '../operator/test/builders.js';
import { Deduplicator } from '../operator/src/dispatch/dedup.js';
import type { FalcoEvent } from '../operator/src/falco/event.js';
import { compileMatch, ConditionEnvironment, type MatchSpec } from '../operator/src/rules/match.js';
import { RuleIndex } from '../operator/src/rules/rule-index.js';
import { ruleKey, scopeOfKind, type CompiledAction, type CompiledRule } from '../operator/src/rules/types.js';
import type { Actionner } from '../operator/src/actionners/types.js';


const fakeActionner = {
  info: {
    name: 'kubernetes:label',
    description: 'bench',
    requiredFields: [],
    defaultContinue: true,
    destructive: false,
    target: 'pod',
    output: 'none',
    rbac: [],
    example: {},
  },
  paramsSchema: {},
  precheck: () => ({ ok: true }),
  run: () => Promise.resolve({ status: 'success', reason: 'Labeled', message: '' }),
} as unknown as Actionner;

const ACTIONS: readonly CompiledAction[] = Object.freeze([
  Object.freeze({
    name: 'label',
    actionner: fakeActionner,
    params: Object.freeze({}),
    continue: true,
    ignoreErrors: false,
    timeoutMs: 30_000,
    additionalContexts: [],
  }),
]);

const conditions = new ConditionEnvironment();

/** A ClusterTalonRule, or a TalonRule in `namespace` when given. */
function rule(name: string, order: number, match: MatchSpec, namespace?: string): CompiledRule {
  const compiled = compileMatch(match, 'spec.match', { conditions });
  if (!compiled.ok) throw new Error(`${name}: ${JSON.stringify(compiled.errors)}`);
  const kind = namespace === undefined ? 'ClusterTalonRule' : 'TalonRule';
  return {
    kind,
    key: ruleKey(kind, namespace ?? '', name),
    namespace: namespace ?? '',
    name,
    uid: name,
    generation: 1,
    scope: scopeOfKind(kind),
    order,
    continue: true,
    suspend: false,
    dryRun: false,
    cooldownMs: 0,
    matcher: compiled.matcher,
    actions: ACTIONS,
    notifiers: [],
  };
}

const LEVELS = ['Notice', 'Warning', 'Error', 'Critical'];

/**
 * The i-th nameless rule. Per 100: 16 residual, tested for every alert of their source and
 * priority (15 namespace NotIn + command-line Contains, 1 CEL); 35 reachable by a field
 * prefix (25 priority + pod-name StartsWith, 10 namespace NotIn + `^/opt/app-N/` regex);
 * 20 by tag groups; 29 by an `In` field (process names, audit verbs, ports, namespaces).
 * For the bench alert the CEL rules and 1 in 100 namespace rules match.
 */
function namelessMatch(i: number): MatchSpec {
  const kind = i % 100;
  if (kind === 0) return { condition: `fields["proc.pname"] != "proc-${i}" && priorityLevel >= 4` };
  if (kind <= 15) return residualMatch(i);
  if (kind <= 40) {
    return {
      priority: `>=${LEVELS[i % LEVELS.length]}`,
      outputFields: [{ key: 'k8s.pod.name', operator: 'StartsWith', values: [`app-${i}-`] }],
    };
  }
  if (kind <= 50) {
    return {
      outputFields: [
        { key: 'k8s.ns.name', operator: 'NotIn', values: ['kube-system', `team-${i}`] },
        { key: 'proc.cmdline', operator: 'Matches', values: [`^/opt/app-${i}/`] },
      ],
    };
  }
  if (kind <= 70) return { tags: [['container', `tag-${i}`], [`mitre-${i}`]] };
  if (kind <= 85)
    return {
      priority: '>=Warning',
      outputFields: [{ key: 'proc.name', operator: 'In', values: [`bin-${i}`, `tool-${i}`] }],
    };
  if (kind <= 92)
    return {
      sources: ['k8s_audit'],
      outputFields: [
        { key: 'ka.verb', operator: 'In', values: ['delete', 'patch'] },
        { key: 'ka.target.name', operator: 'In', values: [`obj-${i}`] },
      ],
    };
  if (kind <= 95)
    return {
      outputFields: [
        { key: 'fd.sip', operator: 'Exists' },
        { key: 'fd.sport', operator: 'In', values: [String(1000 + i)] },
      ],
    };
  return {
    priority: '>=Critical',
    outputFields: [{ key: 'k8s.ns.name', operator: 'In', values: [kind === 96 ? 'default' : `ns-${i}`] }],
  };
}

/** A rule no index can skip: it is tested for every alert, and fails at its last expression. */
/** A nameless rule found through its command-line `Contains` (the substring index). */
function residualMatch(i: number): MatchSpec {
  return {
    outputFields: [
      { key: 'k8s.ns.name', operator: 'NotIn', values: ['kube-system', `team-${i}`] },
      { key: 'proc.cmdline', operator: 'Contains', values: [` --app-${i}`] },
    ],
  };
}

/** A nameless rule no index can reach (NotIn + a numeric Gt): tested on every alert. */
function unindexableMatch(i: number): MatchSpec {
  return {
    outputFields: [
      { key: 'k8s.ns.name', operator: 'NotIn', values: ['kube-system', `team-${i}`] },
      { key: 'proc.tty', operator: 'Gt', values: [String(1_000_000 + i)] },
    ],
  };
}

function namedMatch(i: number): MatchSpec {
  const names = [`Falco rule ${i % 5000}`];
  if (i % 3 === 0) names.push(`Falco rule ${(i * 7) % 5000}`);
  return {
    rules: names,
    priority: i % 2 === 0 ? '>=Warning' : undefined,
    tags: i % 4 === 0 ? [['container']] : undefined,
  };
}

function ruleSet(named: number, nameless: number, makeNameless = namelessMatch): CompiledRule[] {
  const out: CompiledRule[] = [];
  for (let i = 0; i < named; i++) out.push(rule(`named-${i}`, i % 7, namedMatch(i)));
  for (let i = 0; i < nameless; i++) out.push(rule(`nameless-${i}`, i % 7, makeNameless(i)));
  return out;
}

/** ns per call: the best of 7 rounds of >= `roundMs` each (robust to a busy machine). */
function timePerOp(fn: () => unknown, roundMs = 60): number {
  for (let i = 0; i < 500; i++) fn();
  let best = Infinity;
  for (let round = 0; round < 7; round++) {
    let iterations = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < roundMs * 1e6) {
      for (let i = 0; i < 50; i++) fn();
      iterations += 50;
      elapsed = Number(process.hrtime.bigint() - start);
    }
    best = Math.min(best, elapsed / iterations);
  }
  return best;
}

function fmt(ns: number): string {
  return ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`;
}

function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => String(c).padStart(widths[i] ?? 10)).join('  ');
}

function benchIndex(label: string, rules: CompiledRule[], ev: FalcoEvent, target: string | undefined): string[] {
  const t0 = performance.now();
  const index = RuleIndex.build(rules);
  const buildMs = performance.now() - t0;
  const matched = index.evaluate(ev, target).length;
  const perAlert = timePerOp(() => index.evaluate(ev, target));
  return [label, String(rules.length), String(matched), fmt(perAlert), `${buildMs.toFixed(0)} ms`];
}

const shell = sampleEvent('terminal-shell-in-container.json');
const notice = sampleEvent('terminal-shell-in-container__falco-0.4x-docker.json');
const widths = [44, 8, 8, 12, 10];
const header = row(['scenario', 'rules', 'matched', 'per alert', 'build'], widths);

console.log(
  `node ${process.version}, ${process.arch}; alert: "${shell.rule}" (${shell.priority}), target namespace "default"\n`,
);
console.log('Main: 10,000 rules, 10% naming no Falco rule, 90% naming other Falco rules');
console.log(header);
console.log(row(benchIndex('9,000 named-other + 1,000 nameless', ruleSet(9_000, 1_000), shell, 'default'), widths));
console.log(row(benchIndex('same, Notice alert without k8s fields', ruleSet(9_000, 1_000), notice, undefined), widths));
console.log(
  row(
    benchIndex('worst case: 1,000 nameless no index reaches', ruleSet(9_000, 1_000, unindexableMatch), shell, 'default'),
    widths,
  ),
);

console.log('\nFlatness: rules naming other Falco rules grow, 1,000 nameless fixed');
console.log(header);
for (const n of [1_000, 10_000, 50_000]) {
  console.log(
    row(
      benchIndex(`${n.toLocaleString('en-US')} named-other + 1,000 nameless`, ruleSet(n, 1_000), shell, 'default'),
      widths,
    ),
  );
}
console.log(row(benchIndex('50,000 named-other + 0 nameless', ruleSet(50_000, 0), shell, 'default'), widths));

console.log('\nBuilding blocks');
const cel = rule('cel', 0, { condition: 'fields["proc.pname"] != "runc" || priority == "Critical"' }).matcher;
const fieldsOnly = rule('fields', 0, {
  priority: '>=Warning',
  outputFields: [{ key: 'k8s.ns.name', operator: 'NotIn', values: ['kube-system', 'falco'] }],
}).matcher;
const regex = rule('re', 0, {
  outputFields: [{ key: 'proc.cmdline', operator: 'Matches', values: ['^sh -c .*(bash|ash)'] }],
}).matcher;
console.log(`  matcher.test, priority + NotIn            ${fmt(timePerOp(() => fieldsOnly.test(shell)))}`);
console.log(`  matcher.test, Matches (re2js)             ${fmt(timePerOp(() => regex.test(shell)))}`);
console.log(`  matcher.test, CEL condition               ${fmt(timePerOp(() => cel.test(shell)))}`);
let n = 0;
const dedup = new Deduplicator(10_000, () => n);
console.log(
  `  Deduplicator.isDuplicate (new alert)      ${fmt(timePerOp(() => dedup.isDuplicate({ ...shell, output: `${shell.output}${n++}` })))}`,
);
const index10k = RuleIndex.build(ruleSet(9_000, 1_000));
const extra = rule('extra', 3, { rules: ['Other'] });
console.log(`  RuleIndex.with, one rule into 10,000      ${fmt(timePerOp(() => index10k.with(extra), 100))}`);
