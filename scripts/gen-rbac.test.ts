import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { V1PolicyRule } from '@kubernetes/client-node';
import { builtinActionners } from '../operator/src/actionners/index.js';
import { buildClusterRole, CONTROLLER_RULES, mergeRules, rbacFiles } from './gen-rbac.js';

/** Whether `rules` grant `verb` on `group`/`resource`. */
const allows = (rules: readonly V1PolicyRule[], group: string, resource: string, verb: string) =>
  rules.some(
    (r) => (r.apiGroups ?? ['']).includes(group) && (r.resources ?? []).includes(resource) && (r.verbs.includes(verb) || r.verbs.includes('*')),
  );

test('mergeRules unions verbs per resource and groups resources with equal verbs', () => {
  const merged = mergeRules([
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] },
    { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['get'] },
    { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get'] },
    { apiGroups: [''], resources: ['nodes'], verbs: ['patch'] },
  ]);
  assert.deepEqual(merged, [
    { apiGroups: [''], resources: ['nodes', 'pods'], verbs: ['get', 'patch'] },
    { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get'] },
  ]);
});

test('mergeRules is independent of input order', () => {
  const rules: V1PolicyRule[] = [
    ...CONTROLLER_RULES,
    ...builtinActionners().flatMap((a) => a.info.rbac),
  ];
  assert.deepEqual(mergeRules(rules), mergeRules([...rules].reverse()));
});

test('the ClusterRole grants every actionner rule and the controller needs, nothing is lost', () => {
  const role = buildClusterRole(builtinActionners()) as { metadata: { name: string }; rules: V1PolicyRule[] };
  assert.equal(role.metadata.name, 'talon-operator');
  for (const r of [...CONTROLLER_RULES, ...builtinActionners().flatMap((a) => a.info.rbac)]) {
    for (const g of r.apiGroups ?? ['']) for (const res of r.resources ?? []) for (const v of r.verbs) {
      assert.ok(allows(role.rules, g, res, v), `${v} ${g}/${res}`);
    }
  }
  for (const plural of ['talonrules', 'talonactions', 'clustertalonrules', 'clustertalonactions']) {
    for (const verb of ['list', 'watch']) assert.ok(allows(role.rules, 'talon.dev', plural, verb), `${verb} ${plural}`);
    assert.ok(allows(role.rules, 'talon.dev', `${plural}/status`, 'patch'), `patch ${plural}/status`);
    assert.ok(!allows(role.rules, 'talon.dev', plural, 'create'), `the operator never creates ${plural}`);
  }
  assert.ok(allows(role.rules, 'events.k8s.io', 'events', 'create'));
  assert.ok(allows(role.rules, '', 'pods', 'patch'), 'kubernetes:label');
  assert.ok(!allows(role.rules, '', 'secrets', 'get'), 'nothing beyond the declarations');
  assert.ok(!allows(role.rules, '', 'pods', 'update'), 'nothing beyond the declarations');
});

test('the committed config/rbac/role.yaml matches the generator (run from the repository root)', (t) => {
  const [file] = rbacFiles();
  const abs = join(process.cwd(), file!.path);
  if (!existsSync(abs)) {
    t.skip(`no ${file!.path} under ${process.cwd()}`);
    return;
  }
  assert.equal(readFileSync(abs, 'utf8'), file!.content, 'stale: run node dist/scripts/gen-rbac.js');
  assert.equal((parse(file!.content) as { kind: string }).kind, 'ClusterRole');
});

test('the aggregated ClusterRoles hand only the namespaced kinds to the built-in roles (run from the repository root)', (t) => {
  const dir = join(process.cwd(), 'config', 'rbac');
  if (!existsSync(dir)) {
    t.skip(`no config/rbac under ${process.cwd()}`);
    return;
  }
  for (const f of ['aggregate-edit.yaml', 'aggregate-view.yaml']) {
    const role = parse(readFileSync(join(dir, f), 'utf8')) as { metadata: { labels: Record<string, string> }; rules: V1PolicyRule[] };
    assert.ok(Object.keys(role.metadata.labels).some((l) => l.startsWith('rbac.authorization.k8s.io/aggregate-to-')), f);
    const resources = role.rules.flatMap((r) => r.resources ?? []);
    assert.ok(resources.includes('talonrules') && resources.includes('talonactions'), f);
    assert.deepEqual(resources.filter((r) => r.startsWith('cluster') || r === '*'), [], `${f} grants no cluster-scoped kind`);
  }
});
