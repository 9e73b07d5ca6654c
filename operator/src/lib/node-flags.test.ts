import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS, NODE_PROCESS_ENV } from './node-flags.js';

test("the image's ENTRYPOINT runs node with NODE_FLAGS, the flags the benches and the e2e tier use", () => {
  const dockerfile = readFileSync(fileURLToPath(new URL('../../../../Dockerfile', import.meta.url)), 'utf8');
  const line = dockerfile.split('\n').find((l) => l.startsWith('ENTRYPOINT '));
  assert.ok(line, 'the Dockerfile has an ENTRYPOINT');
  assert.deepEqual(JSON.parse(line.slice('ENTRYPOINT '.length)), ['/nodejs/bin/node', ...NODE_FLAGS, 'dist/operator/src/cli.js']);
});

test('scripts/dev.sh (make dev) runs the operator with them too', () => {
  const dev = readFileSync(fileURLToPath(new URL('../../../../scripts/dev.sh', import.meta.url)), 'utf8');
  assert.ok(dev.includes(`exec node ${NODE_FLAGS.join(' ')} dist/operator/src/cli.js run`), 'dev.sh starts node with NODE_FLAGS');
  for (const [k, v] of Object.entries(NODE_PROCESS_ENV)) assert.ok(dev.split('\n').includes(`export ${k}=${v}`), `dev.sh exports ${k}=${v}`);
});

test("the image's environment holds NODE_PROCESS_ENV", () => {
  const dockerfile = readFileSync(fileURLToPath(new URL('../../../../Dockerfile', import.meta.url)), 'utf8');
  const env = dockerfile.split('\n').filter((l) => l.startsWith('ENV '));
  for (const [k, v] of Object.entries(NODE_PROCESS_ENV)) assert.ok(env.includes(`ENV ${k}=${v}`), `the Dockerfile sets ${k}=${v}`);
});

test('node accepts the flags', async () => {
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync(process.execPath, [...NODE_FLAGS, '-e', 'console.log("ok")'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(out.trim(), 'ok');
});
