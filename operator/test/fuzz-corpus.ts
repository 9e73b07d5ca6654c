/**
 * The hostile corpus of the webhook fuzz test and the fuzz bench (bench/fuzz.bench.ts):
 * fast-check arbitraries of request bodies — random bytes, random JSON, mutated and truncated
 * real alerts, deep nesting, huge numbers, invalid UTF-8, generated alerts with keys in any
 * case, prototype keys, giant field names, bodies around the size limit — and raw-socket
 * attacks the HTTP client cannot express: slow bodies, idle sockets, partial headers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { PRIORITIES } from '../src/falco/event.js';
import { parseAlert } from '../src/falco/parse.js';
import { eventsDir } from './builders.js';

const FIXTURES = eventsDir();
export const SAMPLES = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => readFileSync(join(FIXTURES, f)));

export interface Upload {
  readonly body: Buffer;
  readonly gzip: boolean;
}

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');

const randomBytes = fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a));
const randomJson = fc.jsonValue({ maxDepth: 6 }).map((v) => bytes(JSON.stringify(v) ?? 'null'));
const mutatedAlert = fc
  .tuple(fc.constantFrom(...SAMPLES), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 40 }), fc.uint8Array({ maxLength: 8 })), { minLength: 1, maxLength: 6 }))
  .map(([sample, edits]) => {
    let b = sample;
    for (const [at, remove, insert] of edits) {
      const i = at % (b.length + 1);
      b = Buffer.concat([b.subarray(0, i), Buffer.from(insert), b.subarray(Math.min(b.length, i + remove))]);
    }
    return b;
  });
const truncatedAlert = fc.tuple(fc.constantFrom(...SAMPLES), fc.nat()).map(([s, n]) => s.subarray(0, n % s.length));
const deepNesting = fc
  .tuple(fc.integer({ min: 1, max: 15_000 }), fc.constantFrom('[', '{"a":'), fc.boolean())
  .map(([depth, open, inFields]) => {
    const close = open === '[' ? ']' : '}';
    const nested = open.repeat(depth) + (open === '[' ? '' : '1') + close.repeat(depth);
    return bytes(inFields ? `{"rule":"R","output_fields":{"x":${nested}}}` : `{"rule":"R","extra":${nested}}`);
  });
const hugeNumber = fc
  .tuple(fc.integer({ min: 1, max: 5000 }), fc.constantFrom('', '-', '0', '1.', '1e'), fc.constantFrom('', 'e999', '.5', 'e-999'), fc.constantFrom('output_fields', 'rule', 'tags'))
  .map(([digits, prefix, suffix, where]) => {
    const n = `${prefix}${'9'.repeat(digits)}${suffix}`;
    if (where === 'output_fields') return bytes(`{"rule":"R","output_fields":{"n":${n},"m":[${n},${n}]}}`);
    if (where === 'tags') return bytes(`{"rule":"R","tags":[${n}]}`);
    return bytes(`{"rule":${n}}`);
  });
const invalidUtf8 = fc
  .tuple(fc.constantFrom(...SAMPLES), fc.nat(), fc.constantFrom([0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x00]))
  .map(([s, at, bad]) => {
    const i = at % s.length;
    return Buffer.concat([s.subarray(0, i), Buffer.from(bad), s.subarray(i)]);
  });
const fieldValue = fc.oneof(
  fc.string(),
  fc.double(),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(fc.string(), fc.integer(), fc.constant(null)), { maxLength: 4 }),
  fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }),
);
const generatedAlert = fc
  .record(
    {
      rule: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
      priority: fc.oneof(fc.constantFrom(...PRIORITIES, 'critical', 'INFO', 'bogus', ''), fc.integer()),
      time: fc.oneof(fc.constantFrom('2023-05-25T13:44:05.478445995Z', '2023-02-30T00:00:00Z', 'now'), fc.string()),
      tags: fc.oneof(fc.array(fc.string(), { maxLength: 4 }), fc.array(fc.anything(), { maxLength: 2 }), fc.string()),
      output_fields: fc.dictionary(fc.string(), fieldValue, { maxKeys: 8 }),
      source: fc.oneof(fc.string(), fc.integer()),
    },
    { requiredKeys: [] },
  )
  .chain((alert) => fc.constantFrom(...Object.keys(alert), 'none').map((upper) => ({ alert, upper })))
  .map(({ alert, upper }) => {
    const entries = Object.entries(alert).map(([k, v]) => [k === upper ? k.toUpperCase() : k, v] as const);
    return bytes(JSON.stringify(Object.fromEntries(entries), (_k, v: unknown) => (typeof v === 'bigint' ? `@@${v}@@` : v)).replace(/"@@(-?\d+)@@"/g, '$1'));
  });

const prototypeKeys = fc
  .tuple(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'), fc.constantFrom('envelope', 'fields', 'both'), fc.constantFrom('{"rule":"X","polluted":true}', '"x"', '1', 'null', '[1]'))
  .map(([key, where, value]) => {
    const fields = where === 'envelope' ? '{}' : `{"${key}":${value},"k8s.pod.name":"p"}`;
    const envelope = where === 'fields' ? '' : `,"${key}":${value}`;
    return bytes(`{"rule":"R"${envelope},"output_fields":${fields}}`);
  });
const giantFieldName = fc
  .tuple(fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1_000, max: 64_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 64_000, max: 1_100_000 }) }), fc.constantFrom('fields', 'envelope', 'tag', 'rule'))
  .map(([size, where]) => {
    const name = 'k'.repeat(size);
    if (where === 'envelope') return bytes(`{"rule":"R","${name}":1}`);
    if (where === 'tag') return bytes(`{"rule":"R","tags":["${name}"]}`);
    if (where === 'rule') return bytes(`{"rule":"${name}"}`);
    return bytes(`{"rule":"R","output_fields":{"${name}":"v"}}`);
  });

export const upload: fc.Arbitrary<Upload> = fc
  .tuple(
    fc.oneof(
      { weight: 2, arbitrary: randomBytes },
      { weight: 2, arbitrary: randomJson },
      { weight: 4, arbitrary: mutatedAlert },
      { weight: 1, arbitrary: truncatedAlert },
      { weight: 1, arbitrary: deepNesting },
      { weight: 2, arbitrary: hugeNumber },
      { weight: 2, arbitrary: invalidUtf8 },
      { weight: 4, arbitrary: generatedAlert },
      { weight: 2, arbitrary: prototypeKeys },
      { weight: 1, arbitrary: giantFieldName },
    ),
    fc.integer({ min: 0, max: 19 }),
  )
  .map(([body, roll]) => (roll === 0 ? { body: gzipSync(body), gzip: true } : roll === 1 ? { body, gzip: true } : { body, gzip: false }));

/**
 * What the server must answer for `u` under `limitBytes`: 202 when it is one valid alert,
 * else a 4xx (413 over the limit, before or after decompression).
 */
export function expectedAnswer(u: Upload, limitBytes: number): 'accepted' | 'rejected' | 'too large' {
  if (u.body.length > limitBytes) return 'too large';
  let body = u.body;
  if (u.gzip) {
    try {
      body = gunzipSync(u.body, { maxOutputLength: limitBytes });
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? 'too large' : 'rejected';
    }
  }
  return parseAlert(body, { receivedAt: 0, traceId: 'fuzz' }).ok ? 'accepted' : 'rejected';
}

/** The status line's code of a raw HTTP answer; 0 when the server closed without answering. */
function statusOf(text: string): number {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
  return m === null ? 0 : Number(m[1]);
}

/** Opens a raw connection and resolves with what the server sent before closing (or `settleMs` of silence after an answer). */
function raw(port: number, script: (s: net.Socket) => Promise<void>): Promise<{ status: number; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (closedByServer: boolean): void => {
      if (done) return;
      done = true;
      s.destroy();
      resolve({ status: statusOf(text), closedByServer });
    };
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (/\r\n\r\n/.test(text) && /content-length: (\d+)/i.test(text)) {
        const len = Number(/content-length: (\d+)/i.exec(text)?.[1]);
        if (text.length >= text.indexOf('\r\n\r\n') + 4 + len) finish(false);
      }
    });
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
    s.on('connect', () => {
      script(s).catch(() => finish(true));
    });
  });
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A valid alert POSTed in `chunks` pieces `gapMs` apart: a slow body. */
export function slowBody(port: number, chunks: number, gapMs: number, headers = ''): Promise<{ status: number; closedByServer: boolean }> {
  const body = Buffer.from('{"rule":"Slow body","priority":"Warning","output":"trickled","output_fields":{"k8s.pod.name":"p","k8s.ns.name":"default"}}');
  return raw(port, async (s) => {
    s.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n${headers}\r\n`);
    const size = Math.ceil(body.length / chunks);
    for (let i = 0; i < body.length; i += size) {
      await pause(gapMs);
      if (s.destroyed) return;
      s.write(body.subarray(i, i + size));
    }
  });
}

/** A connection that sends nothing, or only part of a request header: resolves when the server closes it. */
export function idleSocket(port: number, partial: string): Promise<{ status: number; closedByServer: boolean }> {
  return raw(port, async (s) => {
    if (partial !== '') s.write(partial);
  });
}

export const PARTIAL_HEADERS: readonly string[] = ['', 'POST / HTTP/1.1\r\n', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n', 'GET /healthz HTTP/1.1\r\nX-Slow: '];
