import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import type { V1Pod } from '@kubernetes/client-node';
import { FakeCaptureKube, runningEphemeral } from '../../../test/fakes/capture.js';
import { FakeKube, falcoEvent, podFixture, targetOf } from '../../../test/fakes/kube.js';
import { apiError } from '../../../test/fakes/kube.js';
import { useOf, type ActionResult } from '../types.js';
import { makeTcpdumpActionner, tcpdumpCommand, TcpdumpParams } from './tcpdump.js';

const params = (p: Record<string, unknown> = {}): TcpdumpParams => Value.Default(TcpdumpParams, structuredClone(p)) as TcpdumpParams;

function setup(opts: { runs?: boolean } = {}): { fake: FakeCaptureKube; run: (p?: Record<string, unknown>, pod?: string) => Promise<ActionResult> } {
  const fake = new FakeCaptureKube();
  const pod = podFixture('shop', 'web-1') as V1Pod;
  pod.spec!.containers = [{ name: 'app', image: 'nginx' }, { name: 'sidecar', image: 'envoy' }];
  pod.metadata!.uid = 'uid-web-1';
  fake.addPod(pod);
  if (opts.runs !== false) fake.onPatch = (p, c) => runningEphemeral(p, c.name);
  const actionner = makeTcpdumpActionner(() => fake);
  const run = (p: Record<string, unknown> = {}, name = 'web-1'): Promise<ActionResult> => {
    const event = falcoEvent({ 'k8s.ns.name': 'shop', 'k8s.pod.name': name });
    return actionner.run({
      event,
      target: targetOf(event, 'pod'),
      params: params({ startTimeoutSeconds: 5, ...p }),
      signal: new AbortController().signal,
      kube: new FakeKube().clients,
      identity: { protectedNamespaces: new Set() },
      rule: { namespace: 'shop', name: 'r' },
      actionName: 'capture',
    });
  };
  return { fake, run };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

test('the example validates; defaults are Talon\'s', () => {
  const a = makeTcpdumpActionner();
  assert.ok(Value.Check(TcpdumpParams, params(a.info.example)));
  const d = params();
  assert.deepEqual([d.image, d.duration, d.snaplen, d.interface, d.filter], ['issif/tcpdump:latest', 5, 4096, 'any', undefined]);
  assert.equal(a.info.output, 'required');
  assert.equal(a.info.target, 'pod');
  // Beyond the built-in edit role (no pods/ephemeralcontainers there): tenant rules only where safety.cloudNamespaces allows.
  assert.deepEqual(useOf(a, params()), { target: 'pod', scope: 'cloud' });
});

test('parameters: duration bounded; filters and interfaces that could be read as options are refused', () => {
  const bad = [{ duration: 0 }, { duration: 301 }, { filter: '-w /etc/passwd' }, { filter: 'port 80\n-w x' }, { filter: '' }, { interface: '-w' }, { interface: 'eth0 -w x' }, { image: '-v' }, { image: 'a b' }, { snaplen: -1 }, { foo: 1 }];
  for (const p of bad) assert.ok(!Value.Check(TcpdumpParams, params(p)), JSON.stringify(p));
  assert.ok(Value.Check(TcpdumpParams, params({ filter: "tcp port 443 and host 10.0.0.1 and not (icmp or arp) and 'quoted' $(x) `y`" })));
});

test('adds the ephemeral container the parameters describe and streams the pcap from the exec', async () => {
  const { fake, run } = setup();
  const pcap = Buffer.concat([Buffer.from('d4c3b2a1020004000000000000000000ffff000001000000', 'hex'), Buffer.from([0x0d, 0x0a, 0x00, 0xff])]);
  fake.scripts.set('timeout', { chunks: [pcap], exitCode: 0 });
  const filter = 'tcp port 80 and host 10.1.2.3; touch /tmp/pwned $(id)';
  const r = await run({ duration: 12, snaplen: 128, interface: 'eth0', filter, packetCount: 500, image: 'registry.example/tools/tcpdump:4.99@sha256:abc', container: 'sidecar' });
  assert.deepEqual([r.status, r.reason], ['success', 'Captured'], r.message);
  const eph = fake.pod('shop', 'web-1')?.spec?.ephemeralContainers ?? [];
  assert.equal(eph.length, 1);
  const c = eph[0]!;
  assert.match(c.name, /^talon-tcpdump-[0-9a-f]{10}$/);
  assert.deepEqual(
    { image: c.image, command: c.command, args: c.args, target: c.targetContainerName, stdin: c.stdin, tty: c.tty, sc: c.securityContext },
    {
      image: 'registry.example/tools/tcpdump:4.99@sha256:abc',
      command: ['sleep', String(5 + 12 + 30)],
      args: undefined,
      target: 'sidecar',
      stdin: false,
      tty: false,
      sc: { runAsUser: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, privileged: false, capabilities: { add: ['NET_RAW', 'NET_ADMIN'], drop: ['ALL'] } },
    },
  );
  // The capture runs in that container, argv only; the filter is ONE entry after `--`.
  assert.equal(fake.execs.length, 1);
  assert.deepEqual(fake.execs[0], {
    namespace: 'shop',
    pod: 'web-1',
    container: c.name,
    command: ['timeout', '-s', 'INT', '12', 'tcpdump', '-n', '-U', '-i', 'eth0', '-s', '128', '-c', '500', '-w', '-', '--', filter],
  });
  assert.ok(r.artifact);
  assert.deepEqual([r.artifact.name, r.artifact.contentType, r.artifact.maxBytes], ['tcpdump.pcap', 'application/vnd.tcpdump.pcap', 50 * 1024 * 1024]);
  assert.deepEqual(await readAll(r.artifact.stream), pcap);
  assert.ok(r.objects?.some((o) => o.kind === 'Pod' && o.name === 'web-1' && o.uid === 'uid-web-1'));
});

test('defaults: the first container is targeted; no filter means no `--`', async () => {
  const { fake, run } = setup();
  const r = await run();
  assert.equal(r.status, 'success', r.message);
  assert.equal(fake.pod('shop', 'web-1')?.spec?.ephemeralContainers?.[0]?.targetContainerName, 'app');
  assert.deepEqual(fake.execs[0]?.command, tcpdumpCommand(params()));
  assert.ok(!fake.execs[0]?.command.includes('--'));
  r.artifact?.stream.destroy();
});

test('a second capture on the same pod adds a second, differently named container', async () => {
  const { fake, run } = setup();
  const a = await run();
  const b = await run();
  assert.deepEqual([a.status, b.status], ['success', 'success']);
  const names = (fake.pod('shop', 'web-1')?.spec?.ephemeralContainers ?? []).map((c) => c.name);
  assert.equal(names.length, 2);
  assert.notEqual(names[0], names[1]);
  assert.deepEqual(fake.execs.map((e) => e.container), names);
  a.artifact?.stream.destroy();
  b.artifact?.stream.destroy();
});

test('a container that never runs: Failed/CaptureNotStarted after the bounded wait, no exec', async () => {
  const { fake, run } = setup({ runs: false });
  const r = await run({ startTimeoutSeconds: 5 });
  assert.deepEqual([r.status, r.reason], ['failure', 'CaptureNotStarted']);
  assert.match(r.message, /^no capture: the ephemeral container 'talon-tcpdump-[0-9a-f]{10}' \(image issif\/tcpdump:latest\) of pod 'web-1' in namespace 'shop' did not run: it did not start within 5 s/);
  assert.equal(fake.execs.length, 0);
  assert.equal(r.artifact, undefined);
  // The API server did accept it: it is in the pod.
  assert.equal(fake.pod('shop', 'web-1')?.spec?.ephemeralContainers?.length, 1);
});

test('an image that cannot be pulled ends the wait early', async () => {
  const { fake, run } = setup({ runs: false });
  fake.onPatch = (p, c) => {
    (p.status ??= {}).ephemeralContainerStatuses = [{ name: c.name, image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ErrImagePull', message: 'not found' } } }];
  };
  const r = await run({ startTimeoutSeconds: 600 });
  assert.deepEqual([r.reason, /waiting: ErrImagePull \(not found\)/.test(r.message)], ['CaptureNotStarted', true]);
});

test('the exec cannot be opened: Failed/CaptureFailed; missing pod or container: Skipped; a refused patch: the API failure', async () => {
  const { fake, run } = setup();
  fake.scripts.set('timeout', { refuse: 'Forbidden: pods/exec' });
  const r = await run();
  assert.deepEqual([r.status, r.reason], ['failure', 'CaptureFailed']);
  assert.match(r.message, /starting tcpdump in the ephemeral container .*: Forbidden: pods\/exec/);
  assert.equal((await run({}, 'ghost')).reason, 'PodNotFound');
  const nc = await run({ container: 'nope' });
  assert.deepEqual([nc.status, nc.reason], ['skipped', 'ContainerNotFound']);
  fake.rejectPatch = apiError(403, 'pods "web-1" is forbidden: violates PodSecurity "baseline:latest": non-default capabilities');
  const f = await run();
  assert.deepEqual([f.status, f.reason], ['failure', 'Forbidden']);
  assert.match(f.message, /adding the ephemeral container 'talon-tcpdump-[0-9a-f]+' to pod 'web-1'.*PodSecurity/);
});

test('the pod deleted while the operator waits for the container: Skipped/PodNotFound', async () => {
  const { fake, run } = setup({ runs: false });
  fake.onPatch = (p) => {
    setImmediate(() => fake.pods.delete(`${p.metadata?.namespace}/${p.metadata?.name}`));
  };
  const r = await run();
  assert.deepEqual([r.status, r.reason], ['skipped', 'PodNotFound']);
  assert.match(r.message, /was deleted before the capture started/);
});
