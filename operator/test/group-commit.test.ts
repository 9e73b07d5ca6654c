/**
 * The journal's group commit behind the real webhook: the alerts taken in one event-loop turn
 * are written to the journal in one write, before any of their 202s, and evaluated only once
 * written; when that write fails every one of them is answered 503, none is evaluated, and
 * none is remembered as a duplicate. The journal is a real directory; the failure is a real
 * ENOSPC (the next segment is /dev/full).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { Deduplicator } from '../src/dispatch/dedup.js';
import { Intake } from '../src/dispatch/intake.js';
import type { FalcoEvent } from '../src/falco/event.js';
import { createServer } from '../src/http/server.js';
import { Journal } from '../src/journal/journal.js';
import { Ledger } from '../src/journal/ledger.js';
import { decodeSegment, segmentName } from '../src/journal/segments.js';
import { createLogger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';
import { RuleIndex } from '../src/rules/rule-index.js';

async function setup(segmentBytes?: number) {
  const dir = mkdtempSync(join(tmpdir(), 'talon-group-commit-'));
  const { journal } = Journal.open({ dir, fsync: 'never', fsyncIntervalMs: 1000, keyWindowMs: 10_000, ...(segmentBytes ? { segmentBytes } : {}) });
  const ledger = new Ledger({ journal, maxBytes: 1 << 20, maxHeldBytes: 1 << 20 });
  ledger.setIndexLoaded();
  const evaluated: { rule: string; writesBefore: number }[] = [];
  const metrics = createMetrics({ defaultMetrics: false });
  const intake = new Intake({
    dedup: new Deduplicator(10_000),
    metrics,
    stage: (ev, key, body) => ledger.stage(ev, key, body),
    commit: () => ledger.commit(),
    dispatch: () => undefined,
    settled: (ev) => ledger.settled(ev),
    onEvaluated: (ev: FalcoEvent) => void evaluated.push({ rule: ev.rule, writesBefore: journal.writes() }),
  });
  intake.setIndex(RuleIndex.build([]));
  const loaded = loadConfig({ env: { TALON_AUTH_MODE: 'none' } });
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const server = createServer({
    config: loaded.config,
    logger: createLogger({ level: 'error', format: 'json', silent: true }),
    metrics,
    ingest: (ev, body) => intake.stage(ev, body),
    commit: () => intake.commit(),
    isReady: () => ({ ready: true, reasons: [] }),
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const records = () =>
    readdirSync(dir)
      .filter((f) => f.startsWith('seg-') && !f.endsWith(segmentName(2)))
      .sort()
      .flatMap((f) => decodeSegment(readFileSync(join(dir, f))).records);
  return {
    dir,
    journal,
    ledger,
    evaluated,
    records,
    /** Sends the alerts pipelined in one write (the server reads them in one turn); resolves with the answers' status lines and bodies. */
    pipelined(rules: readonly string[]): Promise<{ status: number; body: string }[]> {
      return new Promise((resolve, reject) => {
        const socket = connect(port, '127.0.0.1');
        let text = '';
        socket.on('data', (d: Buffer) => {
          text += d.toString();
          const answers = [...text.matchAll(/HTTP\/1\.1 (\d+)[^]*?\r\n\r\n(\{[^}]*\})/g)];
          if (answers.length === rules.length) {
            socket.end();
            resolve(answers.map((m) => ({ status: Number(m[1]), body: m[2]! })));
          }
        });
        socket.on('error', reject);
        const alert = (rule: string) => JSON.stringify({ rule, output: `${rule} happened`, priority: 'Warning', time: '2024-03-05T10:11:12.345Z', hostname: 'node-1' });
        socket.write(rules.map((r) => `POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(alert(r))}\r\n\r\n${alert(r)}`).join(''));
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      journal.close();
    },
  };
}

test('the alerts of one turn: one journal write for all their A records, before any 202; evaluated only once written', async () => {
  const s = await setup();
  try {
    const before = s.journal.writes();
    const answers = await s.pipelined(['R0', 'R1', 'R2', 'R3', 'R4']);
    assert.deepEqual(answers.map((a) => a.status), [202, 202, 202, 202, 202]);
    assert.deepEqual(s.evaluated.map((e) => e.rule), ['R0', 'R1', 'R2', 'R3', 'R4']);
    assert.ok(s.evaluated.every((e) => e.writesBefore === before + 1), 'every alert evaluated after the one write of the five A records');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(s.records().map((r) => r.type).join(''), 'AAAAADDDDD', 'the five A records, then the five D records (nothing matched) in the next write');
    assert.equal(s.journal.writes() - before, 2);
    assert.equal(s.ledger.count(), 0);
  } finally {
    await s.close();
  }
});

test('a second delivery in the same turn is a duplicate: one A record, two 202s', async () => {
  const s = await setup();
  try {
    const answers = await s.pipelined(['Same', 'Same', 'Other']);
    assert.deepEqual(answers.map((a) => a.status), [202, 202, 202]);
    assert.deepEqual(s.evaluated.map((e) => e.rule), ['Same', 'Other']);
    assert.equal(s.records().filter((r) => r.type === 'A').length, 2);
  } finally {
    await s.close();
  }
});

test('when the turn’s write fails (ENOSPC), every alert of the turn is answered 503, none is evaluated or held, and the retry is refused again, not dropped as a duplicate', async () => {
  const s = await setup(64);
  try {
    assert.deepEqual((await s.pipelined(['First'])).map((a) => a.status), [202], 'the first alert fills segment 1');
    // The next segment is /dev/full: the roll opens it and every write there fails with ENOSPC.
    symlinkSync('/dev/full', join(s.dir, segmentName(2)));
    const refused = await s.pipelined(['A', 'B', 'A', 'First']);
    assert.deepEqual(refused.map((a) => a.status), [503, 503, 503, 503], 'the duplicates of the turn share its fate; one of an earlier turn is refused with it (its retry is a duplicate, answered 202)');
    assert.match(refused[0]!.body, /journal cannot be written: ENOSPC/);
    assert.deepEqual(s.evaluated.map((e) => e.rule), ['First']);
    assert.equal(s.ledger.count(), 0, 'nothing refused is held');
    const retried = await s.pipelined(['A']);
    assert.equal(retried[0]!.status, 503, 'still refused: its key was not remembered');
    assert.deepEqual((await s.pipelined(['First'])).map((a) => a.status), [202], 'an alert accepted before is still a duplicate (no write needed)');
  } finally {
    await s.close();
  }
});
