import { test } from 'node:test';
import assert from 'node:assert/strict';
import { falcoEvent } from '../../test/fakes/kube.js';
import { createAjv } from '../api/v1alpha1/validation.js';
import { alertKeyParts, keyStamp, metadataValue, normalisePrefix, objectKey, PREFIX_MAX, PREFIX_PATTERN, safeSegment } from './keys.js';

const T = Date.UTC(2024, 8, 5, 14, 52, 10, 999);
const parts = (over: Partial<Parameters<typeof objectKey>[1]> = {}) => ({ time: T, namespace: 'default', pod: 'web-1', traceId: 'trace-1', artifact: 'tcpdump.pcap', ...over });

/** The key's part after the prefix must be one segment: no '/', not '.'/'..', no control characters. */
function assertUnder(prefix: string, key: string): void {
  assert.ok(key.startsWith(prefix), `${key} starts with ${prefix}`);
  const rest = key.slice(prefix.length);
  assert.ok(rest.length > 0 && !rest.includes('/'), `one segment after the prefix: ${JSON.stringify(rest)}`);
  assert.ok(!rest.startsWith('.'), rest);
  assert.match(rest, /^[A-Za-z0-9._-]+$/);
  assert.ok(Buffer.byteLength(key) <= 1024, `S3/GCS keys are at most 1024 bytes (${Buffer.byteLength(key)})`);
}

test("the key is Talon's layout (time, namespace, pod) plus the trace id, then the artifact name", () => {
  assert.equal(keyStamp(T), '2024-09-05T14-52-10Z');
  assert.equal(objectKey('captures/', parts()), 'captures/2024-09-05T14-52-10Z_default_web-1_trace-1_tcpdump.pcap');
  assert.equal(objectKey('captures', parts()), 'captures/2024-09-05T14-52-10Z_default_web-1_trace-1_tcpdump.pcap', 'a trailing / is added');
  assert.equal(objectKey('', parts({ namespace: undefined, pod: undefined })), '2024-09-05T14-52-10Z_____trace-1_tcpdump.pcap', 'a missing namespace or pod is _');
  assert.equal(objectKey('a/b/', parts({ artifact: 'var/log/app.log' })), 'a/b/2024-09-05T14-52-10Z_default_web-1_trace-1_var_log_app.log', "Talon's / → _");
});

test('whatever the alert and the artifact name hold, the key stays one segment under the prefix', () => {
  const nasty = [
    '../../etc/passwd',
    '/etc/shadow',
    '..',
    '.',
    '',
    'a\u0000b',
    'line\nbreak\r\ttab',
    '..\\..\\windows',
    '%2e%2e%2fetc',
    'ünïcødé/../x',
    'x'.repeat(10_000),
    '/'.repeat(300),
  ];
  for (const prefix of ['', 'talon/', 'a/b/c']) {
    const norm = normalisePrefix(prefix);
    for (const n of nasty) {
      for (const which of ['namespace', 'pod', 'traceId', 'artifact'] as const) {
        assertUnder(norm, objectKey(prefix, parts({ [which]: n })));
      }
    }
  }
  assert.equal(objectKey('p/', parts({ artifact: '../../etc/passwd' })), 'p/2024-09-05T14-52-10Z_default_web-1_trace-1____.._etc_passwd');
  assert.ok(!objectKey('p/', parts({ artifact: 'a\u0000b' })).includes('\u0000'));
  const long = objectKey('p/', parts({ namespace: 'n'.repeat(500), pod: 'p'.repeat(500), traceId: 't'.repeat(500), artifact: 'a'.repeat(5000) }));
  assert.equal(long.length, 'p/'.length + 20 + 1 + 63 + 1 + 63 + 1 + 36 + 1 + 64, 'every component is bounded');
  assert.ok(long.length - 'p/'.length <= 250, 'the name after the prefix is a valid file name');
});

test('a prefix is plain segments only, both in the parameter schema and at store time', () => {
  const validate = createAjv({}).compile({ type: 'string', pattern: PREFIX_PATTERN, maxLength: PREFIX_MAX });
  const good = ['', 'talon', 'talon/', 'a/b/c/', 'captures_2024/x-y.z'];
  const bad = ['../x', '/abs', 'a/../b', 'a//b', '.hidden/', './a', '..', 'a/\u0000', 'a b', 'a\nb', '/', '//', 'x'.repeat(PREFIX_MAX + 1)];
  for (const p of good) {
    assert.equal(validate(p), true, p);
    assert.ok(normalisePrefix(p) === '' || normalisePrefix(p).endsWith('/'), p);
  }
  for (const p of bad) {
    assert.equal(validate(p), false, JSON.stringify(p));
    assert.throws(() => normalisePrefix(p), /is not a relative path of plain names/, JSON.stringify(p));
  }
  assert.throws(() => objectKey('../../up', parts()), /not a relative path/);
});

test("the key's namespace and pod are the alert's pod as target resolution sees it", () => {
  assert.deepEqual(alertKeyParts(falcoEvent({ 'k8s.ns.name': 'shop', 'k8s.pod.name': 'web-1' })), { namespace: 'shop', pod: 'web-1' });
  assert.deepEqual(alertKeyParts(falcoEvent({ 'ka.target.namespace': 'ops', 'ka.target.resource': 'pods', 'ka.target.name': 'db-0' })), { namespace: 'ops', pod: 'db-0' });
  assert.deepEqual(alertKeyParts(falcoEvent({ 'k8s.ns.name': 'shop' })), { namespace: 'shop', pod: undefined });
  assert.deepEqual(alertKeyParts(falcoEvent({})), { namespace: undefined, pod: undefined });
});

test('safe segments and metadata values', () => {
  assert.equal(safeSegment('..', 10), '__');
  assert.equal(safeSegment('', 10), '_');
  assert.equal(safeSegment('a/b\\c d', 10), 'a_b_c_d');
  assert.equal(metadataValue('shop/rule\u0000\nnäme'), 'shop/rule__n_me');
  assert.equal(metadataValue('x'.repeat(1000)).length, 256);
});
