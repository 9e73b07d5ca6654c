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
 * loss is the fsync policy's business (`always` | `interval` | `never`). A record may also be
 * `enqueue`d: framed now, written with the next `append` or `flush` in the same `write` — one
 * syscall for several records; until then it is only in memory (the journal decides which
 * records may wait, docs/journal.md).
 */
import { close, closeSync, fdatasync, fdatasyncSync, mkdirSync, openSync, readFileSync, readdirSync, ftruncateSync, unlink, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

export type RecordType = 'A' | 'P' | 'R' | 'D' | 'K';

export interface JournalRecord {
  readonly type: RecordType;
  readonly header: Readonly<Record<string, unknown>>;
  /** The raw alert body (`A` only). */
  readonly body?: Buffer;
  /**
   * The header already serialised (`headerJson`), when the writer made it: `JSON.stringify`
   * of the journal's small headers was 3.6 % of the intake's CPU (issue 15). Otherwise the
   * header is serialised when framed.
   */
  readonly json?: string;
}

/** Characters a JSON string holds as they are (printable ASCII but `"` and `\`). */
const PLAIN_STRING = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** `s` as a JSON string: quoted as it is when plain (trace ids, keys, rule names), else `JSON.stringify`. */
export function jsonString(s: string): string {
  return PLAIN_STRING.test(s) ? `"${s}"` : JSON.stringify(s);
}

/**
 * Serialises the journal's record headers without `JSON.stringify`'s general walk; each
 * returns exactly what `JSON.stringify` would of the same object (unit-tested), or that
 * itself when a number is not finite.
 */
export const headerJson = {
  A(id: number, tr: string, t: number, k: string): string {
    return Number.isFinite(t) ? `{"id":${id},"tr":${jsonString(tr)},"t":${t},"k":${jsonString(k)}}` : JSON.stringify({ id, tr, t, k });
  },
  P(id: number, ruleJson: string, n: number): string {
    return `{"id":${id},"r":${ruleJson},"n":${n}}`;
  },
  D(id: number): string {
    return `{"id":${id}}`;
  },
};

const FRAME = 8;
/** A record longer than this is corruption, not data (the body limit is at most 1 GiB). */
const MAX_RECORD = 1024 * 1024 * 1024 + 64 * 1024;
const SEGMENT = /^seg-(\d{12})\.log$/;
/** The write buffer's size, and the most it keeps after a large record (bytes). */
const BUFFER_BYTES = 64 * 1024;
const MAX_KEPT_BUFFER = 1024 * 1024;
const fdatasyncAsync = promisify(fdatasync);
const closeAsync = promisify(close);
const unlinkAsync = promisify(unlink);

export function segmentName(n: number): string {
  return `seg-${String(n).padStart(12, '0')}.log`;
}

/** The largest number of bytes `r` can take once framed (UTF-8 is at most 3 bytes per UTF-16 unit). */
function boundOf(r: JournalRecord, json: string): number {
  return FRAME + 5 + json.length * 3 + (r.type === 'A' ? (r.body?.length ?? 0) : 0);
}

/**
 * Frames `r` (its header already serialised as `json`) into `out` at `start`, which must have
 * `boundOf` bytes of room; returns the end. The header is written straight into `out` and the
 * checksum computed over it in place: no intermediate buffer per record.
 */
function frameInto(out: Buffer, start: number, r: JournalRecord, json: string): number {
  let at = start + FRAME;
  out[at++] = r.type.charCodeAt(0);
  if (r.type === 'A') {
    const length = out.write(json, at + 4, 'utf8');
    out.writeUInt32LE(length, at);
    at += 4 + length;
    if (r.body !== undefined) at += r.body.copy(out, at);
  } else at += out.write(json, at, 'utf8');
  out.writeUInt32LE(at - start - FRAME, start);
  out.writeUInt32LE(crc32(out.subarray(start + FRAME, at)), start + 4);
  return at;
}

/** One record as the bytes written to a segment. */
export function encodeRecord(r: JournalRecord): Buffer {
  const json = JSON.stringify(r.header);
  const out = Buffer.allocUnsafe(boundOf(r, json));
  return out.subarray(0, frameInto(out, 0, r, json));
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
  /** A background fdatasync is running. */
  private syncing = false;
  private closed = false;
  /**
   * The work that need not hold up the intake's thread, done in libuv's thread pool one step
   * after the other (`later`): a closed segment's fdatasync and close, the removal of dead
   * segments. Done inline, a roll's fdatasync and the `unlink` of an 8 MiB segment held the
   * intake's thread for 1.5 % of its time at 15 k alerts/s (issue 15). In order, because
   * removals go oldest first, as a crash between two must leave the newer one.
   */
  private background: Promise<void> = Promise.resolve();
  /** Errors of the background work (the writes' own errors are thrown to their callers). */
  onBackgroundError: (err: Error) => void = () => undefined;
  /**
   * Records encoded and not yet written (`pending` bytes from 0): `enqueue` adds to it, and
   * the next `append` or `flush` writes it in the same `write` as whatever comes with it.
   * Reused between writes, so framing a record allocates nothing.
   */
  private buf = Buffer.allocUnsafe(BUFFER_BYTES);
  private pendingBytes = 0;
  private writeCount = 0;

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

  /** Frames a record to be written with the next `append` or `flush`; writes nothing. */
  enqueue(r: JournalRecord): void {
    this.frame(r);
  }

  /** Bytes enqueued and not yet written. */
  pending(): number {
    return this.pendingBytes;
  }

  /**
   * Writes the enqueued records and then `records`, in one write. Under `always` the data is
   * on stable storage when this returns. Throws on I/O errors (disk full…): the caller must
   * then refuse the alert; `records` are then not written (a partial write is cut off again)
   * and the enqueued ones stay enqueued.
   */
  append(records: readonly JournalRecord[]): void {
    const before = this.pendingBytes;
    for (const r of records) this.frame(r);
    try {
      this.writePending();
    } catch (err) {
      this.pendingBytes = before;
      throw err;
    }
  }

  /** Writes the enqueued records, if any (same errors as `append`; they then stay enqueued). */
  flush(): void {
    if (this.pendingBytes > 0) this.writePending();
  }

  /** Successful writes so far (each carries every record enqueued or appended with it). */
  writes(): number {
    return this.writeCount;
  }

  /** True when the current segment is full and the caller should `roll`. */
  full(): boolean {
    return this.currentBytes >= this.opts.segmentBytes;
  }

  /**
   * Starts the next segment and returns its number (flush first). The closed one is synced
   * (unless the policy is `never`, or `always` already did) and closed in the background.
   */
  roll(): number {
    const old = this.fd;
    const sync = this.opts.fsync !== 'never' && (this.dirty || this.syncing);
    this.dirty = false;
    this.syncing = false;
    // Opened before the old one is closed, so the two never share a descriptor number.
    this.fd = openSync(join(this.opts.dir, segmentName(this.current + 1)), 'a');
    this.current += 1;
    this.currentBytes = 0;
    this.later(async () => {
      try {
        if (sync) await fdatasyncAsync(old);
      } finally {
        await closeAsync(old);
      }
    });
    return this.current;
  }

  /**
   * Deletes a segment that holds nothing live any more (never the current one), in the
   * background. Under `interval` the current segment is synced first: it holds the copies of
   * the alerts carried out of the deleted one, and a deletion that reached the disk before them
   * would lose those alerts to a power cut.
   */
  remove(n: number): void {
    if (n === this.current) return;
    const path = join(this.opts.dir, segmentName(n));
    const fd = this.fd;
    const sync = this.opts.fsync === 'interval' && this.dirty;
    this.later(async () => {
      // A store closed meanwhile synced on close (and its descriptor is gone).
      if (sync && !this.closed) await fdatasyncAsync(fd);
      try {
        await unlinkAsync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    });
  }

  /** Resolves once the background work queued so far (syncs, closes, removals) has ended. */
  settled(): Promise<void> {
    return this.background;
  }

  private later(step: () => Promise<void>): void {
    this.background = this.background.then(step).catch((err: unknown) => this.onBackgroundError(err as Error));
  }

  /** fdatasync if anything was written since the last one, or a background one may not have ended (before the store is closed). */
  sync(): void {
    if (!this.dirty && !this.syncing) return;
    this.dirty = false;
    fdatasyncSync(this.fd);
  }

  /**
   * The `interval` policy's tick: fdatasync in libuv's thread pool if anything was written since
   * the last one, so the intake's thread does not wait for the disk (1 % of its CPU at 10k
   * alerts/s, issue 15). A failure marks the segment dirty again (the next tick retries); the
   * writes themselves report I/O errors where they can be acted on. A segment rolled meanwhile
   * is synced again by the roll's own background step before it is closed.
   */
  syncInBackground(): void {
    if (!this.dirty || this.syncing) return;
    this.dirty = false;
    this.syncing = true;
    const segment = this.current;
    fdatasync(this.fd, (err) => {
      // After a roll the flags are the next segment's; the roll synced this one again itself.
      if (segment !== this.current) return;
      this.syncing = false;
      if (err !== null) this.dirty = true;
    });
  }

  /** Writes what is enqueued, fdatasyncs and closes. */
  close(): void {
    try {
      this.flush();
      this.sync();
    } finally {
      this.closed = true;
      closeSync(this.fd);
    }
  }

  private frame(r: JournalRecord): void {
    const json = r.json ?? JSON.stringify(r.header);
    const need = this.pendingBytes + boundOf(r, json);
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.pendingBytes);
      this.buf = grown;
    }
    this.pendingBytes = frameInto(this.buf, this.pendingBytes, r, json);
  }

  /**
   * One write of everything enqueued. A write that fails part-way (disk full) is cut off the
   * file again, so the next successful write does not land behind a torn record (which replay
   * would stop at, losing what follows).
   */
  private writePending(): void {
    const length = this.pendingBytes;
    let at = 0;
    try {
      while (at < length) at += writeSync(this.fd, this.buf, at, length - at);
    } catch (err) {
      if (at > 0) {
        try {
          ftruncateSync(this.fd, this.currentBytes);
        } catch {
          // the torn tail is then cut at the next open, as after a crash
        }
      }
      throw err;
    }
    this.currentBytes += length;
    this.pendingBytes = 0;
    this.writeCount += 1;
    // A huge alert body grew the buffer: do not keep that much memory for the small records.
    if (this.buf.length > MAX_KEPT_BUFFER) this.buf = Buffer.allocUnsafe(BUFFER_BYTES);
    if (this.opts.fsync === 'always') fdatasyncSync(this.fd);
    else this.dirty = true;
  }
}
