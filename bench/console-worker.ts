/**
 * The console of bench/console-intake.bench.ts, in a worker thread as the operator runs it:
 * the real `createConsoleApp` with 1,000 outcome Events over 20 namespaces held in memory
 * (instead of the Kubernetes reads) and an allow-all TokenReview/SubjectAccessReview port.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parentPort } from 'node:worker_threads';
import { createConsoleApp } from '../operator/src/console/app.js';
import type { ConsoleSource, OutcomeEvent } from '../operator/src/console/source.js';
import { silentLog } from '../operator/src/lib/log.js';

function inMemorySource(): ConsoleSource {
  const results = ['Succeeded', 'Failed', 'Skipped', 'DryRun'];
  const now = Date.now();
  const events: OutcomeEvent[] = Array.from({ length: 1000 }, (_, i) => {
    const namespace = `team-${i % 20}`;
    return {
      time: new Date(now - i * 3_000).toISOString(),
      namespace,
      result: results[i % 4]!,
      actionner: i % 3 === 0 ? 'kubernetes:terminate' : 'kubernetes:label',
      note: `the pod 'web-${i}' in the namespace '${namespace}' has been labeled`,
      type: 'Normal',
      count: 1 + (i % 5),
      regarding: { kind: 'Pod', namespace, name: `web-${i}` },
      rule: { kind: 'TalonRule', namespace, name: `rule-${i % 7}` },
      traceId: (i.toString(16) + '0'.repeat(32)).slice(0, 32),
    };
  });
  return { rules: async () => [], outcomeEvents: async () => events, approvals: async () => ({ installed: false, items: [] }), decide: async () => undefined };
}

const app = createConsoleApp({
  source: inMemorySource(),
  auth: { tokenReview: async () => ({ authenticated: true, user: { username: 'bench', groups: [] } }), subjectAccessReview: async () => true },
  sessionTtlMs: 3_600_000,
  accessCacheTtlMs: 30_000,
  secure: false,
  log: silentLog,
});
const server = http.createServer(app);
server.listen(0, '127.0.0.1', () => parentPort?.postMessage({ port: (server.address() as AddressInfo).port }));
