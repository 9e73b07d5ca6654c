import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { FakeCaptureKube } from '../../../test/fakes/capture.js';
import { FakeKube, falcoEvent, podFixture, targetOf } from '../../../test/fakes/kube.js';
import { useOf, type ActionResult } from '../types.js';
import { containerIdsOf, makeSysdigActionner, SysdigParams, sysdigActionner } from './sysdig.js';

const params = (p: Record<string, unknown> = {}): SysdigParams => Value.Default(SysdigParams, structuredClone(p)) as SysdigParams;
const CIDS = ['containerd://0123456789abcdef0123456789abcdef', 'containerd://fedcba9876543210fedcba9876543210'];

interface Setup {
  fake: FakeCaptureKube;
  run: (p?: Record<string, unknown>, opts?: { operatorNamespace?: string; signal?: AbortSignal; fields?: Record<string, string> }) => Promise<ActionResult>;
}

/** A pod on node-7; `jobPodRuns` makes the Job controller's pod appear and run. */
function setup(jobPodRuns = true): Setup {
  const fake = new FakeCaptureKube();
  fake.addPod(podFixture('shop', 'web-1', { node: 'node-7', containerIDs: CIDS }) as V1Pod);
  if (jobPodRuns) {
    fake.onJob = (job) => {
      const ns = job.metadata?.namespace ?? '';
      const name = job.metadata?.name ?? '';
      fake.addPod({
        metadata: { namespace: ns, name: `${name}-abcde`, labels: { ...job.spec?.template.metadata?.labels, 'job-name': name } },
        spec: structuredClone(job.spec?.template.spec),
        status: { phase: 'Running', containerStatuses: [{ name: 'sysdig', image: 'x', imageID: 'x', ready: true, restartCount: 0, state: { running: {} } }] },
      } as V1Pod);
    };
  }
  const actionner = makeSysdigActionner(() => fake);
  const run: Setup['run'] = (p = {}, opts = {}) => {
    const event = falcoEvent(opts.fields ?? { 'k8s.ns.name': 'shop', 'k8s.pod.name': 'web-1' }, { hostname: 'node-by-hostname' });
    return actionner.run({
      event,
      target: targetOf(event, 'node'),
      params: params({ startTimeoutSeconds: 5, ...p }),
      signal: opts.signal ?? new AbortController().signal,
      kube: new FakeKube().clients,
      identity: { protectedNamespaces: new Set(), ...(opts.operatorNamespace !== undefined ? { podNamespace: opts.operatorNamespace } : {}) },
      rule: { namespace: '', name: 'capture-syscalls' },
      actionName: 'sysdig',
    });
  };
  return { fake, run };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test("the example validates; defaults are Talon v0.3.0's; node scope, output required", () => {
  assert.ok(Value.Check(SysdigParams, params(sysdigActionner.info.example)));
  const d = params();
  assert.deepEqual([d.image, d.duration, d.bufferSize, d.scope], ['issif/sysdig:latest', 5, 2048, 'pod']);
  assert.equal(sysdigActionner.info.output, 'required');
  assert.equal(useOf(sysdigActionner, d).scope, 'node');
  assert.equal(useOf(sysdigActionner, params({ scope: 'node' })).scope, 'node');
  for (const bad of [{ duration: 0 }, { duration: 31 }, { bufferSize: 64 }, { scope: 'cluster' }, { criSocket: '../x' }, { criSocket: '/run/x y' }, { image: '--privileged' }]) {
    assert.ok(!Value.Check(SysdigParams, params(bad)), JSON.stringify(bad));
  }
});

test("creates the Job pinned to the pod's node, privileged with the host paths, bounded, labelled; streams the capture; deletes the Job", async () => {
  const { fake, run } = setup();
  const scap = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x0d, 0x0a, 0xff, 0x00]);
  fake.scripts.set('sysdig', { exitCode: 0 });
  fake.scripts.set('cat', { chunks: [scap], exitCode: 0 });
  const r = await run({ duration: 10, bufferSize: 4096, image: 'registry.example/sysdig:0.40' }, { operatorNamespace: 'talon-system' });
  assert.deepEqual([r.status, r.reason], ['success', 'Captured'], r.message);
  const jobs = [...fake.jobs.values()];
  assert.equal(jobs.length, 1);
  const job = jobs[0] as V1Job;
  const name = job.metadata?.name ?? '';
  assert.match(name, /^talon-sysdig-[0-9a-f]{10}$/);
  // In the operator's namespace, not the alert's.
  assert.equal(job.metadata?.namespace, 'talon-system');
  const labels = { 'app.kubernetes.io/managed-by': 'talon-operator', 'talon.dev/rule': 'capture-syscalls', 'talon.dev/capture': name };
  assert.deepEqual(job.metadata?.labels, labels);
  const life = 5 + 10 + 60;
  assert.deepEqual([job.spec?.backoffLimit, job.spec?.activeDeadlineSeconds, job.spec?.ttlSecondsAfterFinished], [0, life, 300]);
  const ps = job.spec?.template.spec;
  assert.deepEqual(job.spec?.template.metadata?.labels, labels);
  assert.deepEqual(
    [ps?.nodeName, ps?.restartPolicy, ps?.tolerations, ps?.hostPID, ps?.automountServiceAccountToken],
    ['node-7', 'Never', [{ operator: 'Exists' }], true, false],
  );
  const c = ps?.containers[0];
  assert.deepEqual([c?.image, c?.command, c?.securityContext?.privileged, c?.securityContext?.runAsUser], ['registry.example/sysdig:0.40', ['sleep', String(life)], true, 0]);
  const mounts = Object.fromEntries((c?.volumeMounts ?? []).map((m) => [m.mountPath, [(ps?.volumes ?? []).find((v) => v.name === m.name)?.hostPath?.path, m.readOnly]]));
  assert.deepEqual(mounts, {
    '/host/proc': ['/proc', true],
    '/host/boot': ['/boot', true],
    '/host/lib/modules': ['/lib/modules', true],
    '/host/usr': ['/usr', true],
    '/host/etc': ['/etc', true],
    '/host/dev': ['/dev', false],
    '/host/run/containerd/containerd.sock': ['/run/containerd/containerd.sock', false],
  });
  // sysdig, then cat, in the Job's pod; argv only; scope pod filters on the pod's own container ids.
  assert.deepEqual(
    fake.execs.map((e) => [e.namespace, e.pod, e.container, e.command]),
    [
      ['talon-system', `${name}-abcde`, 'sysdig', ['sysdig', '--modern-bpf', '--cri', '/host/run/containerd/containerd.sock', '-M', '10', '-s', '4096', '-z', '-w', '/tmp/talon.scap.gz', 'container.id in (0123456789ab,fedcba987654)']],
      ['talon-system', `${name}-abcde`, 'sysdig', ['cat', '/tmp/talon.scap.gz']],
    ],
  );
  assert.deepEqual(fake.deletedJobs, [], 'the Job lives while its capture streams');
  assert.deepEqual([r.artifact?.name, r.artifact?.contentType], ['sysdig.scap.gz', 'application/gzip']);
  assert.deepEqual(await readAll(r.artifact!.stream), scap);
  await tick();
  assert.deepEqual(fake.deletedJobs, [name]);
  assert.equal(fake.jobs.size, 0);
  assert.ok(r.objects?.some((o) => o.kind === 'Job' && o.name === name && o.namespace === 'talon-system'));
});

test("scope node: no filter; the Job goes to the pod's namespace when the operator's is unknown; a node named by hostname", async () => {
  const { fake, run } = setup();
  fake.scripts.set('cat', { chunks: [Buffer.from('x')], exitCode: 0 });
  const r = await run({ scope: 'node' });
  assert.equal(r.status, 'success', r.message);
  assert.equal([...fake.jobs.values()][0]?.metadata?.namespace, 'shop');
  assert.equal(fake.execs[0]?.command.at(-1), '/tmp/talon.scap.gz');
  r.artifact?.stream.destroy();
  await tick();
  assert.equal(fake.jobs.size, 0, 'a destroyed (abandoned) stream deletes the Job too');
  const h = await run({ scope: 'node' }, { operatorNamespace: 'talon-system', fields: {} });
  assert.equal(h.status, 'success', h.message);
  assert.equal([...fake.jobs.values()][0]?.spec?.template.spec?.nodeName, 'node-by-hostname');
  h.artifact?.stream.destroy();
});

test('precheck: scope pod needs the alert to name a pod', () => {
  const ev = falcoEvent({}, { hostname: 'node-9' });
  const res = sysdigActionner.precheck(ev, targetOf(ev, 'node'), params());
  assert.deepEqual([res.ok, res.ok ? '' : res.reason], [false, 'MissingFields']);
  assert.ok(sysdigActionner.precheck(ev, targetOf(ev, 'node'), params({ scope: 'node' })).ok);
});

test('the Job is deleted on every failure path: pod never runs, sysdig fails, cat cannot start, abort', async () => {
  const never = setup(false);
  const r1 = await never.run({}, { operatorNamespace: 'talon-system' });
  assert.deepEqual([r1.status, r1.reason], ['failure', 'CaptureNotStarted']);
  assert.match(r1.message, /^no capture: the capture Job 'talon-sysdig-[0-9a-f]{10}' \(image issif\/sysdig:latest\) in namespace 'talon-system' on node 'node-7': no pod was created within 5 s/);
  await tick();
  assert.equal(never.fake.jobs.size, 0);
  assert.equal(never.fake.deletedJobs.length, 1);

  const { fake, run } = setup();
  fake.scripts.set('sysdig', { exitCode: 1, stderr: 'Unable to load the driver' });
  const r2 = await run();
  assert.deepEqual([r2.reason, /in the capture Job .*, 'sysdig' exited with code 1: Unable to load the driver/.test(r2.message)], ['CaptureFailed', true]);
  fake.scripts.set('sysdig', { exitCode: 0 });
  fake.scripts.set('cat', { refuse: 'container not found ("sysdig")' });
  const r3 = await run();
  assert.deepEqual([r3.reason, /reading the capture back .*container not found/.test(r3.message)], ['CaptureFailed', true]);
  const ac = new AbortController();
  fake.scripts.set('sysdig', { hang: true });
  const pending = run({}, { signal: ac.signal });
  while (fake.execs.length < 4) await tick();
  assert.equal(fake.jobs.size, 1, 'the Job exists while sysdig runs');
  ac.abort(new Error('shutdown'));
  const r4 = await pending;
  assert.deepEqual([r4.status, r4.reason], ['failure', 'CaptureFailed']);
  await tick();
  assert.equal(fake.jobs.size, 0, 'aborted: the Job is deleted');
  assert.equal(fake.deletedJobs.length, 3);
});

test('container ids come from the pod status (12 hex), never from the alert', () => {
  const pod = podFixture('shop', 'p', { containerIDs: [...CIDS, 'docker://ABC', 'containerd://$(reboot)'] }) as V1Pod;
  assert.deepEqual(containerIdsOf(pod), ['0123456789ab', 'fedcba987654']);
});

test('scope pod without container ids: no Job, a clear failure', async () => {
  const fake = new FakeCaptureKube();
  fake.addPod(podFixture('shop', 'web-1', { node: 'node-7' }) as V1Pod);
  const event = falcoEvent({ 'k8s.ns.name': 'shop', 'k8s.pod.name': 'web-1' });
  const r = await makeSysdigActionner(() => fake).run({
    event,
    target: targetOf(event, 'node'),
    params: params(),
    signal: new AbortController().signal,
    kube: new FakeKube().clients,
    identity: { protectedNamespaces: new Set() },
    rule: { namespace: '', name: 'r' },
    actionName: 's',
  });
  assert.deepEqual([r.status, r.reason], ['failure', 'CaptureNotStarted']);
  assert.equal(fake.jobs.size, 0);
});
