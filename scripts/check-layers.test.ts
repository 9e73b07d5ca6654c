import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importsOf, roomOf, scan, violations } from './check-layers.js';

test('roomOf: the first folder, or a top-level file name', () => {
  assert.equal(roomOf('lib/backoff.ts'), 'lib');
  assert.equal(roomOf('api/v1alpha1/types.ts'), 'api');
  assert.equal(roomOf('main.ts'), 'main');
  assert.equal(roomOf('errors.test.ts'), 'errors');
});

test('importsOf finds static, re-export and dynamic relative imports only', () => {
  const src = "import a from './a.js';\nimport type { B } from '../b/b.js';\nexport { c } from './c.js';\nimport x from 'node:fs';\nconst d = await import('./d.js');\n";
  assert.deepEqual(importsOf(src), ['./a.js', '../b/b.js', './c.js', './d.js']);
});

test('the real tree has no upward import', () => {
  assert.deepEqual(violations(scan(join(process.cwd(), 'operator/src'))), []);
});

test('a deliberate upward import fails the check with a message naming both rooms', () => {
  const root = mkdtempSync(join(tmpdir(), 'layers-'));
  try {
    mkdirSync(join(root, 'lib'));
    mkdirSync(join(root, 'kube'));
    mkdirSync(join(root, 'dispatch'));
    writeFileSync(join(root, 'dispatch/dispatcher.ts'), "export const d = 1;\n");
    writeFileSync(join(root, 'kube/client.ts'), "import { sleep } from '../lib/sleep.js';\nexport const c = sleep;\n");
    writeFileSync(join(root, 'lib/sleep.ts'), "import { d } from '../dispatch/dispatcher.js';\nexport const sleep = d;\n");
    const found = violations(scan(root));
    assert.deepEqual(found, ["lib/sleep.ts imports dispatch/dispatcher.ts: 'lib' may not import 'dispatch' (allowed: nothing of ours)"]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('only test files may import operator/test, and unknown rooms are reported', () => {
  const found = violations([
    { from: 'dispatch/dispatcher.test.ts', to: '../test/fakes/kube.ts' },
    { from: 'dispatch/dispatcher.ts', to: '../test/fakes/kube.ts' },
    { from: 'attic/old.ts', to: 'lib/log.ts' },
  ]);
  assert.equal(found.length, 2);
  assert.match(found[0]!, /dispatch\/dispatcher\.ts imports \.\.\/test\/fakes\/kube\.ts: outside operator\/src/);
  assert.match(found[1]!, /room 'attic' is not in the layering table/);
});
