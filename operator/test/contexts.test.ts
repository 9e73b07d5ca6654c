/**
 * Additional contexts (dispatch/contexts.ts): `k8snode` from node objects, `aws` from a
 * loopback IMDS v2 endpoint that insists on a session token as the real one does; the short
 * cache; and, through the dispatcher, the values reaching a Lambda payload and an exec
 * command's environment.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { FakeKube, falcoEvent } from './fakes/kube.js';
import { AdditionalContexts } from '../src/dispatch/contexts.js';
import { alertEnv } from '../src/actionners/kubernetes/exec-env.js';
import { cloudPayload } from '../src/actionners/cloud-payload.js';

let imds: Server;
let endpoint = '';
const hits: string[] = [];
let withRole = true;

before(async () => {
  imds = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (req.headers['x-aws-ec2-metadata-token-ttl-seconds'] === undefined) return res.writeHead(400).end();
      return res.writeHead(200).end('imds-token-1');
    }
    if (req.headers['x-aws-ec2-metadata-token'] !== 'imds-token-1') return res.writeHead(401).end();
    if (req.url === '/latest/dynamic/instance-identity/document') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ region: 'eu-west-3', availabilityZone: 'eu-west-3a', instanceId: 'i-0abc', instanceType: 'm6i.large', accountId: '123456789012', privateIp: '10.0.0.1' }));
    }
    if (req.url === '/latest/meta-data/iam/info' && withRole) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ Code: 'Success', InstanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/nodes', InstanceProfileId: 'AIPAEXAMPLE' }));
    }
    return res.writeHead(404).end();
  });
  await new Promise<void>((r) => imds.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(imds.address() as { port: number }).port}`;
});
after(() => new Promise<void>((r) => imds.close(() => r())));

function cluster() {
  const kube = new FakeKube();
  kube.add('Node', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: 'ip-10-0-0-1',
      labels: { 'kubernetes.io/hostname': 'ip-10-0-0-1', 'node.kubernetes.io/instance-type': 'm6i.large', 'topology.kubernetes.io/region': 'eu-west-3', 'topology.kubernetes.io/zone': 'eu-west-3a', 'node-role.kubernetes.io/worker': '' },
    },
    spec: { providerID: 'aws:///eu-west-3a/i-0abc' },
    status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }, { type: 'Hostname', address: 'ip-10-0-0-1.internal' }] },
  });
  kube.add('Pod', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop' }, spec: { nodeName: 'ip-10-0-0-1', containers: [{ name: 'c', image: 'x' }] } });
  kube.add('Pod', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pending', namespace: 'shop' }, spec: { containers: [{ name: 'c', image: 'x' }] } });
  return kube;
}

const signal = new AbortController().signal;

test('k8snode: labels and addresses of the alert pod’s node; aws: region and identity from IMDS v2', async () => {
  const ctx = new AdditionalContexts({ kube: cluster().clients, imdsEndpoint: endpoint });
  const got = await ctx.fetch(['k8snode', 'aws'], falcoEvent({ 'k8s.ns.name': 'shop', 'k8s.pod.name': 'web-1' }), signal);
  assert.deepEqual(got.problems, []);
  assert.deepEqual(got.values, {
    'node.name': 'ip-10-0-0-1',
    'node.hostname': 'ip-10-0-0-1',
    'node.instancetype': 'm6i.large',
    'node.topology.region': 'eu-west-3',
    'node.topology.zone': 'eu-west-3a',
    'node.role': 'worker',
    'node.spec.providerid': 'aws:///eu-west-3a/i-0abc',
    'node.address.internalip': '10.0.0.1',
    'node.address.hostname': 'ip-10-0-0-1.internal',
    'aws.region': 'eu-west-3',
    'aws.availability_zone': 'eu-west-3a',
    'aws.instance_id': 'i-0abc',
    'aws.instance_type': 'm6i.large',
    'aws.account_id': '123456789012',
    'aws.instance_profile_arn': 'arn:aws:iam::123456789012:instance-profile/nodes',
    'aws.instance_profile_id': 'AIPAEXAMPLE',
  });
});

test('fetched contexts are cached for the TTL, then fetched again', async () => {
  let now = 1000;
  const kube = cluster();
  const ctx = new AdditionalContexts({ kube: kube.clients, imdsEndpoint: endpoint, ttlMs: 30_000, now: () => now });
  const ev = falcoEvent({ 'k8s.ns.name': 'shop', 'k8s.pod.name': 'web-1' });
  const before = hits.length;
  await ctx.fetch(['k8snode', 'aws'], ev, signal);
  await ctx.fetch(['k8snode', 'aws'], ev, signal);
  assert.equal(hits.length - before, 3, 'IMDS asked once: token, document, iam');
  assert.equal(kube.calls.get('core.readNode'), 1);
  now += 30_001;
  await ctx.fetch(['k8snode'], ev, signal);
  assert.equal(kube.calls.get('core.readNode'), 2);
});

test('what cannot be fetched is left out with the reason; no IAM role is not a problem', async () => {
  withRole = false;
  try {
    const ctx = new AdditionalContexts({ kube: cluster().clients, imdsEndpoint: endpoint });
    const r = await ctx.fetch(['k8snode', 'aws'], falcoEvent({ 'k8s.ns.name': 'shop', 'k8s.pod.name': 'pending' }), signal);
    assert.deepEqual(r.problems, ['k8snode: pod shop/pending is not on a node']);
    assert.equal(r.values['aws.region'], 'eu-west-3');
    assert.equal(r.values['aws.instance_profile_arn'], undefined);
    const none = await new AdditionalContexts({ kube: cluster().clients, imdsEndpoint: 'http://127.0.0.1:1' }).fetch(['aws', 'k8snode'], falcoEvent({}), signal);
    assert.deepEqual(none.values, {});
    assert.equal(none.problems.length, 2);
    assert.match(none.problems[0]!, /^aws: /);
    assert.equal(none.problems[1], 'k8snode: the alert names no pod');
  } finally {
    withRole = true;
  }
});

test('the values reach a command’s environment and a cloud function’s payload', () => {
  const contexts = { 'node.hostname': 'ip-10-0-0-1', 'aws.region': 'eu-west-3' };
  const ev = falcoEvent({ 'k8s.pod.name': 'web-1' });
  const env = alertEnv(ev, { fields: ['k8s.pod.name'], contexts, prefix: 'FALCO_' });
  assert.deepEqual(env.entries, ['FALCO_K8S_POD_NAME=web-1', 'FALCO_AWS_REGION=eu-west-3', 'FALCO_NODE_HOSTNAME=ip-10-0-0-1']);
  // Without a prefix node.* would be NODE_*, which interpreters read (NODE_OPTIONS…): never set.
  const bare = alertEnv(ev, { fields: [], contexts });
  assert.deepEqual(bare.entries, ['AWS_REGION=eu-west-3']);
  assert.deepEqual(bare.skipped, [{ field: 'node.hostname', why: 'reserved name NODE_HOSTNAME' }]);
  const payload = cloudPayload({ event: ev, rule: { namespace: '', name: 'r' }, actionName: 'a', contexts }, 'aws:lambda');
  assert.deepEqual(payload.context.additional, contexts);
});

test('the dispatcher fetches an action’s additionalContexts and hands them to its run (and only then)', async () => {
  const { Dispatcher } = await import('../src/dispatch/dispatcher.js');
  const { TokenBucketBudget } = await import('../src/dispatch/budget.js');
  const { Type } = await import('@sinclair/typebox');
  const { ok } = await import('../src/actionners/types.js');
  const seen: (Readonly<Record<string, string>> | undefined)[] = [];
  const probe = {
    info: { name: 't:probe', description: 't', requiredFields: [], defaultContinue: true, destructive: false, target: 'none' as const, output: 'none' as const, rbac: [], example: {} },
    paramsSchema: Type.Object({}),
    precheck: () => ({ ok: true as const }),
    run: async (c: { contexts?: Readonly<Record<string, string>> }) => (seen.push(c.contexts), ok('Labeled', 'done')),
  };
  const kube = cluster();
  const d = new Dispatcher({
    queue: { concurrency: 1, maxPending: 10 },
    kube: kube.clients,
    identity: { protectedNamespaces: new Set() },
    budget: new TokenBucketBudget(Infinity),
    sink: { record: () => undefined, matched: () => undefined, suppressed: () => undefined },
    cooldowns: { active: () => false, start: () => undefined },
    retry: { attempts: 1, baseMs: 1 },
    globalDryRun: false,
    contexts: new AdditionalContexts({ kube: kube.clients, imdsEndpoint: endpoint }),
  });
  const action = (name: string, additionalContexts: string[]) => ({ name, actionner: probe, params: {}, continue: true, ignoreErrors: false, timeoutMs: 5000, additionalContexts });
  d.dispatch(falcoEvent({ 'k8s.ns.name': 'shop', 'k8s.pod.name': 'web-1' }), [
    {
      kind: 'ClusterTalonRule',
      key: 'r',
      namespace: '',
      name: 'r',
      uid: 'u',
      generation: 1,
      scope: 'cluster',
      order: 0,
      continue: true,
      suspend: false,
      dryRun: false,
      cooldownMs: 0,
      matcher: { ruleNames: null, sources: null, test: () => true, explain: () => ({ matched: true }) },
      actions: [action('plain', []), action('with-node', ['k8snode'])],
      notifiers: [],
    },
  ]);
  await d.drain();
  assert.equal(seen.length, 2);
  assert.equal(seen[0], undefined);
  assert.equal(seen[1]?.['node.hostname'], 'ip-10-0-0-1');
  assert.equal(seen[1]?.['aws.region'], undefined, 'only the contexts asked for');
});
