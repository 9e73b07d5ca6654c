/**
 * The size cap of an artifact, enforced while streaming: a stream that passes at most `cap`
 * bytes of its source, for an upload client to read at its own pace. It never buffers more
 * than the chunk in hand; once the cap is reached the source is not read further (it is
 * destroyed) and `truncated` says there was more.
 */
import { Readable } from 'node:stream';

export interface CappedStream {
  /** The capped bytes (a byte stream, not object mode). Errors when the source errors. */
  readonly stream: Readable;
  /** Bytes passed so far. */
  readonly bytes: () => number;
  /** Whether the source had more than `cap` bytes (known once the stream has ended). */
  readonly truncated: () => boolean;
}

/** `source` capped at `cap` bytes (≥ 0). Destroying the returned stream destroys the source. */
export function capStream(source: Readable, cap: number): CappedStream {
  const limit = Math.max(0, cap);
  let bytes = 0;
  let truncated = false;
  async function* pass(): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      const room = limit - bytes;
      if (buf.length > room) {
        truncated = true;
        if (room > 0) {
          bytes = limit;
          yield buf.subarray(0, room);
        }
        return; // leaving the loop destroys the source: the rest is never read
      }
      bytes += buf.length;
      if (buf.length > 0) yield buf;
    }
  }
  const stream = Readable.from(pass(), { objectMode: false, highWaterMark: 64 * 1024 });
  stream.once('close', () => {
    if (!source.destroyed) source.destroy();
  });
  return { stream, bytes: () => bytes, truncated: () => truncated };
}
