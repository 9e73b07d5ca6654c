import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { FakeKube, falcoEvent, podFixture, targetOf } from '../../../test/fakes/kube.js';
import type { FieldValue } from '../../falco/event.js';
import type { ActionResult } from '../types.js';
import { ActionnerRegistry } from '../registry.js';
import { downloadActionner, safeArtifactName } from './download.js';

const registry = new ActionnerRegistry([downloadActionner]);

function setup(): FakeKube {
  const fake = new FakeKube();
  const pod = podFixture('default', 'web-1');
  (pod.spec as { containers: unknown[] }).containers = [{ name: 'main', image: 'x' }, { name: 'side', image: 'x' }];
  fake.add('Pod', pod);
  return fake;
}

async function run(fake: FakeKube, p: Record<string, unknown>, fields: Record<string, FieldValue> = {}): Promise<ActionResult> {
  const v = registry.validateParams('kubernetes:download', p, 'parameters');
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  const event = falcoEvent({ 'k8s.ns.name': 'default', 'k8s.pod.name': 'web-1', ...fields });
  const target = targetOf(event, 'pod');
  const pc = downloadActionner.precheck(event, target, v.params as never);
  if (!pc.ok) return { status: 'skipped', reason: pc.reason, message: pc.message };
  return downloadActionner.run({
    event,
    target,
    params: v.params as never,
    signal: new AbortController().signal,
    kube: fake.clients,
    identity: { protectedNamespaces: new Set() },
    rule: { namespace: 'default', name: 'r' },
    actionName: 'dl',
    hasOutput: true,
  });
}

async function bytes(r: ActionResult, limit = Infinity): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of r.artifact!.stream) {
    chunks.push(c as Buffer);
    n += (c as Buffer).length;
    if (n >= limit) break;
  }
  return Buffer.concat(chunks);
}

test('the example validates; an output is required', () => {
  assert.ok(registry.validateParams('kubernetes:download', downloadActionner.info.example, 'p').ok);
  assert.equal(downloadActionner.info.output, 'required');
  assert.ok(!registry.validateParams('kubernetes:download', { file: 'relative/path' }, 'p').ok);
});

test('the file streams out of the first container byte for byte, read by cat with the path as one argv entry', async () => {
  const fake = setup();
  const content = randomBytes(300_000);
  fake.streams.setProgram('default', 'web-1', 'main', ({ command }) =>
    command[0] === 'cat' && command[2] === '/var/log/app.log' ? { stdout: [content.subarray(0, 100_000), content.subarray(100_000)] } : { exitCode: 1 },
  );
  const r = await run(fake, { file: '/var/log/app.log' });
  assert.deepEqual([r.status, r.reason], ['success', 'Downloaded']);
  assert.equal(r.message, "downloaded the file '/var/log/app.log' of container 'main' of pod 'default/web-1'");
  assert.equal(r.artifact?.name, 'app.log');
  assert.ok((await bytes(r)).equals(content));
  assert.deepEqual(fake.streams.runs[0]?.argv, ['cat', '--', '/var/log/app.log']);
});

test('a path from an alert field stays one argv entry whatever it holds', async () => {
  const fake = setup();
  fake.streams.setProgram('default', 'web-1', 'side', () => ({ stdout: 'data' }));
  const evil = "/tmp/x; rm -rf / $(touch M) `id` && echo 'a' \"b\"\n| z";
  const r = await run(fake, { fileFromField: 'fd.name', container: 'side' }, { 'fd.name': evil });
  assert.equal(r.reason, 'Downloaded');
  assert.deepEqual(fake.streams.runs[0]?.argv, ['cat', '--', evil]);
  assert.equal(fake.streams.runs[0]?.container, 'side');
  assert.equal((await bytes(r)).toString(), 'data');
  assert.match(r.artifact?.name ?? '', /^[A-Za-z0-9._-]+$/);
});

test('a missing, relative or NUL path field is not acted on; file and fileFromField exclude each other', async () => {
  const fake = setup();
  assert.deepEqual((await run(fake, { fileFromField: 'fd.name' })).reason, 'MissingFields');
  assert.deepEqual((await run(fake, { fileFromField: 'fd.name' }, { 'fd.name': null })).reason, 'MissingFields');
  assert.deepEqual((await run(fake, { fileFromField: 'fd.name' }, { 'fd.name': 'etc/passwd' })).reason, 'InvalidParameters');
  assert.deepEqual((await run(fake, { fileFromField: 'fd.name' }, { 'fd.name': '/etc/passwd\0x' })).reason, 'InvalidParameters');
  assert.deepEqual((await run(fake, { file: '/a', fileFromField: 'fd.name' }, { 'fd.name': '/b' })).reason, 'InvalidParameters');
  assert.deepEqual((await run(fake, {})).reason, 'InvalidParameters');
  assert.equal(fake.streams.runs.length, 0);
});

test('cat failing before any byte: DownloadFailed with its stderr', async () => {
  const fake = setup();
  fake.streams.setProgram('default', 'web-1', 'main', () => ({ stderr: 'cat: /nope: No such file or directory\n', exitCode: 1 }));
  const r = await run(fake, { file: '/nope' });
  assert.deepEqual([r.status, r.reason], ['failure', 'DownloadFailed']);
  assert.equal(r.artifact, undefined);
  assert.match(r.message, /cat exited 1: cat: \/nope: No such file or directory$/);
});

test('cat failing after some bytes breaks the stream, so nothing partial is stored as complete', async () => {
  const fake = setup();
  fake.streams.setProgram('default', 'web-1', 'main', () => ({ stdout: 'partial', stderr: 'cat: read error: Input/output error', exitCode: 1 }));
  const r = await run(fake, { file: '/broken' });
  assert.equal(r.reason, 'Downloaded');
  await assert.rejects(bytes(r), /cat exited 1: cat: read error/);
});

test('the size cap: maxBytes and one byte more are passed (so the output says truncated), then the session is closed', async () => {
  const fake = setup();
  let closed = false;
  fake.streams.setProgram('default', 'web-1', 'main', ({ signal }) => {
    signal.addEventListener('abort', () => (closed = true));
    return { stdout: Array.from({ length: 50 }, () => Buffer.alloc(10_000, 7)), hang: true };
  });
  const r = await run(fake, { file: '/big', maxBytes: 25_000 });
  assert.equal(r.artifact?.maxBytes, 25_000);
  const got = await bytes(r);
  assert.equal(got.length, 25_001);
  assert.ok(closed, 'the exec session was closed');
});

test('a consumer that stops reading closes the session', async () => {
  const fake = setup();
  let closed = false;
  fake.streams.setProgram('default', 'web-1', 'main', ({ signal }) => {
    signal.addEventListener('abort', () => (closed = true));
    return { stdout: Array.from({ length: 100 }, () => Buffer.alloc(65536, 1)), hang: true };
  });
  const r = await run(fake, { file: '/big' });
  const got = await bytes(r, 100_000);
  assert.ok(got.length >= 100_000);
  await new Promise((res) => setImmediate(res));
  assert.ok(closed);
});

test('artifact names are plain file names, never paths', () => {
  const table: [string, string][] = [
    ['passwd', 'passwd'],
    ['..', 'download'],
    ['.bashrc', '_bashrc'],
    ['a b/c', 'a_b_c'],
    ['', 'download'],
    ['x'.repeat(100), 'x'.repeat(64)],
    [`${'y'.repeat(100)}.pcap`, `${'y'.repeat(59)}.pcap`],
    ['evil\0name', 'evil_name'],
    ['../../etc/passwd', '.._.._etc_passwd'.replace(/^\.\./, '__')],
  ];
  for (const [input, out] of table) assert.equal(safeArtifactName(input), out, input);
  for (const [input] of table) assert.doesNotMatch(safeArtifactName(input), /\/|^\./);
});
