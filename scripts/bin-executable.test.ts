import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBinsExecutable } from './bin-executable.js';

test('every bin entry becomes executable; a missing one is an error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'talon-bin-'));
  try {
    mkdirSync(join(dir, 'dist'));
    writeFileSync(join(dir, 'dist', 'a.js'), '#!/usr/bin/env node\n', { mode: 0o644 });
    writeFileSync(join(dir, 'dist', 'b.js'), '#!/usr/bin/env node\n', { mode: 0o600 });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'x', bin: { a: 'dist/a.js', b: 'dist/b.js' } }));
    assert.equal(statSync(join(dir, 'dist', 'a.js')).mode & 0o111, 0);
    assert.deepEqual(makeBinsExecutable(dir), [join(dir, 'dist', 'a.js'), join(dir, 'dist', 'b.js')]);
    assert.equal(statSync(join(dir, 'dist', 'a.js')).mode & 0o777, 0o755);
    assert.equal(statSync(join(dir, 'dist', 'b.js')).mode & 0o777, 0o711);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'x', bin: { c: 'dist/c.js' } }));
    assert.throws(() => makeBinsExecutable(dir), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
