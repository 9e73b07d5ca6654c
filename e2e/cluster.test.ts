/**
 * Proves the e2e control plane is real: a namespace, a pod bound to a kwok node that
 * becomes Running, seen through a watch, a command executed in it and its logs read, all
 * through the Kubernetes API with @kubernetes/client-node.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import {
  createNamespace,
  deleteNamespace,
  eventually,
  loadE2EKubeConfig,
  podManifest,
  waitForPodRunning,
} from './support/cluster.js';

describe('e2e control plane', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let ns = '';

  before(async () => {
    ns = await createNamespace(core, 'e2e-plane');
  });
  after(async () => {
    await deleteNamespace(core, ns);
  });

  it('serves the API and has Ready kwok nodes', async () => {
    const nodes = await core.listNode();
    const ready = nodes.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    assert.ok(ready.length >= 2, `expected ≥2 Ready nodes, got ${ready.map((n) => n.metadata?.name).join(',')}`);
  });

  it('runs a pod on a kwok node and reports it through a watch', async () => {
    const seen: string[] = [];
    const watch = new k8s.Watch(kc);
    let resolveRunning!: () => void;
    const running = new Promise<void>((r) => (resolveRunning = r));
    const ctrl = await watch.watch(
      `/api/v1/namespaces/${ns}/pods`,
      {},
      (type, obj: k8s.V1Pod) => {
        seen.push(`${type}:${obj.status?.phase ?? ''}`);
        if (obj.status?.phase === 'Running') resolveRunning();
      },
      () => undefined,
    );
    try {
      await core.createNamespacedPod({ namespace: ns, body: podManifest('watched') });
      await eventually('Running via watch', () => Promise.race([running.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 200))]));
      assert.ok(seen.some((s) => s.startsWith('ADDED')), `watch saw ${seen.join(' ')}`);
      const pod = await waitForPodRunning(core, ns, 'watched');
      assert.ok(pod.status?.podIP, 'kwok assigned a pod IP');
    } finally {
      ctrl.abort();
    }
  });

  it('executes a command in the pod through pods/exec', async () => {
    await core.createNamespacedPod({ namespace: ns, body: podManifest('exec-target') });
    await waitForPodRunning(core, ns, 'exec-target');
    const exec = new k8s.Exec(kc);
    const out = new PassThrough();
    const err = new PassThrough();
    let stdout = '';
    let stderr = '';
    out.on('data', (d: Buffer) => (stdout += d.toString()));
    err.on('data', (d: Buffer) => (stderr += d.toString()));
    const status = await new Promise<k8s.V1Status>((resolve, reject) => {
      exec
        .exec(ns, 'exec-target', 'main', ['sh', '-c', 'echo "hello $TALON_E2E from $(id -u)"'], out, err, null, false, (s) => resolve(s))
        .catch(reject);
    });
    assert.equal(status.status, 'Success', `exec status ${JSON.stringify(status)} stderr=${stderr}`);
    await eventually('exec output', () => stdout.includes('hello'));
    assert.match(stdout, /hello 1 from 65534/);
  });

  it('reads container logs through the API', async () => {
    await core.createNamespacedPod({ namespace: ns, body: podManifest('logs-target') });
    await waitForPodRunning(core, ns, 'logs-target');
    const logs = await core.readNamespacedPodLog({ name: 'logs-target', namespace: ns, container: 'main' });
    assert.match(String(logs), /talon-e2e container log line/);
  });

  it('runs the controller manager: a Deployment gets ReplicaSet-owned Running pods', async () => {
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              nodeName: 'kwok-node-1',
              containers: [{ name: 'main', image: 'registry.invalid/fake:1' }],
              tolerations: [{ operator: 'Exists' }],
            },
          },
        },
      },
    });
    const d = await eventually('deployment ready', async () => {
      const dep = await apps.readNamespacedDeployment({ name: 'web', namespace: ns });
      return dep.status?.readyReplicas === 2 ? dep : undefined;
    }, 60_000);
    assert.equal(d.status?.readyReplicas, 2);
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
    assert.equal(pods.items.length, 2);
    assert.ok(pods.items.every((p) => p.metadata?.ownerReferences?.[0]?.kind === 'ReplicaSet'));
  });
});
