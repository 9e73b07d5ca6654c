/**
 * The intake in front of the real ledger and journal (a directory on disk): a duplicate
 * costs no journal record, and a journal that cannot be written refuses the alert without
 * making Falco's retry a duplicate. The write failure is a real one: the next segment is
 * /dev/full, where every write fails with ENOSPC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as turn } from 'node:timers/promises';
import { Deduplicator } from '../src/dispatch/dedup.js';
import { Intake } from '../src/dispatch/intake.js';
import { Journal } from '../src/journal/journal.js';
import { Ledger } from '../src/journal/ledger.js';
import { decodeSegment, segmentName } from '../src/journal/segments.js';
import { createMetrics } from '../src/observability/metrics.js';
import { RuleIndex } from '../src/rules/rule-index.js';
import { eventFrom } from './builders.js';

const alert = (output: string) =>
  eventFrom({ hostname: 'node-1', rule: 'Terminal shell in container', source: 'syscall', priority: 'Warning', time: '2026-01-01T00:00:00Z', output, output_fields: {} });
const bodyOf = (output: string): Buffer => Buffer.from(JSON.stringify({ output }));

function setup(segmentBytes?: number) {
  const dir = mkdtempSync(join(tmpdir(), 'talon-journal-intake-'));
  const opened = Journal.open({ dir, fsync: 'never', fsyncIntervalMs: 1000, keyWindowMs: 10_000, ...(segmentBytes ? { segmentBytes } : {}) });
  const ledger = new Ledger({ journal: opened.journal, maxBytes: 1 << 20, maxHeldBytes: 1 << 20 });
  ledger.setIndexLoaded();
  const intake = new Intake({
    dedup: new Deduplicator(10_000),
    metrics: createMetrics({ defaultMetrics: false }),
    admit: (ev, key, body) => ledger.admit(ev, key, body),
    dispatch: () => undefined,
    settled: (ev) => ledger.settled(ev),
  });
  intake.setIndex(RuleIndex.build([]));
  const records = () =>
    readdirSync(dir)
      .filter((f) => f.startsWith('seg-'))
      .sort()
      .flatMap((f) => decodeSegment(readFileSync(join(dir, f))).records);
  return { dir, journal: opened.journal, ledger, intake, records };
}

test('a duplicate writes nothing to the journal; the first delivery is A then D', async () => {
  const s = setup();
  for (let i = 0; i < 5; i++) assert.equal(s.intake.ingest(alert('same'), bodyOf('same')), undefined);
  await turn();
  assert.deepEqual(s.records().map((r) => r.type), ['A', 'D']);
  assert.equal(s.ledger.count(), 0);
  s.journal.close();
  const again = Journal.open({ dir: s.dir, fsync: 'never', fsyncIntervalMs: 1000, keyWindowMs: 10_000 });
  assert.equal(again.keys.length, 1, 'the A record still carries the dedup key for a restart');
  again.journal.close();
});

test('a journal write failure is a refusal (503), and the retry is refused again, not dropped as a duplicate', () => {
  const s = setup(64);
  assert.equal(s.intake.ingest(alert('first'), bodyOf('first')), undefined, 'the first alert fills segment 1');
  // The next segment is /dev/full: the roll opens it and every write there fails with ENOSPC.
  symlinkSync('/dev/full', join(s.dir, segmentName(2)));
  const refused = s.intake.ingest(alert('second'), bodyOf('second'));
  assert.match(refused?.reason ?? '', /journal cannot be written: ENOSPC/);
  const retried = s.intake.ingest(alert('second'), bodyOf('second'));
  assert.match(retried?.reason ?? '', /journal cannot be written/, 'still refused: the key was not remembered');
  assert.equal(s.ledger.count(), 0, 'nothing refused is held');
  assert.equal(s.intake.ingest(alert('first'), bodyOf('first')), undefined, 'an accepted alert is still a duplicate');
});
