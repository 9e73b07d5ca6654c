/**
 * The HTTP notifiers against real HTTP(S) receivers on loopback, started here: the exact
 * Slack, Teams, Loki push, Elasticsearch (template and document) and webhook requests with
 * their auth headers and TLS options; retries (500 then 200, 429 with Retry-After), the
 * per-request timeout, filters; and a run with failing receivers whose secrets must appear
 * nowhere in logs, Events, status or metrics.
 *
 * Configs go through the real loader (notifier schemas and router keys) and the real
 * registry and router, as main.ts wires them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config/load.js';
import type { Outcome } from '../src/api/v1alpha1/outcome.js';
import { EventRecorder, type EventBody, type EventsPort } from '../src/kube/event-recorder.js';
import { createLogger, logPort } from '../src/observability/logger.js';
import { createMetrics, type Metrics } from '../src/observability/metrics.js';
import { builtinNotifiers } from '../src/notifiers/index.js';
import { metricsSink } from '../src/notifiers/outcome-metrics.js';
import { NotifierRegistry } from '../src/notifiers/registry.js';
import { NotifierRouter } from '../src/notifiers/router.js';
import { RuleStatusAggregator, type RuleStatusCounters } from '../src/notifiers/rule-status.js';
import { fanOutSinks } from '../src/notifiers/types.js';
import { slackBody } from '../src/notifiers/slack.js';
import { teamsBody } from '../src/notifiers/teams.js';
import { notificationOf } from '../src/notifiers/notification.js';
import { silentLog, type LogPort } from '../src/lib/log.js';
import { tempFiles } from './builders.js';
import { createTestPki, type TestPki } from './certs.js';
import { sampleOutcome } from './builders.js';

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly json: unknown;
  /** performance.now() when the request was complete. */
  readonly at: number;
  /** CN of the client certificate (https receivers). */
  readonly clientCn?: string;
}

type Answer = (r: Received, res: http.ServerResponse) => void;

/** A loopback receiver recording what it gets; `answer` decides the reply (default 200 "ok"). */
class Receiver {
  readonly got: Received[] = [];
  answer: Answer = (_r, res) => res.end('ok');
  private server!: http.Server;
  readonly sockets = new Set<import('node:net').Socket>();

  static async http(): Promise<Receiver> {
    const r = new Receiver();
    await r.listen(http.createServer((req, res) => r.handle(req, res)));
    return r;
  }

  static async https(opts: https.ServerOptions): Promise<Receiver> {
    const r = new Receiver();
    await r.listen(https.createServer(opts, (req, res) => r.handle(req, res)));
    return r;
  }

  private async listen(server: http.Server): Promise<void> {
    this.server = server;
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(scheme = 'http'): string {
    return `${scheme}://127.0.0.1:${this.port}`;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const peer = (req.socket as TLSSocket).getPeerCertificate?.();
      const r: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, json, at: performance.now(), ...(peer?.subject?.CN ? { clientCn: String(peer.subject.CN) } : {}) };
      this.got.push(r);
      this.answer(r, res);
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function outcome(over: Partial<Outcome> = {}): Outcome {
  return sampleOutcome({
    result: 'Failed',
    reason: 'Forbidden',
    message: 'missing RBAC permission: delete pods',
    artifact: { output: 'local:file', location: '/var/talon/a.log', bytes: 10, truncated: false },
    ...over,
  });
}

class EventsStore implements EventsPort {
  readonly bodies: EventBody[] = [];
  async create(_ns: string, body: EventBody): Promise<unknown> {
    this.bodies.push(body);
    return body;
  }
  async patch(): Promise<unknown> {
    return {};
  }
}

const registry = new NotifierRegistry(builtinNotifiers());
const files = tempFiles('talon-notifiers-');

/** The operator's notifier wiring from a config file's text: loader → registry → router. */
async function wire(yaml: string, opts: { log?: LogPort; metrics?: Metrics; events?: EventRecorder } = {}) {
  const r = loadConfig({ file: files.file(`config-${Math.random().toString(36).slice(2)}.yaml`, `auth: {mode: none}\n${yaml}`), env: {}, plugins: { notifiers: registry.schemas(), outputs: new Map() } });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  const metrics = opts.metrics ?? createMetrics({ defaultMetrics: false });
  const log = opts.log ?? silentLog;
  const events = opts.events ?? new EventRecorder({ port: new EventsStore(), reportingInstance: 'talon-0' });
  const endpoints = await registry.endpoints(r.config.notifiers, { log, events });
  const router = new NotifierRouter({ endpoints, defaults: r.config.defaultNotifiers, metrics, log, retryBaseMs: 10, retryMaxMs: 20 });
  return { router, metrics, config: r.config };
}

async function counted(metrics: Metrics, notifier: string, result: string): Promise<number> {
  return (await metrics.notifications.get()).values.find((v) => v.labels.notifier === notifier && v.labels.result === result)?.value ?? 0;
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('HTTP notifiers: exact requests', () => {
  let rx: Receiver;
  before(async () => {
    rx = await Receiver.http();
  });
  after(() => rx.close());

  test('slack: POST to the webhook URL from its file, the long body, JSON content type', async () => {
    rx.got.length = 0;
    const urlFile = files.file('slack-url', `${rx.url()}/services/T000/B000/XXXXSECRET\n`);
    const { router, metrics } = await wire(`defaultNotifiers: [sec]\nnotifiers: {sec: {type: slack, webhookUrlFile: ${urlFile}}}\n`);
    router.record(outcome());
    await router.idle();
    assert.equal(rx.got.length, 1);
    const req = rx.got[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/services/T000/B000/XXXXSECRET');
    assert.equal(req.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(req.headers['user-agent'], 'talon-operator');
    assert.deepEqual(req.json, slackBody(outcome(), { format: 'long', username: 'Talon', iconUrl: 'https://upload.wikimedia.org/wikipedia/commons/2/26/Circaetus_gallicus_claw.jpg', footer: 'talon-operator' }));
    assert.equal(await counted(metrics, 'sec', 'sent'), 1);
  });

  test('slack short format: the literal body', async () => {
    rx.got.length = 0;
    const urlFile = files.file('slack-short-url', `${rx.url()}/services/short`);
    const { router } = await wire(`defaultNotifiers: [ops]\nnotifiers: {ops: {type: slack, webhookUrlFile: ${urlFile}, format: short, username: bot, iconUrl: ""}}\n`);
    router.record(outcome({ result: 'Succeeded', reason: 'Terminated', message: 'terminated' }));
    await router.idle();
    assert.deepEqual(rx.got.map((r) => r.json), [
      {
        username: 'bot',
        attachments: [
          {
            fallback: 'Action kill (kubernetes:terminate) of rule shop/kill-shells succeeded on Pod shop/web-1',
            color: '#23ba47',
            text: 'Action `kill` (kubernetes:terminate) of rule `shop/kill-shells` succeeded on Pod shop/web-1: `terminated` (trace `trace-1`)',
          },
        ],
      },
    ]);
  });

  test('teams: the Adaptive Card message to the Workflows URL from its file', async () => {
    rx.got.length = 0;
    const urlFile = files.file('teams-url', `${rx.url()}/workflows/abc/triggers/manual/paths/invoke?sig=SIGSECRET`);
    const { router } = await wire(`defaultNotifiers: [teams]\nnotifiers: {teams: {type: teams, webhookUrlFile: ${urlFile}}}\n`);
    router.record(outcome());
    await router.idle();
    assert.equal(rx.got.length, 1);
    assert.equal(rx.got[0]!.url, '/workflows/abc/triggers/manual/paths/invoke?sig=SIGSECRET');
    assert.deepEqual(rx.got[0]!.json, teamsBody(outcome()));
    assert.equal((rx.got[0]!.json as { attachments: { contentType: string }[] }).attachments[0]!.contentType, 'application/vnd.microsoft.card.adaptive');
  });

  test('loki: the push path, tenant header, basic auth, custom header and the literal push body', async () => {
    rx.got.length = 0;
    const pw = files.file('loki-pw', 'lokipass\n');
    const { router } = await wire(`defaultNotifiers: [loki]\nnotifiers: {loki: {type: loki, url: "${rx.url()}/base/", tenant: team-a, user: talon, passwordFile: ${pw}, headers: {X-Env: prod}}}\n`);
    router.record(outcome());
    await router.idle();
    assert.equal(rx.got.length, 1);
    const req = rx.got[0]!;
    assert.deepEqual([req.method, req.url], ['POST', '/base/loki/api/v1/push']);
    assert.equal(req.headers['x-scope-orgid'], 'team-a');
    assert.equal(req.headers.authorization, basic('talon', 'lokipass'));
    assert.equal(req.headers['x-env'], 'prod');
    assert.deepEqual(req.json, {
      streams: [
        {
          stream: { result: 'Failed', rule: 'shop/kill-shells', actionner: 'kubernetes:terminate', namespace: 'shop' },
          values: [['1709633472345000000', JSON.stringify(notificationOf(outcome()))]],
        },
      ],
    });
    const line = JSON.parse((req.json as { streams: { values: string[][] }[] }).streams[0]!.values[0]![1]!) as Record<string, unknown>;
    assert.deepEqual([line.traceId, line.artifact, line.rule], ['trace-1', { output: 'local:file', location: '/var/talon/a.log', bytes: 10, truncated: false }, { kind: 'TalonRule', namespace: 'shop', name: 'kill-shells' }]);
  });

  test('elasticsearch with basic auth: the template is put once, then every document, all with auth and headers', async () => {
    rx.got.length = 0;
    const pw = files.file('es-pw', 'espass');
    const { router } = await wire(
      `defaultNotifiers: [es]\nnotifiers: {es: {type: elasticsearch, url: "${rx.url()}", index: talon, indexTemplate: {create: true, shards: 1, replicas: 0}, user: elastic, passwordFile: ${pw}, headers: {X-Env: prod}, concurrency: 1}}\n`,
    );
    router.record(outcome());
    router.record(outcome({ traceId: 'trace-2', time: '2024-03-06T00:00:01.000Z' }));
    await router.idle();
    assert.deepEqual(rx.got.map((r) => `${r.method} ${r.url}`), ['PUT /_index_template/talon', 'POST /talon-2024.03.05/_doc', 'POST /talon-2024.03.06/_doc']);
    for (const r of rx.got) {
      assert.equal(r.headers.authorization, basic('elastic', 'espass'), `${r.method} ${r.url} carries auth`);
      assert.equal(r.headers['x-env'], 'prod');
    }
    assert.deepEqual((rx.got[0]!.json as { index_patterns: string[]; template: { settings: unknown } }).index_patterns, ['talon-*']);
    assert.deepEqual((rx.got[0]!.json as { template: { settings: unknown } }).template.settings, { number_of_shards: 1, number_of_replicas: 0 });
    assert.deepEqual(rx.got[1]!.json, { '@timestamp': '2024-03-05T10:11:12.345Z', ...notificationOf(outcome()) });
  });

  test('elasticsearch with an API key, no template: documents only, Authorization: ApiKey on each', async () => {
    rx.got.length = 0;
    const key = files.file('es-key', 'aWQ6a2V5c2VjcmV0');
    const { router } = await wire(`defaultNotifiers: [es]\nnotifiers: {es: {type: elasticsearch, url: "${rx.url()}", index: sec, suffix: monthly, apiKeyFile: ${key}}}\n`);
    router.record(outcome());
    await router.idle();
    assert.deepEqual(rx.got.map((r) => [r.method, r.url, r.headers.authorization]), [['POST', '/sec-2024.03/_doc', 'ApiKey aWQ6a2V5c2VjcmV0']]);
  });

  test('elasticsearch: a failed template put is tried again before the next document, and no document goes before it', async () => {
    rx.got.length = 0;
    let puts = 0;
    rx.answer = (r, res) => {
      if (r.method === 'PUT' && ++puts === 1) res.writeHead(503).end('busy');
      else res.end('{}');
    };
    try {
      const { router, metrics } = await wire(`defaultNotifiers: [es]\nnotifiers: {es: {type: elasticsearch, url: "${rx.url()}", indexTemplate: {create: true}, retries: 1}}\n`);
      router.record(outcome());
      await router.idle();
      assert.deepEqual(rx.got.map((r) => `${r.method} ${r.url}`), ['PUT /_index_template/talon', 'PUT /_index_template/talon', 'POST /talon-2024.03.05/_doc']);
      assert.equal(await counted(metrics, 'es', 'sent'), 1);
    } finally {
      rx.answer = (_r, res) => res.end('ok');
    }
  });
});

describe('webhook over TLS: CA bundle, client certificate, method and headers', () => {
  let pki: TestPki;
  let rx: Receiver;
  before(async () => {
    pki = createTestPki();
    rx = await Receiver.https({ key: pki.server.key, cert: pki.server.cert, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: true });
  });
  after(async () => {
    await rx.close();
    pki.remove();
  });

  test('the receiver verifies our client certificate; we verify it with the CA bundle; the exact request', async () => {
    rx.got.length = 0;
    const urlFile = files.file('hook-url', `${rx.url('https')}/hooks/talon?token=TOKSECRET`);
    const auth = files.file('hook-auth', 'Bearer hooksecret\n');
    const { router, metrics } = await wire(
      `defaultNotifiers: [hook]\nnotifiers: {hook: {type: webhook, urlFile: ${urlFile}, method: PUT, headers: {X-Team: sec}, headerFiles: {Authorization: ${auth}}, tls: {caFile: ${pki.ca.certFile}, certFile: ${pki.client.certFile}, keyFile: ${pki.client.keyFile}}}}\n`,
    );
    router.record(outcome());
    await router.idle();
    assert.equal(await counted(metrics, 'hook', 'sent'), 1);
    assert.equal(rx.got.length, 1);
    const req = rx.got[0]!;
    assert.deepEqual([req.method, req.url, req.clientCn], ['PUT', '/hooks/talon?token=TOKSECRET', 'falco']);
    assert.equal(req.headers.authorization, 'Bearer hooksecret');
    assert.equal(req.headers['x-team'], 'sec');
    assert.equal(req.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(req.json, notificationOf(outcome()));
  });

  test('without the client certificate the receiver refuses the handshake; without the CA we refuse the receiver; neither is retried', async () => {
    rx.got.length = 0;
    const warnings: Record<string, unknown>[] = [];
    const log = { ...silentLog, warn: (_m: string, f?: Record<string, unknown>) => void warnings.push(f ?? {}) };
    const urlFile = files.file('hook-url-2', `${rx.url('https')}/hooks`);
    const { router, metrics } = await wire(
      `defaultNotifiers: [nocert, noca]\nnotifiers:\n  nocert: {type: webhook, urlFile: ${urlFile}, retries: 3, tls: {caFile: ${pki.ca.certFile}}}\n  noca: {type: webhook, urlFile: ${urlFile}, retries: 3, tls: {certFile: ${pki.client.certFile}, keyFile: ${pki.client.keyFile}}}\n`,
      { log },
    );
    router.record(outcome());
    await router.idle();
    assert.equal(rx.got.length, 0);
    assert.equal(await counted(metrics, 'nocert', 'failed'), 1);
    assert.equal(await counted(metrics, 'noca', 'failed'), 1);
    const byName = Object.fromEntries(warnings.map((w) => [w.notifier, w]));
    assert.equal(byName.noca?.attempts, 1);
    assert.match(String(byName.noca?.error), /^the webhook \(127\.0\.0\.1:\d+\): TLS handshake failed: (SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/);
    assert.equal(byName.nocert?.attempts, 1, `refused client certificate: ${String(byName.nocert?.error)}`);
  });
});

describe('failure handling', () => {
  let rx: Receiver;
  before(async () => {
    rx = await Receiver.http();
  });
  after(() => rx.close());

  const slackAt = async (path: string, extra = ''): Promise<Awaited<ReturnType<typeof wire>>> => {
    const urlFile = files.file(`slack-${path}`, `${rx.url()}/${path}`);
    return wire(`defaultNotifiers: [s]\nnotifiers: {s: {type: slack, webhookUrlFile: ${urlFile}${extra}}}\n`);
  };

  test('500 then 200: exactly one retry, sent', async () => {
    rx.got.length = 0;
    rx.answer = (_r, res) => (rx.got.length === 1 ? res.writeHead(500).end('oops') : res.end('ok'));
    const { router, metrics } = await slackAt('flaky', ', retries: 3');
    router.record(outcome());
    await router.idle();
    assert.equal(rx.got.length, 2);
    assert.deepEqual(rx.got[1]!.json, rx.got[0]!.json, 'the same body again');
    assert.equal(await counted(metrics, 's', 'sent'), 1);
    assert.equal(await counted(metrics, 's', 'failed'), 0);
  });

  test('429 with Retry-After: 1 is retried after at least 1 s', async () => {
    rx.got.length = 0;
    rx.answer = (_r, res) => (rx.got.length === 1 ? res.writeHead(429, { 'retry-after': '1' }).end() : res.end('ok'));
    const { router, metrics } = await slackAt('limited', ', retries: 2');
    router.record(outcome());
    await router.idle();
    assert.equal(rx.got.length, 2);
    assert.ok(rx.got[1]!.at - rx.got[0]!.at >= 1000, `retried after ${(rx.got[1]!.at - rx.got[0]!.at).toFixed(0)} ms`);
    assert.equal(await counted(metrics, 's', 'sent'), 1);
  });

  test('a 4xx answer is not retried', async () => {
    rx.got.length = 0;
    rx.answer = (_r, res) => res.writeHead(404).end('no_team');
    const { router, metrics } = await slackAt('gone', ', retries: 3');
    router.record(outcome());
    await router.idle();
    assert.equal(rx.got.length, 1);
    assert.equal(await counted(metrics, 's', 'failed'), 1);
  });

  test('a receiver that never answers is cut by the timeout (then retried, then failed)', async () => {
    rx.got.length = 0;
    rx.answer = () => undefined; // never answers
    const warnings: Record<string, unknown>[] = [];
    const log = { ...silentLog, warn: (_m: string, f?: Record<string, unknown>) => void warnings.push(f ?? {}) };
    const urlFile = files.file('slack-hang', `${rx.url()}/hang`);
    const { router, metrics } = await wire(`defaultNotifiers: [s]\nnotifiers: {s: {type: slack, webhookUrlFile: ${urlFile}, timeout: 200ms, retries: 1}}\n`, { log });
    router.record(outcome());
    await router.idle();
    assert.equal(rx.got.length, 2, 'the first call was cut, the retry too');
    assert.equal(await counted(metrics, 's', 'failed'), 1);
    assert.match(String(warnings[0]?.error), /did not answer within 200 ms/);
  });

  test('filters: results and dryRun decide what reaches the receiver', async () => {
    rx.got.length = 0;
    rx.answer = (_r, res) => res.end('ok');
    const a = files.file('slack-filter-a', `${rx.url()}/failures`);
    const b = files.file('slack-filter-b', `${rx.url()}/nodry`);
    const { router } = await wire(
      `defaultNotifiers: [failures, nodry]\nnotifiers:\n  failures: {type: slack, webhookUrlFile: ${a}, results: [Failed, Skipped]}\n  nodry: {type: slack, webhookUrlFile: ${b}, dryRun: false}\n`,
    );
    for (const result of ['Succeeded', 'Failed', 'Skipped', 'DryRun'] as const) router.record(outcome({ result, traceId: result }));
    await router.idle();
    const seen = (path: string) => rx.got.filter((r) => r.url === path).map((r) => ((r.json as { attachments: { fields: { title: string; value: string }[] }[] }).attachments[0]!.fields.find((f) => f.title === 'Result')!.value)).sort();
    assert.deepEqual(seen('/failures'), ['`Failed`', '`Skipped`']);
    assert.deepEqual(seen('/nodry'), ['`Failed`', '`Skipped`', '`Succeeded`']);
  });
});

describe('secrets never leak', () => {
  test('failing receivers: no secret in logs, Events, rule status or metrics; a bad URL file names the file only', async () => {
    const secrets = ['XXXXSECRETSLACK', 'TEAMSSIGSECRET', 'lokiPASSsecret', 'esAPIKEYsecret', 'HOOKTOKENsecret', 'hookHEADERsecret'];
    const failing = await Receiver.http();
    failing.answer = (_r, res) => res.writeHead(500).end('internal error');
    const lines = new PassThrough();
    let logText = '';
    lines.on('data', (c: Buffer) => (logText += c.toString()));
    const logger = createLogger({ level: 'debug', format: 'json', stream: lines });
    const log = logPort(logger);
    const port = new EventsStore();
    const events = new EventRecorder({ port, reportingInstance: 'talon-0' });
    const patches: RuleStatusCounters[] = [];
    const status = new RuleStatusAggregator({ getStatus: async () => ({ status: {} }), patchStatus: async (_r, p) => {
      patches.push(p);
      return '1';
    } });
    const metrics = createMetrics({ defaultMetrics: false });
    try {
      const f = (name: string, text: string) => files.file(name, text);
      const yaml = `defaultNotifiers: [k8sevents, slack, teams, loki, es, hook]
notifiers:
  slack: {type: slack, webhookUrlFile: ${f('s-slack', `${failing.url()}/services/T/B/${secrets[0]}`)}, retries: 1}
  teams: {type: teams, webhookUrlFile: ${f('s-teams', `${failing.url()}/workflows/x?sig=${secrets[1]}`)}, retries: 1}
  loki: {type: loki, url: "${failing.url()}", user: talon, passwordFile: ${f('s-loki', secrets[2]!)}, retries: 1}
  es: {type: elasticsearch, url: "${failing.url()}", apiKeyFile: ${f('s-es', secrets[3]!)}, indexTemplate: {create: true}, retries: 1}
  hook: {type: webhook, urlFile: ${f('s-hook', `${failing.url()}/h?token=${secrets[4]}`)}, headerFiles: {Authorization: ${f('s-hook-auth', secrets[5]!)}}, retries: 1}
  gone: {type: slack, webhookUrlFile: ${f('s-gone', 'http://127.0.0.1:1/services/T/B/GONESECRET')}, retries: 1}
`;
      secrets.push('GONESECRET');
      const { router, config } = await wire(yaml.replace('hook]', 'hook, gone]'), { log, metrics, events });
      const sink = fanOutSinks([metricsSink(metrics), status, router], (err) => log.error('sink failed', { error: String(err) }));
      log.info('configuration', { notifiers: config.notifiers });
      sink.record(outcome(), { notifiers: [] });
      sink.record(outcome({ result: 'Succeeded', reason: 'Terminated', traceId: 'trace-2' }), { notifiers: [] });
      await router.idle();
      await events.idle();
      await status.flush();
      assert.equal(await counted(metrics, 'slack', 'failed'), 2, 'the receivers did fail');
      assert.equal(await counted(metrics, 'gone', 'failed'), 2, 'an unreachable receiver failed too');
      assert.match(logText, /notification failed/);
      assert.match(logText, /the slack webhook \(127\.0\.0\.1:\d+\) answered HTTP 500/);

      const badUrl = f('s-bad', 'hooks.slack.com/services/BADSECRET');
      secrets.push('BADSECRET');
      const init = await wire(`notifiers: {bad: {type: slack, webhookUrlFile: ${badUrl}}}\n`, { log }).then(
        () => 'started',
        (err: Error) => err.message,
      );
      assert.equal(init, `notifiers.bad: the slack notifier could not start: the slack webhook URL in ${badUrl} is not a URL`);
      log.error('start-up failed', { error: init });
      await new Promise((r) => setImmediate(r));

      const haystacks = { logs: logText, events: JSON.stringify(port.bodies), status: JSON.stringify(patches), metrics: await metrics.text() };
      assert.ok(port.bodies.length > 0 && patches.length > 0 && logText.length > 0, 'there is something to search');
      for (const [where, text] of Object.entries(haystacks)) {
        for (const s of [...secrets, basic('talon', secrets[2]!).slice(6)]) assert.ok(!text.includes(s), `${where} contains the secret ${s}`);
      }
    } finally {
      await failing.close();
    }
  });
});
