/**
 * Issue: ship it — the Helm chart and the kustomize bases are accepted by the real API server.
 * `helm template` (default values, and ci/everything-values.yaml: every actionner category,
 * every notifier, mTLS, the metrics Service port, a ServiceMonitor) and
 * `kubectl kustomize config/default` go through `kubectl apply --dry-run=server`: schema,
 * strict field validation and admission (Pod Security `restricted` enforced on the namespace)
 * judge every object, the ServiceMonitor against the Prometheus Operator's CRD installed for
 * the check (e2e/crds/servicemonitors.monitoring.coreos.com.yaml). Negative controls show the
 * check can fail. helm lint and the values schema's refusals run in `make check-chart`
 * (charts/talon-operator/ci/render-check.mjs); one readable refusal is shown here too.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { eventually, loadE2EKubeConfig } from './support/cluster.js';
import { installCRDs, repoRoot } from './support/operator.js';
import { applyDryRun, CHART_DIR, helm, kubectlRun, manifests, renderChart } from './support/chart.js';

const NAMESPACE = 'talon-system';
const SERVICE_MONITOR_CRD = join(repoRoot, 'e2e', 'crds', 'servicemonitors.monitoring.coreos.com.yaml');

/** `kind/name` of every object kubectl reports as applied in a dry run. */
function dryRunApplied(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((l) => l.endsWith('(server dry run)'))
    .map((l) => l.split(' ')[0]!)
    .sort();
}

/** `kind/name` in kubectl's spelling (`deployment.apps/x`) for each rendered object. */
function expectedApplied(objects: ReturnType<typeof manifests>): string[] {
  return objects
    .map((m) => {
      const group = m.apiVersion.includes('/') ? m.apiVersion.split('/')[0]! : '';
      return `${m.kind.toLowerCase()}${group ? `.${group}` : ''}/${m.metadata.name}`;
    })
    .sort();
}

describe('the chart and the kustomize bases are accepted by the real API server', () => {
  const kc = loadE2EKubeConfig();

  before(async () => {
    await installCRDs(kc);
    // The operator's namespace as config/manager/namespace.yaml declares it: restricted Pod
    // Security enforced, so a non-compliant pod template draws a warning from the dry run.
    const ns = kubectlRun(['apply', '--server-side', '--force-conflicts', '--field-manager', 'talon-e2e-chart', '-f', join(repoRoot, 'config', 'manager', 'namespace.yaml')]);
    assert.equal(ns.status, 0, ns.stderr);
    const crd = kubectlRun(['apply', '--server-side', '--force-conflicts', '-f', SERVICE_MONITOR_CRD]);
    assert.equal(crd.status, 0, crd.stderr);
    const apiext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    await eventually('the ServiceMonitor CRD Established', async () => {
      const c = await apiext.readCustomResourceDefinition({ name: 'servicemonitors.monitoring.coreos.com' });
      return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
    });
    await eventually('monitoring.coreos.com/v1 served', () => kubectlRun(['get', 'servicemonitors', '-A']).status === 0);
  });

  for (const [label, valuesFiles] of [
    ['default values', []],
    ['ci/everything-values.yaml', ['ci/everything-values.yaml']],
  ] as const) {
    it(`helm template (${label}) passes kubectl apply --dry-run=server, every object, no Pod Security warning`, () => {
      const text = renderChart({ namespace: NAMESPACE, valuesFiles, includeCrds: true });
      const objects = manifests(text);
      const r = applyDryRun(text);
      assert.equal(r.status, 0, `the API server refused the render:\n${r.stderr}`);
      assert.deepEqual(dryRunApplied(r.stdout), expectedApplied(objects));
      assert.doesNotMatch(r.stderr, /PodSecurity/, 'the pod template meets the restricted Pod Security level');
      if (valuesFiles.length > 0) {
        const kinds = new Set(objects.map((m) => m.kind));
        assert.ok(kinds.has('ServiceMonitor'), 'everything-values renders a ServiceMonitor');
        const svc = objects.find((m) => m.kind === 'Service')!;
        assert.deepEqual(
          ((svc.spec as { ports: { name: string }[] }).ports ?? []).map((p) => p.name),
          ['webhook', 'metrics'],
          'the Service exposes the metrics port',
        );
      }
    });
  }

  it('kubectl kustomize config/default passes kubectl apply --dry-run=server, every object, no Pod Security warning', () => {
    const built = kubectlRun(['kustomize', join(repoRoot, 'config', 'default')]);
    assert.equal(built.status, 0, built.stderr);
    const r = applyDryRun(built.stdout);
    assert.equal(r.status, 0, `the API server refused config/default:\n${r.stderr}`);
    assert.deepEqual(dryRunApplied(r.stdout), expectedApplied(manifests(built.stdout)));
    assert.doesNotMatch(r.stderr, /PodSecurity/);
  });

  it('the dry run bites: a misspelt ServiceMonitor field, a non-duration interval and a privileged-escalation pod are each refused or warned about', () => {
    const monitor = renderChart({ namespace: NAMESPACE, valuesFiles: ['ci/everything-values.yaml'] })
      .split('\n---')
      .find((d) => d.includes('kind: ServiceMonitor'))!;
    const misspelt = applyDryRun(monitor.replace('scrapeTimeout:', 'scrapeTimout:'));
    assert.notEqual(misspelt.status, 0);
    assert.match(misspelt.stderr, /scrapeTimout: field not declared in schema/);
    const badInterval = applyDryRun(monitor.replace('interval: 30s', 'interval: thirty'));
    assert.notEqual(badInterval.status, 0);
    assert.match(badInterval.stderr, /spec\.endpoints\[0\]\.interval/);

    const escalating = applyDryRun(renderChart({ namespace: NAMESPACE, set: ['securityContext.allowPrivilegeEscalation=true'] }));
    assert.match(escalating.stderr, /would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false/);
  });

  it("values.schema.json refuses a wrong type with a readable error naming the value's path", () => {
    const r = helm('template', 'talon-operator', CHART_DIR, '--kube-version', '1.36.3', '--set', 'serviceMonitor.enabled=yes', '--set', 'webhook.port=http');
    assert.notEqual(r.status, 0);
    const message = r.stderr.trim();
    console.log(`helm's refusal:\n${message}`);
    assert.match(message, /values don't meet the specifications of the schema/);
    assert.match(message, /- at '\/serviceMonitor\/enabled': got string, want boolean/);
    assert.match(message, /- at '\/webhook\/port': got string, want integer/);
  });
});
