import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import type { V1Pod } from '@kubernetes/client-node';
import { policyMetadata } from '../remote-deny.js';
import { GITOPS_ANNOTATIONS, managedMetadata } from './managed.js';
import { CAPTURE_LABEL, SysdigParams, sysdigJob } from './sysdig.js';
import { labelValue } from '../../lib/clip.js';

const pod: V1Pod = { metadata: { name: 'web-1', namespace: 'shop', uid: 'u-1' } };
const GITOPS = {
  'argocd.argoproj.io/compare-options': 'IgnoreExtraneous',
  'argocd.argoproj.io/sync-options': 'Prune=false',
  'kustomize.toolkit.fluxcd.io/prune': 'disabled',
};

test('managed objects carry the managed-by and rule labels, the GitOps annotations and, with an owner, its reference', () => {
  assert.deepEqual(GITOPS_ANNOTATIONS, GITOPS);
  const m = managedMetadata({ name: 'p', namespace: 'shop', ruleName: 'r'.repeat(70), owner: pod, annotations: { 'talon.dev/expires-at': 'T' } });
  assert.deepEqual(m, {
    name: 'p',
    namespace: 'shop',
    labels: { 'app.kubernetes.io/managed-by': 'talon-operator', 'talon.dev/rule': labelValue('r'.repeat(70)) },
    annotations: { ...GITOPS, 'talon.dev/expires-at': 'T' },
    ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'web-1', uid: 'u-1', blockOwnerDeletion: false }],
  });
  assert.equal(managedMetadata({ name: 'j', namespace: 'talon-system', ruleName: 'r' }).ownerReferences, undefined);
});

test('the Calico/Cilium policies and the sysdig Job are built from it', () => {
  const policy = policyMetadata('talon-deny-web-1', pod, 'deny', undefined);
  assert.deepEqual(policy?.annotations, GITOPS);
  assert.deepEqual(policy?.ownerReferences?.map((o) => o.uid), ['u-1']);

  const job = sysdigJob('talon-sysdig-0123456789', 'talon-system', 'node-7', 'capture', Value.Default(SysdigParams, {}) as SysdigParams);
  assert.deepEqual(job.metadata?.annotations, GITOPS);
  assert.equal(job.metadata?.labels?.['app.kubernetes.io/managed-by'], 'talon-operator');
  assert.equal(job.metadata?.labels?.[CAPTURE_LABEL], 'talon-sysdig-0123456789');
  assert.deepEqual(job.spec?.template.metadata?.labels, job.metadata?.labels);
});
