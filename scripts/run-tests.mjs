#!/usr/bin/env node
// Runs node's built-in test runner over every compiled *.test.js under the given
// directories, and the given *.test.js files (Node 20 has no glob support in `node --test`).
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const dirs = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const files = [];
const walk = (d) => {
  for (const e of readdirSync(d)) {
    const p = join(d, e);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.test.js')) files.push(p);
  }
};
// A directory is searched; a *.test.js file is taken as it is (the least-privilege tier names its files).
for (const d of dirs) {
  if (!existsSync(d)) continue;
  if (statSync(d).isDirectory()) walk(d);
  else if (d.endsWith('.test.js')) files.push(d);
}
if (files.length === 0) {
  console.error(`no test files under ${dirs.join(', ')}`);
  process.exit(1);
}
files.sort();
const concurrency = flags.find((f) => f.startsWith('--concurrency='));
const args = ['--enable-source-maps', '--test', '--test-reporter=spec'];
if (concurrency) args.push(`--test-concurrency=${concurrency.split('=')[1]}`);
const r = spawnSync(process.execPath, [...args, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
