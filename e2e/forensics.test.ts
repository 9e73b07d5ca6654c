/**
 * Issue 10 (forensics, exec part): kubernetes:exec, kubernetes:script, kubernetes:log and
 * kubernetes:download against the real kube-apiserver, with kwok serving pods/exec and
 * pods/log. kwok runs exec ON THIS HOST as uid/gid 65534 in /tmp with its own environment
 * (e2e/cluster/README.md), so a command's side effects are files on this machine.
 *
 * - exec and script: exit code and output land in the rule's status lastOutcomes and in the
 *   Events regarding the pod; a command past its timeout is cut with what it printed;
 * - log: fetched to a local directory through local:file and read back; without an output,
 *   an excerpt in the outcome;
 * - download: a file created here (readable by 65534) streamed to local:file and compared
 *   byte for byte — its name full of shell syntax, so the path must be one argv entry;
 * - the injection corpus: alert fields holding `$(…)`, backticks, `;`, `&&`, `|`, newlines,
 *   quotes, `${TALON_E2E_SECRET}`, `$TALON_*` run nothing (marker files that must not appear
 *   in a directory 65534 can write to — a positive control proves it can) and leak nothing:
 *   the captured output shows the literal text, and a secret set ONLY in the operator
 *   process's environment appears nowhere (not in kwok's environment dump either).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, eventually, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { CLUSTER, Talon } from './support/talon.js';
import { about, applyRuleLoaded, eventsRegarding, inline, podAlert, postAccepted, ruleStatus, waitOutcome, type LastOutcome } from './support/alerts.js';

const SECRET = `talon-e2e-secret-${randomBytes(8).toString('hex')}`;

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('forensics: exec, script, log, download — with no injection', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  let op: OperatorProcess;
  let ns = '';
  let artifacts = '';
  /** Where commands run by kwok (as 65534) may write: a successful injection would leave files here. */
  let sandbox = '';
  const pod = 'suspect';

  const cluster = (name: string, falcoRule: string, actions: Record<string, unknown>[]) =>
    applyRuleLoaded(kc, talon, CLUSTER, name, { match: { rules: [falcoRule] }, actions }, 'cluster');

  /** The artifacts an action stored under its output path (local:file: <dir>/_cluster/<path>/…). */
  const stored = (path: string): string[] => filesUnder(join(artifacts, '_cluster', path));

  before(async () => {
    await installCRDs(kc);
    ns = await createNamespace(core, 'forensics');
    artifacts = mkdtempSync('/tmp/talon-fexec-artifacts-');
    sandbox = mkdtempSync('/tmp/talon-fexec-sandbox-');
    chmodSync(sandbox, 0o777);
    await core.createNamespacedPod({ namespace: ns, body: podManifest(pod) });
    await waitForPodRunning(core, ns, pod);
    assert.equal(process.env.TALON_E2E_SECRET, undefined, 'the secret is not in the test runner (nor in kwok, started by it)');
    op = await OperatorProcess.start({
      config: { statusFlushInterval: '500ms', outputs: { 'local:file': { directory: artifacts } } },
      env: { TALON_E2E_SECRET: SECRET, TALON_E2E_OTHER: SECRET },
    });
  });
  after(async () => {
    await op?.stop();
    await talon.deleteClusterObjects();
    await deleteNamespace(core, ns);
    rmSync(artifacts, { recursive: true, force: true });
    rmSync(sandbox, { recursive: true, force: true });
  });

  it('kubernetes:exec runs the rule argv; exit code and output land in the status and the Events', async () => {
    await cluster('exec-id', 'E2E exec id', [inline('whoami', 'kubernetes:exec', { command: ['id', '-u'] })]);
    await postAccepted(op, podAlert({ rule: 'E2E exec id', namespace: ns, pod }));
    const o = await waitOutcome(talon, CLUSTER, 'exec-id', about('Pod', pod, { actionner: 'kubernetes:exec' }), 'exec outcome');
    assert.deepEqual([o.result, o.reason], ['Succeeded', 'Executed']);
    assert.match(o.message, new RegExp(`^command \\["id","-u"\\] in pod '${ns}/${pod}': container 'main': exit code 0; stdout: 65534`));
    const events = await eventually('an Event regarding the pod says the exit code and output', async () => {
      const evs = await eventsRegarding(kc, ns, { kind: 'Pod', name: pod });
      return evs.find((e) => (e.note ?? '').includes('exit code 0; stdout: 65534')) ?? undefined;
    });
    assert.equal(events.action, 'kubernetes:exec');

    await cluster('exec-fail', 'E2E exec fail', [inline('ls-missing', 'kubernetes:exec', { command: ['ls', '/no/such/dir/for/talon'] })]);
    await postAccepted(op, podAlert({ rule: 'E2E exec fail', namespace: ns, pod }));
    const f = await waitOutcome(talon, CLUSTER, 'exec-fail', about('Pod', pod, { actionner: 'kubernetes:exec' }), 'failed exec outcome');
    assert.deepEqual([f.result, f.reason], ['Failed', 'CommandFailed']);
    assert.match(f.message, /container 'main': exit code 2; stderr: ls: .*\/no\/such\/dir\/for\/talon/);
  });

  it('kubernetes:script runs the rule script with the alert fields as variables; a non-zero exit fails', async () => {
    await cluster('script-env', 'E2E script', [
      inline('report', 'kubernetes:script', { script: 'echo "pod=$K8S_POD_NAME ns=$K8S_NS_NAME rule=$RULE proc=$PROC_NAME"; echo to-stderr >&2; exit 4' }),
    ]);
    await postAccepted(op, podAlert({ rule: 'E2E script', namespace: ns, pod, fields: { 'proc.name': 'bash' } }));
    const o = await waitOutcome(talon, CLUSTER, 'script-env', about('Pod', pod, { actionner: 'kubernetes:script' }), 'script outcome');
    assert.deepEqual([o.result, o.reason], ['Failed', 'CommandFailed']);
    assert.equal(o.message, `script (/bin/sh) in pod '${ns}/${pod}': container 'main': exit code 4; stdout: pod=${pod} ns=${ns} rule=E2E script proc=bash; stderr: to-stderr`);
  });

  it('a tenant TalonRule may exec in a pod of its own namespace', async () => {
    await applyRuleLoaded(kc, talon, ns, 'tenant-exec', { match: { rules: ['E2E tenant exec'] }, actions: [inline('hello', 'kubernetes:exec', { command: ['echo', 'tenant'] })] }, 'tenant');
    await postAccepted(op, podAlert({ rule: 'E2E tenant exec', namespace: ns, pod }));
    const o = await waitOutcome(talon, ns, 'tenant-exec', about('Pod', pod, { actionner: 'kubernetes:exec' }), 'tenant exec outcome');
    assert.deepEqual([o.result, o.reason], ['Succeeded', 'Executed']);
    assert.match(o.message, /exit code 0; stdout: tenant/);
  });

  it('a command past its timeout is cut: the session is closed, the outcome keeps what it printed', async () => {
    await cluster('exec-slow', 'E2E exec slow', [inline('slow', 'kubernetes:exec', { command: ['sh', '-c', 'echo started; sleep 60; echo never'], timeoutSeconds: 2 }, { timeoutSeconds: 30 })]);
    await postAccepted(op, podAlert({ rule: 'E2E exec slow', namespace: ns, pod }));
    const o = await waitOutcome(talon, CLUSTER, 'exec-slow', about('Pod', pod, { actionner: 'kubernetes:exec' }), 'slow exec outcome');
    assert.deepEqual([o.result, o.reason], ['Failed', 'CommandTimeout']);
    assert.match(o.message, /container 'main': timed out; stdout: started; the command timeout of 2s passed$/);
  });

  it('the injection corpus executes nothing and leaks nothing', async () => {
    // Positive control: a rule's own command does write into the sandbox as kwok's user, so a
    // marker would appear there if any alert text were ever run.
    const control = join(sandbox, 'control');
    await cluster('inject-control', 'E2E inject control', [inline('touch', 'kubernetes:exec', { command: ['touch', control] })]);
    await postAccepted(op, podAlert({ rule: 'E2E inject control', namespace: ns, pod }));
    await waitOutcome(talon, CLUSTER, 'inject-control', about('Pod', pod, { result: 'Succeeded' }), 'control outcome');
    assert.ok(existsSync(control), 'kwok exec can create files in the sandbox');
    rmSync(control);

    const m = (i: number): string => join(sandbox, `marker-${i}`);
    const corpus = [
      `$(touch ${m(0)})`,
      `\`touch ${m(1)}\``,
      `; touch ${m(2)}`,
      `&& touch ${m(3)}`,
      `| touch ${m(4)}`,
      `x\ntouch ${m(5)}\n`,
      `'; touch ${m(6)}; '`,
      `"; touch ${m(7)}; "`,
      '${TALON_E2E_SECRET}',
      '$TALON_E2E_SECRET',
      '$TALON_E2E_OTHER ${TALON_E2E_OTHER:-unset}',
      `$(touch ${m(8)})\`touch ${m(9)}\`;touch ${m(10)}|touch ${m(11)}&&touch ${m(12)}`,
    ];
    const fields: Record<string, string> = {};
    corpus.forEach((v, i) => (fields[`evt.arg.inj${i}`] = v));
    fields['fd.name'] = corpus[0]!;
    fields['proc.cmdline'] = corpus[2]!;
    fields['proc.aname[2]'] = corpus[6]!;
    const names = corpus.map((_, i) => `"$EVT_ARG_INJ${i}"`).join(' ');
    const output = { target: 'local:file', parameters: { path: 'inject' } };
    await cluster('inject', 'E2E inject', [
      inline('script', 'kubernetes:script', { script: `printf '<%s>\\n' ${names} "$FD_NAME" "$PROC_CMDLINE" "$PROC_ANAME_2"; echo "secret=[$TALON_E2E_SECRET]"; echo ENV-DUMP; env` }, { output }),
      inline('exec', 'kubernetes:exec', { command: ['printenv'] }, { output }),
    ]);
    await postAccepted(op, podAlert({ rule: 'E2E inject', namespace: ns, pod, fields }));
    const script = await waitOutcome(talon, CLUSTER, 'inject', (o) => o.actionner === 'kubernetes:script', 'script outcome');
    const exec = await waitOutcome(talon, CLUSTER, 'inject', (o) => o.actionner === 'kubernetes:exec', 'exec outcome');
    assert.deepEqual([script.result, script.reason, exec.result, exec.reason], ['Succeeded', 'Executed', 'Succeeded', 'Executed'], `${script.message}\n${exec.message}`);
    const files = await eventually('two artifacts stored', () => (stored('inject').length === 2 ? stored('inject') : undefined));
    const scriptOut = readFileSync(files.find((f) => f.endsWith('script-output.txt'))!, 'utf8');
    const execOut = readFileSync(files.find((f) => f.endsWith('exec-output.txt'))!, 'utf8');

    // The captured output shows every value literally, as the script read it from its variable.
    for (const v of corpus) assert.ok(scriptOut.includes(`<${v}>\n`), `script output has the literal ${JSON.stringify(v)}`);
    for (const [i, v] of corpus.entries()) assert.ok(execOut.includes(`EVT_ARG_INJ${i}=${v}\n`), `exec output has EVT_ARG_INJ${i} literally`);
    assert.ok(scriptOut.includes('secret=[]\n'), "the operator's environment is not the command's");
    assert.ok(scriptOut.includes('\nENV-DUMP\n'));
    // The dump is kwok's real environment (its ClusterExec sets TALON_E2E=1), so the secret could show there.
    assert.match(scriptOut.slice(scriptOut.indexOf('ENV-DUMP')), /\nTALON_E2E=1\n/);
    // Nothing ran: no marker, nothing else in the sandbox.
    assert.deepEqual(readdirSync(sandbox), []);
    // Nothing leaked: not in kwok's environment dump, the outputs, the status, the Events.
    for (const text of [scriptOut, execOut, script.message, exec.message]) assert.ok(!text.includes(SECRET), 'the secret appears nowhere');
    const notes = (await eventsRegarding(kc, ns, { kind: 'Pod', name: pod })).map((e) => e.note ?? '').join('\n');
    assert.ok(!notes.includes(SECRET));
    assert.ok(!op.logs.join('\n').includes(SECRET), "not even in the operator's logs");
  });

  it('kubernetes:log fetches the log to a local directory, and into the outcome without an output', async () => {
    await cluster('log-file', 'E2E log', [inline('logs', 'kubernetes:log', { tailLines: 0 }, { output: { target: 'local:file', parameters: { path: 'logs' } } })]);
    await postAccepted(op, podAlert({ rule: 'E2E log', namespace: ns, pod }));
    const o = await waitOutcome(talon, CLUSTER, 'log-file', about('Pod', pod, { actionner: 'kubernetes:log' }), 'log outcome');
    assert.deepEqual([o.result, o.reason], ['Succeeded', 'LogCollected']);
    const [file, ...more] = stored('logs');
    assert.ok(file !== undefined && more.length === 0, `one log file: ${stored('logs').join(', ')}`);
    assert.match(file, /_log-file_logs_[^/]*_log-main\.txt$/);
    assert.ok(o.message.includes(file), 'the outcome names where the log is');
    const viaApi = String(await core.readNamespacedPodLog({ name: pod, namespace: ns, container: 'main' }));
    assert.match(viaApi, /talon-e2e container log line/);
    assert.equal(readFileSync(file, 'utf8'), viaApi, 'the stored log is the log the API serves');
    assert.equal(statSync(file).mode & 0o777, 0o600);

    await cluster('log-inline', 'E2E log inline', [inline('logs', 'kubernetes:log', { tailLines: 5 })]);
    await postAccepted(op, podAlert({ rule: 'E2E log inline', namespace: ns, pod }));
    const inlineOutcome = await waitOutcome(talon, CLUSTER, 'log-inline', about('Pod', pod, { actionner: 'kubernetes:log' }), 'inline log outcome');
    assert.equal(inlineOutcome.reason, 'LogCollected');
    assert.match(inlineOutcome.message, new RegExp(`^log of container 'main' of pod '${ns}/${pod}':\\n[^]*talon-e2e container log line`));
  });

  it('kubernetes:download streams a file to local:file byte for byte; its odd name is one argv entry', async () => {
    const dir = mkdtempSync('/tmp/talon-fexec-evidence-');
    chmodSync(dir, 0o755);
    // kwok runs commands in /tmp: a relative marker there (a file name cannot hold a '/').
    const markerName = `talon-fexec-dl-marker-${randomBytes(4).toString('hex')}`;
    const marker = join('/tmp', markerName);
    const path = join(dir, `evidence $(touch ${markerName}); \`touch ${markerName}\` 'q' "d".bin`);
    const content = randomBytes(700_000);
    writeFileSync(path, content, { mode: 0o644 });
    try {
      await cluster('download', 'E2E download', [inline('grab', 'kubernetes:download', { fileFromField: 'fd.name' }, { output: { target: 'local:file', parameters: { path: 'downloads' } } })]);
      await postAccepted(op, podAlert({ rule: 'E2E download', namespace: ns, pod, fields: { 'fd.name': path } }));
      const o: LastOutcome = await waitOutcome(talon, CLUSTER, 'download', about('Pod', pod, { actionner: 'kubernetes:download' }), 'download outcome');
      assert.deepEqual([o.result, o.reason], ['Succeeded', 'Downloaded'], o.message);
      const [file] = stored('downloads');
      assert.ok(file !== undefined);
      assert.match(file, /_grab_[^/]*_evidence_[A-Za-z0-9._-]*\.bin$/);
      assert.ok(readFileSync(file).equals(content), 'the stored file is the original, byte for byte');
      assert.ok(!existsSync(marker), 'the file name ran nothing');

      // A file kwok's user cannot read: cat fails before any byte, the outcome says why.
      const secretFile = join(dir, 'root-only');
      writeFileSync(secretFile, 'x', { mode: 0o600 });
      await cluster('download-denied', 'E2E download denied', [inline('grab', 'kubernetes:download', { file: secretFile }, { output: { target: 'local:file', parameters: { path: 'denied' } } })]);
      await postAccepted(op, podAlert({ rule: 'E2E download denied', namespace: ns, pod }));
      const d = await waitOutcome(talon, CLUSTER, 'download-denied', about('Pod', pod, { actionner: 'kubernetes:download' }), 'denied outcome');
      assert.deepEqual([d.result, d.reason], ['Failed', 'DownloadFailed']);
      assert.match(d.message, /cat exited 1: cat: .*root-only.*Permission denied/);
      assert.deepEqual(stored('denied'), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const status = await ruleStatus(talon, CLUSTER, 'download');
    assert.ok(status.matchedEvents >= 1);
  });
});
