/**
 * Writes crds/*.yaml from the TypeBox schemas (operator/src/api/v1alpha1).
 *
 *   node dist/scripts/gen-crds.js            write the files (run from the repository root)
 *   node dist/scripts/gen-crds.js --check    exit 1 when a committed file differs from the generator
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderAdmission, renderCrds } from '../operator/src/api/v1alpha1/crd.js';

export interface GeneratedFile {
  /** Path relative to the repository root. */
  readonly path: string;
  readonly content: string;
}

/** A short description of the first difference between two texts, or undefined when equal. */
export function describeDrift(expected: string, actual: string): string | undefined {
  if (expected === actual) return undefined;
  const e = expected.split('\n');
  const a = actual.split('\n');
  const n = Math.max(e.length, a.length);
  for (let i = 0; i < n; i++) {
    if (e[i] !== a[i]) {
      return `first difference at line ${i + 1}:\n  - committed: ${a[i] ?? '<end of file>'}\n  + generated: ${e[i] ?? '<end of file>'}`;
    }
  }
  return 'files differ';
}

/**
 * Writes `files` under `root`, or with `check` compares them and returns one message per drifted
 * or missing file (empty when everything is up to date).
 */
export function writeOrCheck(root: string, files: readonly GeneratedFile[], check: boolean): string[] {
  const problems: string[] = [];
  for (const f of files) {
    const abs = join(root, f.path);
    if (check) {
      if (!existsSync(abs)) {
        problems.push(`${f.path}: missing`);
        continue;
      }
      const drift = describeDrift(f.content, readFileSync(abs, 'utf8'));
      if (drift) problems.push(`${f.path}: out of date; ${drift}`);
    } else {
      mkdirSync(dirname(abs), { recursive: true });
      writeFileSync(abs, f.content);
    }
  }
  return problems;
}

/** Runs a generator as a CLI: write, or `--check` and exit 1 with the drift. */
export function runGenerator(name: string, files: readonly GeneratedFile[], argv: readonly string[]): void {
  const check = argv.includes('--check');
  const root = process.cwd();
  const problems = writeOrCheck(root, files, check);
  if (problems.length > 0) {
    process.stderr.write(
      `${problems.join('\n')}\n\nregenerate with: node dist/scripts/${name}.js (from the repository root)\n`,
    );
    process.exitCode = 1;
    return;
  }
  const list = files.map((f) => relative(root, join(root, f.path))).join(', ');
  process.stdout.write(check ? `${name}: up to date (${list})\n` : `${name}: wrote ${list}\n`);
}

export function crdFiles(): GeneratedFile[] {
  return [...renderCrds(), renderAdmission()].map((f) => ({ path: `crds/${f.file}`, content: f.content }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runGenerator('gen-crds', crdFiles(), process.argv.slice(2));
}
