import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { falcoEvent } from '../../../test/fakes/kube.js';
import { artifactFromBuffer } from '../../lib/artifact.js';
import { silentLog, type LogPort } from '../../lib/log.js';
import { OutputRegistry } from '../registry.js';
import { fileCredentials, s3Output } from './s3.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETVALUE';
const KEY_ID = 'AKIAUNITTEST00000001';
let dir = '';
const registry = new OutputRegistry([s3Output]);
const file = (name: string, content: string) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'talon-s3-unit-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const ctx = () => ({
  rule: { namespace: 'shop', name: 'capture' },
  action: 'dump',
  event: falcoEvent({ 'k8s.ns.name': 'shop', 'k8s.pod.name': 'web-1' }),
  signal: new AbortController().signal,
});

test('parameters: bucket, prefix, profile and encryption only — never an endpoint, a region or credentials', () => {
  const ok = registry.validateParams('aws:s3', { bucket: 'forensics' }, 'output.parameters');
  assert.ok(ok.ok);
  assert.deepEqual(ok.params, { bucket: 'forensics', prefix: '', profile: 'default' });
  assert.ok(registry.validateParams('aws:s3', s3Output.example, 'p').ok, 'the example validates');
  for (const [params, why] of [
    [{ bucket: 'forensics', endpoint: 'http://attacker.example' }, /endpoint/],
    [{ bucket: 'forensics', region: 'eu-west-1' }, /region/],
    [{ bucket: 'forensics', accessKeyIdFile: '/etc/passwd' }, /accessKeyIdFile/],
    [{ bucket: 'forensics', prefix: '../../up' }, /prefix/],
    [{ bucket: 'forensics', prefix: '/abs' }, /prefix/],
    [{ bucket: 'forensics', serverSideEncryption: 'none' }, /serverSideEncryption/],
    [{ bucket: 'Bad_Bucket' }, /bucket/],
    [{ bucket: 'forensics', profile: '../x' }, /profile/],
    [{}, /bucket/],
  ] as const) {
    const v = registry.validateParams('aws:s3', params, 'output.parameters');
    assert.equal(v.ok, false, JSON.stringify(params));
    if (!v.ok) assert.match(JSON.stringify(v.errors), why);
  }
});

test('settings: profiles hold endpoint, region, path style and credential files; defaults apply', async () => {
  const id = file('id', `${KEY_ID}\n`);
  const secret = file('secret', `${SECRET}\n`);
  await registry.open({ 'aws:s3': { profiles: { default: {}, minio: { endpoint: 'http://minio.storage:9000', forcePathStyle: true, accessKeyIdFile: id, secretAccessKeyFile: secret } } } }, { log: silentLog });
  await assert.rejects(registry.open({ 'aws:s3': { profiles: { default: { endpoint: 'ftp://x' } } } }, { log: silentLog }), /endpoint/);
  await assert.rejects(registry.open({ 'aws:s3': { profiles: { default: { accessKey: 'inline' } } } }, { log: silentLog }), /unknown field 'accessKey'/);
  await assert.rejects(registry.open({ 'aws:s3': { partSize: 1024 } }, { log: silentLog }), /partSize/);
  await assert.rejects(registry.open({ 'aws:s3': { profiles: { default: { accessKeyIdFile: id } } } }, { log: silentLog }), /accessKeyIdFile and secretAccessKeyFile go together/);
  await assert.rejects(registry.open({ 'aws:s3': { profiles: { default: { sessionTokenFile: id } } } }, { log: silentLog }), /sessionTokenFile needs/);
  await assert.rejects(
    registry.open({ 'aws:s3': { profiles: { default: { accessKeyIdFile: id, secretAccessKeyFile: join(dir, 'missing') } } } }, { log: silentLog }),
    /outputs\.aws:s3: could not start: cannot read secret file .*missing: ENOENT/,
  );
});

test('profile selection happens before any request: unknown profiles, buckets outside the allow-list and a lone kmsKeyId are refused', async () => {
  const store = await registry.open({ 'aws:s3': { profiles: { default: { buckets: ['forensics'] }, other: {} } } }, { log: silentLog });
  const ref = (params: Record<string, unknown>) => {
    const v = registry.validateParams('aws:s3', params, 'p');
    if (!v.ok) assert.fail(JSON.stringify(v.errors));
    return { target: 'aws:s3', parameters: v.params };
  };
  const art = () => artifactFromBuffer('a.txt', 'text/plain', Buffer.from('x'));
  await assert.rejects(store.store(ref({ bucket: 'forensics', profile: 'prod' }), art(), ctx()), /no profile 'prod' in outputs\["aws:s3"\]\.profiles \(known: default, other\)/);
  await assert.rejects(store.store(ref({ bucket: 'elsewhere' }), art(), ctx()), /bucket 'elsewhere' is not among the buckets profile 'default' allows/);
  await assert.rejects(store.store(ref({ bucket: 'forensics', kmsKeyId: 'k' }), art(), ctx()), /kmsKeyId needs serverSideEncryption: aws:kms/);
  const none = await registry.open({}, { log: silentLog });
  await assert.rejects(none.store(ref({ bucket: 'forensics' }), art(), ctx()), /no profile 'default' .*none configured/);
});

test('secrets never print: not in the started state, the logs, nor the errors', async () => {
  const lines: string[] = [];
  const log: LogPort = {
    debug: (m, f) => lines.push(`${m} ${inspect(f)}`),
    info: (m, f) => lines.push(`${m} ${inspect(f)}`),
    warn: (m, f) => lines.push(`${m} ${inspect(f)}`),
    error: (m, f) => lines.push(`${m} ${inspect(f)}`),
  };
  const id = file('id2', KEY_ID);
  const secret = file('secret2', SECRET);
  const profile = { endpoint: 'http://127.0.0.1:9', forcePathStyle: true, accessKeyIdFile: id, secretAccessKeyFile: secret };
  const state = await s3Output.init!({ maxBytes: 10, partSize: 5 * 1024 * 1024, queueSize: 1, profiles: { default: { region: 'us-east-1', buckets: [], ...profile } } }, { log });
  assert.ok(lines.length > 0, 'the profile is logged');
  const text = [inspect(state, { depth: 8 }), ...lines].join('\n');
  assert.ok(!text.includes(SECRET), 'the secret access key appears nowhere');
  const provider = fileCredentials('default', { region: 'x', buckets: [], ...profile }, () => 0);
  const creds = await provider!();
  assert.equal(creds.secretAccessKey, SECRET, 'the provider does read it');
  assert.equal(creds.expiration.getTime(), 5 * 60 * 1000, 'and is re-read after five minutes');
  // A request that fails (nothing listens on port 9) names the object, not the credentials.
  const store = await registry.open({ 'aws:s3': { profiles: { default: profile } } }, { log: silentLog });
  const v = registry.validateParams('aws:s3', { bucket: 'forensics' }, 'p');
  assert.ok(v.ok);
  const err = await store.store({ target: 'aws:s3', parameters: v.params }, artifactFromBuffer('a', 'x', Buffer.from('x')), ctx()).then(() => assert.fail('stored'), (e: unknown) => e as Error);
  assert.match(err.message, /^s3:\/\/forensics\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ_shop_web-1_trace-\d+_a: /);
  assert.ok(!inspect(err, { depth: 8 }).includes(SECRET));
});
