/**
 * Issue 10 (forensics), the capture actionners against the real kube-apiserver.
 *
 * kwok runs no container processes, so what is shown here is what the API server does with
 * what the operator sends, and what the operator does when no capture comes back:
 * - kubernetes:tcpdump: the real API server accepts the ephemeral container the operator sends
 *   (read back from the pod: image, argv, targetContainerName, security context); a second
 *   capture on the same pod adds a second, differently named container (both present); the
 *   container never runs (nothing starts it), so the outcome is Failed/CaptureNotStarted after
 *   the bounded wait.
 * - kubernetes:sysdig: the Job the operator creates has the intended spec (pinned node,
 *   privileged, host paths, deadline, TTL, labels) and is deleted afterwards — also when the
 *   action times out; a tenant rule using it is refused (ScopeNotAllowed).
 * - the streaming the captures use (pods/exec through the real API server to kwok's kubelet
 *   API, which runs the command on this host as nobody): 3 MiB of binary bytes come back
 *   identical, cut at the cap; a failing command's exit code and stderr end the stream in error.
 * Unproven here: tcpdump or sysdig actually running in their containers (kwok starts no
 * ephemeral container and completes Job pods at once), hence real pcap/scap bytes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { CLUSTER, Talon, condition } from './support/talon.js';
import { about, applyRuleLoaded, inline, ObjectWatch, podAlert, postAccepted, waitOutcome } from './support/alerts.js';
import { captureKubeOf, streamCommand } from '../operator/src/actionners/kubernetes/capture.js';
import { makeClients } from '../operator/src/kube/client.js';

const isNotFound = (err: unknown): boolean => (err as { code?: number }).code === 404;

describe('capture actionners: what the real API server accepts, and cleanup', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  const talon = new Talon(kc);
  const artifacts = mkdtempSync(join(tmpdir(), 'talon-capture-'));
  let op: OperatorProcess;
  let ns = '';
  let opNs = '';

  const cluster = (name: string, falcoRule: string, actions: Record<string, unknown>[]) =>
    applyRuleLoaded(kc, talon, CLUSTER, name, { match: { rules: [falcoRule] }, actions }, 'cluster');

  before(async () => {
    await installCRDs(kc);
    ns = await createNamespace(core, 'capture');
    opNs = await createNamespace(core, 'capture-op');
    op = await OperatorProcess.start({
      config: { statusFlushInterval: '500ms', outputs: { 'local:file': { directory: artifacts } } },
      env: { POD_NAMESPACE: opNs },
    });
  });
  after(async () => {
    await op?.stop();
    await talon.deleteClusterObjects();
    await Promise.all([deleteNamespace(core, ns), deleteNamespace(core, opNs)]);
    rmSync(artifacts, { recursive: true, force: true });
  });

  it('kubernetes:tcpdump: the API server accepts the ephemeral container; a second capture adds a second one; no data ⇒ CaptureNotStarted', async (t) => {
    await core.createNamespacedPod({ namespace: ns, body: podManifest('web') });
    await waitForPodRunning(core, ns, 'web');
    const filter = "tcp port 80 and not host 10.0.0.1; touch /tmp/x $(id) `id`";
    await cluster('tcpdump', 'E2E tcpdump', [
      inline('pcap', 'kubernetes:tcpdump', { duration: 3, snaplen: 128, filter, startTimeoutSeconds: 5 }, { timeoutSeconds: 60, output: { target: 'local:file' } }),
    ]);

    await postAccepted(op, podAlert({ rule: 'E2E tcpdump', namespace: ns, pod: 'web' }));
    const first = await waitOutcome(talon, CLUSTER, 'tcpdump', about('Pod', 'web', { actionner: 'kubernetes:tcpdump' }), 'first capture', 60_000);
    const afterFirst = await core.readNamespacedPod({ namespace: ns, name: 'web' });
    const eph1 = afterFirst.spec?.ephemeralContainers ?? [];
    assert.equal(eph1.length, 1, 'the API server stored the ephemeral container');
    const c = eph1[0]!;
    assert.match(c.name, /^talon-tcpdump-[0-9a-f]{10}$/);
    assert.deepEqual(
      JSON.parse(JSON.stringify({ image: c.image, command: c.command, target: c.targetContainerName, sc: c.securityContext })),
      {
        image: 'issif/tcpdump:latest',
        command: ['sleep', String(5 + 3 + 30)],
        target: 'main',
        sc: { runAsUser: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, privileged: false, capabilities: { add: ['NET_RAW', 'NET_ADMIN'], drop: ['ALL'] } },
      },
    );
    // Nothing runs the container under kwok: a clear failure after the bounded wait, no artifact.
    t.diagnostic(`tcpdump outcome: ${first.result}/${first.reason}: ${first.message}`);
    assert.deepEqual([first.result, first.reason], ['Failed', 'CaptureNotStarted'], first.message);
    assert.match(first.message, new RegExp(`^no capture: the ephemeral container '${c.name}' \\(image issif/tcpdump:latest\\) of pod 'web' in namespace '${ns}' did not run: it did not start within 5 s`));

    await postAccepted(op, podAlert({ rule: 'E2E tcpdump', namespace: ns, pod: 'web' }));
    await eventually(
      'a second tcpdump outcome',
      async () => {
        const s = (await talon.get('talonrules', CLUSTER, 'tcpdump')).status as { lastOutcomes?: { reason: string; message: string }[] } | undefined;
        return (s?.lastOutcomes ?? []).filter((o) => o.reason === 'CaptureNotStarted').length >= 2 ? true : undefined;
      },
      60_000,
      200,
    );
    const eph2 = (await core.readNamespacedPod({ namespace: ns, name: 'web' })).spec?.ephemeralContainers ?? [];
    assert.equal(eph2.length, 2, 'both captures are in the pod');
    // (The API server's strategic merge lists the newest first: order is not part of the contract.)
    const second = eph2.find((e) => e.name !== c.name);
    assert.ok(eph2.some((e) => e.name === c.name), 'the first capture container is still there');
    assert.match(second?.name ?? '', /^talon-tcpdump-[0-9a-f]{10}$/);
    assert.deepEqual([second?.image, second?.targetContainerName], ['issif/tcpdump:latest', 'main']);
  });

  it('kubernetes:sysdig: the Job has the intended spec and is deleted afterwards, also on timeout', async (tc) => {
    await core.createNamespacedPod({ namespace: ns, body: podManifest('db', { node: 'kwok-node-1' }) });
    await waitForPodRunning(core, ns, 'db');
    const seen = new Map<string, k8s.V1Job>();
    const w = await ObjectWatch.start<k8s.V1Job>(kc, `/apis/batch/v1/namespaces/${opNs}/jobs`, {}, (type, j) => {
      if (type === 'ADDED' && j.metadata?.name) seen.set(j.metadata.name, j);
    });
    try {
      await cluster('sysdig', 'E2E sysdig', [
        inline('scap', 'kubernetes:sysdig', { scope: 'node', duration: 2, startTimeoutSeconds: 10 }, { timeoutSeconds: 60, output: { target: 'local:file' } }),
      ]);
      await postAccepted(op, podAlert({ rule: 'E2E sysdig', namespace: ns, pod: 'db' }));
      const o = await waitOutcome(talon, CLUSTER, 'sysdig', about('Pod', 'db', { actionner: 'kubernetes:sysdig' }), 'sysdig outcome', 60_000);
      tc.diagnostic(`sysdig outcome: ${o.result}/${o.reason}: ${o.message}`);
      // kwok runs no sysdig: it marks the Job's pod Completed at once (CaptureNotStarted), or an exec into it fails.
      assert.equal(o.result, 'Failed', o.message);
      assert.ok(['CaptureFailed', 'CaptureNotStarted'].includes(o.reason), `${o.reason}: ${o.message}`);
      assert.equal(seen.size, 1);
      const [name, job] = [...seen][0]!;
      assert.match(name, /^talon-sysdig-[0-9a-f]{10}$/);
      assert.ok(o.message.includes(`the capture Job '${name}'`), o.message);
      const labels = { 'app.kubernetes.io/managed-by': 'talon-operator', 'talon.dev/rule': 'sysdig', 'talon.dev/capture': name };
      assert.deepEqual({ ...job.metadata?.labels }, labels);
      const life = 10 + 2 + 60;
      assert.deepEqual([job.spec?.activeDeadlineSeconds, job.spec?.ttlSecondsAfterFinished, job.spec?.backoffLimit], [life, 300, 0]);
      const ps = job.spec?.template.spec;
      assert.equal(ps?.nodeName, 'kwok-node-1', "pinned to the alert's pod's node");
      assert.deepEqual(JSON.parse(JSON.stringify(ps?.tolerations)), [{ operator: 'Exists' }]);
      assert.deepEqual([ps?.hostPID, ps?.automountServiceAccountToken, ps?.restartPolicy], [true, false, 'Never']);
      const c = ps?.containers[0];
      assert.deepEqual([c?.securityContext?.privileged, c?.securityContext?.runAsUser, c?.command], [true, 0, ['sleep', String(life)]]);
      const mounts = Object.fromEntries((c?.volumeMounts ?? []).map((m) => [m.mountPath, (ps?.volumes ?? []).find((v) => v.name === m.name)?.hostPath?.path]));
      assert.deepEqual(mounts, {
        '/host/proc': '/proc',
        '/host/boot': '/boot',
        '/host/lib/modules': '/lib/modules',
        '/host/usr': '/usr',
        '/host/etc': '/etc',
        '/host/dev': '/dev',
        '/host/run/containerd/containerd.sock': '/run/containerd/containerd.sock',
      });
      await jobGone(name);

      // On timeout (the action's deadline passes while the operator waits for the Job's pod): deleted
      // too. The alert's pod is bound to a node no kubelet (kwok) serves, so the Job's pod, pinned
      // there, never runs (kwok completes the Job pods on its own nodes at once).
      await core.createNamespacedPod({ namespace: ns, body: podManifest('stuck', { node: 'no-such-node' }) });
      await cluster('sysdig-timeout', 'E2E sysdig timeout', [
        inline('scap', 'kubernetes:sysdig', { scope: 'node', duration: 30, startTimeoutSeconds: 600, image: 'registry.invalid/never:1' }, { timeoutSeconds: 1, output: { target: 'local:file' } }),
      ]);
      seen.clear();
      await postAccepted(op, podAlert({ rule: 'E2E sysdig timeout', namespace: ns, pod: 'stuck' }));
      const t = await waitOutcome(talon, CLUSTER, 'sysdig-timeout', about('Pod', 'stuck', { actionner: 'kubernetes:sysdig' }), 'sysdig timeout outcome', 60_000);
      tc.diagnostic(`sysdig timeout outcome: ${t.result}/${t.reason}: ${t.message}`);
      assert.deepEqual([t.result, t.reason], ['Failed', 'Timeout'], t.message);
      const created = await eventually('the timed-out Job was seen', async () => (seen.size > 0 ? [...seen.keys()] : undefined), 30_000, 100);
      assert.equal(created.length, 1);
      assert.equal(seen.get(created[0]!)?.spec?.template.spec?.nodeName, 'no-such-node');
      await jobGone(created[0]!, 150_000);
    } finally {
      w.stop();
    }
  });

  it('kubernetes:tcpdump goes beyond the edit role: refused for a tenant rule outside safety.cloudNamespaces', async () => {
    await talon.applyRule(ns, 'tenant-tcpdump', { match: { rules: ['E2E tenant tcpdump'] }, actions: [inline('pcap', 'kubernetes:tcpdump', {}, { output: { target: 'local:file' } })] });
    const accepted = await eventually(
      'tenant tcpdump rule judged',
      async () => {
        const c = condition(await talon.get('talonrules', ns, 'tenant-tcpdump'), 'Accepted');
        return c?.status === 'False' ? c : undefined;
      },
      30_000,
      200,
    );
    assert.equal(accepted.reason, 'ScopeNotAllowed');
    assert.match(accepted.message, /kubernetes:tcpdump: uses the operator's cloud credentials, which the namespace '.*' may not \(safety.cloudNamespaces\)/);
  });

  it('kubernetes:sysdig is refused for a tenant rule (ScopeNotAllowed)', async () => {
    await talon.applyRule(ns, 'tenant-sysdig', { match: { rules: ['E2E tenant sysdig'] }, actions: [inline('scap', 'kubernetes:sysdig', {}, { output: { target: 'local:file' } })] });
    const accepted = await eventually(
      'tenant sysdig rule judged',
      async () => {
        const c = condition(await talon.get('talonrules', ns, 'tenant-sysdig'), 'Accepted');
        return c?.status === 'False' ? c : undefined;
      },
      30_000,
      200,
    );
    assert.equal(accepted.reason, 'ScopeNotAllowed');
    assert.match(accepted.message, /kubernetes:sysdig: acts on the node level, which a TalonRule may not do/);
  });

  it('the capture streaming path (pods/exec via the real API server) is binary-safe, capped, and reports failures', async () => {
    await core.createNamespacedPod({ namespace: ns, body: podManifest('exec-target') });
    await waitForPodRunning(core, ns, 'exec-target');
    // kwok runs exec on this host as nobody: a world-readable file of random bytes (every byte value, \r\n included).
    const file = join(artifacts, 'blob.bin');
    const blob = Buffer.concat([Buffer.from([0x0d, 0x0a, 0x00, 0xff, 0x0a, 0x0d]), randomBytes(3 * 1024 * 1024), Buffer.from('no newline at the end')]);
    writeFileSync(file, blob);
    chmodSync(artifacts, 0o755);
    chmodSync(file, 0o644);
    const port = captureKubeOf(makeClients(kc));
    const signal = new AbortController().signal;
    const req = { namespace: ns, pod: 'exec-target', container: 'main', command: ['cat', file] };
    const read = async (s: NodeJS.ReadableStream): Promise<Buffer> => {
      const parts: Buffer[] = [];
      for await (const c of s) parts.push(c as Buffer);
      return Buffer.concat(parts);
    };
    const whole = await streamCommand(port, req, { name: 'blob', contentType: 'application/octet-stream', maxBytes: 64 * 1024 * 1024, signal });
    const got = await read(whole.stream);
    assert.equal(got.length, blob.length);
    assert.ok(got.equals(blob), 'every byte back, in order');
    const capped = await streamCommand(port, req, { name: 'blob', contentType: 'application/octet-stream', maxBytes: 100_000, signal });
    const cut = await read(capped.stream);
    assert.ok(cut.equals(blob.subarray(0, 100_000)), 'cut at the cap');
    const failing = await streamCommand(port, { ...req, command: ['cat', join(artifacts, 'missing')] }, { name: 'x', contentType: 'x', maxBytes: 1024, signal });
    await assert.rejects(read(failing.stream), /'cat' (exited with code 1|failed \(.*exit status 1\)): cat: .*missing.*No such file or directory/);
    // A refused exec (no such container) is an error naming the refusal, not a stream.
    await assert.rejects(streamCommand(port, { ...req, container: 'nope' }, { name: 'x', contentType: 'x', maxBytes: 1024, signal }), /^Error: pods\/exec refused: .+/);
  });

  /**
   * The Job, then its pods, are gone (the operator deletes with background propagation; the
   * garbage collector removes the pods). `podsWithinMs`: a pod bound to a node no kubelet serves
   * cannot finish a graceful delete, so the garbage collector's delete leaves it Terminating
   * until the pod GC controller removes orphans of a missing node — after a 40 s quarantine,
   * checked every 20 s — which took 63 s once in CI.
   */
  async function jobGone(name: string, podsWithinMs = 60_000): Promise<void> {
    await eventually(
      `Job ${opNs}/${name} deleted`,
      async () => {
        try {
          await batch.readNamespacedJob({ namespace: opNs, name });
          return undefined;
        } catch (err) {
          if (isNotFound(err)) return true;
          throw err;
        }
      },
      30_000,
      200,
    );
    await eventually(
      `pods of Job ${name} deleted`,
      async () => ((await core.listNamespacedPod({ namespace: opNs, labelSelector: `talon.dev/capture=${name}` })).items.length === 0 ? true : undefined),
      podsWithinMs,
      200,
    );
  }
});
