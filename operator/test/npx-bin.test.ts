/**
 * `npx talon-operator …` and `npx kubectl-talon …` work in the checkout after `make build`:
 * the build recipe makes the package's bin files executable right after tsc (without it npx
 * fails with "Permission denied"), and the bins then run as commands.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fixturesDir } from './builders.js';
import { makeBinsExecutable } from '../../scripts/bin-executable.js';

const root = resolve(fixturesDir(), '..', '..', '..');

test('make build runs tsc, then makes the bins executable (npm run build too)', () => {
  const recipe = execFileSync('make', ['-n', '--no-print-directory', 'build'], { cwd: root, encoding: 'utf8' });
  const tsc = recipe.indexOf('tsc -p tsconfig.json');
  const chmod = recipe.indexOf('node dist/scripts/bin-executable.js');
  assert.ok(tsc >= 0 && chmod > tsc, recipe);
  const pkg = JSON.parse(execFileSync('node', ['-p', 'JSON.stringify(require("./package.json").scripts)'], { cwd: root, encoding: 'utf8' })) as Record<string, string>;
  assert.match(pkg.build!, /tsc -p tsconfig\.json && node dist\/scripts\/bin-executable\.js/);
});

test('npx talon-operator and npx kubectl-talon run from the checkout', () => {
  const bins = makeBinsExecutable(root);
  for (const b of bins) assert.notEqual(statSync(b).mode & 0o111, 0, b);
  const samples = ['clustertalonaction', 'clustertalonrule'].map((k) => join('config', 'samples', `talon.dev_v1alpha1_${k}.yaml`));
  const check = spawnSync('npx', ['--no-install', 'talon-operator', 'check', ...samples], { cwd: root, encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
  assert.equal(check.stdout, '1 rules (1 valid), 1 actions; 0 problems\n');
  const plugin = spawnSync('npx', ['--no-install', 'kubectl-talon', 'help'], { cwd: root, encoding: 'utf8' });
  assert.equal(plugin.status, 0, plugin.stderr);
  assert.match(plugin.stderr, /kubectl talon convert/);
});
