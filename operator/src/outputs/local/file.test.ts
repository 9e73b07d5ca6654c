import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { falcoEvent } from '../../../test/fakes/kube.js';
import { artifactFromBuffer, type Artifact } from '../../lib/artifact.js';
import { silentLog } from '../../lib/log.js';
import { OutputRegistry } from '../registry.js';
import type { ArtifactStore, OutputRef } from '../types.js';
import { localFileOutput, safeSegment } from './file.js';

let root = '';
let base = '';
let store: ArtifactStore;
const NOW = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
const registry = new OutputRegistry([localFileOutput]);

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'talon-local-file-'));
  base = join(root, 'artifacts');
  store = await registry.open({ 'local:file': { directory: base, maxBytes: 1000 } }, { log: silentLog, now: () => NOW });
});
after(() => rmSync(root, { recursive: true, force: true }));

const ref = (params: Record<string, unknown> = {}): OutputRef => {
  const v = registry.validateParams('local:file', params, 'output.parameters');
  if (!v.ok) assert.fail(JSON.stringify(v.errors));
  return { target: 'local:file', parameters: v.params };
};
const ctx = (over: { namespace?: string; rule?: string; action?: string; signal?: AbortSignal } = {}) => ({
  rule: { namespace: over.namespace ?? 'shop', name: over.rule ?? 'capture-shells' },
  action: over.action ?? 'tcpdump',
  event: falcoEvent({}, { traceId: 'trace-1' }),
  signal: over.signal ?? new AbortController().signal,
});

/** A stream of `chunks` chunks of `size` bytes of `fill`, counting how many were pulled. */
function counting(chunks: number, size: number, fill = 'x') {
  const state = { pulled: 0, destroyed: false };
  const stream = new Readable({
    highWaterMark: size,
    read() {
      if (state.pulled === chunks) this.push(null);
      else {
        state.pulled += 1;
        this.push(Buffer.alloc(size, fill));
      }
    },
    destroy(err, cb) {
      state.destroyed = true;
      cb(err);
    },
  });
  return { state, stream };
}

test('writes the artifact under <base>/<namespace>/<path>, named from time, rule, action, trace id and artifact name', async () => {
  const loc = await store.store(ref({ path: 'captures/shells' }), artifactFromBuffer('capture.pcap', 'application/vnd.tcpdump.pcap', Buffer.from('pcap-bytes')), ctx());
  assert.equal(relative(base, loc.location), join('shop', 'captures', 'shells', '20240102T030405.678Z_capture-shells_tcpdump_trace-1_capture.pcap'));
  assert.deepEqual({ ...loc, location: '' }, { output: 'local:file', location: '', bytes: 10, truncated: false });
  assert.equal(readFileSync(loc.location, 'utf8'), 'pcap-bytes');
  assert.equal(statSync(loc.location).mode & 0o777, 0o600);
  assert.equal(statSync(join(base, 'shop')).mode & 0o777, 0o700);

  const cluster = await store.store(ref(), artifactFromBuffer('log.txt', 'text/plain', Buffer.from('x')), ctx({ namespace: '' }));
  assert.equal(relative(base, cluster.location).split('/')[0], '_cluster');
  const again = await store.store(ref({ path: 'captures/shells' }), artifactFromBuffer('capture.pcap', 'x', Buffer.from('second')), ctx());
  assert.notEqual(again.location, loc.location, 'never overwrites');
  assert.equal(readFileSync(loc.location, 'utf8'), 'pcap-bytes');
});

test('the size cap is enforced while streaming: the rest is not read, the location says truncated', async () => {
  const big = counting(100, 512);
  const loc = await store.store(ref(), { name: 'big.bin', contentType: 'application/octet-stream', stream: big.stream, maxBytes: 10_000 }, ctx({ action: 'big' }));
  assert.deepEqual([loc.bytes, loc.truncated], [1000, true], 'the output’s own maxBytes (1000) is lower than the artifact’s');
  assert.equal(statSync(loc.location).size, 1000);
  assert.ok(big.state.pulled < 100, `read ${big.state.pulled} of 100 chunks`);
  assert.ok(big.state.destroyed);

  const small = counting(4, 100);
  const capped = await store.store(ref(), { name: 'small.bin', contentType: 'x', stream: small.stream, maxBytes: 250 }, ctx({ action: 'small' }));
  assert.deepEqual([capped.bytes, capped.truncated, statSync(capped.location).size], [250, true, 250], "the artifact's maxBytes");

  const exact = await store.store(ref(), { name: 'exact.bin', contentType: 'x', stream: counting(2, 100).stream, maxBytes: 200 }, ctx({ action: 'exact' }));
  assert.deepEqual([exact.bytes, exact.truncated], [200, false], 'exactly at the cap is not truncated');
});

test('no path traversal: from the artifact name, the rule, the action or the parameters', async () => {
  const loc = await store.store(ref(), artifactFromBuffer('../../../../etc/passwd', 'text/plain', Buffer.from('x')), ctx({ rule: '../..', action: '/abs' }));
  assert.ok(!relative(join(base, 'shop'), loc.location).startsWith('..'), loc.location);
  assert.equal(relative(join(base, 'shop'), loc.location).includes('/'), false, 'one file name, no directories');
  for (const name of ['/etc/shadow', 'a\u0000b/../../c', '..', 'x'.repeat(5000), '\n/\r/..']) {
    const l = await store.store(ref({ path: 'nasty' }), artifactFromBuffer(name, 'text/plain', Buffer.from('x')), ctx({ namespace: 'nasty' }));
    const rel = relative(join(base, 'nasty', 'nasty'), l.location);
    assert.ok(!rel.startsWith('..') && !rel.includes('/') && !rel.includes('\u0000') && rel.length <= 255, JSON.stringify(rel));
  }
  assert.equal(safeSegment('..', 10), '__');
  assert.equal(safeSegment('', 10), '_');
  assert.equal(safeSegment('a/b\\c d', 10), 'a_b_c_d');

  for (const path of ['../x', '/etc', 'a/../../b', '.hidden', 'a//b', 'a/']) {
    const v = registry.validateParams('local:file', { path }, 'output.parameters');
    assert.equal(v.ok, false, path);
  }
  // Parameters that skipped validation are still refused at write time.
  const unchecked: OutputRef = { target: 'local:file', parameters: { path: '../../outside' } };
  await assert.rejects(store.store(unchecked, artifactFromBuffer('a', 'x', Buffer.from('x')), ctx()), /not a relative path of plain names/);
  assert.deepEqual(readdirSync(root).sort(), ['artifacts']);
});

test('a symbolic link inside the base that leads outside is refused', async () => {
  const outside = join(root, 'elsewhere');
  mkdirSync(outside);
  mkdirSync(join(base, 'evil'), { recursive: true });
  symlinkSync(outside, join(base, 'evil', 'link'));
  await assert.rejects(store.store(ref({ path: 'link' }), artifactFromBuffer('a', 'x', Buffer.from('x')), ctx({ namespace: 'evil' })), /leads outside the base directory/);
  assert.deepEqual(readdirSync(outside), []);
});

test('a failing or aborted stream leaves no partial file, and the stream is destroyed', async () => {
  const dir = join(base, 'broken');
  const failing: Artifact = {
    name: 'dump',
    contentType: 'x',
    maxBytes: 1000,
    stream: Readable.from((async function* () {
      yield Buffer.from('partial');
      throw new Error('exec session lost');
    })()),
  };
  await assert.rejects(store.store(ref(), failing, ctx({ namespace: 'broken' })), /exec session lost/);
  assert.deepEqual(readdirSync(dir), []);

  const ac = new AbortController();
  const stalled = new Readable({ read() {} });
  stalled.push(Buffer.from('some'));
  const pending = store.store(ref(), { name: 'stall', contentType: 'x', stream: stalled, maxBytes: 1000 }, ctx({ namespace: 'broken', signal: ac.signal }));
  setImmediate(() => ac.abort(new Error('the action did not finish within 5 ms')));
  await assert.rejects(pending, /did not finish within 5 ms/);
  assert.ok(stalled.destroyed);
  assert.deepEqual(readdirSync(dir), []);
});

test('settings: the directory must be absolute; defaults apply', async () => {
  await assert.rejects(registry.open({ 'local:file': { directory: 'relative/dir' } }, { log: silentLog }), /outputs\.local:file: could not start: directory 'relative\/dir' must be an absolute path/);
  await assert.rejects(registry.open({ 'local:file': { directory: '/x', colour: 1 } }, { log: silentLog }), /unknown field 'colour'/);
  await registry.open({}, { log: silentLog });
});
