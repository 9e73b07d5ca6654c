import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ApiException,
  HttpMethod,
  PatchStrategy,
  RequestContext,
  type ConfigurationOptions,
  type CoreV1Api,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import type { FalcoEvent } from '../../falco/event.js';
import { resolveTarget } from '../../falco/target.js';
import { ActionnerRegistry } from '../registry.js';
import { useOf, type ActionContext, type ActionResult, type Actionner, type KubeClients } from '../types.js';
import { annotationActionner } from './annotation.js';
import { labelActionner } from './label.js';
import { requestOptions } from './common.js';
import type { RawKube, RawRequest } from '../../kube/raw.js';

type Obj = { metadata?: Record<string, unknown> } & Record<string, unknown>;

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

async function contentTypeOf(options?: ConfigurationOptions): Promise<string | undefined> {
  const ctx = new RequestContext('https://fake/', HttpMethod.PATCH);
  ctx.setHeaderParam('Content-Type', 'application/json-patch+json');
  for (const mw of options?.middleware ?? []) await mw.pre(ctx).toPromise();
  return ctx.getHeaders()['Content-Type'];
}

const notFound = (what: string) => new ApiException(404, `${what} not found`, { message: `${what} not found` }, {});

/** A state-based fake of the CoreV1Api methods these actionners use; patches need the merge-patch content type. */
class FakeCore {
  readonly pods = new Map<string, V1Pod>();
  readonly nodes = new Map<string, V1Node>();
  failPatchWith?: ApiException<unknown>;

  addPod(namespace: string, name: string, nodeName?: string, labels?: Record<string, string>): void {
    this.pods.set(`${namespace}/${name}`, {
      metadata: { name, namespace, ...(labels ? { labels } : {}) },
      spec: { containers: [], ...(nodeName ? { nodeName } : {}) },
    });
  }

  async readNamespacedPod(p: { name: string; namespace: string }): Promise<V1Pod> {
    const pod = this.pods.get(`${p.namespace}/${p.name}`);
    if (!pod) throw notFound(`pods "${p.name}"`);
    return structuredClone(pod);
  }

  async patchNamespacedPod(p: { name: string; namespace: string; body: unknown }, options?: ConfigurationOptions): Promise<V1Pod> {
    if (this.failPatchWith) throw this.failPatchWith;
    await this.requireMergePatch(options);
    const key = `${p.namespace}/${p.name}`;
    const pod = this.pods.get(key);
    if (!pod) throw notFound(`pods "${p.name}"`);
    const next = mergePatch(pod, p.body) as V1Pod;
    this.pods.set(key, next);
    return next;
  }

  async patchNode(p: { name: string; body: unknown }, options?: ConfigurationOptions): Promise<V1Node> {
    if (this.failPatchWith) throw this.failPatchWith;
    await this.requireMergePatch(options);
    const node = this.nodes.get(p.name);
    if (!node) throw notFound(`nodes "${p.name}"`);
    const next = mergePatch(node, p.body) as V1Node;
    this.nodes.set(p.name, next);
    return next;
  }

  private async requireMergePatch(options?: ConfigurationOptions): Promise<void> {
    const ct = await contentTypeOf(options);
    if (ct !== PatchStrategy.MergePatch) throw new ApiException(415, `unsupported patch type ${ct}`, {}, {});
  }
}

/** The actionner's raw requests (kube/raw.ts), served by the FakeCore's typed methods with the request's Content-Type. */
function rawOf(core: FakeCore): RawKube {
  return {
    request: async <T>(req: RawRequest): Promise<T> => {
      const options = requestOptions(req.signal, req.contentType as PatchStrategy | undefined);
      const pod = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(req.path);
      const node = /^\/api\/v1\/nodes\/([^/]+)$/.exec(req.path);
      let out: unknown;
      if (pod && req.method === 'PATCH') out = await core.patchNamespacedPod({ namespace: pod[1] as string, name: pod[2] as string, body: req.body }, options);
      else if (pod && req.method === 'GET') out = await core.readNamespacedPod({ namespace: pod[1] as string, name: pod[2] as string });
      else if (node && req.method === 'PATCH') out = await core.patchNode({ name: node[1] as string, body: req.body }, options);
      else throw new Error(`unexpected raw ${req.method} ${req.path}`);
      return (req.discard === true ? undefined : out) as T;
    },
  };
}

function event(fields: Record<string, string>): FalcoEvent {
  return {
    rule: 'Terminal shell in container',
    priority: 'Notice',
    priorityLevel: 3,
    source: 'syscall',
    time: '2025-01-01T00:00:00Z',
    hostname: 'node-1',
    output: 'shell',
    tags: [],
    outputFields: fields,
    receivedAt: 0,
    traceId: 't',
  };
}

const registry = new ActionnerRegistry([labelActionner, annotationActionner] as Actionner[]);

async function run(a: Actionner, core: FakeCore, params: unknown, fields: Record<string, string> = { 'k8s.pod.name': 'web', 'k8s.ns.name': 'shop' }, signal = new AbortController().signal): Promise<ActionResult> {
  const v = registry.validateParams(a.info.name, params, 'parameters');
  assert.ok(v.ok, JSON.stringify(!v.ok && v.errors));
  const ev = event(fields);
  // As the dispatcher does: resolve the target for the use; none ⇒ Skipped/MissingFields, no run.
  const resolution = resolveTarget(ev, useOf(a, v.params).target);
  if (!resolution.ok) return { status: 'skipped', reason: 'MissingFields', message: resolution.message };
  const target = resolution.target;
  const ctx: ActionContext = {
    event: ev,
    target,
    params: v.params,
    signal,
    kube: { core: core as unknown as CoreV1Api, raw: rawOf(core) } as KubeClients,
    identity: { protectedNamespaces: new Set(['kube-system']) },
    rule: { namespace: 'talon-system', name: 'r' },
    actionName: 'label',
  };
  const pre = a.precheck(ev, target, v.params);
  if (!pre.ok) return { status: 'skipped', reason: pre.reason, message: pre.message };
  return a.run(ctx);
}

const labelsOf = (o: V1Pod | V1Node | undefined) => o?.metadata?.labels;

test('label: sets, changes and removes pod labels (empty value removes)', async () => {
  const core = new FakeCore();
  core.addPod('shop', 'web', 'node-1', { app: 'web', stale: 'x', 'talon.dev/suspicious': 'false' });
  const res = await run(labelActionner, core, { labels: { 'talon.dev/suspicious': 'true', stale: '', new: 'y' } });
  assert.equal(res.status, 'success');
  assert.equal(res.reason, 'Labeled');
  assert.deepEqual(labelsOf(core.pods.get('shop/web')), { app: 'web', 'talon.dev/suspicious': 'true', new: 'y' });
  assert.deepEqual(res.objects, [{ apiVersion: 'v1', kind: 'Pod', namespace: 'shop', name: 'web' }]);
  assert.match(res.message, /the pod 'web' in the namespace 'shop' has been labeled/);
});

test('label: works on a pod without labels, and is idempotent', async () => {
  const core = new FakeCore();
  core.addPod('shop', 'web');
  await run(labelActionner, core, { labels: { a: 'b' } });
  const res = await run(labelActionner, core, { labels: { a: 'b' } });
  assert.equal(res.status, 'success');
  assert.deepEqual(labelsOf(core.pods.get('shop/web')), { a: 'b' });
});

test('label level node: labels the pod\'s node, not the pod', async () => {
  const core = new FakeCore();
  core.addPod('shop', 'web', 'node-1', { app: 'web' });
  core.nodes.set('node-1', { metadata: { name: 'node-1', labels: { zone: 'a' } } });
  const res = await run(labelActionner, core, { labels: { 'talon.dev/compromised': 'true', zone: '' }, level: 'node' });
  assert.equal(res.status, 'success');
  assert.deepEqual(labelsOf(core.nodes.get('node-1')), { 'talon.dev/compromised': 'true' });
  assert.deepEqual(labelsOf(core.pods.get('shop/web')), { app: 'web' });
  // The node changed; the pod is reported too so Events regarding it carry its uid.
  assert.deepEqual(res.objects?.map((o) => `${o.kind}/${o.name}`), ['Node/node-1', 'Pod/web']);
});

test('label level node: an unscheduled pod is skipped', async () => {
  const core = new FakeCore();
  core.addPod('shop', 'web');
  const res = await run(labelActionner, core, { labels: { a: 'b' }, level: 'node' });
  assert.equal(res.status, 'skipped');
  assert.equal(res.reason, 'PodNotScheduled');
});

test('annotation: sets and removes pod annotations; values are free text', async () => {
  const core = new FakeCore();
  core.addPod('shop', 'web');
  core.pods.get('shop/web')!.metadata!.annotations = { old: '1' };
  const res = await run(annotationActionner, core, { annotations: { 'talon.dev/alert': 'Terminal shell in container!', old: '' } });
  assert.equal(res.status, 'success');
  assert.equal(res.reason, 'Annotated');
  assert.deepEqual(core.pods.get('shop/web')!.metadata!.annotations, { 'talon.dev/alert': 'Terminal shell in container!' });
});

test('a vanished pod is skipped as NotFound', async () => {
  const res = await run(labelActionner, new FakeCore(), { labels: { a: 'b' } });
  assert.equal(res.status, 'skipped');
  assert.equal(res.reason, 'NotFound');
});

test('API failures map by status code: 403 names the missing permission, 5xx/409 retryable, 422 terminal', async () => {
  const core = new FakeCore();
  core.addPod('shop', 'web');
  core.failPatchWith = new ApiException(
    403,
    'forbidden',
    { kind: 'Status', message: 'pods "web" is forbidden: User "system:serviceaccount:talon-system:talon-operator" cannot patch resource "pods" in API group "" in the namespace "shop"' },
    {},
  );
  let res = await run(labelActionner, core, { labels: { a: 'b' } });
  assert.deepEqual([res.status, res.reason, res.retryable], ['failure', 'Forbidden', false]);
  assert.match(res.message, /missing RBAC permission: cannot patch pods/);
  core.failPatchWith = new ApiException(503, 'unavailable', '{"message":"etcd timeout"}', {});
  res = await run(labelActionner, core, { labels: { a: 'b' } });
  assert.deepEqual([res.status, res.retryable], ['failure', true]);
  assert.match(res.message, /etcd timeout/);
  core.failPatchWith = new ApiException(409, 'conflict', {}, {});
  assert.equal((await run(labelActionner, core, { labels: { a: 'b' } })).retryable, true);
  core.failPatchWith = new ApiException(422, 'invalid', { message: 'metadata.labels: Invalid value' }, {});
  res = await run(labelActionner, core, { labels: { a: 'b' } });
  assert.deepEqual([res.status, res.retryable], ['failure', false]);
  assert.equal(labelsOf(core.pods.get('shop/web')), undefined);
});

test('an aborted run changes nothing', async () => {
  const core = new FakeCore();
  core.addPod('shop', 'web');
  const ac = new AbortController();
  ac.abort();
  const res = await run(labelActionner, core, { labels: { a: 'b' } }, undefined, ac.signal);
  assert.equal(res.status, 'failure');
  assert.equal(labelsOf(core.pods.get('shop/web')), undefined);
});

test('an alert without pod/namespace resolves to no pod target: nothing is patched', async () => {
  const core = new FakeCore();
  core.addPod('shop', 'web');
  const res = await run(labelActionner, core, { labels: { a: 'b' } }, { 'proc.name': 'bash', 'k8s.pod.name': 'web' });
  assert.equal(res.status, 'skipped');
  assert.equal(res.reason, 'MissingFields');
  assert.equal(labelsOf(core.pods.get('shop/web')), undefined);
});

test('parameters: labels required and non-empty, keys and values must be valid, level enum', () => {
  const errs = (p: unknown) => {
    const r = registry.validateParams('kubernetes:label', p, 'spec.parameters');
    return r.ok ? [] : r.errors.map((e) => e.message);
  };
  assert.deepEqual(errs({}), ["missing required parameter 'labels'"]);
  assert.deepEqual(errs({ labels: {} }), ["parameter 'labels' must NOT have fewer than 1 properties"]);
  assert.deepEqual(errs({ labels: { 'bad key': 'x' } }), ["parameter 'labels' has an invalid key 'bad key'"]);
  assert.equal(errs({ labels: { a: 'not valid!' } }).length, 1);
  assert.deepEqual(errs({ labels: { a: 'b' }, level: 'cluster' }), ["parameter 'level' must be one of: pod, node"]);
  const ok = registry.validateParams('kubernetes:label', { labels: { 'talon.dev/x': '' } }, 'p');
  assert.ok(ok.ok);
  assert.equal(ok.params.level, 'pod');
});

test('level node: the use acts on a node (node-scoped), level pod on the pod', () => {
  assert.equal(labelActionner.info.target, 'pod');
  assert.deepEqual(useOf(labelActionner, { labels: { a: 'b' }, level: 'node' }), { target: 'node', scope: 'node' });
  assert.deepEqual(useOf(annotationActionner, { annotations: { a: 'b' }, level: 'pod' }), { target: 'pod', scope: 'pod' });
});

test('level node without a pod in the alert acts on the node named by Falco\'s hostname', async () => {
  const core = new FakeCore();
  core.nodes.set('node-1', { metadata: { name: 'node-1' } });
  const res = await run(labelActionner, core, { labels: { 'talon.dev/compromised': 'true' }, level: 'node' }, {});
  assert.equal(res.status, 'success', res.message);
  assert.deepEqual(labelsOf(core.nodes.get('node-1')), { 'talon.dev/compromised': 'true' });
  assert.deepEqual(res.objects?.map((o) => `${o.kind}/${o.name}`), ['Node/node-1']);
});
