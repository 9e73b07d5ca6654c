/**
 * aws:s3 against a real S3-compatible server (gofakes3, built by `e2e/cluster/build.sh
 * gofakes3`; missing = FAIL, never skip), through the outputs registry as the dispatcher uses
 * it; objects are read back with the S3 client and requests' SigV4 signatures checked.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { falcoEvent } from './fakes/kube.js';
import { startS3Server, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, type S3Server } from './peers/s3.js';
import { silentLog } from '../src/lib/log.js';
import { OutputRegistry } from '../src/outputs/registry.js';
import { builtinOutputs } from '../src/outputs/index.js';
import { loadConfig } from '../src/config/load.js';
import { pluginSchemas } from '../src/main.js';
import type { Artifact, ArtifactStore, OutputRef } from '../src/outputs/types.js';

const BUCKET = 'forensics';
const OTHER_KEY_ID = 'AKIATALONOTHERPROFILE';
let s3: S3Server;
let dir = '';
let store: ArtifactStore;
const registry = new OutputRegistry(builtinOutputs());

before(async () => {
  s3 = await startS3Server({ buckets: [BUCKET, 'other'] });
  dir = mkdtempSync(join(tmpdir(), 'talon-s3-it-'));
  const f = (name: string, value: string) => {
    writeFileSync(join(dir, name), `${value}\n`);
    return join(dir, name);
  };
  const { accessKeyIdFile, secretAccessKeyFile, ...common } = s3.profile(dir);
  store = await registry.open(
    {
      'aws:s3': {
        maxBytes: 20 * 1024 * 1024,
        partSize: 5 * 1024 * 1024,
        profiles: {
          default: { ...common, accessKeyIdFile, secretAccessKeyFile },
          other: { ...common, accessKeyIdFile: f('id2', OTHER_KEY_ID), secretAccessKeyFile: f('secret2', 'another-secret'), buckets: ['other'] },
        },
      },
    },
    { log: silentLog },
  );
});
after(async () => {
  await s3?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const ref = (params: Record<string, unknown>): OutputRef => {
  const v = registry.validateParams('aws:s3', params, 'output.parameters');
  if (!v.ok) assert.fail(JSON.stringify(v.errors));
  return { target: 'aws:s3', parameters: v.params };
};
const ctx = (fields: Record<string, string> = { 'k8s.ns.name': 'shop', 'k8s.pod.name': 'web-1' }, signal = new AbortController().signal) => ({
  rule: { namespace: 'shop', name: 'capture' },
  action: 'dump',
  event: falcoEvent(fields, { traceId: 'trace-s3' }),
  signal,
});

/** A deterministic stream of `total` bytes in `chunk`-sized pieces, generated (never held whole), and its sha256. */
function generated(total: number, chunk = 64 * 1024): { stream: Readable; sha256: () => string } {
  const hash = createHash('sha256');
  let sent = 0;
  const stream = new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(chunk, total - sent);
      const buf = Buffer.alloc(n);
      for (let i = 0; i + 4 <= n; i += 4) buf.writeUInt32LE((sent + i) >>> 0, i);
      for (let i = n - (n % 4); i < n; i++) buf[i] = (sent + i) & 0xff;
      sent += n;
      hash.update(buf);
      this.push(buf);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}
const keyOf = (location: string, bucket = BUCKET) => {
  assert.ok(location.startsWith(`s3://${bucket}/`), location);
  return location.slice(`s3://${bucket}/`.length);
};

test('a streamed artifact is stored under the prefix and reads back byte for byte (single PUT and multipart)', async () => {
  for (const size of [0, 1000, 12 * 1024 * 1024 + 7]) {
    const g = generated(size);
    const art: Artifact = { name: 'capture.pcap', contentType: 'application/vnd.tcpdump.pcap', stream: g.stream, maxBytes: 100 * 1024 * 1024 };
    const loc = await store.store(ref({ bucket: BUCKET, prefix: 'talon/captures/' }), art, ctx());
    assert.deepEqual({ ...loc, location: '' }, { output: 'aws:s3', location: '', bytes: size, truncated: false });
    const key = keyOf(loc.location);
    assert.match(key, /^talon\/captures\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ_shop_web-1_trace-s3_capture\.pcap$/);
    const back = await s3.getObject(BUCKET, key);
    assert.equal(back.length, size);
    assert.equal(createHash('sha256').update(back).digest('hex'), g.sha256(), `${size} bytes read back identical`);
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    assert.equal(head.ContentType, 'application/vnd.tcpdump.pcap');
    assert.deepEqual(head.Metadata, { 'talon-rule': 'shop/capture', 'talon-action': 'dump', 'talon-trace-id': 'trace-s3' });
  }
  assert.equal(await s3.pendingUploads(BUCKET), 0);
});

test('every request is SigV4-signed with the profile’s key id, and the action picks the profile by name', async () => {
  s3.requests.length = 0;
  await store.store(ref({ bucket: BUCKET }), { name: 'a.txt', contentType: 'text/plain', stream: Readable.from([Buffer.from('hello')]), maxBytes: 100 }, ctx());
  await store.store(ref({ bucket: 'other', profile: 'other' }), { name: 'b.txt', contentType: 'text/plain', stream: Readable.from([Buffer.from('world')]), maxBytes: 100 }, ctx());
  const auth = s3.requests.map((r) => [r.path.split('/')[1], r.authorization]);
  assert.equal(auth.length, 2);
  assert.equal(auth[0]![0], BUCKET);
  assert.match(auth[0]![1] ?? '', new RegExp(`^AWS4-HMAC-SHA256 Credential=${TEST_ACCESS_KEY_ID}/\\d{8}/us-east-1/s3/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$`));
  assert.equal(auth[1]![0], 'other');
  assert.match(auth[1]![1] ?? '', new RegExp(`^AWS4-HMAC-SHA256 Credential=${OTHER_KEY_ID}/`));
  assert.ok(!s3.requests.some((r) => JSON.stringify(r).includes(TEST_SECRET_ACCESS_KEY)), 'the secret itself is never sent');
});

test('traversal in the artifact name and in alert fields stays under the prefix', async () => {
  const before = new Set(await s3.listKeys(BUCKET));
  const attempts: [string, Record<string, string>][] = [
    ['../../etc/passwd', { 'k8s.ns.name': 'shop', 'k8s.pod.name': 'web-1' }],
    ['/etc/shadow', { 'k8s.ns.name': '../..', 'k8s.pod.name': '../../../root' }],
    ['a\u0000b/../../c', { 'k8s.ns.name': '/abs', 'k8s.pod.name': 'x\u0000/../y' }],
    ['x'.repeat(4000), { 'k8s.ns.name': 'n'.repeat(300), 'k8s.pod.name': '\n\r\t..' }],
  ];
  for (const [name, fields] of attempts) {
    const loc = await store.store(ref({ bucket: BUCKET, prefix: 'jail/' }), { name, contentType: 'text/plain', stream: Readable.from([Buffer.from('x')]), maxBytes: 10 }, ctx(fields));
    const key = keyOf(loc.location);
    assert.ok(key.startsWith('jail/') && !key.slice('jail/'.length).includes('/'), key);
  }
  const added = (await s3.listKeys(BUCKET)).filter((k) => !before.has(k));
  assert.equal(added.length, attempts.length);
  assert.ok(added.every((k) => k.startsWith('jail/') && !k.slice(5).includes('/') && !k.includes('\u0000')), added.join('\n'));
  // A prefix that skipped validation is still refused, before any request.
  const unchecked: OutputRef = { target: 'aws:s3', parameters: { bucket: BUCKET, prefix: '../escape/', profile: 'default' } };
  await assert.rejects(store.store(unchecked, { name: 'a', contentType: 'x', stream: Readable.from([Buffer.from('x')]), maxBytes: 10 }, ctx()), /not a relative path of plain names/);
});

test('the size cap holds while streaming: the object has exactly the cap, the location says truncated', async () => {
  const pulled = { n: 0 };
  const endless = new Readable({
    read() {
      pulled.n += 1;
      this.push(Buffer.alloc(64 * 1024, 0x61));
    },
  });
  const loc = await store.store(ref({ bucket: BUCKET }), { name: 'endless.bin', contentType: 'application/octet-stream', stream: endless, maxBytes: 6 * 1024 * 1024 + 3 }, ctx());
  assert.deepEqual([loc.bytes, loc.truncated], [6 * 1024 * 1024 + 3, true]);
  assert.equal((await s3.getObject(BUCKET, keyOf(loc.location))).length, 6 * 1024 * 1024 + 3);
  assert.ok(pulled.n < 200, `read ${pulled.n} chunks of an endless stream`);
  assert.ok(endless.destroyed);
  const own = await store.store(ref({ bucket: BUCKET }), { name: 'big.bin', contentType: 'x', stream: generated(21 * 1024 * 1024).stream, maxBytes: 1e12 }, ctx());
  assert.deepEqual([own.bytes, own.truncated], [20 * 1024 * 1024, true], "the output's own maxBytes");
});

test('a failing or aborted stream leaves no object and no multipart upload behind', async () => {
  const before = await s3.listKeys(BUCKET);
  const failing = Readable.from((async function* () {
    yield Buffer.alloc(6 * 1024 * 1024, 1); // more than a part: the multipart upload has begun
    yield Buffer.alloc(1024, 2);
    throw new Error('exec session lost');
  })());
  await assert.rejects(store.store(ref({ bucket: BUCKET, prefix: 'broken/' }), { name: 'dump', contentType: 'x', stream: failing, maxBytes: 1e9 }, ctx()), /exec session lost/);

  const ac = new AbortController();
  const stalled = new Readable({ read() {} });
  stalled.push(Buffer.alloc(6 * 1024 * 1024, 3));
  const pending = store.store(ref({ bucket: BUCKET, prefix: 'broken/' }), { name: 'stall', contentType: 'x', stream: stalled, maxBytes: 1e9 }, ctx(undefined, ac.signal));
  // Abort once the first part is on its way (the multipart upload exists).
  for (let i = 0; i < 200 && !s3.requests.some((r) => r.path.includes('partNumber=1') && r.path.includes('stall')); i++) await new Promise((r) => setTimeout(r, 25));
  ac.abort(new Error('the action did not finish within 5s'));
  await assert.rejects(pending, /did not finish within 5s/);
  assert.ok(stalled.destroyed);
  assert.deepEqual(await s3.listKeys(BUCKET), before, 'no object was added');
  assert.equal(await s3.pendingUploads(BUCKET), 0, 'the multipart uploads were aborted');
  assert.ok(s3.requests.some((r) => r.method === 'DELETE' && r.path.includes('uploadId=')), 'AbortMultipartUpload was sent');

  await assert.rejects(store.store(ref({ bucket: 'no-such-bucket' }), { name: 'a', contentType: 'x', stream: Readable.from([Buffer.from('x')]), maxBytes: 10 }, ctx()), /^Error: s3:\/\/no-such-bucket\/.*: /);
});

test('an operator config file with profiles loads (defaults applied) and drives the store; bad profiles are refused at start', async () => {
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    [
      'auth: {mode: none}',
      'outputs:',
      '  aws:s3:',
      '    profiles:',
      '      minio:',
      `        endpoint: "${s3.endpoint}"`,
      '        forcePathStyle: true',
      `        accessKeyIdFile: ${join(dir, 'gofakes3-access-key-id')}`,
      `        secretAccessKeyFile: ${join(dir, 'gofakes3-secret-access-key')}`,
      '',
    ].join('\n'),
  );
  const loaded = loadConfig({ file, env: {}, plugins: pluginSchemas() });
  if (!loaded.ok) assert.fail(loaded.errors.join('\n'));
  const settings = loaded.config.outputs['aws:s3'] as { profiles: Record<string, unknown>; partSize: number; queueSize: number; maxBytes: number };
  assert.deepEqual(settings.profiles.minio, { endpoint: s3.endpoint, forcePathStyle: true, accessKeyIdFile: join(dir, 'gofakes3-access-key-id'), secretAccessKeyFile: join(dir, 'gofakes3-secret-access-key'), region: 'us-east-1', buckets: [] });
  assert.deepEqual([settings.partSize, settings.queueSize, settings.maxBytes], [8 * 1024 * 1024, 1, 1024 * 1024 * 1024]);
  const fromFile = await registry.open(loaded.config.outputs, { log: silentLog });
  const loc = await fromFile.store(ref({ bucket: BUCKET, profile: 'minio' }), { name: 'c.txt', contentType: 'text/plain', stream: Readable.from([Buffer.from('from the config file')]), maxBytes: 100 }, ctx());
  assert.equal((await s3.getObject(BUCKET, keyOf(loc.location))).toString(), 'from the config file');

  writeFileSync(file, 'outputs:\n  aws:s3:\n    profiles:\n      Bad_Name: {}\n      default: {endpoint: "not a url", secretAccessKey: inline}\n');
  const bad = loadConfig({ file, env: {}, plugins: pluginSchemas() });
  assert.equal(bad.ok, false);
  const text = !bad.ok ? bad.errors.join('\n') : '';
  assert.match(text, /Bad_Name/);
  assert.match(text, /endpoint/);
  assert.match(text, /secretAccessKey/);
});
