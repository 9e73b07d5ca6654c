/**
 * Issue 9 (smtp notifier): the real operator, configured with an `smtp` instance (STARTTLS
 * against a throw-away CA, AUTH with the password from a file), runs a rule naming it against
 * the real control plane. The SMTP server is the test's own, on loopback: it receives one mail
 * about the outcome with both bodies; the action, the rule's status and the notification
 * metric agree; the operator's log never shows the password.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { createTestPki, type TestPki } from '../operator/test/certs.js';
import { createNamespace, deleteNamespace, eventually, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { Talon } from './support/talon.js';
import { about, applyRuleLoaded, inline, podAlert, postAccepted, waitOutcome } from './support/alerts.js';

const PASSWORD = 'e2e-Smtp-Pa55word';

describe('smtp notifier', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  const received: { mail: ParsedMail; secure: boolean; user: unknown }[] = [];
  let pki: TestPki;
  let server: SMTPServer;
  let dir = '';
  let op: OperatorProcess;
  let ns = '';

  before(async () => {
    pki = createTestPki();
    server = new SMTPServer({
      logger: false,
      key: pki.server.key,
      cert: pki.server.cert,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth: (auth, _session, cb) => (auth.username === 'talon' && auth.password === PASSWORD ? cb(null, { user: 'talon' }) : cb(new Error('Invalid credentials'))),
      onData: (stream, session, cb) => {
        simpleParser(stream).then((mail) => {
          received.push({ mail, secure: session.secure, user: session.user });
          cb();
        }, cb);
      },
    });
    server.on('error', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.server.address() as AddressInfo).port;
    dir = mkdtempSync(join(tmpdir(), 'talon-e2e-smtp-'));
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, `${PASSWORD}\n`);

    await installCRDs(kc);
    ns = await createNamespace(core, 'smtp');
    op = await OperatorProcess.start({
      config: {
        statusFlushInterval: '500ms',
        notifiers: {
          mail: {
            type: 'smtp',
            host: '127.0.0.1',
            port,
            tls: 'starttls',
            caFile: pki.ca.certFile,
            user: 'talon',
            passwordFile,
            from: 'Falco Talon <talon@example.com>',
            to: ['security@example.com'],
            timeout: '20s',
          },
        },
      },
    });
  });

  after(async () => {
    await op?.stop();
    await talon.deleteAll(ns);
    await deleteNamespace(core, ns);
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    pki?.remove();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('a rule naming the smtp instance: the action, its status and one mail with both bodies', async () => {
    await core.createNamespacedPod({ namespace: ns, body: podManifest('web') });
    await waitForPodRunning(core, ns, 'web');
    await applyRuleLoaded(
      kc,
      talon,
      ns,
      'mail-on-shell',
      { match: { rules: ['E2E mail'] }, actions: [inline('flag', 'kubernetes:label', { labels: { 'talon.dev/flagged': 'true' } })], notifiers: ['mail'] },
      'tenant',
    );
    await postAccepted(op, podAlert({ rule: 'E2E mail', namespace: ns, pod: 'web' }));
    const outcome = await waitOutcome(talon, ns, 'mail-on-shell', about('Pod', 'web', { result: 'Succeeded' }), 'web labeled');
    const pod = await core.readNamespacedPod({ namespace: ns, name: 'web' });
    assert.equal(pod.metadata?.labels?.['talon.dev/flagged'], 'true');

    await eventually('one mail received', async () => received.length === 1 || undefined);
    const r = received[0]!;
    assert.equal(r.secure, true);
    assert.equal(r.user, 'talon');
    assert.equal(r.mail.subject, `[talon] Succeeded: kubernetes:label on Pod ${ns}/web (rule ${ns}/mail-on-shell)`);
    assert.equal(r.mail.from?.text, '"Falco Talon" <talon@example.com>');
    const text = r.mail.text ?? '';
    assert.match(text, /^Result: +Succeeded$/m);
    assert.match(text, new RegExp(`^Rule: +TalonRule ${ns}/mail-on-shell$`, 'm'));
    assert.match(text, new RegExp(`^Target: +Pod ${ns}/web$`, 'm'));
    assert.match(text, /^Falco rule: +E2E mail$/m);
    assert.match(text, /^Actionner: +kubernetes:label$/m);
    assert.match(text, new RegExp(`^Message: +${outcome.message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    const html = typeof r.mail.html === 'string' ? r.mail.html : '';
    assert.match(html, /<th[^>]*>Result<\/th><td[^>]*>Succeeded<\/td>/);
    assert.match(html, new RegExp(`<th[^>]*>Target</th><td[^>]*>Pod ${ns}/web</td>`));
    assert.match(html, /<th[^>]*>Trace id<\/th><td[^>]*>[0-9a-f]{32}<\/td>/);
    assert.equal(await op.metric('talon_notifications_total{notifier="mail",result="sent"}'), 1);
    const everything = [...op.logs, await op.metrics()].join('\n');
    for (const form of [PASSWORD, Buffer.from(PASSWORD).toString('base64'), Buffer.from(`\u0000talon\u0000${PASSWORD}`).toString('base64')]) {
      assert.ok(!everything.includes(form), 'the password is in the operator log or metrics');
    }
  });
});
