import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { FakeKube, apiError, falcoEvent, podFixture, targetOf } from '../../../test/fakes/kube.js';
import { hostProgram } from '../../../test/fakes/pod-streams.js';
import type { FieldValue } from '../../falco/event.js';
import type { ActionResult, Actionner } from '../types.js';
import { ActionnerRegistry } from '../registry.js';
import { execActionner, ExecParams } from './exec.js';
import { scriptActionner, ScriptParams } from './script.js';

const registry = new ActionnerRegistry([execActionner, scriptActionner]);

function params(name: string, p: Record<string, unknown>): Readonly<Record<string, unknown>> {
  const r = registry.validateParams(name, p, 'parameters');
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.params;
}

function podWith(fake: FakeKube, containers: string[], name = 'web-1'): void {
  const pod = podFixture('default', name);
  (pod.spec as { containers: unknown[] }).containers = containers.map((c) => ({ name: c, image: 'busybox' }));
  fake.add('Pod', pod);
}

async function run(
  fake: FakeKube,
  actionner: Actionner<never>,
  p: Record<string, unknown>,
  opts: { fields?: Record<string, FieldValue>; hasOutput?: boolean; signal?: AbortSignal } = {},
): Promise<ActionResult> {
  const event = falcoEvent({ 'k8s.ns.name': 'default', 'k8s.pod.name': 'web-1', ...opts.fields });
  const a = actionner as unknown as Actionner;
  const validated = params(a.info.name, p);
  const pc = a.precheck(event, targetOf(event, 'pod'), validated);
  if (!pc.ok) return { status: 'skipped', reason: pc.reason, message: pc.message };
  return a.run({
    event,
    target: targetOf(event, 'pod'),
    params: validated,
    signal: opts.signal ?? new AbortController().signal,
    kube: fake.clients,
    identity: { protectedNamespaces: new Set() },
    rule: { namespace: 'default', name: 'r' },
    actionName: 'a',
    hasOutput: opts.hasOutput ?? false,
  });
}

async function readAll(r: ActionResult): Promise<string> {
  assert.ok(r.artifact, 'an artifact');
  const chunks: Buffer[] = [];
  for await (const c of r.artifact.stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

test('the examples validate, defaults applied', () => {
  assert.ok(Value.Check(ExecParams, params('kubernetes:exec', execActionner.info.example)));
  assert.ok(Value.Check(ScriptParams, params('kubernetes:script', scriptActionner.info.example)));
});

test('exec: the rule argv runs after env, alert fields only as variables; exit code and output in the message', async () => {
  const fake = new FakeKube();
  podWith(fake, ['main', 'side']);
  fake.streams.setProgram('default', 'web-1', 'main', ({ command, env }) => ({ stdout: `ran ${command.join(' ')} with ${env.FD_NAME}\n`, stderr: 'warn\n' }));
  const r = await run(fake, execActionner as never, { command: ['ls', '-l', '$FD_NAME'] }, { fields: { 'fd.name': '/etc/passwd', 'proc.aname[2]': 'bash' } });
  assert.deepEqual([r.status, r.reason], ['success', 'Executed']);
  assert.equal(r.message, `command ["ls","-l","$FD_NAME"] in pod 'default/web-1': container 'main': exit code 0; stdout: ran ls -l $FD_NAME with /etc/passwd; stderr: warn`);
  const [ran] = fake.streams.runs;
  assert.equal(fake.streams.runs.length, 1);
  assert.equal(ran?.container, 'main');
  assert.deepEqual(ran?.command, ['ls', '-l', '$FD_NAME']);
  assert.equal(ran?.env.FD_NAME, '/etc/passwd');
  assert.equal(ran?.env.PROC_ANAME_2, 'bash');
  assert.equal(ran?.env.K8S_POD_NAME, 'web-1');
  assert.deepEqual(ran?.argv.slice(0, 2), ['env', '--']);
  assert.equal(r.objects?.[0]?.kind, 'Pod');
  assert.ok(r.objects?.[0]?.uid);
  assert.equal(r.artifact, undefined, 'no artifact without an output');
});

test('exec: a non-zero exit is a failure that is never retried', async () => {
  const fake = new FakeKube();
  podWith(fake, ['main']);
  fake.streams.setProgram('default', 'web-1', 'main', () => ({ stderr: 'ls: /nope: No such file or directory\n', exitCode: 2 }));
  const r = await run(fake, execActionner as never, { command: ['ls', '/nope'] });
  assert.deepEqual([r.status, r.reason, r.retryable], ['failure', 'CommandFailed', false]);
  assert.match(r.message, /container 'main': exit code 2; stderr: ls: \/nope: No such file or directory$/);
});

test('exec: a command that cannot start says why', async () => {
  const fake = new FakeKube();
  podWith(fake, ['main']);
  fake.streams.setProgram('default', 'web-1', 'main', () => ({ notRun: 'exec: "nope": executable file not found in $PATH' }));
  const r = await run(fake, execActionner as never, { command: ['nope'], envFields: [] });
  assert.deepEqual([r.status, r.reason], ['failure', 'CommandFailed']);
  assert.match(r.message, /container 'main': not run; exec: "nope": executable file not found/);
  assert.deepEqual(fake.streams.runs[0]?.argv, ['nope'], 'nothing to set: the command alone, no env');
});

test('exec: a session that could not open is retryable only when transient and nothing ran', async () => {
  const fake = new FakeKube();
  podWith(fake, ['main']);
  fake.streams.setProgram('default', 'web-1', 'main', () => ({ stdout: 'x' }));
  fake.streams.failNextExec(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
  const transient = await run(fake, execActionner as never, { command: ['id'] });
  assert.deepEqual([transient.reason, transient.retryable], ['CommandFailed', true]);
  fake.streams.failNextExec(apiError(403, 'pods "web-1" is forbidden: User "x" cannot create resource "pods/exec" in API group "" in the namespace "default"'));
  const forbidden = await run(fake, execActionner as never, { command: ['id'] });
  assert.deepEqual([forbidden.reason, forbidden.retryable], ['CommandFailed', false]);
  assert.match(forbidden.message, /missing RBAC permission: cannot create pods\/exec/);
});

test('container choice: the first by default, a named one, or all of them in order', async () => {
  const fake = new FakeKube();
  podWith(fake, ['main', 'side', 'third']);
  for (const c of ['main', 'side', 'third']) fake.streams.setProgram('default', 'web-1', c, () => ({ stdout: `in ${c}`, exitCode: c === 'side' ? 1 : 0 }));
  await run(fake, execActionner as never, { command: ['id'] });
  await run(fake, execActionner as never, { command: ['id'], container: 'third' });
  assert.deepEqual(fake.streams.runs.map((x) => x.container), ['main', 'third']);
  const all = await run(fake, execActionner as never, { command: ['id'], allContainers: true });
  assert.deepEqual(fake.streams.runs.slice(2).map((x) => x.container), ['main', 'side', 'third']);
  assert.deepEqual([all.status, all.reason], ['failure', 'CommandFailed']);
  assert.match(all.message, /container 'main': exit code 0; stdout: in main \| container 'side': exit code 1; stdout: in side \| container 'third': exit code 0; stdout: in third/);
});

test('container choice: an unknown container fails, both options at once are refused, a gone pod is skipped', async () => {
  const fake = new FakeKube();
  podWith(fake, ['main']);
  const missing = await run(fake, execActionner as never, { command: ['id'], container: 'nope' });
  assert.deepEqual([missing.status, missing.reason], ['failure', 'ContainerNotFound']);
  assert.match(missing.message, /has no container 'nope' \(it has: main\)/);
  const both = await run(fake, execActionner as never, { command: ['id'], container: 'main', allContainers: true });
  assert.deepEqual([both.status, both.reason], ['skipped', 'InvalidParameters']);
  const gone = new FakeKube();
  const r = await run(gone, execActionner as never, { command: ['id'] });
  assert.deepEqual([r.status, r.reason], ['skipped', 'PodNotFound']);
  assert.equal(fake.streams.runs.length, 0);
});

test('the command timeout closes the session and keeps what was printed', async () => {
  const fake = new FakeKube();
  podWith(fake, ['main', 'side']);
  let aborted = false;
  fake.streams.setProgram('default', 'web-1', 'main', ({ signal }) => {
    signal.addEventListener('abort', () => (aborted = true));
    return { stdout: 'partial output', hang: true };
  });
  fake.streams.setProgram('default', 'web-1', 'side', () => ({ stdout: 'never' }));
  const r = await run(fake, execActionner as never, { command: ['sleep', '100'], timeoutSeconds: 1, allContainers: true });
  assert.deepEqual([r.status, r.reason, r.retryable], ['failure', 'CommandTimeout', false]);
  assert.match(r.message, /container 'main': timed out; stdout: partial output; the command timeout of 1s passed/);
  assert.ok(aborted, 'the session was closed');
  assert.deepEqual(fake.streams.runs.map((x) => x.container), ['main'], 'no container after the timeout');
});

test("the action's own signal closes the session", async () => {
  const fake = new FakeKube();
  podWith(fake, ['main']);
  let aborted = false;
  fake.streams.setProgram('default', 'web-1', 'main', ({ signal }) => {
    signal.addEventListener('abort', () => (aborted = true));
    return { hang: true };
  });
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('deadline')), 20);
  await assert.rejects(run(fake, execActionner as never, { command: ['sleep', '100'] }, { signal: ac.signal }), /deadline/);
  assert.ok(aborted);
});

test('output is capped per stream; the message shows an excerpt, the artifact all that was kept', async () => {
  const fake = new FakeKube();
  podWith(fake, ['main']);
  const big = `${'a'.repeat(3000)}\u001b[31mred\u001b[0m\u0007end`;
  fake.streams.setProgram('default', 'web-1', 'main', () => ({ stdout: big, stderr: 'e'.repeat(10) }));
  const r = await run(fake, execActionner as never, { command: ['cat', 'big'], maxOutputBytes: 2000 }, { hasOutput: true });
  assert.equal(r.reason, 'Executed');
  assert.match(r.message, /stdout: a{1024}… \[3016 bytes, kept 2000\]; stderr: e{10}$/);
  assert.equal(r.artifact?.name, 'exec-output.txt');
  const report = await readAll(r);
  assert.match(report, /^# command \["cat","big"\] in pod default\/web-1\n\n## container main: exit code 0\n### stdout \(first 2000 of 3016 bytes\)\na{2000}\n### stderr\ne{10}\n$/);
  const clean = await run(fake, execActionner as never, { command: ['cat', 'big'] });
  assert.ok(!clean.message.includes('\u001b') && !clean.message.includes('\u0007'));
});

// The injection corpus: every value is passed to a real env(1) and sh on this machine.
const CORPUS = [
  '$(touch MARKER)',
  '`touch MARKER`',
  '; touch MARKER',
  '&& touch MARKER',
  '| touch MARKER',
  '\ntouch MARKER\n',
  "'; touch MARKER; '",
  '"; touch MARKER; "',
  '${TALON_UNIT_SECRET}',
  '$TALON_UNIT_SECRET',
  '$(cat /etc/hostname)',
  'a=b touch MARKER',
  '--help',
];

test('injection corpus: alert values execute nothing and leak nothing (real env and sh)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'inject-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  process.env.TALON_UNIT_SECRET = 'operator-secret-4711';
  t.after(() => delete process.env.TALON_UNIT_SECRET);
  const fake = new FakeKube();
  podWith(fake, ['main']);
  fake.streams.setProgram('default', 'web-1', 'main', hostProgram(dir));
  for (const value of CORPUS) {
    const fields = { 'fd.name': value, 'proc.cmdline': value, 'proc.aname[2]': value };
    const script = await run(fake, scriptActionner as never, { script: 'printf "%s|%s|%s" "$FD_NAME" "$PROC_CMDLINE" "$PROC_ANAME_2"' }, { fields, hasOutput: true });
    assert.equal(script.reason, 'Executed', script.message);
    const out = await readAll(script);
    assert.ok(out.includes(`${value}|${value}|${value}`), `script output shows the literal value: ${JSON.stringify(value)}`);
    const exec = await run(fake, execActionner as never, { command: ['printenv', 'FD_NAME'] }, { fields, hasOutput: true });
    assert.equal(exec.reason, 'Executed', exec.message);
    assert.ok((await readAll(exec)).includes(`${value}\n`), `exec output shows the literal value: ${JSON.stringify(value)}`);
    for (const r of [script, exec]) assert.ok(!r.message.includes('operator-secret-4711'));
  }
  assert.deepEqual(readdirSync(dir), [], 'no marker file');
  assert.ok(!existsSync(join(dir, 'MARKER')));
  for (const ran of fake.streams.runs) {
    assert.ok(!ran.argv.some((a) => a.includes('operator-secret-4711')), 'nothing of the operator environment in the argv');
    assert.ok(ran.argv.at(-1) === 'talon-script' || ran.argv.at(-1) === 'FD_NAME', 'the command is the rule');
  }
});

test('script: the rule script is one argv entry after the shell and -c; $0 is talon-script', async () => {
  const fake = new FakeKube();
  podWith(fake, ['main']);
  fake.streams.setProgram('default', 'web-1', 'main', () => ({ stdout: 'ok' }));
  const r = await run(fake, scriptActionner as never, { script: 'echo "$FD_NAME"\nid', shell: '/bin/bash', envFields: ['fd.name'] }, { fields: { 'fd.name': '$(id)' } });
  assert.equal(r.reason, 'Executed');
  assert.match(r.message, /^script \(\/bin\/bash\) in pod 'default\/web-1': container 'main': exit code 0; stdout: ok$/);
  assert.deepEqual(fake.streams.runs[0]?.argv, ['env', '--', 'FD_NAME=$(id)', '/bin/bash', '-c', 'echo "$FD_NAME"\nid', 'talon-script']);
});

test('fields not passed are named in the message', async () => {
  const fake = new FakeKube();
  podWith(fake, ['main']);
  fake.streams.setProgram('default', 'web-1', 'main', () => ({}));
  const r = await run(fake, execActionner as never, { command: ['true'] }, { fields: { 'fd.num': null } });
  assert.match(r.message, /container 'main': exit code 0; 1 alert field not passed: fd\.num \(null or unsupported value\)$/);
});
