/**
 * Issue 12: the 202 promise, against the real control plane and the real operator process.
 * (1) API server stopped, 100 alerts accepted, operator killed -9, both started again:
 *     every alert acted on — counted from the pods' labels on the API server.
 * (2) kill -9 while 5,000 alerts stream in: after the restart every accepted alert is
 *     accounted for (an outcome or a suppression naming its trace id, in either run's log),
 *     and no action with a recorded outcome ran again.
 * (3) API server stopped for 60 s mid-stream: no restart; the pending actions complete;
 *     the recovery time is printed.
 * (4) SIGTERM under load with an idle and a half-open connection: the process exits by itself
 *     well before the kubelet's SIGKILL; what it left is in the journal and done after restart.
 * Figures print as `JOURNAL-E2E key=value` lines (bench/RESULTS.md).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { controlPlane, createNamespace, deleteNamespace, eventually, loadE2EKubeConfig, podManifest } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { CLUSTER, Talon } from './support/talon.js';
import { applyRuleLoaded, inline, podAlert } from './support/alerts.js';

/** Stopping the API server needs the local control plane (e2e/cluster/component.sh). */
const LOCAL_PLANE = { skip: process.env.TALON_E2E_KUBECONFIG ? 'needs the local control plane (component.sh)' : false };

/** Seconds the chart gives the pod between SIGTERM and SIGKILL (values.yaml terminationGracePeriodSeconds). */
const POD_GRACE_MS = 30_000;

interface LogEntry {
  readonly message?: string;
  readonly trace_id?: string;
  readonly rule?: string;
  readonly action?: string;
  readonly result?: string;
  readonly why?: string;
}

/** Every JSON log line of the operator, across its restarts. */
class LogBook {
  readonly entries: LogEntry[] = [];
  readonly add = (line: string): void => {
    if (!line.startsWith('{')) return;
    try {
      this.entries.push(JSON.parse(line) as LogEntry);
    } catch {
      // a line cut by kill -9
    }
  };

  /** Trace ids with a recorded fate: an action outcome or a suppression (merged, cooldown). */
  accounted(): Set<string> {
    const s = new Set<string>();
    for (const e of this.entries) if (e.trace_id && (e.message === 'action outcome' || e.message === 'match suppressed')) s.add(e.trace_id);
    return s;
  }

  /** (trace id, rule, action) recorded more than once: an action that ran again after its outcome was recorded. */
  repeated(rule: string): string[] {
    const seen = new Map<string, number>();
    for (const e of this.entries) if (e.message === 'action outcome' && e.rule === rule) {
      const k = `${e.trace_id} ${e.action}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    return [...seen].filter(([, n]) => n > 1).map(([k]) => k);
  }

  count(message: string, rule?: string): number {
    return this.entries.filter((e) => e.message === message && (rule === undefined || e.rule === rule)).length;
  }
}

/**
 * Posts alerts from `make(i)` with `concurrency` in flight until `count` are sent or the
 * webhook goes away; returns the trace ids answered 202 and the other answers.
 */
async function stream(op: OperatorProcess, count: number, make: (i: number) => unknown, concurrency: number, onAccepted?: (n: number) => void) {
  const accepted: string[] = [];
  const other = new Map<string, number>();
  let next = 0;
  let gone = false;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count && !gone; i = next++) {
      try {
        const r = await fetch(`${op.url}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(make(i)) });
        const text = await r.text();
        if (r.status === 202) {
          accepted.push((JSON.parse(text) as { traceId: string }).traceId);
          onAccepted?.(accepted.length);
        } else other.set(String(r.status), (other.get(String(r.status)) ?? 0) + 1);
      } catch {
        other.set('connection error', (other.get('connection error') ?? 0) + 1);
        gone = true;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { accepted, other };
}

describe('the 202 promise: journal, retries through outages, graceful shutdown', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  let ns = '';
  const PODS = 100;
  const pod = (i: number): string => `j-${i % PODS}`;
  const logs = new LogBook();
  let op: OperatorProcess;

  const labelled = async (key: string): Promise<number> => (await core.listNamespacedPod({ namespace: ns, labelSelector: key })).items.length;

  before(async () => {
    await installCRDs(kc);
    ns = await createNamespace(core, 'journal');
    for (let i = 0; i < PODS; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => core.createNamespacedPod({ namespace: ns, body: podManifest(pod(i + j)) })));
    }
    // A long dedup window, so that (4) can deliver an alert again after a restart within it.
    // Every outcome on its own line (no folding under load): the log is this test's ledger of outcomes.
    op = await OperatorProcess.start({ config: { logLevel: 'debug', logOutcomesPerSecond: 0, shutdownGrace: '5s', statusFlushInterval: '1s', dedup: { window: '10m' } }, onLog: logs.add });
    for (const [name, label] of [['journal-outage-crash', 'j1'], ['journal-stream', 'j2'], ['journal-long-outage', 'j3'], ['journal-sigterm', 'j4']] as const) {
      await applyRuleLoaded(kc, talon, CLUSTER, name, { match: { rules: [`E2E ${name}`] }, actions: [inline('mark', 'kubernetes:label', { labels: { [`talon.dev/${label}`]: 'acted' } })] }, 'cluster');
    }
  });
  after(async () => {
    await op?.stop();
    await talon.deleteClusterObjects();
    await deleteNamespace(core, ns);
  });

  it('(1) API server down, 100 alerts accepted, kill -9, both back: every alert acted on, counted on the API server', LOCAL_PLANE, async () => {
    controlPlane('stop', 'kube-apiserver');
    let res: Awaited<ReturnType<typeof stream>>;
    try {
      res = await stream(op, PODS, (i) => podAlert({ rule: 'E2E journal-outage-crash', namespace: ns, pod: pod(i) }), 10);
      assert.equal(res.accepted.length, PODS, `all accepted while the API server is down (${JSON.stringify([...res.other])})`);
      // The actions fail to reach the API server and retry; then the process dies with nothing flushed.
      await eventually('an attempt failed against the stopped API server', () => logs.entries.some((e) => e.message === 'action retry'), 30_000).catch((err: Error) => {
        throw new Error(`${err.message}; last log lines:\n${op.logs.slice(-15).join('\n')}`);
      });
      await op.kill9();
    } finally {
      controlPlane('start', 'kube-apiserver');
      controlPlane('stop', 'kube-controller-manager');
      controlPlane('start', 'kube-controller-manager');
    }
    const t0 = Date.now();
    await op.restart();
    await eventually('100 pods labelled by the restarted operator', async () => (await labelled('talon.dev/j1=acted')) === PODS, 180_000, 500);
    console.log(`JOURNAL-E2E outage_crash_accepted=${res.accepted.length} labelled=${await labelled('talon.dev/j1=acted')} restart_to_all_acted_ms=${Date.now() - t0}`);
    const replayed = logs.entries.filter((e) => e.message === 'journal replayed').at(-1) as (LogEntry & { unfinished?: number; ms?: number }) | undefined;
    assert.equal(replayed?.unfinished, PODS, 'every accepted alert was unfinished in the journal');
    console.log(`JOURNAL-E2E replay_unfinished=${replayed?.unfinished} replay_ms=${replayed?.ms}`);
  });

  it('(2) kill -9 while 5,000 alerts stream in: every accepted alert accounted for, none with a recorded outcome ran again', async () => {
    const N = 5_000;
    let killing: Promise<void> | undefined;
    const res = await stream(op, N, (i) => podAlert({ rule: 'E2E journal-stream', namespace: ns, pod: pod(i) }), 20, (n) => {
      if (n === 2_000 && killing === undefined) killing = op.kill9();
    });
    await killing;
    assert.ok(res.accepted.length >= 2_000, `accepted before the kill: ${res.accepted.length}`);
    await op.restart();
    const accepted = new Set(res.accepted);
    await eventually(
      'every accepted alert accounted for',
      () => {
        const a = logs.accounted();
        return [...accepted].every((t) => a.has(t));
      },
      180_000,
      500,
    ).catch((err: Error) => {
      const a = logs.accounted();
      const missing = [...accepted].filter((t) => !a.has(t));
      throw new Error(`${err.message}: ${missing.length} of ${accepted.size} unaccounted, e.g. ${missing.slice(0, 3).join(', ')}`);
    });
    assert.deepEqual(logs.repeated('journal-stream'), [], 'no (alert, action) outcome recorded twice');
    const outcomes = logs.count('action outcome', 'journal-stream');
    console.log(`JOURNAL-E2E stream_sent_before_kill=${res.accepted.length + [...res.other.values()].reduce((a, b) => a + b, 0)} accepted=${accepted.size} accounted=${[...accepted].filter((t) => logs.accounted().has(t)).length} outcomes=${outcomes} repeated=0`);
    assert.equal(await labelled('talon.dev/j2=acted'), PODS, 'every pod got its label');
  });

  it('(3) API server down for 60 s mid-stream: no restart, pending actions complete; recovery time', LOCAL_PLANE, async () => {
    const before = await stream(op, 10, (i) => podAlert({ rule: 'E2E journal-long-outage', namespace: ns, pod: pod(i) }), 5);
    assert.equal(before.accepted.length, 10);
    await eventually('the first 10 pods labelled', async () => (await labelled('talon.dev/j3=acted')) === 10, 60_000, 250);
    const pidLogsBefore = logs.count('journal replayed');
    controlPlane('stop', 'kube-apiserver');
    const stoppedAt = Date.now();
    let during: string[] = [];
    let upAt = 0;
    try {
      for (let i = 10; i < 40; i++) {
        const r = await stream(op, 1, () => podAlert({ rule: 'E2E journal-long-outage', namespace: ns, pod: pod(i) }), 1);
        during = during.concat(r.accepted);
        await new Promise((res) => setTimeout(res, 1_500));
      }
      await new Promise((res) => setTimeout(res, Math.max(0, 60_000 - (Date.now() - stoppedAt))));
    } finally {
      controlPlane('start', 'kube-apiserver');
      upAt = Date.now();
      controlPlane('stop', 'kube-controller-manager');
      controlPlane('start', 'kube-controller-manager');
    }
    assert.equal(during.length, 30, 'every alert posted during the outage was accepted');
    await eventually('all 40 pods labelled after the outage', async () => (await labelled('talon.dev/j3=acted')) === 40, 180_000, 250);
    const recoveryMs = Date.now() - upAt;
    assert.equal(logs.count('journal replayed'), pidLogsBefore, 'the operator was not restarted');
    const failed = logs.entries.filter((e) => e.message === 'action outcome' && e.rule === 'journal-long-outage' && e.result === 'Failed');
    assert.deepEqual(failed, [], 'no action gave up');
    console.log(`JOURNAL-E2E outage_ms=${upAt - stoppedAt} accepted_during=${during.length} recovery_ms=${recoveryMs}`);
  });

  it('(4) SIGTERM under load with idle connections open: exits by itself within the grace period; nothing lost', async () => {
    const idle: Socket = connect(op.port, '127.0.0.1');
    const halfOpen: Socket = connect(op.port, '127.0.0.1', () => halfOpen.write('POST / HTTP/1.1\r\nHost: x\r\n'));
    for (const s of [idle, halfOpen]) s.on('error', () => undefined);
    const again = podAlert({ rule: 'E2E journal-sigterm', namespace: ns, pod: pod(0) });
    assert.equal((await op.post(again)).status, 202);
    let stopping: ReturnType<OperatorProcess['terminate']> | undefined;
    const res = await stream(op, 3_000, (i) => podAlert({ rule: 'E2E journal-sigterm', namespace: ns, pod: pod(i) }), 20, (n) => {
      if (n === 1_000 && stopping === undefined) stopping = op.terminate(POD_GRACE_MS);
    });
    const exit = await stopping!;
    idle.destroy();
    halfOpen.destroy();
    assert.equal(exit.signal, null, `exited by itself, not killed (${exit.ms} ms)`);
    assert.ok(exit.code === 0 || exit.code === 3, `exit code 0 (all done) or 3 (rest in the journal): ${exit.code}`);
    const stopped = logs.entries.find((e) => e.message === 'operator stopped') as (LogEntry & { unfinished?: number }) | undefined;
    console.log(`JOURNAL-E2E sigterm_exit_ms=${exit.ms} exit_code=${exit.code} accepted=${res.accepted.length} refused_or_closed=${JSON.stringify(Object.fromEntries(res.other))} unfinished_at_exit=${stopped?.unfinished}`);
    await op.restart();
    const accepted = new Set(res.accepted);
    await eventually('every alert accepted before the SIGTERM accounted for', () => {
      const a = logs.accounted();
      return [...accepted].every((t) => a.has(t));
    }, 120_000, 500);
    assert.deepEqual(logs.repeated('journal-sigterm'), []);
    // The dedup keys survived the restart: the same alert delivered again is dropped, not acted on twice.
    const deduplicated = await op.metric('talon_events_deduplicated_total');
    assert.equal((await op.post(again)).status, 202);
    await eventually('the second delivery counted as a duplicate', async () => (await op.metric('talon_events_deduplicated_total')) === deduplicated + 1, 10_000, 200);
  });
});
