/**
 * The console app on a real HTTP server (port 0) with state-based fakes of the Kubernetes
 * API: a token table for TokenReview, an RBAC table for SubjectAccessReview, and lists of
 * rules, Events and approvals. The e2e browser test runs the same app against the real API.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLog } from '../lib/log.js';
import type { AccessQuery, AuthPort } from './access.js';
import { chartOf, createConsoleApp, SESSION_COOKIE } from './app.js';
import type { Approval, ConsoleSource, Decision, OutcomeEvent, RuleObject } from './source.js';

const outcome = (namespace: string, name: string, result = 'Succeeded', time = '2026-11-30T01:00:10.000000Z'): OutcomeEvent => ({
  time,
  namespace,
  result,
  actionner: 'kubernetes:label',
  note: `labeled <b>${name}</b>`,
  type: 'Normal',
  count: 1,
  regarding: { kind: 'Pod', namespace, name },
  rule: { kind: 'TalonRule', namespace, name: 'r' },
  traceId: '0af7651916cd43dd8448eb211c80319c',
});

class FakeCluster implements ConsoleSource, AuthPort {
  approvalsInstalled = false;
  readonly decisions: { token: string; namespace: string; name: string; decision: Decision }[] = [];
  readonly tokens = new Map([
    ['alice-token', 'alice'],
    ['bob-token', 'bob'],
  ]);
  /** user → "verb resource namespace" grants. */
  readonly grants = new Map<string, Set<string>>([
    ['alice', new Set(['list events team-a', 'list talonrules team-a', 'list talonapprovals team-a', 'approve talonapprovals team-a'])],
    ['bob', new Set(['list events team-b', 'list talonapprovals team-a'])],
  ]);
  async rules(): Promise<RuleObject[]> {
    return ['team-a', 'team-b'].map((ns) => ({ kind: 'TalonRule', metadata: { namespace: ns, name: 'r' }, spec: {} as never, status: { matchedEvents: 3 } }));
  }
  async outcomeEvents(): Promise<OutcomeEvent[]> {
    return [outcome('team-a', 'pod-a'), outcome('team-b', 'pod-b', 'Failed')];
  }
  async approvals(): Promise<{ installed: boolean; items: Approval[] }> {
    return { installed: this.approvalsInstalled, items: this.approvalsInstalled ? [{ metadata: { namespace: 'team-a', name: 'ap1' }, spec: { action: { name: 'kill', actionner: 'kubernetes:terminate' } } }] : [] };
  }
  async decide(token: string, namespace: string, name: string, decision: Decision): Promise<void> {
    this.decisions.push({ token, namespace, name, decision });
  }
  async tokenReview(token: string) {
    const u = this.tokens.get(token);
    return u ? ({ authenticated: true, user: { username: u, groups: ['system:authenticated'] } } as const) : ({ authenticated: false, error: 'invalid bearer token' } as const);
  }
  async subjectAccessReview(user: { username: string }, q: AccessQuery): Promise<boolean> {
    return this.grants.get(user.username)?.has(`${q.verb} ${q.resource} ${q.namespace}`) ?? false;
  }
}

describe('console app', () => {
  const cluster = new FakeCluster();
  let server: http.Server;
  let base = '';
  before(async () => {
    const app = createConsoleApp({ source: cluster, auth: cluster, sessionTtlMs: 60_000, accessCacheTtlMs: 0, secure: false, log: silentLog });
    server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const signIn = async (token: string): Promise<{ cookie: string; csrf: string }> => {
    const r = await fetch(`${base}/login`, { method: 'POST', headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${token}` });
    assert.equal(r.status, 200);
    const setCookie = r.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /HttpOnly/i);
    assert.match(setCookie, /SameSite=Strict/i);
    const body = (await r.json()) as { csrfToken: string };
    return { cookie: setCookie.split(';')[0]!, csrf: body.csrfToken };
  };
  const get = (path: string, cookie: string, accept = 'application/json') => fetch(`${base}${path}`, { headers: { accept, cookie }, redirect: 'manual' });

  it('refuses a token the API server does not accept, and pages without a session', async () => {
    const r = await fetch(`${base}/login`, { method: 'POST', headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=nope' });
    assert.equal(r.status, 401);
    assert.deepEqual(await r.json(), { error: 'invalid bearer token' });
    assert.equal((await get('/timeline', '')).status, 401);
    assert.equal((await get('/timeline', `${SESSION_COOKIE}=forged`, 'text/html')).headers.get('location'), '/login');
  });

  it('shows each user only the namespaces their RBAC lets them list, and escapes event text', async () => {
    const alice = await signIn('alice-token');
    const t = (await (await get('/timeline', alice.cookie)).json()) as { items: OutcomeEvent[] };
    assert.deepEqual(t.items.map((e) => e.regarding.name), ['pod-a']);
    const rules = (await (await get('/rules', alice.cookie)).json()) as { items: { namespace: string }[] };
    assert.deepEqual(rules.items.map((r) => r.namespace), ['team-a']);
    const page = await (await get('/timeline', alice.cookie, 'text/html')).text();
    assert.ok(page.includes('labeled &lt;b&gt;pod-a&lt;/b&gt;'));
    assert.ok(!page.includes('pod-b'));
    assert.equal((await get('/targets/team-b/Pod/pod-b', alice.cookie)).status, 403);
    const bob = await signIn('bob-token');
    const tb = (await (await get('/timeline', bob.cookie)).json()) as { items: OutcomeEvent[] };
    assert.deepEqual(tb.items.map((e) => e.regarding.name), ['pod-b']);
  });

  it('says so when the TalonApproval kind is not installed', async () => {
    cluster.approvalsInstalled = false;
    const alice = await signIn('alice-token');
    assert.deepEqual(await (await get('/approvals', alice.cookie)).json(), { installed: false, items: [] });
    assert.match(await (await get('/approvals', alice.cookie, 'text/html')).text(), /TalonApproval kind \(talonapprovals\.talon\.dev\) is not installed/);
    const r = await fetch(`${base}/approvals/team-a/ap1/approve`, { method: 'POST', headers: { accept: 'application/json', cookie: alice.cookie, 'x-csrf-token': alice.csrf } });
    assert.equal(r.status, 404);
  });

  it('decides with the user’s token when they hold approve; refuses without it or without the CSRF token', async () => {
    cluster.approvalsInstalled = true;
    const alice = await signIn('alice-token');
    const bob = await signIn('bob-token');
    const post = (who: { cookie: string }, headers: Record<string, string>) =>
      fetch(`${base}/approvals/team-a/ap1/approve`, { method: 'POST', headers: { accept: 'application/json', cookie: who.cookie, ...headers } });
    assert.equal((await post(alice, {})).status, 403, 'no CSRF token');
    assert.equal((await post(alice, { 'x-csrf-token': bob.csrf })).status, 403, "another session's CSRF token");
    assert.equal((await post(alice, { 'x-csrf-token': alice.csrf, origin: 'http://evil.example' })).status, 403, 'cross-origin');
    assert.equal((await post(alice, { 'x-csrf-token': alice.csrf, 'sec-fetch-site': 'cross-site' })).status, 403, 'cross-site');
    assert.equal((await post(bob, { 'x-csrf-token': bob.csrf })).status, 403, 'bob may list but not approve');
    assert.deepEqual(cluster.decisions, []);
    assert.equal((await post(alice, { 'x-csrf-token': alice.csrf })).status, 200);
    assert.deepEqual(cluster.decisions, [{ token: 'alice-token', namespace: 'team-a', name: 'ap1', decision: 'Approved' }]);
    const listed = (await (await get('/approvals', bob.cookie)).json()) as { items: { canDecide: boolean }[] };
    assert.deepEqual(listed.items.map((a) => a.canDecide), [false]);
  });

  it('sends the security headers', async () => {
    const r = await fetch(`${base}/login`);
    assert.match(r.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.equal(r.headers.get('x-frame-options'), 'SAMEORIGIN');
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  });

  it('charts outcomes per minute by result over the last hour, weighted by series counts', () => {
    const c = chartOf(
      [
        { ...outcome('a', 'p', 'Succeeded', '2026-11-30T01:00:10Z'), count: 3 },
        outcome('a', 'p', 'Failed', '2026-11-30T01:02:59Z'),
      ],
      Date.parse('2026-11-30T01:30:30Z'),
    );
    const t0 = Date.parse('2026-11-30T00:30:00Z') / 1000;
    assert.equal(c.times.length, 61);
    assert.equal(c.times[0], t0);
    assert.equal(c.times[60], t0 + 3600);
    const at = (iso: string) => c.times.indexOf(Date.parse(iso) / 1000);
    const failed = c.series.find((s) => s.result === 'Failed')!.counts;
    const succeeded = c.series.find((s) => s.result === 'Succeeded')!.counts;
    assert.equal(failed[at('2026-11-30T01:02:00Z')], 1);
    assert.equal(succeeded[at('2026-11-30T01:00:00Z')], 3);
    assert.equal(failed.reduce((a, b) => a + b, 0) + succeeded.reduce((a, b) => a + b, 0), 4);
  });
});
