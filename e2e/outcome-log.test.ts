/**
 * Issue 15: outcome log lines under load, with the real operator process against the real
 * kube-apiserver (default `logOutcomesPerSecond`: 10).
 * (a) a quiet rule: every outcome has its own `action outcome` line, and no summary names it;
 * (b) a storm of 2,000 distinct dry-run alerts: at most 10 lines per second of the storm for
 *     the rule, the rest counted in `action outcomes folded` lines — and the lines plus the
 *     folded counts add up to exactly the DryRun outcomes the rule's status counts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, loadE2EKubeConfig } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { CLUSTER, Talon } from './support/talon.js';
import { applyRuleLoaded, inline, podAlert, postAccepted, postMany, ruleStatus } from './support/alerts.js';

interface Entry {
  readonly message?: string;
  readonly level?: string;
  readonly rule?: string;
  readonly result?: string;
  readonly reason?: string;
  readonly folded?: number;
  readonly outcomes?: { rule: string; action: string; result: string; reason: string; count: number }[];
  readonly other?: { groups: number; count: number };
}

describe('outcome log lines under load', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  const suffix = randomBytes(3).toString('hex');
  const entries: Entry[] = [];
  let op: OperatorProcess;
  let ns = '';

  const outcomeLines = (rule: string): Entry[] => entries.filter((e) => e.message === 'action outcome' && e.rule === rule);
  const summaries = (): Entry[] => entries.filter((e) => e.message === 'action outcomes folded');
  const foldedFor = (rule: string): number => summaries().reduce((n, s) => n + (s.outcomes ?? []).filter((g) => g.rule === rule).reduce((m, g) => m + g.count, 0), 0);

  before(async () => {
    await installCRDs(kc);
    ns = await createNamespace(core, 'outcome-log');
    op = await OperatorProcess.start({
      config: { statusFlushInterval: '1s' },
      onLog: (line) => {
        if (!line.startsWith('{')) return;
        try {
          entries.push(JSON.parse(line) as Entry);
        } catch {
          // not a JSON line
        }
      },
    });
  });
  after(async () => {
    await op?.stop();
    await talon.deleteClusterObjects();
    await deleteNamespace(core, ns);
  });

  it('(a) a quiet rule: every outcome on its own line', async () => {
    const rule = `quiet-${suffix}`;
    await applyRuleLoaded(kc, talon, CLUSTER, rule, { dryRun: true, match: { rules: [`E2E quiet ${suffix}`] }, actions: [inline('mark', 'kubernetes:label', { labels: { 'talon.dev/quiet': 'yes' } })] }, 'cluster');
    for (let i = 0; i < 5; i++) await postAccepted(op, podAlert({ rule: `E2E quiet ${suffix}`, namespace: ns, pod: `quiet-${i}` }));
    await eventually('5 DryRun outcomes in the status', async () => ((await ruleStatus(talon, CLUSTER, rule)).results.dryRun === 5 ? true : undefined), 30_000, 250);
    await eventually('5 outcome lines', async () => (outcomeLines(rule).length === 5 ? true : undefined), 10_000, 100);
    assert.ok(outcomeLines(rule).every((e) => e.level === 'info' && e.result === 'DryRun' && e.reason === 'DryRun'));
    assert.equal(foldedFor(rule), 0, 'no summary names the quiet rule');
  });

  it('(b) a storm: the rule writes at most 10 lines a second, the rest is folded, and lines + folded = every outcome', async () => {
    const N = 2_000;
    const rule = `storm-${suffix}`;
    await applyRuleLoaded(kc, talon, CLUSTER, rule, { dryRun: true, match: { rules: [`E2E storm ${suffix}`] }, actions: [inline('mark', 'kubernetes:label', { labels: { 'talon.dev/storm': 'yes' } })] }, 'cluster');
    const linesBefore = entries.length;
    const started = Date.now();
    const statuses = await postMany(op, N, (i) => podAlert({ rule: `E2E storm ${suffix}`, namespace: ns, pod: `storm-${i}` }), 20);
    assert.deepEqual([...statuses], [[202, N]]);
    await eventually(`${N} DryRun outcomes in the status`, async () => ((await ruleStatus(talon, CLUSTER, rule)).results.dryRun === N ? true : undefined), 120_000, 500);
    const seconds = (Date.now() - started) / 1000;
    // The last window's summary is written at its end (1 s).
    await eventually('every outcome logged or folded', async () => (outcomeLines(rule).length + foldedFor(rule) === N ? true : undefined), 10_000, 200).catch((err: Error) => {
      throw new Error(`${err.message}: ${outcomeLines(rule).length} lines + ${foldedFor(rule)} folded`);
    });
    const lines = outcomeLines(rule).length;
    const folded = foldedFor(rule);
    console.log(`OUTCOME-LOG-E2E outcomes=${N} seconds=${seconds.toFixed(1)} lines=${lines} folded=${folded} summaries=${summaries().length} operator_lines_during_storm=${entries.length - linesBefore}`);
    assert.ok(folded > 0, 'the storm was folded');
    // 10 lines per (rule, reason) per window; a window starts at most once per second of the storm.
    assert.ok(lines <= 10 * (Math.ceil(seconds) + 1), `${lines} lines in ${seconds.toFixed(1)} s`);
    for (const s of summaries()) {
      assert.equal(s.level, 'info');
      assert.equal(s.folded, (s.outcomes ?? []).reduce((n, g) => n + g.count, 0) + (s.other?.count ?? 0), 'a summary adds up');
      for (const g of s.outcomes ?? []) if (g.rule === rule) assert.deepEqual([g.action, g.result, g.reason], ['mark', 'DryRun', 'DryRun']);
    }
  });
});
