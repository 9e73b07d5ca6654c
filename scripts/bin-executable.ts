/**
 * Makes every `bin` entry of package.json executable. tsc writes files 0644, so after a build
 * `npx talon-operator …` and `kubectl talon …` (the plugin found on the PATH) would fail with
 * "Permission denied"; `make build` and `npm run build` run this right after tsc.
 *
 *   node dist/scripts/bin-executable.js [PACKAGE_DIR]   exit 1 when a bin file is missing
 */
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** chmod a+x on the package's bin files; returns their paths, throws when one does not exist. */
export function makeBinsExecutable(packageDir: string): string[] {
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { name?: string; bin?: string | Record<string, string> };
  const bins = typeof pkg.bin === 'string' ? [pkg.bin] : Object.values(pkg.bin ?? {});
  return bins.map((rel) => {
    const path = join(packageDir, rel);
    const mode = statSync(path).mode;
    chmodSync(path, mode | 0o111);
    return path;
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    makeBinsExecutable(resolve(process.argv[2] ?? '.'));
  } catch (err) {
    process.stderr.write(`bin-executable: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
