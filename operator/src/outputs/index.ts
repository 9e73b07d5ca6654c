/**
 * THE list of outputs (artifact targets). Adding an output is one new file plus one line
 * here; the compiler's checks and the config's `outputs.<name>` settings follow from it.
 */
import type { Output } from './types.js';
import { localFileOutput } from './local/file.js';
import { s3Output } from './aws/s3.js';
import { gcsOutput } from './gcp/gcs.js';

/** A fresh array of every built-in output, in documentation order. */
export function builtinOutputs(): Output[] {
  return [localFileOutput, s3Output, gcsOutput];
}
