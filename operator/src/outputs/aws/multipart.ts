/**
 * A streamed upload of unknown length to S3 with a fixed memory bound: `(queueSize + 1) ×
 * partSize` bytes, in part buffers allocated once per upload and reused (a part is copied in
 * as the stream delivers it; nothing else is kept).
 *
 * Why not `@aws-sdk/lib-storage` Upload: it concatenates every part out of the stream's chunks
 * and keeps each concatenation alive through the next part's remainder, so a 200 MiB artifact
 * made the operator's RSS grow by 35–90 MiB (bench/RESULTS.md); its abort also leaves in-flight
 * part requests running. Here every request takes the abort signal, so an abort cancels them.
 *
 * Contract: a stream shorter than one part goes in ONE PutObject; longer, a multipart upload
 * (parts uploaded `queueSize` at a time, in order of completion, completed in part order).
 * When the stream errors, a request fails or `signal` aborts, in-flight requests are cancelled
 * and the multipart upload is aborted (AbortMultipartUpload) before the promise rejects, so
 * nothing is left behind.
 */
import type { CompletedPart, PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { firstUse } from '../../lib/first-use.js';

/** The S3 SDK, loaded by the first upload (lib/first-use.ts: an idle operator does not carry it). */
export const s3Sdk = firstUse('@aws-sdk/client-s3', () => import('@aws-sdk/client-s3'));

export interface MultipartOptions {
  readonly partSize: number;
  readonly queueSize: number;
  readonly signal: AbortSignal;
}

/** Uploads `body` as `input` (Bucket, Key, ContentType, encryption, metadata; no Body). */
export async function streamedUpload(client: S3Client, input: Omit<PutObjectCommandInput, 'Body'>, body: Readable, opts: MultipartOptions): Promise<void> {
  const { AbortMultipartUploadCommand, ChecksumAlgorithm, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand } = await s3Sdk();
  const { partSize, queueSize } = opts;
  const ac = new AbortController();
  const onAbort = () => ac.abort(opts.signal.reason);
  opts.signal.addEventListener('abort', onAbort, { once: true });
  const free: Buffer[] = [];
  const inFlight = new Set<Promise<void>>();
  const parts: CompletedPart[] = [];
  let uploadId: string | undefined;
  let failure: unknown;
  let current: Buffer | undefined;
  let filled = 0;
  let partNumber = 0;

  const take = (): Buffer => free.pop() ?? Buffer.allocUnsafe(partSize);
  const withChecksum = async (): Promise<boolean> => (await client.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';

  const startPart = async (buf: Buffer, length: number): Promise<void> => {
    if (uploadId === undefined) {
      const created = await client.send(
        new CreateMultipartUploadCommand({ ...input, ...((await withChecksum()) ? { ChecksumAlgorithm: input.ChecksumAlgorithm ?? ChecksumAlgorithm.CRC32 } : {}) }),
        { abortSignal: ac.signal },
      );
      if (!created.UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
      uploadId = created.UploadId;
    }
    const number = ++partNumber;
    const id = uploadId;
    const p = (async () => {
      try {
        const r = await client.send(
          new UploadPartCommand({ Bucket: input.Bucket, Key: input.Key, UploadId: id, PartNumber: number, Body: buf.subarray(0, length), ContentLength: length, ...(input.SSECustomerKey ? { SSECustomerAlgorithm: input.SSECustomerAlgorithm, SSECustomerKey: input.SSECustomerKey } : {}) }),
          { abortSignal: ac.signal },
        );
        if (!r.ETag) throw new Error(`part ${number}: UploadPart returned no ETag`);
        parts.push({ PartNumber: number, ETag: r.ETag, ...(r.ChecksumCRC32 ? { ChecksumCRC32: r.ChecksumCRC32 } : {}), ...(r.ChecksumCRC32C ? { ChecksumCRC32C: r.ChecksumCRC32C } : {}), ...(r.ChecksumCRC64NVME ? { ChecksumCRC64NVME: r.ChecksumCRC64NVME } : {}), ...(r.ChecksumSHA1 ? { ChecksumSHA1: r.ChecksumSHA1 } : {}), ...(r.ChecksumSHA256 ? { ChecksumSHA256: r.ChecksumSHA256 } : {}) });
        free.push(buf);
      } catch (err) {
        // A request cancelled by our own abort is not the cause: keep the first real failure.
        if (!ac.signal.aborted) {
          failure ??= err;
          ac.abort(err);
        }
      }
    })();
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    while (inFlight.size >= queueSize) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
  };

  try {
    for await (const chunk of body) {
      let data = chunk as Buffer;
      while (data.length > 0) {
        current ??= take();
        const n = Math.min(partSize - filled, data.length);
        data.copy(current, filled, 0, n);
        filled += n;
        data = data.subarray(n);
        if (filled === partSize) {
          const full = current;
          current = undefined;
          filled = 0;
          await startPart(full, partSize);
        }
      }
      if (failure !== undefined) throw failure;
      ac.signal.throwIfAborted();
    }
    ac.signal.throwIfAborted();
    if (uploadId === undefined) {
      // Shorter than one part: one PutObject (a full part has already begun a multipart upload).
      await client.send(new PutObjectCommand({ ...input, Body: current ? current.subarray(0, filled) : Buffer.alloc(0), ContentLength: filled }), { abortSignal: ac.signal });
      return;
    }
    if (filled > 0 && current) await startPart(current, filled);
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    parts.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    await client.send(new CompleteMultipartUploadCommand({ Bucket: input.Bucket, Key: input.Key, UploadId: uploadId, MultipartUpload: { Parts: parts } }), { abortSignal: ac.signal });
    uploadId = undefined;
  } catch (err) {
    if (!ac.signal.aborted) ac.abort(err);
    await Promise.allSettled([...inFlight]);
    if (uploadId !== undefined) {
      // Not under `ac`: it must go out although everything else was cancelled.
      await client.send(new AbortMultipartUploadCommand({ Bucket: input.Bucket, Key: input.Key, UploadId: uploadId })).catch(() => undefined);
    }
    throw err;
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
  }
}
