import { test } from 'node:test';
import assert from 'node:assert/strict';
import { falcoEvent } from '../../../test/fakes/kube.js';
import { artifactFromBuffer } from '../../lib/artifact.js';
import { silentLog } from '../../lib/log.js';
import { OutputRegistry } from '../registry.js';
import { gcsOutput } from './gcs.js';

const registry = new OutputRegistry([gcsOutput]);
const ctx = () => ({ rule: { namespace: 'shop', name: 'capture' }, action: 'dump', event: falcoEvent({}), signal: new AbortController().signal });

test('parameters: bucket, prefix and profile only — never a project, an endpoint or credentials', () => {
  const ok = registry.validateParams('gcp:gcs', { bucket: 'forensics' }, 'output.parameters');
  assert.ok(ok.ok);
  assert.deepEqual(ok.params, { bucket: 'forensics', prefix: '', profile: 'default' });
  assert.ok(registry.validateParams('gcp:gcs', gcsOutput.example, 'p').ok, 'the example validates');
  for (const params of [
    { bucket: 'forensics', apiEndpoint: 'http://attacker.example' },
    { bucket: 'forensics', credentialsFile: '/var/run/secrets/x' },
    { bucket: 'forensics', projectId: 'other' },
    { bucket: 'forensics', prefix: '../up' },
    { bucket: 'forensics', prefix: 'a/\u0000' },
    { bucket: 'UPPER' },
    {},
  ]) assert.equal(registry.validateParams('gcp:gcs', params, 'p').ok, false, JSON.stringify(params));
});

test('settings and profile selection: unknown profiles and buckets outside the allow-list are refused before any request', async () => {
  await assert.rejects(registry.open({ 'gcp:gcs': { profiles: { default: { apiEndpoint: 'gs://x' } } } }, { log: silentLog }), /apiEndpoint/);
  await assert.rejects(registry.open({ 'gcp:gcs': { profiles: { default: { credentials: '{}' } } } }, { log: silentLog }), /unknown field 'credentials'/);
  const store = await registry.open({ 'gcp:gcs': { profiles: { default: { apiEndpoint: 'http://127.0.0.1:9', useAuthWithCustomEndpoint: false, buckets: ['forensics'] } } } }, { log: silentLog });
  const ref = (params: Record<string, unknown>) => {
    const v = registry.validateParams('gcp:gcs', params, 'p');
    if (!v.ok) assert.fail(JSON.stringify(v.errors));
    return { target: 'gcp:gcs', parameters: v.params };
  };
  const art = () => artifactFromBuffer('a.txt', 'text/plain', Buffer.from('x'));
  await assert.rejects(store.store(ref({ bucket: 'forensics', profile: 'prod' }), art(), ctx()), /no profile 'prod' in outputs\["gcp:gcs"\]\.profiles \(known: default\)/);
  await assert.rejects(store.store(ref({ bucket: 'elsewhere' }), art(), ctx()), /bucket 'elsewhere' is not among the buckets profile 'default' allows/);
  await assert.rejects(store.store(ref({ bucket: 'forensics' }), art(), ctx()), /^Error: gs:\/\/forensics\/\d{4}-.*_a\.txt: /, 'a failed request names the object');
});
