/**
 * No condition a rule may hold can stall the webhook: the real HTTP server, intake and rule
 * index, with the most expensive condition the compiler accepts, keep answering /healthz
 * while alerts that evaluate it arrive back to back. On a compiler without a cost limit the
 * "maximal" condition is the probe (~8·10⁹ steps) and /healthz never answers.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/config/load.js';
import { Deduplicator } from '../src/dispatch/dedup.js';
import { Intake } from '../src/dispatch/intake.js';
import { createServer } from '../src/http/server.js';
import { createLogger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';
import { ConditionEnvironment, type ConditionFailure } from '../src/rules/match.js';
import { RuleIndex } from '../src/rules/rule-index.js';
import { maximalAllowedCondition, ruleOf } from './builders.js';

function send(port: number, agent: http.Agent, method: string, path: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('bounded condition cost on the request path', () => {
  test('/healthz answers between alerts that evaluate the most expensive allowed condition', { timeout: 300_000 }, async () => {
    const env = new ConditionEnvironment();
    const maximal = maximalAllowedCondition(env, 4);
    const failures: ConditionFailure[] = [];
    const rule = ruleOf('maximal', { match: { condition: maximal.source } }, { conditions: env, onConditionFailure: (f) => failures.push(f) });
    let matched = 0;
    const dedup = new Deduplicator(0);
    const metrics = createMetrics({ defaultMetrics: false });
    const intake = new Intake({ dedup, metrics, dispatch: (_ev, rules) => void (matched += rules.length) });
    intake.setIndex(RuleIndex.build([rule]));
    const cfg = loadConfig({ env: { TALON_AUTH_MODE: 'none' } });
    if (!cfg.ok) throw new Error(cfg.errors.join('\n'));
    const server = createServer({
      config: cfg.config,
      logger: createLogger({ level: 'error', format: 'json', silent: true }),
      metrics,
      ingest: (ev) => intake.ingest(ev),
      isReady: () => ({ ready: true, reasons: [] }),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const alertAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const CLIENTS = 4;
    const PER_CLIENT = 30;
    let completed = 0;
    try {
      const clients = Array.from({ length: CLIENTS }, async (_, c) => {
        for (let i = 0; i < PER_CLIENT; i++) {
          const status = await send(port, alertAgent, 'POST', '/', JSON.stringify({ rule: 'r', priority: 'Warning', output: `alert ${c}-${i}` }));
          assert.equal(status, 202);
          completed++;
        }
      });
      const probes: { before: number; after: number }[] = [];
      const probing = (async () => {
        while (completed < CLIENTS * PER_CLIENT && probes.length < 10) {
          const before = completed;
          assert.equal(await send(port, probeAgent, 'GET', '/healthz'), 200);
          probes.push({ before, after: completed });
        }
      })();
      await Promise.all([...clients, probing]);
      assert.equal(matched, CLIENTS * PER_CLIENT, 'every alert evaluated the condition to the end and matched');
      assert.deepEqual(failures, []);
      const midway = probes.filter((p) => p.after < CLIENTS * PER_CLIENT);
      assert.ok(midway.length >= 3, `healthz answered while alerts were still arriving: ${JSON.stringify(probes)}`);
      // Each probe waits for at most the evaluations already in progress on the other connections.
      for (const p of midway) assert.ok(p.after - p.before <= 4 * CLIENTS, `a probe waited for ${p.after - p.before} evaluations (n=${maximal.n})`);
    } finally {
      alertAgent.destroy();
      probeAgent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
