/**
 * Thousands of malformed bodies thrown at a real server over keep-alive connections: random
 * bytes, random JSON, mutated real alerts, deep nesting, huge numbers, invalid UTF-8, bad
 * gzip. Every answer must be 202 or a 4xx (never a 5xx, a reset or a hang), everything
 * answered 202 must have reached `ingest` as a valid frozen event, and the server must still
 * be healthy at the end.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { loadConfig } from '../src/config/load.js';
import { PRIORITIES, type FalcoEvent } from '../src/falco/event.js';
import { createServer, type WebhookServer } from '../src/http/server.js';
import { createLogger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';
import { eventsDir } from './builders.js';

const RUNS = 3000;
const LIMIT = 128 * 1024;


const FIXTURES = eventsDir();
const SAMPLES = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => readFileSync(join(FIXTURES, f)));

interface Upload {
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

const upload: fc.Arbitrary<Upload> = fc
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
    ),
    fc.integer({ min: 0, max: 19 }),
  )
  .map(([body, roll]) => (roll === 0 ? { body: gzipSync(body), gzip: true } : roll === 1 ? { body, gzip: true } : { body, gzip: false }));

let server: WebhookServer;
let port = 0;
const accepted: FalcoEvent[] = [];

before(async () => {
  const r = loadConfig({ env: { TALON_AUTH_MODE: 'none', TALON_BODYLIMIT: String(LIMIT) } });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  server = createServer({
    config: r.config,
    logger: createLogger({ level: 'error', format: 'json', silent: true }),
    metrics: createMetrics({ defaultMetrics: false }),
    ingest: (ev) => void accepted.push(ev),
    isReady: () => ({ ready: true, reasons: [] }),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function post(agent: http.Agent, { body, gzip }: Upload): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: 'POST', path: '/', agent, headers: { 'content-type': 'application/json', ...(gzip ? { 'content-encoding': 'gzip' } : {}) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test(`${RUNS} malformed bodies: always 202 or 4xx, never 5xx or a reset`, async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let answered202 = 0;
  let reused = 0;
  try {
    await fc.assert(
      fc.asyncProperty(upload, async (u) => {
        const r = await post(agent, u);
        assert.ok(r.status === 202 || (r.status >= 400 && r.status < 500), `status ${r.status}`);
        if (r.status === 202) answered202++;
        if (r.reused) reused++;
      }),
      { numRuns: RUNS },
    );
  } finally {
    agent.destroy();
  }
  assert.equal(accepted.length, answered202);
  assert.ok(answered202 > 0 && answered202 < RUNS, `${answered202} of ${RUNS} accepted: the generators must produce both valid and invalid alerts`);
  for (const ev of accepted) {
    assert.ok(Object.isFrozen(ev) && Object.isFrozen(ev.outputFields) && Object.isFrozen(ev.tags));
    assert.ok(typeof ev.rule === 'string' && ev.rule !== '');
    for (const v of Object.values(ev.outputFields)) assert.ok(v === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof v) || Array.isArray(v));
  }
  assert.ok(reused > RUNS / 2, `keep-alive was used for ${reused} of ${RUNS} requests`);
  const health = await new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/healthz' }, (res) => resolve(res.statusCode ?? 0)).on('error', reject);
  });
  assert.equal(health, 200);
});
