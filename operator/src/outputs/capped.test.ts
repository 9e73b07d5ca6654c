import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { capStream } from './capped.js';

/** `chunks` chunks of `size` bytes, counting pulls and noting destruction. */
function source(chunks: number, size: number) {
  const state = { pulled: 0, destroyed: false };
  const stream = new Readable({
    highWaterMark: size,
    read() {
      if (state.pulled === chunks) this.push(null);
      else this.push(Buffer.alloc(size, state.pulled++ % 256));
    },
    destroy(err, cb) {
      state.destroyed = true;
      cb(err);
    },
  });
  return { state, stream };
}

async function drain(r: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(c as Buffer);
  return Buffer.concat(out);
}

test('passes everything under the cap, byte for byte', async () => {
  const s = source(3, 100);
  const c = capStream(s.stream, 1000);
  const data = await drain(c.stream);
  assert.deepEqual([data.length, c.bytes(), c.truncated()], [300, 300, false]);
  assert.deepEqual([data[0], data[100], data[299]], [0, 1, 2]);
});

test('stops at the cap: the rest is not read, the source is destroyed, truncated is reported', async () => {
  const s = source(1000, 100);
  const c = capStream(s.stream, 250);
  const data = await drain(c.stream);
  assert.deepEqual([data.length, c.bytes(), c.truncated()], [250, 250, true]);
  assert.ok(s.state.pulled < 20, `pulled ${s.state.pulled} of 1000`);
  assert.ok(s.state.destroyed);
});

test('exactly at the cap is not truncated; a zero cap passes nothing', async () => {
  const exact = capStream(source(2, 100).stream, 200);
  assert.equal((await drain(exact.stream)).length, 200);
  assert.equal(exact.truncated(), false);
  const zero = capStream(source(2, 100).stream, 0);
  assert.equal((await drain(zero.stream)).length, 0);
  assert.equal(zero.truncated(), true);
  const empty = capStream(source(0, 100).stream, 0);
  assert.equal((await drain(empty.stream)).length, 0);
  assert.equal(empty.truncated(), false);
});

test("the source's error reaches the reader; destroying the capped stream destroys the source", async () => {
  const failing = Readable.from((async function* () {
    yield Buffer.from('abc');
    throw new Error('exec session lost');
  })());
  await assert.rejects(drain(capStream(failing, 100).stream), /exec session lost/);

  const s = source(1000, 10);
  const c = capStream(s.stream, 1_000_000);
  c.stream.destroy();
  await new Promise((r) => c.stream.once('close', r));
  assert.ok(s.state.destroyed);
});
