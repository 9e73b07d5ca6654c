/**
 * Issue 17: OpenTelemetry traces. The real operator, with `tracing` pointed at an OTLP/HTTP
 * receiver started here on loopback, exports one trace per accepted alert whose trace id is
 * the `traceId` of the webhook's 202 answer: a root `talon.alert` span, its `talon.match`, and
 * for a matching alert one `talon.action` and one `talon.notify` (the k8sevents notifier).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { Talon } from './support/talon.js';
import { about, applyRuleLoaded, inline, podAlert, waitOutcome } from './support/alerts.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: { key: string; value: { stringValue?: string; arrayValue?: unknown } }[];
  status?: { code?: number };
}

/** An OTLP/HTTP traces receiver (JSON encoding) that keeps every span it is sent. */
class OtlpReceiver {
  readonly spans: OtlpSpan[] = [];
  readonly serviceNames = new Set<string>();
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces' && (req.headers['content-type'] ?? '').includes('json')) {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans: { resource?: { attributes?: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        for (const rs of body.resourceSpans) {
          for (const a of rs.resource?.attributes ?? []) if (a.key === 'service.name' && a.value.stringValue) this.serviceNames.add(a.value.stringValue);
          for (const ss of rs.scopeSpans) this.spans.push(...ss.spans);
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else res.writeHead(400).end();
    });
  });
  url = '';
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/traces`;
  }
  close(): void {
    this.server.close();
  }
  of(traceId: string): OtlpSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }
}

const attr = (s: OtlpSpan, key: string): string | undefined => s.attributes?.find((a) => a.key === key)?.value.stringValue;

describe('OpenTelemetry traces over OTLP/HTTP', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  const receiver = new OtlpReceiver();
  let op: OperatorProcess;
  let ns = '';

  before(async () => {
    await installCRDs(kc);
    await receiver.start();
    ns = await createNamespace(core, 'traces');
    op = await OperatorProcess.start({ config: { statusFlushInterval: '500ms', tracing: { enabled: true, endpoint: receiver.url, serviceName: 'talon-e2e' } } });
  });
  after(async () => {
    await op?.stop();
    receiver.close();
    await talon.deleteAll(ns);
    await deleteNamespace(core, ns);
  });

  it('one trace per alert, with the 202 answer’s trace id and the expected spans', async () => {
    const pods = ['t0', 't1', 't2'];
    for (const pod of pods) {
      await core.createNamespacedPod({ namespace: ns, body: podManifest(pod) });
      await waitForPodRunning(core, ns, pod);
    }
    await applyRuleLoaded(kc, talon, ns, 'flag', { match: { rules: ['E2E traced'] }, actions: [inline('flag', 'kubernetes:label', { labels: { 'talon.dev/traced': 'true' } })] }, 'tenant');
    const matched: string[] = [];
    for (const pod of pods) {
      const r = await op.post(podAlert({ rule: 'E2E traced', namespace: ns, pod }));
      assert.equal(r.status, 202);
      matched.push((JSON.parse(r.body) as { traceId: string }).traceId);
      await waitOutcome(talon, ns, 'flag', about('Pod', pod, { result: 'Succeeded' }), `${pod} labeled`);
    }
    const unmatched = await op.post(podAlert({ rule: 'E2E not a rule', namespace: ns, pod: 't0' }));
    const unmatchedId = (JSON.parse(unmatched.body) as { traceId: string }).traceId;

    await eventually('every matched alert has its action and notification spans', async () =>
      matched.every((id) => ['talon.alert', 'talon.match', 'talon.action', 'talon.notify'].every((n) => receiver.of(id).some((s) => s.name === n))) && receiver.of(unmatchedId).length >= 2,
    );
    assert.deepEqual([...receiver.serviceNames], ['talon-e2e']);
    const alertSpans = receiver.spans.filter((s) => s.name === 'talon.alert');
    assert.deepEqual(alertSpans.map((s) => s.traceId).sort(), [...matched, unmatchedId].sort(), 'one root span per alert, with the trace id of its 202 answer');

    for (const [i, id] of matched.entries()) {
      const spans = receiver.of(id);
      const root = spans.find((s) => s.name === 'talon.alert')!;
      assert.ok(!root.parentSpanId, 'the alert span is the root');
      assert.equal(attr(root, 'falco.rule'), 'E2E traced');
      for (const s of spans.filter((x) => x !== root)) assert.equal(s.parentSpanId, root.spanId, `${s.name} is a child of the alert span`);
      assert.deepEqual(spans.map((s) => s.name).sort(), ['talon.action', 'talon.alert', 'talon.match', 'talon.notify']);
      const action = spans.find((s) => s.name === 'talon.action')!;
      assert.equal(attr(action, 'talon.actionner'), 'kubernetes:label');
      assert.equal(attr(action, 'talon.result'), 'Succeeded');
      assert.equal(attr(action, 'talon.target'), `Pod ${ns}/${pods[i]}`);
      const notify = spans.find((s) => s.name === 'talon.notify')!;
      assert.equal(attr(notify, 'talon.notifier'), 'k8sevents');
      assert.equal(attr(notify, 'talon.notification_result'), 'sent');
    }
    assert.deepEqual(receiver.of(unmatchedId).map((s) => s.name).sort(), ['talon.alert', 'talon.match'], 'an alert matching no rule: intake and matching only');
  });
});
