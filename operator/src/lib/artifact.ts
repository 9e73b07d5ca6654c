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

/**
 * Releases an artifact nobody will store (no output configured, the run was abandoned, a
 * retry superseded it): destroys its stream so the producer's resources (a pipe, an exec
 * session, a file handle) are freed. Harmless on a stream already consumed or destroyed.
 */
export function discardArtifact(artifact: Artifact): void {
  if (!artifact.stream.destroyed) artifact.stream.destroy();
}
