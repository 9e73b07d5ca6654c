import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { Secret } from './secret.js';

test('a secret read from a file is revealed only on request; every printed form hides it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'secret-'));
  try {
    const p = join(dir, 'url');
    writeFileSync(p, 'https://hooks.example/T000/B000/XXXX\n');
    const s = Secret.fromFile(p);
    assert.equal(s.reveal(), 'https://hooks.example/T000/B000/XXXX');
    for (const shown of [String(s), `${s}`, JSON.stringify({ s }), inspect({ nested: { s } }, { depth: 5 })]) {
      assert.doesNotMatch(shown, /XXXX/);
      assert.match(shown, /<secret from .*url>/);
    }
    writeFileSync(join(dir, 'empty'), '\n');
    assert.throws(() => Secret.fromFile(join(dir, 'empty')), /secret file .*empty is empty/);
    assert.throws(() => Secret.fromFile(join(dir, 'missing')), /cannot read secret file .*missing: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
