import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { streamedUpload } from './multipart.js';

/**
 * An in-memory S3 behind the client's `send`: objects, open multipart uploads and their parts.
 * `failPart` makes that part number's upload fail; `inFlight`/`maxInFlight` count concurrent part uploads.
 */
class MemoryS3 {
  readonly objects = new Map<string, Buffer>();
  readonly uploads = new Map<string, Map<number, Buffer>>();
  inFlight = 0;
  maxInFlight = 0;
  private seq = 0;
  constructor(private readonly opts: { failPart?: number } = {}) {}
  get client(): S3Client {
    const send = async (cmd: { constructor: { name: string }; input: Record<string, unknown> }, o?: { abortSignal?: AbortSignal }) => {
      o?.abortSignal?.throwIfAborted();
      const i = cmd.input;
      const key = `${String(i.Bucket)}/${String(i.Key)}`;
      switch (cmd.constructor.name) {
        case 'PutObjectCommand':
          this.objects.set(key, Buffer.from(i.Body as Buffer));
          return {};
        case 'CreateMultipartUploadCommand': {
          const id = `u${++this.seq}`;
          this.uploads.set(id, new Map());
          return { UploadId: id };
        }
        case 'UploadPartCommand': {
          this.inFlight += 1;
          this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
          try {
            await new Promise((r) => setTimeout(r, 2));
            if (i.PartNumber === this.opts.failPart) throw new Error(`part ${String(i.PartNumber)}: 503 SlowDown`);
            // Copy: the uploader reuses its part buffers once the request has settled.
            this.uploads.get(String(i.UploadId))!.set(Number(i.PartNumber), Buffer.from(i.Body as Buffer));
            return { ETag: `"etag-${String(i.PartNumber)}"` };
          } finally {
            this.inFlight -= 1;
          }
        }
        case 'CompleteMultipartUploadCommand': {
          const parts = this.uploads.get(String(i.UploadId))!;
          const list = (i.MultipartUpload as { Parts: { PartNumber: number; ETag: string }[] }).Parts;
          assert.deepEqual(list.map((p) => p.PartNumber), [...parts.keys()].sort((a, b) => a - b), 'every part, in order');
          this.objects.set(key, Buffer.concat(list.map((p) => parts.get(p.PartNumber)!)));
          this.uploads.delete(String(i.UploadId));
          return {};
        }
        case 'AbortMultipartUploadCommand':
          this.uploads.delete(String(i.UploadId));
          return {};
        default:
          throw new Error(`unexpected ${cmd.constructor.name}`);
      }
    };
    return { send, config: { requestChecksumCalculation: async () => 'WHEN_REQUIRED' } } as unknown as S3Client;
  }
}

const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + (i >> 10)) % 256));
/** `data` in irregular chunks (never aligned with the part size). */
const chunked = (data: Buffer) => {
  const out: Buffer[] = [];
  for (let at = 0, k = 0; at < data.length; k++) {
    const n = 1000 + ((k * 7919) % 9000);
    out.push(data.subarray(at, at + n));
    at += n;
  }
  return Readable.from(out);
};
const input = { Bucket: 'b', Key: 'k' };
const signal = () => new AbortController().signal;

test('below one part: one PutObject; above: parts that reassemble byte for byte, at most queueSize in flight', async () => {
  for (const [size, queueSize] of [[0, 1], [999, 1], [100_000, 1], [100_001, 2], [1_000_003, 3]] as const) {
    const s3 = new MemoryS3();
    const data = pattern(size);
    await streamedUpload(s3.client, input, chunked(data), { partSize: 100_000, queueSize, signal: signal() });
    assert.ok(s3.objects.get('b/k')?.equals(data), `${size} bytes`);
    assert.equal(s3.uploads.size, 0);
    assert.ok(s3.maxInFlight <= queueSize, `${s3.maxInFlight} parts in flight with queueSize ${queueSize}`);
  }
});

test('a failing part, a failing stream or an abort: no object, the multipart upload aborted', async () => {
  const failing = new MemoryS3({ failPart: 3 });
  await assert.rejects(streamedUpload(failing.client, input, chunked(pattern(1_000_000)), { partSize: 100_000, queueSize: 2, signal: signal() }), /part 3: 503 SlowDown/);
  assert.deepEqual([failing.objects.size, failing.uploads.size], [0, 0]);

  const broken = new MemoryS3();
  const stream = Readable.from((async function* () {
    yield pattern(250_000);
    throw new Error('exec session lost');
  })());
  await assert.rejects(streamedUpload(broken.client, input, stream, { partSize: 100_000, queueSize: 1, signal: signal() }), /exec session lost/);
  assert.deepEqual([broken.objects.size, broken.uploads.size], [0, 0]);

  const aborted = new MemoryS3();
  const ac = new AbortController();
  const stalled = new Readable({ read() {} });
  stalled.push(pattern(250_000));
  const pending = streamedUpload(aborted.client, input, stalled, { partSize: 100_000, queueSize: 1, signal: ac.signal });
  setTimeout(() => {
    ac.abort(new Error('deadline'));
    stalled.destroy(new Error('deadline'));
  }, 20);
  await assert.rejects(pending, /deadline/);
  assert.deepEqual([aborted.objects.size, aborted.uploads.size], [0, 0]);
});
