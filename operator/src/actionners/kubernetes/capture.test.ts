import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod, V1Status } from '@kubernetes/client-node';
import { FakeCaptureKube, runningEphemeral } from '../../../test/fakes/capture.js';
import { exitCodeOf, streamCommand, uniqueCaptureName, waitForRunning, type ExecRequest } from './capture.js';

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const REQ: ExecRequest = { namespace: 'ns', pod: 'p', container: 'c', command: ['tcpdump', '-w', '-'] };
const signal = new AbortController().signal;

test('unique capture names: DNS labels, never twice the same', () => {
  const names = new Set(Array.from({ length: 1000 }, () => uniqueCaptureName('talon-tcpdump')));
  assert.equal(names.size, 1000);
  for (const n of names) assert.match(n, /^talon-tcpdump-[0-9a-f]{10}$/);
});

test('exit codes from the exec status channel', () => {
  assert.equal(exitCodeOf({ status: 'Success' } as V1Status), 0);
  assert.equal(exitCodeOf({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '124' }] } } as V1Status), 124);
  assert.equal(exitCodeOf({ status: 'Failure', message: 'container not found' } as V1Status), undefined);
});

test('streamCommand carries every byte, in order, binary-safe', async () => {
  const fake = new FakeCaptureKube();
  const bytes = [Buffer.from([0xd4, 0xc3, 0xb2, 0xa1, 0x0d, 0x0a]), Buffer.from([0x00, 0xff, 0x0a, 0x0d]), Buffer.alloc(70_000, 0xab)];
  fake.scripts.set('tcpdump', { chunks: bytes, exitCode: 124 });
  const closed: string[] = [];
  const a = await streamCommand(fake, REQ, { name: 'x.pcap', contentType: 'application/vnd.tcpdump.pcap', maxBytes: 1 << 20, signal, onClose: () => closed.push('x') });
  assert.deepEqual(await readAll(a.stream), Buffer.concat(bytes));
  assert.equal(a.maxBytes, 1 << 20);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(closed, ['x'], 'onClose runs once');
  assert.deepEqual(fake.execs[0]?.command, ['tcpdump', '-w', '-']);
});

test('streamCommand: a slow reader pauses the connection and loses nothing', async () => {
  const fake = new FakeCaptureKube();
  const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(64 * 1024, i));
  fake.scripts.set('tcpdump', { chunks, exitCode: 0 });
  const a = await streamCommand(fake, REQ, { name: 'x', contentType: 'x', maxBytes: 1 << 30, signal });
  await new Promise((r) => setTimeout(r, 50)); // nobody reads yet: the buffer fills and the session pauses
  assert.ok(fake.pauses >= 1, 'paused while nobody read');
  assert.deepEqual(await readAll(a.stream), Buffer.concat(chunks));
});

test('streamCommand cuts the artifact at maxBytes', async () => {
  const fake = new FakeCaptureKube();
  fake.scripts.set('tcpdump', { chunks: [Buffer.alloc(3000, 1), Buffer.alloc(3000, 2), Buffer.alloc(3000, 3)], exitCode: 0 });
  const a = await streamCommand(fake, REQ, { name: 'x', contentType: 'x', maxBytes: 4096, signal });
  const got = await readAll(a.stream);
  assert.equal(got.length, 4096);
  assert.deepEqual(got.subarray(2990, 3010), Buffer.concat([Buffer.alloc(10, 1), Buffer.alloc(10, 2)]));
});

test('streamCommand: an error exit or a broken connection destroys the stream with the reason', async () => {
  const fake = new FakeCaptureKube();
  fake.scripts.set('tcpdump', { chunks: [Buffer.from('abc')], exitCode: 1, stderr: 'tcpdump: any: You don\'t have permission to capture on that device' });
  const a = await streamCommand(fake, REQ, { name: 'x', contentType: 'x', maxBytes: 4096, signal });
  await assert.rejects(readAll(a.stream), /'tcpdump' exited with code 1: tcpdump: any: You don't have permission/);
  fake.scripts.set('tcpdump', { chunks: [Buffer.from('abc')], connectionError: 'the connection closed before the command ended' });
  const b = await streamCommand(fake, REQ, { name: 'x', contentType: 'x', maxBytes: 4096, signal });
  await assert.rejects(readAll(b.stream), /closed before the command ended/);
  fake.scripts.set('tcpdump', { statusMessage: 'error executing command in container: exit status 2', stderr: 'oops' });
  const c = await streamCommand(fake, REQ, { name: 'x', contentType: 'x', maxBytes: 4096, signal });
  await assert.rejects(readAll(c.stream), /^Error: 'tcpdump' failed \(error executing command in container: exit status 2\): oops$/);
  fake.scripts.set('tcpdump', { refuse: 'container not found' });
  await assert.rejects(streamCommand(fake, REQ, { name: 'x', contentType: 'x', maxBytes: 4096, signal }), /container not found/);
});

test('waitForRunning: running, ended early on a fatal wait, or timed out', async () => {
  const fake = new FakeCaptureKube();
  const pod: V1Pod = { metadata: { namespace: 'ns', name: 'p' }, spec: { containers: [{ name: 'main' }] }, status: {} };
  fake.addPod(pod);
  const t = await waitForRunning(fake, 'ns', 'p', 'e1', { ephemeral: true, timeoutMs: 30, pollMs: 10, signal });
  assert.equal(t.state, 'timeout');
  assert.match(t.state === 'timeout' ? t.message : '', /did not start within 0 s \(no status reported yet\)/);
  fake.pod('ns', 'p')!.status = { ephemeralContainerStatuses: [{ name: 'e1', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff', message: 'back-off pulling image "nope"' } } }] };
  const e = await waitForRunning(fake, 'ns', 'p', 'e1', { ephemeral: true, timeoutMs: 5000, pollMs: 10, signal });
  assert.deepEqual(e, { state: 'ended', message: 'waiting: ImagePullBackOff (back-off pulling image "nope")' });
  runningEphemeral(fake.pod('ns', 'p')!, 'e2');
  assert.equal((await waitForRunning(fake, 'ns', 'p', 'e2', { ephemeral: true, timeoutMs: 5000, pollMs: 10, signal })).state, 'running');
  // A regular container of that name does not count as the ephemeral one, and vice versa.
  assert.equal((await waitForRunning(fake, 'ns', 'p', 'e2', { ephemeral: false, timeoutMs: 20, pollMs: 10, signal })).state, 'timeout');
});
