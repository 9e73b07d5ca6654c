import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import type { Outcome } from '../api/v1alpha1/outcome.js';
import { createAjv } from '../api/v1alpha1/validation.js';
import { TalonError } from '../errors.js';
import { compileSubject, escapeHtml, initSmtp, mailBody, mailFacts, renderSubject, smtpError, SmtpConfigSchema, type SmtpConfig } from './smtp.js';

function outcome(over: Partial<Outcome> = {}): Outcome {
  return {
    time: '2024-05-01T10:20:30.000Z',
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    rule: { kind: 'TalonRule', namespace: 'shop', name: 'kill-shells' },
    action: 'kill',
    actionner: 'kubernetes:terminate',
    target: { apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name: 'web-1' },
    result: 'Succeeded',
    reason: 'Terminated',
    message: 'terminated pod shop/web-1',
    durationMs: 42,
    ingestToActionMs: 3,
    objects: [],
    falcoRule: 'Terminal shell in container',
    priority: 'Warning',
    merged: 2,
    ...over,
  };
}

const HOSTILE = '<script>alert("x")</script> & \'q\' "dq" &amp;';

/** An outcome whose every free-text field is hostile. */
function hostile(): Outcome {
  return outcome({
    result: 'Failed',
    reason: 'Forbidden',
    message: `${HOSTILE}\r\nResult: Succeeded\u0000\u2028end`,
    rule: { kind: 'ClusterTalonRule', namespace: '', name: 'r<b>' },
    action: `a${HOSTILE}`,
    target: { kind: 'Pod', namespace: 'n"s', name: `p\r\nBcc: victim@example.com${HOSTILE}` },
    falcoRule: `Shell\r\nSubject: forged ${HOSTILE}`,
    priority: 'Critical\t<i>',
    traceId: 't&t',
    artifact: { output: 'local:file', location: `/var/x/${HOSTILE}`, bytes: 10, truncated: true },
    objects: [{ kind: 'Pod', namespace: 'shop', name: '<o>' }],
  });
}

const VOID = new Set(['meta', 'br', 'hr', 'img', 'link', 'input']);

/**
 * A minimal well-formedness check of an HTML document: a doctype, then tags that nest and
 * close (void elements excepted), double-quoted attribute values without '<' or '"', and text
 * with no '<' or '>' and only the five escapes as entities. Returns the problems found.
 */
function htmlProblems(html: string): string[] {
  const problems: string[] = [];
  if (!html.startsWith('<!DOCTYPE html>')) problems.push('no doctype');
  const stack: string[] = [];
  const tag = /<(\/?)([a-z][a-z0-9]*)((?:\s+[a-z-]+="[^"<]*")*)\s*>/y;
  const text = /[^<]*/y;
  let i = '<!DOCTYPE html>'.length;
  while (i < html.length) {
    text.lastIndex = i;
    const t = text.exec(html)![0];
    if (t.includes('>')) problems.push(`raw '>' in text near ${i}`);
    for (const m of t.matchAll(/&[^;\s]*;?/g)) if (!/^&(amp|lt|gt|quot|#39);$/.test(m[0])) problems.push(`bad entity ${m[0]}`);
    i += t.length;
    if (i >= html.length) break;
    tag.lastIndex = i;
    const m = tag.exec(html);
    if (m === null) {
      problems.push(`not a tag at ${i}: ${html.slice(i, i + 20)}`);
      break;
    }
    for (const a of m[3]!.matchAll(/="([^"]*)"/g)) for (const e of a[1]!.matchAll(/&[^;\s]*;?/g)) if (!/^&(amp|lt|gt|quot|#39);$/.test(e[0])) problems.push(`bad entity in attribute ${e[0]}`);
    const name = m[2]!;
    if (m[1] === '/') {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open}>`);
    } else if (!VOID.has(name)) stack.push(name);
    i += m[0].length;
  }
  if (stack.length > 0) problems.push(`unclosed: ${stack.join(' ')}`);
  return problems;
}

const unescape = (s: string) => s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!);

/** The table rows of the HTML body, label and value, entities decoded. */
function htmlFacts(html: string): [string, string][] {
  return [...html.matchAll(/<tr><th[^>]*>([^<]*)<\/th><td[^>]*>([^<]*)<\/td><\/tr>/g)].map((m) => [unescape(m[1]!), unescape(m[2]!)]);
}

/** The `Label: value` lines of the text body, continuation lines joined back. */
function textFacts(text: string): [string, string][] {
  const lines = text.split('\n').slice(2, -1);
  const width = /^[^:]+:\s+/.exec(lines[0]!)![0].length;
  const out: [string, string][] = [];
  for (const l of lines) {
    if (l.startsWith(' ')) out[out.length - 1]![1] += `\n${l.slice(width)}`;
    else out.push([l.slice(0, l.indexOf(':')), l.slice(width)]);
  }
  return out;
}

describe('mailBody', () => {
  test('subject and text of an ordinary outcome, literally', () => {
    const b = mailBody(outcome({ artifact: { output: 'local:file', location: '/var/lib/talon/a.tar', bytes: 2048, truncated: false }, objects: [{ kind: 'Pod', namespace: 'shop', name: 'web-1' }] }));
    assert.equal(b.subject, '[talon] Succeeded: kubernetes:terminate on Pod shop/web-1 (rule shop/kill-shells)');
    assert.equal(
      b.text,
      [
        'Talon: Succeeded kubernetes:terminate on Pod shop/web-1',
        '',
        'Result:        Succeeded',
        'Reason:        Terminated',
        'Message:       terminated pod shop/web-1',
        'Rule:          TalonRule shop/kill-shells',
        'Action:        kill',
        'Actionner:     kubernetes:terminate',
        'Target:        Pod shop/web-1',
        'Falco rule:    Terminal shell in container',
        'Priority:      Warning',
        'Time:          2024-05-01T10:20:30.000Z',
        'Trace id:      4bf92f3577b34da6a3ce929d0e0e4736',
        'Artifact:      local:file /var/lib/talon/a.tar (2048 bytes)',
        'Objects:       Pod shop/web-1',
        'Merged alerts: 2',
        'Duration:      42 ms',
        '',
      ].join('\n'),
    );
    assert.deepEqual(htmlProblems(b.html), []);
    assert.match(b.html, /<title>\[talon\] Succeeded: kubernetes:terminate on Pod shop\/web-1 \(rule shop\/kill-shells\)<\/title>/);
    assert.match(b.html, /<h2 style="color:#2e7d32">Talon: Succeeded kubernetes:terminate on Pod shop\/web-1<\/h2>/);
  });

  test('a cluster rule, no target, no artifact: literal subject and text', () => {
    const b = mailBody(outcome({ rule: { kind: 'ClusterTalonRule', namespace: '', name: 'deny-all' }, target: { kind: 'None', name: '' }, result: 'Skipped', reason: 'MissingFields', message: 'the alert names no object', merged: 0 }));
    assert.equal(b.subject, '[talon] Skipped: kubernetes:terminate on none (rule deny-all)');
    assert.equal(
      b.text,
      [
        'Talon: Skipped kubernetes:terminate on none',
        '',
        'Result:        Skipped',
        'Reason:        MissingFields',
        'Message:       the alert names no object',
        'Rule:          ClusterTalonRule deny-all',
        'Action:        kill',
        'Actionner:     kubernetes:terminate',
        'Target:        none',
        'Falco rule:    Terminal shell in container',
        'Priority:      Warning',
        'Time:          2024-05-01T10:20:30.000Z',
        'Trace id:      4bf92f3577b34da6a3ce929d0e0e4736',
        'Merged alerts: 0',
        'Duration:      42 ms',
        '',
      ].join('\n'),
    );
  });

  test('hostile field values: the HTML is well formed and escapes every one; no header or field can be forged', () => {
    const b = mailBody(hostile());
    assert.deepEqual(htmlProblems(b.html), []);
    assert.doesNotMatch(b.html, /<script|<b>|<i>|<o>/);
    assert.match(b.html, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; &#39;q&#39; &quot;dq&quot; &amp;amp;/);
    assert.doesNotMatch(b.subject, /[\r\n\u0000-\u001f]/);
    assert.equal(b.subject, `[talon] Failed: kubernetes:terminate on Pod n"s/p Bcc: victim@example.com${HOSTILE} (rule r<b>)`);
    // Only the message may span lines, and its continuation lines are indented.
    const lines = b.text.split('\n');
    assert.deepEqual(lines.filter((l) => /^Result:/.test(l)), ['Result:        Failed']);
    assert.ok(!lines.some((l) => /^(Bcc|Subject):/.test(l)));
    assert.ok(!/[\u0000\u2028\r\t]/.test(b.text));
    assert.ok(b.text.includes(`Falco rule:    Shell Subject: forged ${HOSTILE}`));
    assert.ok(b.text.includes(`Message:       ${HOSTILE}\n               Result: Succeeded\n               end`));
  });

  test('both bodies carry the same facts, value for value', () => {
    for (const o of [outcome(), hostile(), outcome({ result: 'DryRun', reason: 'DryRun', message: 'would terminate\n\nsee below' })]) {
      const b = mailBody(o);
      const facts = mailFacts(o);
      assert.deepEqual(htmlFacts(b.html), facts);
      assert.deepEqual(textFacts(b.text), facts);
      assert.deepEqual(
        facts.map(([l]) => l).filter((l) => !['Artifact', 'Objects'].includes(l)),
        ['Result', 'Reason', 'Message', 'Rule', 'Action', 'Actionner', 'Target', 'Falco rule', 'Priority', 'Time', 'Trace id', 'Merged alerts', 'Duration'],
      );
    }
  });

  test('colour by result', () => {
    const colour = (result: Outcome['result']) => /<h2 style="color:(#[0-9a-f]{6})">/.exec(mailBody(outcome({ result })).html)![1];
    assert.deepEqual(['Succeeded', 'Failed', 'Skipped', 'DryRun'].map((r) => colour(r as Outcome['result'])), ['#2e7d32', '#c62828', '#757575', '#1565c0']);
  });

  test('escapeHtml escapes the five characters and nothing else', () => {
    assert.equal(escapeHtml(`a<b>&"'é`), 'a&lt;b&gt;&amp;&quot;&#39;é');
  });
});

describe('subject templates', () => {
  test('placeholders are plain substitutions; {{ and }} are braces', () => {
    const t = compileSubject('{{x}} {result}/{reason} {rule} {action} {actionner} {target} {falcoRule} {priority} {traceId}');
    assert.equal(
      renderSubject(outcome(), t),
      '{x} Succeeded/Terminated shop/kill-shells kill kubernetes:terminate Pod shop/web-1 Terminal shell in container Warning 4bf92f3577b34da6a3ce929d0e0e4736',
    );
    // A value that looks like a placeholder is not expanded again.
    assert.equal(renderSubject(outcome({ falcoRule: '{traceId} ${process.env.HOME}' }), compileSubject('{falcoRule}')), '{traceId} ${process.env.HOME}');
  });

  test('unknown placeholders and lone braces are refused, naming them', () => {
    assert.throws(() => compileSubject('{nope}'), /unknown placeholder \{nope\} \(known: \{result\} \{reason\}/);
    assert.throws(() => compileSubject('{constructor}'), /unknown placeholder \{constructor\}/);
    assert.throws(() => compileSubject('{__proto__}'), /unknown placeholder/);
    assert.throws(() => compileSubject('{result'), /unclosed '\{' at position 0/);
    assert.throws(() => compileSubject('a } b'), /lone '\}' at position 2/);
  });

  test('a long subject is cut at 250 characters', () => {
    const s = renderSubject(outcome({ falcoRule: 'x'.repeat(400) }), compileSubject('{falcoRule}'));
    assert.equal(s.length, 250);
    assert.ok(s.endsWith('x…'));
  });
});

describe('smtpError', () => {
  const err = (fields: Record<string, unknown>, message = 'failed') => Object.assign(new Error(message), fields);
  const verdict = (e: TalonError) => [e.code, e.retryable];

  test('4xx replies and connection failures are retryable; 5xx, auth and TLS failures are not', () => {
    assert.deepEqual(verdict(smtpError(err({ code: 'EENVELOPE', responseCode: 421, command: 'MAIL FROM' }))), ['ServerError', true]);
    assert.deepEqual(verdict(smtpError(err({ code: 'EPROTOCOL', responseCode: 450, command: 'CONN' }))), ['ServerError', true]);
    assert.deepEqual(verdict(smtpError(err({ code: 'ECONNECTION', originalCode: 'ECONNREFUSED' }))), ['NetworkError', true]);
    assert.deepEqual(verdict(smtpError(err({ code: 'ETIMEDOUT' }))), ['NetworkError', true]);
    assert.deepEqual(verdict(smtpError(err({ code: 'ESOCKET', originalCode: 'ECONNRESET' }))), ['NetworkError', true]);
    assert.deepEqual(verdict(smtpError(err({ code: 'EAUTH', responseCode: 535, command: 'AUTH PLAIN' }))), ['Unauthorized', false]);
    assert.deepEqual(verdict(smtpError(err({ code: 'EAUTH', command: 'API' }))), ['Unauthorized', false]);
    assert.deepEqual(verdict(smtpError(err({ code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO' }))), ['ClientError', false]);
    assert.deepEqual(verdict(smtpError(err({ code: 'ETLS', responseCode: 502, command: 'STARTTLS' }))), ['ClientError', false]);
    assert.deepEqual(verdict(smtpError(err({ code: 'ETLS', command: 'STARTTLS' }))), ['Forbidden', false]);
    assert.deepEqual(verdict(smtpError(err({ code: 'ESOCKET', originalCode: 'DEPTH_ZERO_SELF_SIGNED_CERT' }))), ['Forbidden', false]);
    assert.deepEqual(verdict(smtpError(err({ code: 'EABORT', name: 'AbortError' }))), ['Aborted', false]);
    assert.deepEqual(verdict(smtpError('weird')), ['Unknown', false]);
  });

  test('the message names code, command and reply, without any form of the password and without the original error', () => {
    const password = 'hunter2-Pa55';
    const plain = Buffer.from(`\u0000talon\u0000${password}`).toString('base64');
    const e = smtpError(err({ code: 'EAUTH', responseCode: 535, command: 'AUTH PLAIN' }, `Invalid login: 535 bad ${password} ${Buffer.from(password).toString('base64')} ${plain}`), [
      password,
      Buffer.from(password).toString('base64'),
      plain,
    ]);
    assert.equal(e.message, 'SMTP EAUTH AUTH PLAIN: Invalid login: 535 bad <redacted> <redacted> <redacted>');
    assert.equal(e.cause, undefined);
  });
});

describe('initSmtp', () => {
  const dir = mkdtempSync(join(tmpdir(), 'talon-smtp-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const pw = join(dir, 'password');
  writeFileSync(pw, 'hunter2-Pa55\n');
  const base: SmtpConfig = { host: 'mail.example.com', tls: 'starttls', insecureSkipVerify: false, from: 'Talon <talon@example.com>', to: ['sec@example.com'], subject: '{result}' };

  test('the schema fills defaults and refuses unknown keys and modes', () => {
    const ajv = createAjv({ useDefaults: true });
    const validate = ajv.compile(SmtpConfigSchema);
    const c: Record<string, unknown> = { host: 'h', from: 'a@b.c', to: ['d@e.f'] };
    assert.ok(validate(c));
    assert.deepEqual(c, { host: 'h', from: 'a@b.c', to: ['d@e.f'], tls: 'starttls', insecureSkipVerify: false, subject: '[talon] {result}: {actionner} on {target} (rule {rule})' });
    assert.ok(!validate({ host: 'h', from: 'a@b.c', to: ['d@e.f'], tls: 'ssl' }));
    assert.ok(!validate({ host: 'h', from: 'a@b.c', to: ['d@e.f'], password: 'x' }));
    assert.ok(!validate({ host: 'h', from: 'a@b.c', to: [] }));
  });

  test('bad settings are refused with a clear message', () => {
    assert.throws(() => initSmtp({ ...base, user: 'talon' }), /user and passwordFile must be set together/);
    assert.throws(() => initSmtp({ ...base, passwordFile: pw }), /user and passwordFile must be set together/);
    assert.throws(() => initSmtp({ ...base, from: 'not an address' }), /from: 'not an address' is not one e-mail address/);
    assert.throws(() => initSmtp({ ...base, to: ['a@example.com, b@example.com'] }), /to\[0\]: .* is not one e-mail address/);
    assert.throws(() => initSmtp({ ...base, subject: '{pod}' }), /unknown placeholder \{pod\}/);
    assert.throws(() => initSmtp({ ...base, user: 'talon', passwordFile: join(dir, 'missing') }), /cannot read secret file .*missing: ENOENT/);
    assert.throws(() => initSmtp({ ...base, caFile: join(dir, 'missing.pem') }), /caFile: cannot read .*missing\.pem: ENOENT/);
    assert.throws(() => initSmtp({ ...base, caFile: pw }), /caFile: .* holds no PEM certificate/);
  });

  test('the state never prints the password; the default port follows the TLS mode', () => {
    const ports = (['starttls', 'tls', 'none'] as const).map((tls) => String(initSmtp({ ...base, tls })));
    assert.deepEqual(ports, ['<smtp mail.example.com:587>', '<smtp mail.example.com:465>', '<smtp mail.example.com:25>']);
    const s = initSmtp({ ...base, port: 2525, user: 'talon', passwordFile: pw });
    for (const shown of [String(s), JSON.stringify({ s }), inspect(s, { depth: 10, showHidden: true }), inspect({ s })]) {
      assert.ok(!shown.includes('hunter2'), shown);
      assert.ok(shown.includes('<smtp mail.example.com:2525>'), shown);
    }
  });

  test('credentials over tls: none are warned about, once, without the password', () => {
    const warned: [string, Record<string, unknown> | undefined][] = [];
    const log = { debug: () => undefined, info: () => undefined, error: () => undefined, warn: (m: string, f?: Record<string, unknown>) => void warned.push([m, f]) };
    initSmtp({ ...base, tls: 'none', user: 'talon', passwordFile: pw }, { log });
    initSmtp({ ...base, tls: 'starttls', user: 'talon', passwordFile: pw }, { log });
    assert.deepEqual(warned, [['smtp notifier sends its credentials without TLS', { endpoint: 'mail.example.com:25', tls: 'none' }]]);
  });
});
