/**
 * The production ingest path for the intake bench (INTAKE_BENCH_INGEST): dedup, target
 * resolution, matching against 1,000 compiled ClusterTalonRules (built by the real compiler), and
 * dispatch on the real keyed queue with the global dry-run switch on, so no API call is made.
 *
 * The bench posts one alert over and over; a real dedup would drop all but the first and
 * skip the matching. The dedup lookup is therefore paid on every alert but its verdict is
 * ignored, so every request pays the full match + dispatch cost.
 */
import { builtinActionners } from '../operator/src/actionners/index.js';
import { ActionnerRegistry } from '../operator/src/actionners/registry.js';
import { builtinOutputs } from '../operator/src/outputs/index.js';
import { OutputRegistry } from '../operator/src/outputs/registry.js';
import type { KubeClients } from '../operator/src/actionners/types.js';
import type { ClusterTalonAction, ClusterTalonRule } from '../operator/src/api/v1alpha1/types.js';
import { TokenBucketBudget } from '../operator/src/dispatch/budget.js';
import { compileRule } from '../operator/src/rules/compiler.js';
import { Cooldowns } from '../operator/src/dispatch/cooldown.js';
import { Deduplicator } from '../operator/src/dispatch/dedup.js';
import { Dispatcher } from '../operator/src/dispatch/dispatcher.js';
import type { FalcoEvent } from '../operator/src/falco/event.js';
import { alertNamespace } from '../operator/src/falco/target.js';
import { ConditionEnvironment } from '../operator/src/rules/match.js';
import { type Outcome } from '../operator/src/api/v1alpha1/outcome.js';
import { RuleIndex } from '../operator/src/rules/rule-index.js';
import type { CompiledRule } from '../operator/src/rules/types.js';

export const RULES = 1000;

function rule(i: number): ClusterTalonRule {
  // 1 in 10 names no Falco rule (so the name index cannot skip it); 10 match the sample.
  const named = i % 10 !== 0;
  const matchesSample = i % 100 === 1;
  return {
    apiVersion: 'talon.dev/v1alpha1',
    kind: 'ClusterTalonRule',
    metadata: { name: `rule-${i}`, uid: `uid-${i}`, generation: 1 },
    spec: {
      order: i % 7,
      match: {
        ...(named ? { rules: [matchesSample ? 'Terminal shell in container' : `Other rule ${i}`] } : {}),
        priority: '>=Warning',
        ...(named ? {} : { tags: [['never-present', `t${i}`]] }),
        outputFields: [{ key: 'k8s.ns.name', operator: 'NotIn', values: ['kube-system', 'falco'] }],
      },
      actions: [{ action: 'label-it' }],
    },
  } as unknown as ClusterTalonRule;
}

export function buildRules(count = RULES): CompiledRule[] {
  const registry = new ActionnerRegistry(builtinActionners());
  const action = {
    apiVersion: 'talon.dev/v1alpha1',
    kind: 'ClusterTalonAction',
    metadata: { name: 'label-it', generation: 1 },
    spec: { actionner: 'kubernetes:label', parameters: { labels: { 'talon.dev/suspicious': 'true' } } },
    status: { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True', reason: 'Valid', message: '', lastTransitionTime: '', observedGeneration: 1 }] },
  } as unknown as ClusterTalonAction;
  const deps = { registry, outputs: new OutputRegistry(builtinOutputs()), notifiers: new Set(['k8sevents']), defaultTimeoutMs: 30_000, cloudNamespaces: new Set<string>(), match: { conditions: new ConditionEnvironment() } };
  const out: CompiledRule[] = [];
  for (let i = 0; i < count; i++) {
    const r = compileRule('ClusterTalonRule', rule(i), () => action, deps);
    if (!r.ok) throw new Error(`rule-${i}: ${JSON.stringify(r.conditions)}`);
    out.push(r.rule);
  }
  return out;
}

export function createIngest(): (ev: FalcoEvent) => void {
  const index = RuleIndex.build(buildRules());
  const dedup = new Deduplicator(10_000);
  let outcomes = 0;
  const dispatcher = new Dispatcher({
    queue: { concurrency: 32, maxPending: 100_000 },
    kube: {} as KubeClients,
    identity: { protectedNamespaces: new Set(['kube-system', 'talon-system']) },
    budget: new TokenBucketBudget(30),
    sink: { record: (_o: Outcome) => void outcomes++, matched: () => undefined, suppressed: () => undefined },
    cooldowns: new Cooldowns(),
    retry: { attempts: 1, baseMs: 100 },
    globalDryRun: true,
  });
  return (ev) => {
    dedup.isDuplicate(ev);
    const matched = index.evaluate(ev, alertNamespace(ev));
    if (matched.length > 0) dispatcher.dispatch(ev, matched);
  };
}
