/**
 * Issue 18: Falco Talon rules converted by `talon-operator convert` are accepted by the real
 * API server (`kubectl apply`, with the CRDs' CEL validations) and loaded by the operator
 * (every converted rule and action Ready at its generation); converted rules act as Talon's
 * did — the exec string of "Test exec" runs as the rule's script with the alert's and the
 * node's variables in its environment, the chart's "Terminal shell in container" labels the
 * pod — and `kubectl talon status` shows all of it from the cluster with the caller's own
 * credentials (a namespace viewer sees the namespaced kinds and is told what it cannot read).
 *
 * Which rules an alert selects (and misses) is proven offline on the same files in
 * operator/test/talon-convert.test.ts, through the operator's compiler and rule index.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { createNamespace, deleteNamespace, e2eKubeconfigPath, eventually, kubectlPath, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installAggregatedRoles, installCRDs, repoRoot } from './support/operator.js';
import { CLUSTER, Talon, condition, kubectl, type TalonObject } from './support/talon.js';
import { about, eventsRegarding, podAlert, postAccepted, waitOutcome } from './support/alerts.js';

const FIXTURES = join(repoRoot, 'operator', 'test', 'fixtures', 'talon-rules');
const CLI = join(repoRoot, 'dist', 'operator', 'src', 'cli.js');
const PLUGIN = join(repoRoot, 'dist', 'operator', 'src', 'plugin', 'kubectl-talon.js');

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
}

describe('convert: Talon rules files → manifests the API server accepts and the operator loads', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  let op: OperatorProcess;
  let ns = '';
  let dir = '';
  const pod = 'web';

  /** Runs the real CLI; returns stdout (stderr must not hold errors). */
  const convertFiles = (name: string, files: string[], extra: string[] = []): string => {
    const r = spawnSync(process.execPath, [CLI, 'convert', ...extra, ...files.map((f) => join(FIXTURES, f))], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /^error:/m);
    const path = join(dir, name);
    writeFileSync(path, r.stdout);
    return path;
  };

  const docsOf = (path: string): Doc[] => parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJS() as Doc);

  /** kubectl talon status, run as a process with KUBECONFIG as a user would. */
  const status = (kubeconfig: string, ...args: string[]): string => {
    const r = spawnSync(process.execPath, [PLUGIN, 'status', ...args], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: kubeconfig } });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };

  /** Every converted object Ready=True at its current generation. */
  const allReady = async (docs: readonly Doc[]): Promise<void> => {
    for (const d of docs) {
      const plural = d.kind.endsWith('Rule') ? 'talonrules' : 'talonactions';
      const where = d.kind.startsWith('Cluster') ? CLUSTER : (d.metadata.namespace as string);
      await eventually(`${d.kind} ${d.metadata.name} Ready`, async () => {
        const o: TalonObject = await talon.get(plural, where, d.metadata.name);
        const ready = condition(o, 'Ready');
        if (ready?.status === 'False') throw new Error(`${d.kind} ${d.metadata.name} not Ready: ${ready.reason}: ${ready.message}`);
        return ready?.status === 'True' && ready.observedGeneration === o.metadata.generation;
      });
    }
  };

  before(async () => {
    await installCRDs(kc);
    await installAggregatedRoles(kc);
    ns = await createNamespace(core, 'convert');
    dir = mkdtempSync(join(tmpdir(), 'talon-e2e-convert-'));
    await core.createNamespacedPod({ namespace: ns, body: podManifest(pod) });
    await waitForPodRunning(core, ns, pod);
    op = await OperatorProcess.start({
      config: {
        statusFlushInterval: '500ms',
        // The profile convert maps Talon's minio:s3 to, as the migration guide configures it.
        outputs: { 'aws:s3': { profiles: { minio: { endpoint: 'http://127.0.0.1:9000', forcePathStyle: true } } }, 'local:file': { directory: dir } },
      },
    });
  });
  after(async () => {
    await op?.stop();
    for (const f of ['talon.yaml', 'chart.yaml', 'tenant.yaml']) spawnSync(kubectlPath(), ['--kubeconfig', e2eKubeconfigPath(), 'delete', '--ignore-not-found', '-f', join(dir, f)], { encoding: 'utf8' });
    await deleteNamespace(core, ns);
    rmSync(dir, { recursive: true, force: true });
  });

  it("Talon's example rules + override: applied, all Ready; the exec string runs as the rule's script with the alert and node variables", async () => {
    const file = convertFiles('talon.yaml', ['falcosecurity-falco-talon__rules.yaml', 'falcosecurity-falco-talon__rules_override.yaml'], ['--gcp-project', 'my-project']);
    const docs = docsOf(file);
    assert.equal(docs.filter((d) => d.kind === 'ClusterTalonRule').length, 11);
    assert.equal(docs.filter((d) => d.kind === 'ClusterTalonAction').length, 6);
    const applied = kubectl('apply', '--server-side', '--field-manager=talon-convert-e2e', '-f', file);
    assert.equal(applied.trim().split('\n').length, 17, applied);
    await allReady(docs);

    // "Test exec": command `echo "${NODE_HOSTNAME}"` with the k8snode context.
    await postAccepted(op, podAlert({ rule: 'Test exec', namespace: ns, pod }));
    const o = await waitOutcome(talon, CLUSTER, 'test-exec', about('Pod', pod, { actionner: 'kubernetes:script' }), 'converted Test exec');
    assert.deepEqual([o.result, o.reason], ['Succeeded', 'Executed']);
    const node = (await core.readNamespacedPod({ name: pod, namespace: ns })).spec?.nodeName as string;
    const hostname = (await core.readNode({ name: node })).metadata?.labels?.['kubernetes.io/hostname'] ?? node;
    assert.match(o.message, new RegExp(`container 'main': exit code 0; stdout: ${hostname}$`));

    const text = status(e2eKubeconfigPath(), '-A');
    for (const d of docs.filter((x) => x.kind === 'ClusterTalonRule')) assert.match(text, new RegExp(`^ClusterTalonRule +${d.metadata.name} +True `, 'm'));
    for (const d of docs.filter((x) => x.kind === 'ClusterTalonAction')) assert.match(text, new RegExp(`^ClusterTalonAction +${d.metadata.name} +\\S+ +True$`, 'm'));
    // Other e2e files may leave not-ready objects of their own behind: none of the converted ones is listed.
    const notReady = text.split(/^NOT READY/m)[1]?.split(/\n\n/)[0] ?? '';
    for (const d of docs) assert.doesNotMatch(notReady, new RegExp(`\\b${d.kind} ${d.metadata.name}:`));
    assert.match(text, new RegExp(`^\\d+s +ClusterTalonRule test-exec +test-exec \\(kubernetes:script\\) +Pod ${ns}/${pod} +Succeeded/Executed +script \\(/bin/sh\\)`, 'm'));
    await eventually('the status shows the Event about the pod', async () => new RegExp(`Succeeded +Pod ${ns}/${pod} `).test(status(e2eKubeconfigPath(), '-A')));
    kubectl('delete', '-f', file);
  });

  it("a Talon exec string reads alert fields from its environment: the field's text, never code", async () => {
    // Where kwok's exec user (65534) could write, so the check below is not vacuous.
    const sandbox = mkdtempSync(join(tmpdir(), 'talon-e2e-convert-sandbox-'));
    chmodSync(sandbox, 0o777);
    const marker = join(sandbox, 'injected');
    const rules = join(dir, 'exec-fields.yaml');
    writeFileSync(
      rules,
      `- rule: Fields in exec
  match: {rules: [E2E converted exec]}
  actions:
    - action: Show
      actionner: kubernetes:exec
      parameters: {command: 'echo "ns=\${K8S_NS_NAME} file=$FD_NAME"'}
`,
    );
    const r = spawnSync(process.execPath, [CLI, 'convert', rules], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    writeFileSync(join(dir, 'exec-fields.converted.yaml'), r.stdout);
    kubectl('apply', '-f', join(dir, 'exec-fields.converted.yaml'));
    await allReady(docsOf(join(dir, 'exec-fields.converted.yaml')));
    const hostile = `$(touch ${marker})`;
    await postAccepted(op, podAlert({ rule: 'E2E converted exec', namespace: ns, pod, fields: { 'fd.name': hostile } }));
    const o = await waitOutcome(talon, CLUSTER, 'fields-in-exec', about('Pod', pod, { actionner: 'kubernetes:script' }), 'converted exec with fields');
    assert.deepEqual([o.result, o.reason], ['Succeeded', 'Executed']);
    assert.match(o.message, new RegExp(`stdout: ns=${ns} file=\\$\\(touch ${marker.replaceAll('/', '\\/')}\\)$`));
    assert.equal(existsSync(marker), false, 'the alert text never ran');
    kubectl('delete', '-f', join(dir, 'exec-fields.converted.yaml'));
    rmSync(sandbox, { recursive: true, force: true });
  });

  it("the chart's default rules + override: applied, Ready; a shell alert labels the pod as Talon's chart did", async () => {
    const file = convertFiles('chart.yaml', ['falcosecurity-charts__charts-falco-talon__rules.yaml', 'falcosecurity-charts__charts-falco-talon__rules_override.yaml']);
    const docs = docsOf(file);
    kubectl('apply', '-f', file);
    await allReady(docs);
    await postAccepted(op, podAlert({ rule: 'Terminal shell in container', namespace: ns, pod }));
    await waitOutcome(talon, CLUSTER, 'terminal-shell-in-container', about('Pod', pod, { result: 'Succeeded' }), 'label outcome');
    const labels = (await core.readNamespacedPod({ name: pod, namespace: ns })).metadata?.labels ?? {};
    assert.equal(labels['analysis/status'], 'suspicious');
    const events = await eventsRegarding(kc, ns, { kind: 'Pod', name: pod });
    assert.ok(events.some((e) => e.action === 'kubernetes:label' && e.reason === 'Succeeded'));
  });

  it('--namespace: TalonRule/TalonAction applied in the namespace and Ready; a namespace viewer sees them with kubectl talon status and is told what it cannot read', async () => {
    const file = convertFiles('tenant.yaml', ['falcosecurity-charts__charts-falco-talon__rules.yaml', 'falcosecurity-charts__charts-falco-talon__rules_override.yaml'], ['--namespace', ns]);
    const docs = docsOf(file);
    assert.deepEqual(
      docs.map((d) => [d.kind, d.metadata.namespace]),
      [
        ['TalonAction', ns],
        ['TalonAction', ns],
        ['TalonRule', ns],
      ],
    );
    kubectl('apply', '-f', file);
    await allReady(docs);

    // A user bound to the built-in `view` role in the namespace only (talon-rule-viewer aggregates into it).
    const user = `viewer-${ns}`;
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: { metadata: { name: 'viewer' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] },
    });
    const kubeconfig = join(dir, 'viewer.kubeconfig');
    const cfg = readFileSync(e2eKubeconfigPath(), 'utf8');
    const viewerCfg = new k8s.KubeConfig();
    viewerCfg.loadFromString(cfg);
    viewerCfg.loadFromOptions({
      clusters: viewerCfg.clusters,
      users: viewerCfg.users.map((u) => ({ ...u, impersonateUser: user })),
      contexts: viewerCfg.contexts.map((c) => ({ ...c, namespace: ns })),
      currentContext: viewerCfg.currentContext,
    });
    writeFileSync(kubeconfig, viewerCfg.exportConfig());
    const text = await eventually('RBAC of the viewer applies', async () => {
      const t = status(kubeconfig);
      return /TalonRule +\S+ +terminal-shell-in-container +True/.test(t) ? t : undefined;
    });
    assert.match(text, new RegExp(`^namespace ${ns} `));
    assert.match(text, new RegExp(`^TalonAction +${ns} +terminate-pod +kubernetes:terminate +True$`, 'm'));
    assert.match(text, /NOT READABLE WITH YOUR CREDENTIALS\n(?: {2}.*\n)*? {2}ClusterTalonRules: .*forbidden/);
    assert.doesNotMatch(text, /^ClusterTalonRule /m, 'the viewer lists no cluster rule');
    kubectl('delete', '-f', file);
  });
});
