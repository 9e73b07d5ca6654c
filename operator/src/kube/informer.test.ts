import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException, type KubernetesObject } from '@kubernetes/client-node';
import { authSourceOf } from './transport.js';
import { FakeApiServer } from '../../test/fakes/apiserver.js';
import { ResilientInformer, WatchdogTimeoutError, type ResilientInformerOptions } from './informer.js';

const RULES = '/apis/talon.dev/v1alpha1/talonrules';
const PODS = '/api/v1/pods';

interface Rule extends KubernetesObject {
  spec?: Record<string, unknown>;
}

const rule = (namespace: string, name: string, spec: Record<string, unknown> = {}): Rule => ({
  apiVersion: 'talon.dev/v1alpha1',
  kind: 'TalonRule',
  metadata: { namespace, name },
  spec,
});

const nameOf = (o: KubernetesObject): string => `${o.metadata?.namespace}/${o.metadata?.name}`;

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Harness {
  server: FakeApiServer;
  informer: ResilientInformer<Rule>;
  events: string[];
  retryDelays: number[];
}

/** A fake server plus an informer on `path` recording its events as strings. */
async function setup(t: TestContext, path: string, opts: Partial<ResilientInformerOptions> = {}, server?: FakeApiServer): Promise<Harness> {
  const srv = server ?? (await FakeApiServer.start());
  const events: string[] = [];
  const retryDelays: number[] = [];
  const informer = new ResilientInformer<Rule>({
    auth: authSourceOf(srv.kubeConfig()),
    path,
    backoff: { initialMs: 10, maxMs: 40 },
    logger: {
      error() {},
      info() {},
      warn() {},
      debug(message, fields) {
        if (message === 'informer retrying') retryDelays.push(fields?.delayMs as number);
      },
    },
    ...opts,
  });
  informer.on('add', (o) => events.push(`add ${nameOf(o)}`));
  informer.on('update', (o, old) =>
    events.push(`update ${nameOf(o)} ${old.metadata?.resourceVersion === o.metadata?.resourceVersion ? 'same' : 'changed'}`),
  );
  informer.on('delete', (o) => events.push(`delete ${nameOf(o)}`));
  informer.on('synced', () => events.push('synced'));
  t.after(async () => {
    await informer.stop();
    await srv.close();
  });
  return { server: srv, informer, events, retryDelays };
}

test('hasSynced stays false until the first complete, paginated list', async (t) => {
  const server = await FakeApiServer.start();
  for (const n of ['a', 'b', 'c', 'd', 'e']) server.put(RULES, rule('talon-system', n));
  server.failLists = 1;
  const release = server.holdLists();
  const { informer, events } = await setup(t, RULES, { pageSize: 2 }, server);

  const started = informer.start();
  await waitFor('first list request', () => server.requestsOf('list', RULES).length === 1);
  assert.equal(informer.hasSynced(), false);
  assert.equal(informer.healthy(), false);
  assert.deepEqual(informer.list(), []);

  release();
  await started;
  assert.equal(informer.hasSynced(), true);
  assert.equal(informer.healthy(), true);
  assert.ok(informer.lastError instanceof ApiException && informer.lastError.code === 500);
  assert.deepEqual(informer.list().map(nameOf).sort(), ['a', 'b', 'c', 'd', 'e'].map((n) => `talon-system/${n}`));
  assert.deepEqual(events, [...['a', 'b', 'c', 'd', 'e'].map((n) => `add talon-system/${n}`), 'synced']);
  assert.equal(informer.resourceVersion, server.resourceVersion);

  const lists = server.requestsOf('list', RULES);
  assert.equal(lists.length, 4, 'one failed list, then three pages');
  assert.deepEqual(lists.map((r) => r.query.limit), ['2', '2', '2', '2']);
  assert.deepEqual(lists.map((r) => r.query.continue !== undefined), [false, false, true, true]);
  assert.equal(lists[1]!.headers.authorization, 'Bearer fake-token');
});

test('watch events become add/update/delete; a repeated resourceVersion is not re-emitted', async (t) => {
  const { server, informer, events } = await setup(t, RULES);
  const a = server.put(RULES, rule('ns1', 'a', { order: 1 }));
  informer.on('add', () => {
    throw new Error('a broken handler');
  });
  await informer.start();
  await waitFor('watch open', () => server.openWatches(RULES) === 1);

  server.put(RULES, rule('ns1', 'b'));
  server.put(RULES, rule('ns1', 'a', { order: 2 }));
  server.sendRaw(RULES, { type: 'MODIFIED', object: server.get(RULES, 'ns1', 'a') });
  server.remove(RULES, 'ns1', 'b');
  await waitFor('delete of b', () => events.includes('delete ns1/b'));

  assert.deepEqual(events, ['add ns1/a', 'synced', 'add ns1/b', 'update ns1/a changed', 'delete ns1/b']);
  assert.deepEqual(informer.list().map(nameOf), ['ns1/a']);
  assert.deepEqual(informer.get('ns1', 'a')?.spec, { order: 2 });
  assert.notEqual(informer.get('ns1', 'a')?.metadata?.resourceVersion, a.metadata?.resourceVersion);
  assert.equal(informer.get('ns1', 'b'), undefined);
  assert.equal(informer.resourceVersion, server.resourceVersion);
  assert.equal(server.requestsOf('watch', RULES).length, 1, 'no reconnect was needed');
});

test('bookmarks advance the resourceVersion a reconnecting watch resumes from', async (t) => {
  const { server, informer } = await setup(t, RULES);
  server.put(RULES, rule('ns1', 'a'));
  await informer.start();
  await waitFor('watch open', () => server.openWatches(RULES) === 1);
  const listRv = server.resourceVersion;

  const bookmarkRv = server.bookmark(RULES);
  await waitFor('bookmark applied', () => informer.resourceVersion === bookmarkRv);
  server.dropWatches();
  await waitFor('second watch', () => server.requestsOf('watch', RULES).length === 2);

  const [first, second] = server.requestsOf('watch', RULES);
  assert.equal(first!.query.resourceVersion, listRv);
  assert.equal(first!.query.allowWatchBookmarks, 'true');
  assert.equal(second!.query.resourceVersion, bookmarkRv);
  assert.equal(server.requestsOf('list', RULES).length, 1, 'a plain reconnect does not relist');
});

test('a dropped watch is retried with exponential backoff, never in a busy loop', async (t) => {
  let clock = 0;
  const { server, informer, events, retryDelays } = await setup(t, RULES, {
    backoff: { initialMs: 20, maxMs: 80, minMs: 0 },
    healthyMs: 1000,
    now: () => clock,
    random: () => 1,
  });
  server.put(RULES, rule('ns1', 'a'));
  server.watchMode = 'drop';
  await informer.start();
  await waitFor('five watch attempts', () => server.requestsOf('watch', RULES).length >= 5);

  assert.equal(informer.hasSynced(), true, 'the store survives disconnects');
  assert.deepEqual(informer.list().map(nameOf), ['ns1/a']);
  assert.equal(informer.healthy(), false);
  assert.ok(informer.lastError);
  assert.deepEqual(retryDelays.slice(0, 4), [20, 40, 80, 80]);
  const attempts = server.requestsOf('watch', RULES).length;
  assert.ok(attempts <= retryDelays.length + 1, `every reattempt waited first (${attempts} watches, ${retryDelays.length} delays)`);
  assert.equal(server.requestsOf('list', RULES).length, 1);

  server.watchMode = 'normal';
  await waitFor('watch re-established', () => server.openWatches(RULES) === 1);
  server.put(RULES, rule('ns1', 'b'));
  await waitFor('add of b', () => events.includes('add ns1/b'));
  assert.equal(informer.healthy(), true);

  const watchesBefore = server.requestsOf('watch', RULES).length;
  const delaysBefore = retryDelays.length;
  clock += 1000;
  server.dropWatches();
  await waitFor('reconnect after a healthy watch', () => server.requestsOf('watch', RULES).length > watchesBefore);
  assert.deepEqual(retryDelays.slice(delaysBefore), [20], 'a watch that stayed up for healthyMs resets the backoff');
});

for (const expiredAs of ['gone', 'goneEvent'] as const) {
  test(`410 Gone (${expiredAs === 'gone' ? 'HTTP status' : 'ERROR event'}) relists and emits what was missed while disconnected`, async (t) => {
    const { server, informer, events } = await setup(t, RULES);
    server.expiredAs = expiredAs;
    server.put(RULES, rule('ns1', 'a'));
    server.put(RULES, rule('ns1', 'b'));
    await informer.start();
    await waitFor('watch open', () => server.openWatches(RULES) === 1);

    server.remove(RULES, 'ns1', 'b', { deliver: false });
    server.put(RULES, rule('ns1', 'c'), { deliver: false });
    server.put(RULES, rule('ns1', 'a', { changed: true }), { deliver: false });
    server.compact();
    server.dropWatches();
    await waitFor('relisted and watching', () => server.requestsOf('list', RULES).length === 2 && server.openWatches(RULES) === 1);

    assert.deepEqual(events.slice(3).sort(), ['add ns1/c', 'delete ns1/b', 'update ns1/a changed']);
    assert.deepEqual(informer.list().map(nameOf).sort(), ['ns1/a', 'ns1/c']);
    assert.deepEqual(informer.get('ns1', 'a')?.spec, { changed: true });
    assert.equal(informer.resourceVersion, server.resourceVersion);
    const watches = server.requestsOf('watch', RULES);
    assert.equal(watches.at(-1)!.query.resourceVersion, server.resourceVersion, 'the new watch starts at the relist');
  });
}

for (const mode of ['silent', 'stall'] as const) {
  test(`the watchdog reopens a watch that stays ${mode}`, async (t) => {
    const { server, informer } = await setup(t, RULES, { watchdogMs: 100 });
    server.put(RULES, rule('ns1', 'a'));
    server.watchMode = mode;
    await informer.start();
    await waitFor('a second watch attempt', () => server.requestsOf('watch', RULES).length >= 2);

    assert.ok(informer.lastError instanceof WatchdogTimeoutError, String(informer.lastError));
    assert.equal(informer.hasSynced(), true);
    assert.equal(server.requestsOf('list', RULES).length, 1);
  });
}

test('resync relists, delivers lost deletes and re-emits update for unchanged objects', async (t) => {
  const { server, informer, events } = await setup(t, RULES, { resyncMs: 100 });
  server.put(RULES, rule('ns1', 'a'));
  server.put(RULES, rule('ns1', 'b'));
  await informer.start();
  server.failLists = 1;
  server.remove(RULES, 'ns1', 'b', { deliver: false });
  await waitFor('resync', () => events.includes('delete ns1/b') && events.includes('update ns1/a same'));

  assert.deepEqual(informer.list().map(nameOf), ['ns1/a']);
  assert.ok(server.requestsOf('list', RULES).length >= 3, 'a failed resync list is retried');
  assert.ok(informer.lastError instanceof ApiException && informer.lastError.code === 500);
  assert.ok(!events.includes('update ns1/b same'));
});

test('a namespaced core collection only holds its namespace', async (t) => {
  const server = await FakeApiServer.start();
  const pod = (namespace: string, name: string): KubernetesObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace, name } });
  server.put(PODS, pod('ns1', 'p1'));
  server.put(PODS, pod('ns2', 'p2'));
  const { informer, events } = await setup(t, '/api/v1/namespaces/ns1/pods', {}, server);
  await informer.start();
  await waitFor('watch open', () => server.openWatches(PODS) === 1);
  server.put(PODS, pod('ns2', 'p3'));
  server.put(PODS, pod('ns1', 'p4'));
  await waitFor('add of p4', () => events.includes('add ns1/p4'));

  assert.deepEqual(informer.list().map(nameOf).sort(), ['ns1/p1', 'ns1/p4']);
  assert.equal(informer.get('ns2', 'p2'), undefined);
  assert.equal(informer.get('ns1', 'p1')?.kind, 'Pod');
});

test('stop before the first list resolves start and ends the loop', async (t) => {
  const { server, informer } = await setup(t, RULES);
  server.failLists = 1_000_000;
  const started = informer.start();
  await waitFor('a list attempt', () => server.requestsOf('list', RULES).length >= 1);
  await informer.stop();
  await started;
  assert.equal(informer.hasSynced(), false);
  const after = server.requests.length;
  await informer.stop();
  assert.equal(server.requests.length, after);
});
