import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COMMANDS, runPlugin } from './kubectl-talon.js';

function capture() {
  const o = { out: '', err: '' };
  return { o, io: { stdout: (t: string) => void (o.out += t), stderr: (t: string) => void (o.err += t) } };
}

test('kubectl talon without a subcommand prints every subcommand and exits 0', async () => {
  const { o, io } = capture();
  assert.equal(await runPlugin([], io), 0);
  for (const name of Object.keys(COMMANDS)) assert.match(o.err, new RegExp(`kubectl talon ${name}\\b`));
});

test('an unknown subcommand exits 2 with the usage', async () => {
  const { o, io } = capture();
  assert.equal(await runPlugin(['frobnicate'], io), 2);
  assert.match(o.err, /usage:/);
});

test('check is the CLI check: a file that does not exist is an error', async () => {
  const { io } = capture();
  assert.notEqual(await runPlugin(['check', '/nonexistent/rules.yaml'], io), 0);
});

test('approve and reject need exactly one NAME and known flags (exit 2, nothing sent)', async () => {
  for (const args of [['approve'], ['reject', 'a', 'b'], ['approve', 'a', '--bogus', 'x'], ['reject', 'a', '-n']]) {
    const { o, io } = capture();
    assert.equal(await runPlugin(args, io), 2, args.join(' '));
    assert.match(o.err, /usage: kubectl talon (approve|reject) NAME/);
  }
});
