import assert from 'node:assert/strict';
import { test } from 'node:test';
import { symlinkSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isEntryPoint } from './entry-point.js';

test('isEntryPoint: the module itself, or a symlink to it (npm bin), is the program; another script or none is not', () => {
  const self = fileURLToPath(import.meta.url);
  assert.equal(isEntryPoint(import.meta.url, self), true);
  const link = join(mkdtempSync(join(tmpdir(), 'entry-')), 'bin');
  symlinkSync(self, link);
  assert.equal(isEntryPoint(import.meta.url, link), true);
  assert.equal(isEntryPoint(import.meta.url, '/nonexistent/script.js'), false);
  assert.equal(isEntryPoint(import.meta.url, ''), false);
});
