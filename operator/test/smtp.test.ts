/**
 * The `smtp` notifier against real SMTP servers on loopback (the `smtp-server` package): the
 * instances come from an operator config file through loadConfig, the notifier registry and
 * the router, as in main.ts. The received MIME is parsed with `mailparser`.
 *
 * - a server offering STARTTLS (certificate from a throw-away CA) and requiring AUTH PLAIN or
 *   LOGIN: the mail arrives over TLS, authenticated, with the expected headers, text and HTML;
 * - a wrong password: one attempt, counted failed, no retry, no password in any log line;
 * - a server answering 421 once, then accepting: exactly one retry, one mail;
 * - a server that does not offer STARTTLS: `tls: starttls` fails without sending anything in
 *   plain (no AUTH, no mail); `tls: none` (explicit) sends in plain and never tries STARTTLS;
 * - an untrusted certificate (no caFile) fails, once; implicit TLS (`tls: tls`) delivers;
 * - with credentials set, a server offering no AUTH fails the delivery (never unauthenticated).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import type { Outcome } from '../src/api/v1alpha1/outcome.js';
import { loadConfig } from '../src/config/load.js';
import { EventRecorder } from '../src/kube/event-recorder.js';
import type { LogPort } from '../src/lib/log.js';
import { builtinNotifiers } from '../src/notifiers/index.js';
import { NotifierRegistry } from '../src/notifiers/registry.js';
import { NotifierRouter } from '../src/notifiers/router.js';
import { compileSubject, mailBody } from '../src/notifiers/smtp.js';
import { createMetrics, type Metrics } from '../src/observability/metrics.js';
import { tempFiles } from './builders.js';
import { createTestPki, type TestPki } from './certs.js';

const PASSWORD = 'S3cret-smtp-Pa55word';
const WRONG = 'Wr0ng-smtp-Pa55word';
const SUBJECT = 'Talon {result} on {target}: {falcoRule}';
/** Every form a password travels in: raw, base64 (AUTH LOGIN), the AUTH PLAIN token. */
const forms = (pw: string) => [pw, Buffer.from(pw).toString('base64'), Buffer.from(`\u0000talon\u0000${pw}`).toString('base64')];

interface Received {
  readonly mail: ParsedMail;
  readonly secure: boolean;
  readonly user: unknown;
  readonly envelopeTo: string[];
}

/** A loopback SMTP server recording connections, logins, MAIL FROM attempts and parsed mails. */
class Peer {
  readonly received: Received[] = [];
  readonly auths: { method: string; user: string | undefined; secure: boolean }[] = [];
  mailFroms = 0;
  /** MAIL FROM attempts still to refuse with 421. */
  refuseNext = 0;
  private server!: SMTPServer;
  port = 0;

  constructor(private readonly options: SMTPServerOptions) {}

  async start(): Promise<void> {
    this.server = new SMTPServer({
      logger: false,
      authMethods: ['PLAIN', 'LOGIN'],
      authOptional: false,
      ...this.options,
      onAuth: (auth, session, cb) => {
        this.auths.push({ method: auth.method, user: auth.username, secure: session.secure });
        if (auth.username === 'talon' && auth.password === PASSWORD) cb(null, { user: 'talon' });
        else cb(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
      },
      onMailFrom: (_address, _session, cb) => {
        this.mailFroms += 1;
        if (this.refuseNext > 0) {
          this.refuseNext -= 1;
          cb(Object.assign(new Error('Service not available, try again later'), { responseCode: 421 }));
          return;
        }
        cb();
      },
      onData: (stream, session: SMTPServerSession, cb) => {
        simpleParser(stream).then(
          (mail) => {
            this.received.push({ mail, secure: session.secure, user: session.user, envelopeTo: session.envelope.rcptTo.map((r) => r.address) });
            cb();
          },
          (err: Error) => cb(err),
        );
      },
    });
    this.server.on('error', () => undefined); // a client hanging up mid-session is not a test failure
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.server.address() as AddressInfo).port;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function outcome(over: Partial<Outcome> = {}): Outcome {
  return {
    time: '2024-05-01T10:20:30.000Z',
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    rule: { kind: 'TalonRule', namespace: 'shop', name: 'kill-shells' },
    action: 'kill',
    actionner: 'kubernetes:terminate',
    target: { apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name: 'web-1' },
    result: 'Failed',
    reason: 'Forbidden',
    message: 'pods "web-1" is forbidden: <script>alert("x")</script> & \'more\'',
    durationMs: 42,
    ingestToActionMs: 3,
    objects: [],
    falcoRule: 'Terminal shell in container <img src=x onerror=alert(1)>',
    priority: 'Warning',
    merged: 2,
    artifact: { output: 'local:file', location: '/var/lib/talon/artifacts/a&b.tar', bytes: 2048, truncated: false },
    ...over,
  };
}

const addresses = (a: AddressObject | AddressObject[] | undefined) => (Array.isArray(a) ? a : a === undefined ? [] : [a]).flatMap((x) => x.value.map((v) => v.address));

describe('smtp notifier against real SMTP servers', () => {
  const tmp = tempFiles('talon-smtp-it-');
  let pki: TestPki;
  let starttls: Peer;
  let plainOnly: Peer;
  let implicit: Peer;
  let noAuth: Peer;
  const logs: string[] = [];
  const log: LogPort = {
    debug: (m, f) => void logs.push(JSON.stringify({ level: 'debug', m, f })),
    info: (m, f) => void logs.push(JSON.stringify({ level: 'info', m, f })),
    warn: (m, f) => void logs.push(JSON.stringify({ level: 'warn', m, f })),
    error: (m, f) => void logs.push(JSON.stringify({ level: 'error', m, f })),
  };
  let metrics: Metrics;
  let router: NotifierRouter;

  before(async () => {
    pki = createTestPki();
    const tls = { key: pki.server.key, cert: pki.server.cert };
    starttls = new Peer({ ...tls });
    plainOnly = new Peer({ hideSTARTTLS: true, disabledCommands: ['STARTTLS'], allowInsecureAuth: true });
    implicit = new Peer({ ...tls, secure: true });
    noAuth = new Peer({ ...tls, authOptional: true, disabledCommands: ['AUTH'] });
    for (const peer of [starttls, plainOnly, implicit, noAuth]) await peer.start();
    const password = tmp.file('smtp-password', `${PASSWORD}\n`);
    const wrong = tmp.file('smtp-wrong-password', `${WRONG}\n`);
    const common = (port: number, extra: string) => `
    type: smtp
    host: 127.0.0.1
    port: ${port}
    user: talon
    from: "Falco Talon <talon@example.com>"
    to: [security@example.com, "On Call <oncall@example.com>"]
    timeout: 20s
    retries: 3
${extra}`;
    const config = tmp.file(
      'config.yaml',
      `auth: {mode: none}
defaultNotifiers: []
notifiers:
  mail:${common(starttls.port, `    caFile: ${pki.ca.certFile}\n    passwordFile: ${password}\n    subject: "${SUBJECT}"`)}
  mail-badpw:${common(starttls.port, `    caFile: ${pki.ca.certFile}\n    passwordFile: ${wrong}`)}
  mail-untrusted:${common(starttls.port, `    passwordFile: ${password}`)}
  mail-nostarttls:${common(plainOnly.port, `    caFile: ${pki.ca.certFile}\n    passwordFile: ${password}`)}
  mail-plain:${common(plainOnly.port, `    tls: none\n    passwordFile: ${password}`)}
  mail-plain-vs-starttls:${common(starttls.port, `    tls: none\n    insecureSkipVerify: true\n    passwordFile: ${password}`)}
  mail-noauth:${common(noAuth.port, `    caFile: ${pki.ca.certFile}\n    passwordFile: ${password}`)}
  mail-implicit:${common(implicit.port, `    tls: tls\n    caFile: ${pki.ca.certFile}\n    passwordFile: ${password}`)}
`,
    );
    const registry = new NotifierRegistry(builtinNotifiers());
    const loaded = loadConfig({ file: config, env: {}, plugins: { notifiers: registry.schemas(), outputs: new Map() } });
    if (!loaded.ok) assert.fail(loaded.errors.join('\n'));
    const events = new EventRecorder({ port: { create: async () => ({}), patch: async () => ({}) }, reportingInstance: 't' });
    metrics = createMetrics({ defaultMetrics: false });
    router = new NotifierRouter({
      endpoints: await registry.endpoints(loaded.config.notifiers, { log, events }),
      defaults: loaded.config.defaultNotifiers,
      metrics,
      log,
      retryBaseMs: 20,
      retryMaxMs: 50,
      logIntervalMs: 0,
    });
  });

  after(async () => {
    await router?.close(1_000);
    await Promise.all([starttls, plainOnly, implicit, noAuth].map((p) => p?.stop()));
    pki?.remove();
  });

  const counted = async (notifier: string, result: string): Promise<number> =>
    (await metrics.notifications.get()).values.find((v) => v.labels.notifier === notifier && v.labels.result === result)?.value ?? 0;

  /** Sends one outcome to one instance through the router and waits until it is delivered or given up. */
  async function send(instance: string, o: Outcome = outcome()): Promise<void> {
    router.record(o, { notifiers: [instance] });
    await router.idle(instance);
  }

  it('STARTTLS + AUTH: the mail arrives encrypted and authenticated, with the headers and both bodies', async () => {
    const o = outcome();
    await send('mail', o);
    assert.equal(await counted('mail', 'sent'), 1);
    assert.equal(starttls.received.length, 1);
    const r = starttls.received[0]!;
    assert.equal(r.secure, true, 'delivered over TLS');
    assert.equal(r.user, 'talon', 'authenticated');
    assert.deepEqual(starttls.auths.map((a) => [a.user, a.secure]), [['talon', true]]);
    assert.ok(['PLAIN', 'LOGIN'].includes(starttls.auths[0]!.method));
    assert.deepEqual(r.envelopeTo, ['security@example.com', 'oncall@example.com']);
    const m = r.mail;
    assert.equal(m.from?.text, '"Falco Talon" <talon@example.com>');
    assert.deepEqual(addresses(m.from), ['talon@example.com']);
    assert.deepEqual(addresses(m.to), ['security@example.com', 'oncall@example.com']);
    assert.equal(m.subject, 'Talon Failed on Pod shop/web-1: Terminal shell in container <img src=x onerror=alert(1)>');
    const expected = mailBody(o, compileSubject(SUBJECT));
    assert.equal(m.text, expected.text, 'the text part round-trips');
    assert.ok(m.text?.includes('Message:       pods "web-1" is forbidden: <script>alert("x")</script> & \'more\''));
    assert.ok(m.text?.includes('Artifact:      local:file /var/lib/talon/artifacts/a&b.tar (2048 bytes)'));
    assert.ok(m.text?.includes('Trace id:      4bf92f3577b34da6a3ce929d0e0e4736'));
    const html = m.html;
    assert.equal(typeof html, 'string');
    assert.equal((html as string).trimEnd(), expected.html.trimEnd(), 'the HTML part round-trips');
    assert.match(html as string, /<title>Talon Failed on Pod shop\/web-1: Terminal shell in container &lt;img src=x onerror=alert\(1\)&gt;<\/title>/);
    assert.doesNotMatch(html as string, /<script|<img/);
    assert.match(html as string, /<td style="white-space:pre-wrap">pods &quot;web-1&quot; is forbidden: &lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; &#39;more&#39;<\/td>/);
    assert.match(html as string, /<td style="white-space:pre-wrap">local:file \/var\/lib\/talon\/artifacts\/a&amp;b\.tar \(2048 bytes\)<\/td>/);
    assert.match(html as string, /<td style="white-space:pre-wrap">4bf92f3577b34da6a3ce929d0e0e4736<\/td>/);
  });

  it('a wrong password: one attempt, counted failed, never retried, no password anywhere in the logs', async () => {
    const before = starttls.auths.length;
    await send('mail-badpw');
    assert.equal(await counted('mail-badpw', 'failed'), 1);
    assert.equal(await counted('mail-badpw', 'sent'), 0);
    assert.equal(starttls.auths.length - before, 1, 'authentication failures are not retried (retries: 3 configured)');
    const failed = logs.filter((l) => l.includes('"notification failed"') && l.includes('mail-badpw'));
    assert.equal(failed.length, 1);
    assert.match(failed[0]!, /"attempts":1/);
    assert.match(failed[0]!, /SMTP EAUTH AUTH (PLAIN|LOGIN): Invalid login: 535/);
    const everything = [...logs, await metrics.text()].join('\n');
    for (const secret of [...forms(PASSWORD), ...forms(WRONG)]) assert.ok(!everything.includes(secret), `a form of a password is in the logs: ${secret}`);
  });

  it('a server answering 421 once, then accepting: exactly one retry, one mail', async () => {
    const mails = starttls.received.length;
    const froms = starttls.mailFroms;
    starttls.refuseNext = 1;
    await send('mail', outcome({ traceId: 'retry-421' }));
    assert.equal(starttls.mailFroms - froms, 2, 'refused once, accepted on the retry');
    assert.equal(starttls.received.length - mails, 1);
    assert.match(starttls.received.at(-1)!.mail.text ?? '', /Trace id: +retry-421/);
    assert.equal(await counted('mail', 'sent'), 2);
    assert.equal(await counted('mail', 'failed'), 0);
  });

  it('tls: starttls against a server without STARTTLS fails: nothing is sent in plain', async () => {
    await send('mail-nostarttls');
    assert.equal(await counted('mail-nostarttls', 'failed'), 1);
    assert.equal(plainOnly.auths.length, 0, 'no credentials over plain text');
    assert.equal(plainOnly.mailFroms, 0);
    assert.equal(plainOnly.received.length, 0);
    const failed = logs.find((l) => l.includes('"notification failed"') && l.includes('mail-nostarttls'));
    assert.match(failed ?? '', /"attempts":1/);
    assert.match(failed ?? '', /SMTP ETLS STARTTLS/);
  });

  it('tls: none is plain only when chosen, and then STARTTLS is not attempted', async () => {
    await send('mail-plain');
    assert.equal(await counted('mail-plain', 'sent'), 1);
    assert.equal(plainOnly.received.length, 1);
    assert.equal(plainOnly.received[0]!.secure, false);
    assert.deepEqual(plainOnly.auths.map((a) => [a.user, a.secure]), [['talon', false]]);
    // Against a server that offers STARTTLS (and refuses AUTH before it), tls: none still stays plain.
    const auths = starttls.auths.length;
    await send('mail-plain-vs-starttls');
    assert.equal(await counted('mail-plain-vs-starttls', 'failed'), 1);
    // (insecureSkipVerify is set so that an upgrade, were it attempted, would succeed and deliver.)
    assert.equal(starttls.auths.length, auths, 'the server refused AUTH on the plain session: no upgrade was attempted');
    assert.match(logs.find((l) => l.includes('"notification failed"') && l.includes('mail-plain-vs-starttls')) ?? '', /"attempts":1.*EAUTH.*: 538 /);
    assert.ok(logs.some((l) => l.includes('smtp notifier sends its credentials without TLS')));
  });

  it('an untrusted server certificate fails once; implicit TLS with the CA delivers', async () => {
    const auths = starttls.auths.length;
    await send('mail-untrusted');
    assert.equal(await counted('mail-untrusted', 'failed'), 1);
    assert.equal(starttls.auths.length, auths, 'no credentials to an unverified server');
    assert.match(logs.find((l) => l.includes('"notification failed"') && l.includes('mail-untrusted')) ?? '', /"attempts":1.*certificate/);
    await send('mail-implicit');
    assert.equal(await counted('mail-implicit', 'sent'), 1);
    assert.equal(implicit.received.length, 1);
    assert.equal(implicit.received[0]!.secure, true);
    assert.equal(implicit.received[0]!.user, 'talon');
  });

  it('with credentials configured, a server that offers no AUTH gets no mail (no silent unauthenticated send)', async () => {
    await send('mail-noauth');
    assert.equal(await counted('mail-noauth', 'failed'), 1);
    assert.equal(noAuth.mailFroms, 0);
    assert.equal(noAuth.received.length, 0);
    assert.match(logs.find((l) => l.includes('"notification failed"') && l.includes('mail-noauth')) ?? '', /"attempts":1.*EAUTH/);
  });

  it('no form of either password in any log line or metric after all of it', async () => {
    const everything = [...logs, await metrics.text()].join('\n');
    assert.ok(logs.length > 0);
    for (const secret of [...forms(PASSWORD), ...forms(WRONG)]) assert.ok(!everything.includes(secret), secret);
  });
});
