/**
 * The Grafana dashboard (charts/talon-operator/dashboards/talon-operator.json) queries only
 * metrics that the operator's /metrics endpoint exports: every metric name in every panel's
 * PromQL is looked up in the exposition of a real metrics server on port 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMetricsServer } from '../src/http/server.js';
import { createLogger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PROMQL_WORDS = new Set(['sum', 'by', 'rate', 'min', 'max', 'histogram_quantile', 'le', 'result', 'actionner', 'notifier', 'scope', 'without', 'irate', 'increase', 'avg']);

/** Metric names of a PromQL expression: identifiers that are neither functions, label names nor inside strings or ranges. */
export function metricNames(expr: string): string[] {
  const bare = expr.replace(/"[^"]*"/g, '""').replace(/\[[^\]]*\]/g, '').replace(/\{[^}]*\}/g, '');
  return [...new Set([...bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0]).filter((w) => !PROMQL_WORDS.has(w) && !/^\d/.test(w)))];
}

test('every metric a dashboard panel queries is exported by /metrics', async () => {
  const dashboard = JSON.parse(readFileSync(join(repoRoot, 'charts', 'talon-operator', 'dashboards', 'talon-operator.json'), 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const server = createMetricsServer({ logger: createLogger({ level: 'error', format: 'json' }), metrics: createMetrics() });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const text = await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`)).text();
    const exported = new Set<string>();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      const [name, type] = [m[1]!, m[2]!];
      exported.add(name);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(name + s);
    }
    const queried = new Map<string, string>();
    for (const p of dashboard.panels) for (const t of p.targets) for (const n of metricNames(t.expr)) queried.set(n, p.title);
    assert.ok(queried.size >= 10, `the dashboard queries ${queried.size} metrics`);
    const missing = [...queried].filter(([n]) => !exported.has(n)).map(([n, panel]) => `${n} (panel "${panel}")`);
    assert.deepEqual(missing, []);
    for (const n of ['talon_events_received_total', 'talon_actions_total', 'talon_ingest_to_action_seconds_bucket', 'talon_queue_depth', 'talon_notifications_total', 'talon_budget_available']) {
      assert.ok(queried.has(n), `a panel shows ${n}`);
    }
  } finally {
    server.close();
  }
});

test('metricNames skips functions, labels, strings and ranges', () => {
  assert.deepEqual(metricNames('histogram_quantile(0.95, sum by (le, actionner) (rate(talon_action_duration_seconds_bucket{result!="sent"}[$__rate_interval])))'), ['talon_action_duration_seconds_bucket']);
});
