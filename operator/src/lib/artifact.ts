/**
 * An artifact an action produced (a capture, a log, a file): a stream plus what an output
 * needs to store it. Producers never buffer the whole artifact; `maxBytes` is the cap the
 * producer enforces (an output may stop reading beyond it and report the artifact truncated).
 */
import { Readable } from 'node:stream';

export interface Artifact {
  readonly name: string;
  readonly contentType: string;
  /** The bytes, read once by the action's output. */
  readonly stream: Readable;
  /** Upper bound of the artifact's size in bytes. */
  readonly maxBytes: number;
}

/** An artifact over bytes already in memory (small outputs, tests). */
export function artifactFromBuffer(name: string, contentType: string, data: Buffer): Artifact {
  return { name, contentType, stream: Readable.from([data]), maxBytes: data.length };
}
