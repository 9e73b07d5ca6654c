/**
 * The on-disk journal (docs/journal.md): an append-only log split into segment files, each
 * record framed with its length and a CRC-32 of its payload, so a torn write (a crash in the
 * middle of `write`) or a flipped bit is detected at replay and the log is cut there instead
 * of being misread. No dependency: `node:fs` and `zlib.crc32`.
 *
 * Frame: u32 LE payload length · u32 LE crc32(payload) · payload. Payload: one type byte,
 * then for `A` (accepted) a u32 LE header length, the JSON header and the raw alert body; for
 * every other type the JSON header alone.
 *
 * Records: `A` an alert accepted (before the webhook answers 202); `P` one action of one
 * rule of that alert has its outcome recorded; `R` one rule of it is finished; `D` the alert
 * is finished; `K` a deduplication key carried into a new segment so it outlives the
 * segment it was first written in.
 *
 * Writes are synchronous (`writeSync`): once `append` returns, the record is in the kernel
 * and survives the process being killed (kill -9, OOM). Surviving a kernel crash or power
 * loss is the fsync policy's business (`always` | `interval` | `never`).
 */
import { closeSync, fdatasyncSync, mkdirSync, openSync, readFileSync, readdirSync, ftruncateSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

export type RecordType = 'A' | 'P' | 'R' | 'D' | 'K';

export interface JournalRecord {
  readonly type: RecordType;
  readonly header: Readonly<Record<string, unknown>>;
  /** The raw alert body (`A` only). */
  readonly body?: Buffer;
}

const FRAME = 8;
/** A record longer than this is corruption, not data (the body limit is at most 1 GiB). */
const MAX_RECORD = 1024 * 1024 * 1024 + 64 * 1024;
const SEGMENT = /^seg-(\d{12})\.log$/;

export function segmentName(n: number): string {
  return `seg-${String(n).padStart(12, '0')}.log`;
}

/** One record as the bytes written to a segment. */
export function encodeRecord(r: JournalRecord): Buffer {
  const header = Buffer.from(JSON.stringify(r.header), 'utf8');
  const body = r.body ?? Buffer.alloc(0);
  const withBody = r.type === 'A';
  const payloadLength = 1 + (withBody ? 4 + header.length + body.length : header.length);
  const out = Buffer.allocUnsafe(FRAME + payloadLength);
  out.writeUInt32LE(payloadLength, 0);
  let at = FRAME;
  out.write(r.type, at, 'latin1');
  at += 1;
  if (withBody) {
    out.writeUInt32LE(header.length, at);
    at += 4;
  }
  header.copy(out, at);
  at += header.length;
  if (withBody) body.copy(out, at);
  out.writeUInt32LE(crc32(out.subarray(FRAME)), 4);
  return out;
}

export interface DecodedSegment {
  readonly records: JournalRecord[];
  /** Bytes of the valid prefix; anything after it is a torn or corrupt tail. */
  readonly validBytes: number;
  /** Why decoding stopped before the end, if it did. */
  readonly problem?: string;
}

/** The records of one segment's bytes, up to the first frame that is torn or fails its checksum. */
export function decodeSegment(buf: Buffer): DecodedSegment {
  const records: JournalRecord[] = [];
  let at = 0;
  while (at < buf.length) {
    if (buf.length - at < FRAME) return { records, validBytes: at, problem: `torn frame header at byte ${at}` };
    const length = buf.readUInt32LE(at);
    const sum = buf.readUInt32LE(at + 4);
    if (length < 1 || length > MAX_RECORD) return { records, validBytes: at, problem: `impossible record length ${length} at byte ${at}` };
    if (buf.length - at - FRAME < length) return { records, validBytes: at, problem: `torn record at byte ${at} (${length} bytes announced, ${buf.length - at - FRAME} present)` };
    const payload = buf.subarray(at + FRAME, at + FRAME + length);
    if (crc32(payload) !== sum) return { records, validBytes: at, problem: `checksum mismatch at byte ${at}` };
    const type = String.fromCharCode(payload[0]!) as RecordType;
    try {
      if (type === 'A') {
        const hl = payload.readUInt32LE(1);
        const header = JSON.parse(payload.subarray(5, 5 + hl).toString('utf8')) as Record<string, unknown>;
        records.push({ type, header, body: Buffer.from(payload.subarray(5 + hl)) });
      } else if (type === 'P' || type === 'R' || type === 'D' || type === 'K') {
        records.push({ type, header: JSON.parse(payload.subarray(1).toString('utf8')) as Record<string, unknown> });
      } else return { records, validBytes: at, problem: `unknown record type ${JSON.stringify(type)} at byte ${at}` };
    } catch (err) {
      return { records, validBytes: at, problem: `unreadable record at byte ${at}: ${(err as Error).message}` };
    }
    at += FRAME + length;
  }
  return { records, validBytes: at };
}

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface SegmentStoreOptions {
  readonly dir: string;
  readonly fsync: FsyncPolicy;
  /** Start a new segment once the current one holds this many bytes. */
  readonly segmentBytes: number;
}

export interface LoadedSegments {
  /** Every valid record of every segment, oldest segment first, tagged with its segment. */
  readonly records: { readonly segment: number; readonly record: JournalRecord }[];
  /** Problems met (torn tails cut off), one line each, for the log. */
  readonly problems: string[];
}

/**
 * The segment files of one directory: reads them all at open (cutting a torn tail off the
 * last one), then appends to a new segment. Not safe for two processes on one directory —
 * one replica owns one journal volume.
 */
export class SegmentStore {
  private readonly opts: SegmentStoreOptions;
  private fd: number;
  private current: number;
  private currentBytes = 0;
  private dirty = false;

  private constructor(opts: SegmentStoreOptions, next: number) {
    this.opts = opts;
    this.current = next;
    this.fd = openSync(join(opts.dir, segmentName(next)), 'a');
  }

  /** Opens (creating) the directory, reads every segment, and starts a fresh one for appends. */
  static open(opts: SegmentStoreOptions): { store: SegmentStore; loaded: LoadedSegments } {
    mkdirSync(opts.dir, { recursive: true });
    const numbers = readdirSync(opts.dir)
      .map((f) => SEGMENT.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    const records: LoadedSegments['records'][number][] = [];
    const problems: string[] = [];
    for (const n of numbers) {
      const file = join(opts.dir, segmentName(n));
      const decoded = decodeSegment(readFileSync(file));
      for (const record of decoded.records) records.push({ segment: n, record });
      if (decoded.problem !== undefined) {
        problems.push(`${segmentName(n)}: ${decoded.problem}; the ${decoded.validBytes} bytes before it are kept`);
        const fd = openSync(file, 'r+');
        try {
          ftruncateSync(fd, decoded.validBytes);
        } finally {
          closeSync(fd);
        }
      }
    }
    const store = new SegmentStore(opts, (numbers.at(-1) ?? 0) + 1);
    return { store, loaded: { records, problems } };
  }

  /** The segment appends go to now. */
  segment(): number {
    return this.current;
  }

  /**
   * Appends records (one write). Under `always` the data is on stable storage when this
   * returns. Throws on I/O errors (disk full…): the caller must then refuse the alert.
   */
  append(records: readonly JournalRecord[]): void {
    const buf = records.length === 1 ? encodeRecord(records[0]!) : Buffer.concat(records.map(encodeRecord));
    let at = 0;
    while (at < buf.length) at += writeSync(this.fd, buf, at, buf.length - at);
    this.currentBytes += buf.length;
    if (this.opts.fsync === 'always') fdatasyncSync(this.fd);
    else this.dirty = true;
  }

  /** True when the current segment is full and the caller should `roll`. */
  full(): boolean {
    return this.currentBytes >= this.opts.segmentBytes;
  }

  /** Closes the current segment and starts the next; returns the new segment's number. */
  roll(): number {
    this.sync();
    closeSync(this.fd);
    this.current += 1;
    this.fd = openSync(join(this.opts.dir, segmentName(this.current)), 'a');
    this.currentBytes = 0;
    return this.current;
  }

  /** Deletes a segment that holds nothing live any more (never the current one). */
  remove(n: number): void {
    if (n === this.current) return;
    try {
      unlinkSync(join(this.opts.dir, segmentName(n)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  /** fdatasync if anything was written since the last one (the `interval` policy's tick). */
  sync(): void {
    if (!this.dirty) return;
    this.dirty = false;
    fdatasyncSync(this.fd);
  }

  close(): void {
    this.sync();
    closeSync(this.fd);
  }
}
