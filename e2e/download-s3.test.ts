/**
 * Issue 10: a file downloaded out of a pod (kubernetes:download over pods/exec, served by
 * kwok on this host) is uploaded by the aws:s3 output to a real S3-compatible server
 * (gofakes3, built from the Go module proxy and started here, behind a recording proxy), read
 * back and compared byte for byte. gofakes3 does not verify signatures, so the test checks the
 * SigV4 Authorization header the operator sent. The location is in the rule's status
 * (`lastOutcomes[].artifact`) and in the Event regarding the pod.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { createNamespace, deleteNamespace, loadE2EKubeConfig, podManifest, waitForPodRunning } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { CLUSTER, Talon } from './support/talon.js';
import { about, applyRuleLoaded, eventsRegarding, inline, podAlert, postAccepted, waitOutcome } from './support/alerts.js';
import { startS3Server, TEST_ACCESS_KEY_ID, type S3Server } from '../operator/test/peers/s3.js';

describe('forensics: a downloaded file lands in an S3-compatible bucket', () => {
  const kc = loadE2EKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const talon = new Talon(kc);
  let op: OperatorProcess;
  let s3: S3Server;
  let ns = '';
  let dir = '';
  const pod = 'suspect';

  before(async () => {
    await installCRDs(kc);
    s3 = await startS3Server({ buckets: ['forensics'] });
    dir = mkdtempSync('/tmp/talon-e2e-s3-');
    chmodSync(dir, 0o755);
    ns = await createNamespace(core, 'download-s3');
    await core.createNamespacedPod({ namespace: ns, body: podManifest(pod) });
    await waitForPodRunning(core, ns, pod);
    op = await OperatorProcess.start({
      config: { statusFlushInterval: '500ms', outputs: { 'aws:s3': { profiles: { default: s3.profile(dir) } } } },
    });
  });
  after(async () => {
    await op?.stop();
    await s3?.stop();
    await talon.deleteClusterObjects();
    await deleteNamespace(core, ns);
    rmSync(dir, { recursive: true, force: true });
  });

  it('kubernetes:download → aws:s3: the object is the file, signed with the configured key, its location in status and Events', async () => {
    const content = randomBytes(1_500_000);
    // A name with traversal-looking parts: the key keeps one safe segment under the prefix.
    const path = join(dir, '..evidence..;rm -rf ~.bin');
    writeFileSync(path, content, { mode: 0o644 });
    await applyRuleLoaded(
      kc,
      talon,
      CLUSTER,
      'to-s3',
      {
        match: { rules: ['E2E download to S3'] },
        actions: [inline('grab', 'kubernetes:download', { fileFromField: 'fd.name' }, { output: { target: 'aws:s3', parameters: { bucket: 'forensics', prefix: 'talon/evidence/' } } })],
      },
      'cluster',
    );
    await postAccepted(op, podAlert({ rule: 'E2E download to S3', namespace: ns, pod, fields: { 'fd.name': path } }));
    const o = await waitOutcome(talon, CLUSTER, 'to-s3', about('Pod', pod, { actionner: 'kubernetes:download' }), 'download to S3 outcome');
    assert.deepEqual([o.result, o.reason], ['Succeeded', 'Downloaded'], o.message);

    const keys = await s3.listKeys('forensics');
    assert.equal(keys.length, 1, keys.join(', '));
    const key = keys[0]!;
    assert.ok(key.startsWith('talon/evidence/') && !key.slice('talon/evidence/'.length).includes('/'), key);
    assert.ok(!key.split('/').includes('..'), key);
    assert.ok((await s3.getObject('forensics', key)).equals(content), 'the object is the downloaded file, byte for byte');

    assert.deepEqual(o.artifact, { output: 'aws:s3', location: `s3://forensics/${key}`, bytes: content.length, truncated: false });
    const signed = s3.requests.filter((r) => r.method === 'PUT' || r.method === 'POST');
    assert.ok(signed.length > 0);
    for (const r of signed) assert.match(r.authorization ?? '', new RegExp(`^AWS4-HMAC-SHA256 Credential=${TEST_ACCESS_KEY_ID}/\\d{8}/[^/]+/s3/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$`));

    const podObj = await core.readNamespacedPod({ namespace: ns, name: pod });
    const events = await eventsRegarding(kc, ns, { kind: 'Pod', name: pod, uid: podObj.metadata?.uid ?? '' });
    assert.ok(events.some((e) => (e.note ?? '').includes(`s3://forensics/${key}`)), 'the Event regarding the pod names the location');
  });
});
