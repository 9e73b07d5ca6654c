import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, type LogFormat } from './logger.js';

function capture(format: LogFormat, level: 'info' | 'debug' = 'info') {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString().trimEnd());
      done();
    },
  });
  return { lines, logger: createLogger({ level, format, stream }) };
}

test('json: one object per line, data in fields, big integers as exact decimal text', () => {
  const { lines, logger } = capture('json');
  logger.info('action succeeded', { rule: 'talon-system/kill', trace_id: 't', evt_time: 1685022245478445995n });
  logger.debug('not shown');
  assert.equal(lines.length, 1);
  const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(entry.message, 'action succeeded');
  assert.equal(entry.level, 'info');
  assert.equal(entry.rule, 'talon-system/kill');
  assert.match(String(entry.timestamp), /^\d{4}-\d{2}-\d{2}T/);
  assert.equal(entry.evt_time, '1685022245478445995');
});

test('text: time LEVEL message {fields}', () => {
  const { lines, logger } = capture('text', 'debug');
  logger.warn('queue full', { pending: 3, n: 2n });
  logger.debug('bare');
  assert.match(lines[0]!, /^\S+ WARN queue full \{"pending":3,"n":"2"\}$/);
  assert.match(lines[1]!, /^\S+ DEBUG bare$/);
});

test('logPort: levels below the logger level are no-ops, the others write', async () => {
  const { PassThrough } = await import('node:stream');
  const { createLogger, logPort } = await import('./logger.js');
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
  const port = logPort(createLogger({ level: 'info', format: 'json', stream }));
  port.debug('hidden', { a: 1 });
  port.info('shown', { b: 2 });
  await new Promise((r) => setImmediate(r));
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0]!).message, 'shown');
});
