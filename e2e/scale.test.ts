/**
 * 1,000 TalonRules (tenant rules of one namespace) applied in one go all become Ready. Prints how long it took (apply time
 * and time to all-Ready); the figure is recorded in bench/RESULTS.md. No timing assertion.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, loadE2EKubeConfig } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { Talon, type TalonObject } from './support/talon.js';

const RULES = Number(process.env.TALON_SCALE_RULES ?? 1000);

describe(`${RULES} rules applied at once`, () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  let ns = '';
  let op: OperatorProcess;

  before(async () => {
    await installCRDs(kc);
    ns = await createNamespace(core, 'talon-scale');
    op = await OperatorProcess.start();
  });
  after(async () => {
    await op?.stop();
    await talon.deleteAll(ns);
    await deleteNamespace(core, ns);
  });

  it('all become Ready', async () => {
    await talon.applyAction(ns, 'label-it', { actionner: 'kubernetes:label', parameters: { labels: { 'talon.dev/hit': 'true' } } });
    const t0 = performance.now();
    const names = Array.from({ length: RULES }, (_, i) => `rule-${String(i).padStart(4, '0')}`);
    const concurrency = 32;
    for (let i = 0; i < names.length; i += concurrency) {
      await Promise.all(
        names.slice(i, i + concurrency).map((name, j) =>
          talon.applyRule(ns, name, {
            order: (i + j) % 7,
            match: {
              rules: [`Falco rule ${(i + j) % 50}`],
              priority: '>=Notice',
              outputFields: [{ key: 'k8s.ns.name', operator: 'NotIn', values: ['kube-system'] }],
            },
            actions: [{ action: 'label-it' }],
          }),
        ),
      );
    }
    const applied = performance.now() - t0;
    let ready = 0;
    await eventually(
      `${RULES} rules Ready`,
      async () => {
        const list = (await talon.custom.listNamespacedCustomObject({ group: 'talon.dev', version: 'v1alpha1', namespace: ns, plural: 'talonrules' })) as { items: TalonObject[] };
        ready = list.items.filter((r) => r.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True' && c.observedGeneration === r.metadata.generation)).length;
        return ready === RULES;
      },
      300_000,
      500,
    );
    const allReady = performance.now() - t0;
    console.log(`scale: ${RULES} TalonRules applied in ${(applied / 1000).toFixed(1)} s (32 concurrent creates); all Ready after ${(allReady / 1000).toFixed(1)} s`);
    assert.equal(ready, RULES);
    const rules = Number(await op.metric('talon_events_received_total{result="accepted"}'));
    assert.equal(rules, 0);
  });
});
