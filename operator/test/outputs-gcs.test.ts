/**
 * gcp:gcs through the outputs registry against a loopback server speaking the GCS JSON upload
 * API (peers/gcs.ts, the client's `apiEndpoint`); objects are read back through the real
 * `@google-cloud/storage` client.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Storage } from '@google-cloud/storage';
import { falcoEvent } from './fakes/kube.js';
import { startGcsServer, type GcsServer } from './peers/gcs.js';
import { silentLog } from '../src/lib/log.js';
import { OutputRegistry } from '../src/outputs/registry.js';
import { builtinOutputs } from '../src/outputs/index.js';
import type { ArtifactStore, OutputRef } from '../src/outputs/types.js';

const BUCKET = 'forensics';
let gcs: GcsServer;
let store: ArtifactStore;
let client: Storage;
const registry = new OutputRegistry(builtinOutputs());

before(async () => {
  gcs = await startGcsServer({ buckets: [BUCKET] });
  const profile = { apiEndpoint: gcs.endpoint, useAuthWithCustomEndpoint: false, projectId: 'talon-test' };
  store = await registry.open({ 'gcp:gcs': { maxBytes: 4 * 1024 * 1024, profiles: { default: profile } } }, { log: silentLog, now: () => Date.UTC(2024, 0, 2, 3, 4, 5) });
  client = new Storage(profile);
});
after(async () => gcs?.stop());

const ref = (params: Record<string, unknown>): OutputRef => {
  const v = registry.validateParams('gcp:gcs', params, 'output.parameters');
  if (!v.ok) assert.fail(JSON.stringify(v.errors));
  return { target: 'gcp:gcs', parameters: v.params };
};
const ctx = (fields: Record<string, string> = { 'k8s.ns.name': 'shop', 'k8s.pod.name': 'web-1' }, signal = new AbortController().signal) => ({
  rule: { namespace: '', name: 'cluster-capture' },
  action: 'dump',
  event: falcoEvent(fields, { traceId: 'trace-gcs' }),
  signal,
});
const nameOf = (location: string) => {
  assert.ok(location.startsWith(`gs://${BUCKET}/`), location);
  return location.slice(`gs://${BUCKET}/`.length);
};
const chunks = (size: number, piece = 100_000): Buffer[] => {
  const out: Buffer[] = [];
  for (let at = 0; at < size; at += piece) out.push(Buffer.from(Array.from({ length: Math.min(piece, size - at) }, (_, i) => (at + i) % 251)));
  return out;
};

test('a streamed artifact is stored under the prefix and reads back byte for byte through the client', async () => {
  for (const size of [0, 17, 3 * 1024 * 1024 + 1]) {
    const parts = chunks(size);
    const loc = await store.store(ref({ bucket: BUCKET, prefix: 'talon/logs' }), { name: `app-${size}.log`, contentType: 'text/plain', stream: Readable.from(parts), maxBytes: 1e9 }, ctx());
    assert.deepEqual({ ...loc, location: '' }, { output: 'gcp:gcs', location: '', bytes: size, truncated: false });
    const name = nameOf(loc.location);
    assert.match(name, /^talon\/logs\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ_shop_web-1_trace-gcs_app-\d+\.log$/);
    const [back] = await client.bucket(BUCKET).file(name).download();
    assert.equal(createHash('sha256').update(back).digest('hex'), createHash('sha256').update(Buffer.concat(parts)).digest('hex'), `${size} bytes`);
    const [meta] = await client.bucket(BUCKET).file(name).getMetadata();
    assert.equal(meta.contentType, 'text/plain');
    assert.deepEqual(meta.metadata, { 'talon-rule': 'cluster-capture', 'talon-action': 'dump', 'talon-trace-id': 'trace-gcs' });
  }
  assert.ok(gcs.requests.some((r) => r.method === 'POST' && /uploadType=multipart/.test(r.path) && /ifGenerationMatch=0/.test(r.path)), 'a streamed upload that never overwrites');
  const again = (await Promise.allSettled([0, 1].map(() => store.store(ref({ bucket: BUCKET }), { name: 'same', contentType: 'x', stream: Readable.from([Buffer.from('x')]), maxBytes: 10 }, ctx())))).map((r) => r.status);
  assert.deepEqual(again.sort(), ['fulfilled', 'rejected'], 'the same key twice: the second is refused, not overwritten');
});

test('traversal in the artifact name and in alert fields stays under the prefix', async () => {
  const before = new Set(gcs.keys());
  const attempts: [string, Record<string, string>][] = [
    ['../../etc/passwd', { 'k8s.ns.name': 'shop', 'k8s.pod.name': 'web-1' }],
    ['/etc/shadow', { 'k8s.ns.name': '../..', 'k8s.pod.name': '../../../root' }],
    ['a\u0000b/../../c', { 'k8s.ns.name': '/abs', 'k8s.pod.name': 'x\u0000/../y' }],
    ['x'.repeat(4000), { 'k8s.ns.name': 'n'.repeat(300), 'k8s.pod.name': '\n\r\t..' }],
  ];
  for (const [name, fields] of attempts) {
    await store.store(ref({ bucket: BUCKET, prefix: 'jail/' }), { name, contentType: 'text/plain', stream: Readable.from([Buffer.from('x')]), maxBytes: 10 }, ctx(fields));
  }
  const added = gcs.keys().filter((k) => !before.has(k));
  assert.equal(added.length, attempts.length);
  for (const k of added) {
    const name = k.slice(`${BUCKET}/`.length);
    assert.ok(name.startsWith('jail/') && !name.slice(5).includes('/') && /^[A-Za-z0-9._-]+$/.test(name.slice(5)), JSON.stringify(name));
  }
  const unchecked: OutputRef = { target: 'gcp:gcs', parameters: { bucket: BUCKET, prefix: '/etc/', profile: 'default' } };
  await assert.rejects(store.store(unchecked, { name: 'a', contentType: 'x', stream: Readable.from([Buffer.from('x')]), maxBytes: 10 }, ctx()), /not a relative path of plain names/);
});

test('the size cap holds while streaming; a failed or aborted upload stores nothing', async () => {
  const endless = new Readable({
    read() {
      this.push(Buffer.alloc(64 * 1024, 0x62));
    },
  });
  const loc = await store.store(ref({ bucket: BUCKET }), { name: 'endless', contentType: 'x', stream: endless, maxBytes: 1e12 }, ctx());
  assert.deepEqual([loc.bytes, loc.truncated], [4 * 1024 * 1024, true], "the output's own maxBytes");
  assert.equal(gcs.objects.get(`${BUCKET}/${nameOf(loc.location)}`)?.bytes.length, 4 * 1024 * 1024);
  assert.ok(endless.destroyed);

  const before = gcs.keys();
  const failing = Readable.from((async function* () {
    yield Buffer.alloc(100_000, 1);
    throw new Error('exec session lost');
  })());
  await assert.rejects(store.store(ref({ bucket: BUCKET, prefix: 'broken/' }), { name: 'dump', contentType: 'x', stream: failing, maxBytes: 1e9 }, ctx()), /exec session lost/);
  const ac = new AbortController();
  const stalled = new Readable({ read() {} });
  stalled.push(Buffer.alloc(100_000, 3));
  const pending = store.store(ref({ bucket: BUCKET, prefix: 'broken/' }), { name: 'stall', contentType: 'x', stream: stalled, maxBytes: 1e9 }, ctx(undefined, ac.signal));
  setTimeout(() => ac.abort(new Error('the action did not finish within 5s')), 100);
  await assert.rejects(pending, /did not finish within 5s/);
  assert.ok(stalled.destroyed);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(gcs.keys(), before, 'nothing was stored');
  await assert.rejects(store.store(ref({ bucket: 'missing-bucket' }), { name: 'a', contentType: 'x', stream: Readable.from([Buffer.from('x')]), maxBytes: 10 }, ctx()), /^Error: gs:\/\/missing-bucket\/.*not found/);
});
