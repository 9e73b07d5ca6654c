import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeKube, falcoEvent, podFixture, targetOf } from '../../../test/fakes/kube.js';
import type { ActionResult } from '../types.js';
import { ActionnerRegistry } from '../registry.js';
import { LOG_EXCERPT_READ_BYTES, logActionner } from './log.js';

const registry = new ActionnerRegistry([logActionner]);

function setup(containers = ['main', 'side']): FakeKube {
  const fake = new FakeKube();
  const pod = podFixture('default', 'web-1');
  (pod.spec as { containers: unknown[] }).containers = containers.map((c) => ({ name: c, image: 'busybox' }));
  fake.add('Pod', pod);
  return fake;
}

async function run(fake: FakeKube, p: Record<string, unknown>, hasOutput: boolean): Promise<ActionResult> {
  const v = registry.validateParams('kubernetes:log', p, 'parameters');
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  const event = falcoEvent({ 'k8s.ns.name': 'default', 'k8s.pod.name': 'web-1' });
  return logActionner.run({
    event,
    target: targetOf(event, 'pod'),
    params: v.params as never,
    signal: new AbortController().signal,
    kube: fake.clients,
    identity: { protectedNamespaces: new Set() },
    rule: { namespace: 'default', name: 'r' },
    actionName: 'logs',
    hasOutput,
  });
}

async function text(r: ActionResult): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of r.artifact!.stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const lines = (n: number, tag = 'line'): string => Array.from({ length: n }, (_, i) => `${tag} ${i + 1}\n`).join('');

test('the example validates', () => {
  assert.ok(registry.validateParams('kubernetes:log', logActionner.info.example, 'p').ok);
});

test('with an output: the selected lines stream as an artifact; one byte over the cap is asked so truncation shows', async () => {
  const fake = setup();
  fake.streams.setLog('default', 'web-1', 'main', lines(100));
  const r = await run(fake, { tailLines: 3, sinceSeconds: 60, maxBytes: 5000 }, true);
  assert.deepEqual([r.status, r.reason], ['success', 'LogCollected']);
  assert.equal(r.message, "collected the log of container 'main' of pod 'default/web-1'");
  assert.equal(r.artifact?.name, 'log-main.txt');
  assert.equal(r.artifact?.maxBytes, 5000);
  assert.equal(await text(r), 'line 98\nline 99\nline 100\n');
  const req = fake.streams.logRequests[0];
  assert.deepEqual([req?.tailLines, req?.sinceSeconds, req?.limitBytes, req?.previous], [3, 60, 5001, false]);
});

test('tailLines 0 reads every line; a named container, its previous instance', async () => {
  const fake = setup();
  fake.streams.setLog('default', 'web-1', 'side', lines(50, 'old'), true);
  const r = await run(fake, { container: 'side', previous: true, tailLines: 0 }, true);
  assert.equal(r.artifact?.name, 'log-side-previous.txt');
  assert.equal(await text(r), lines(50, 'old'));
  assert.equal(fake.streams.logRequests[0]?.tailLines, undefined);
  assert.match(r.message, /previous log of container 'side'/);
});

test('without an output: the end of the log is in the message, read with a small cap', async () => {
  const fake = setup();
  fake.streams.setLog('default', 'web-1', 'main', `${'x'.repeat(3000)}\nlast \u001b[1mline\u001b[0m\n`);
  const r = await run(fake, { tailLines: 0 }, false);
  assert.equal(r.artifact, undefined);
  assert.equal(r.reason, 'LogCollected');
  assert.match(r.message, /^log of container 'main' of pod 'default\/web-1':\n…x+\nlast line$/);
  assert.ok(r.message.length < 1200);
  assert.equal(fake.streams.logRequests[0]?.limitBytes, LOG_EXCERPT_READ_BYTES);
  fake.streams.setLog('default', 'web-1', 'main', '');
  assert.equal((await run(fake, {}, false)).message, "log of container 'main' of pod 'default/web-1' (empty)");
});

test('init and ephemeral containers may be named (a finished init container, a debug container)', async () => {
  const fake = new FakeKube();
  const pod = podFixture('default', 'web-1');
  const spec = pod.spec as Record<string, unknown>;
  spec.initContainers = [{ name: 'setup', image: 'x' }];
  spec.ephemeralContainers = [{ name: 'debugger', image: 'x' }];
  fake.add('Pod', pod);
  fake.streams.setLog('default', 'web-1', 'setup', 'migrated\n');
  fake.streams.setLog('default', 'web-1', 'debugger', 'captured\n');
  assert.equal(await text(await run(fake, { container: 'setup' }, true)), 'migrated\n');
  assert.equal(await text(await run(fake, { container: 'debugger' }, true)), 'captured\n');
  const first = await run(fake, {}, false);
  assert.equal(first.reason, 'NotFound', 'the default is the first regular container, never an init one');
  assert.match(first.message, /container main of pod web-1 has no log/);
});

test('errors: no previous instance, unknown container, gone pod', async () => {
  const fake = setup();
  const prev = await run(fake, { previous: true }, true);
  assert.deepEqual([prev.status, prev.reason], ['failure', 'BadRequest']);
  assert.match(prev.message, /previous terminated container "main" in pod "web-1" not found/);
  const missing = await run(fake, { container: 'nope' }, true);
  assert.deepEqual([missing.status, missing.reason], ['failure', 'ContainerNotFound']);
  const gone = await run(new FakeKube(), {}, true);
  assert.deepEqual([gone.status, gone.reason], ['skipped', 'PodNotFound']);
});
