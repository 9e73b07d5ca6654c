/**
 * `talon-operator convert` end to end through the CLI, on every Talon rules file of
 * fixtures/talon-rules (each base file with its override): the output passes `check`, and for
 * every converted rule an alert built from its match criteria — and one that misses by one
 * criterion — selects, through `test` (the operator's own compiler and rule index), exactly
 * the rules Talon would. The expectations are written here from Talon's documented matching
 * (talon-compat §3.3: every criterion must hold; `rules` exact names OR'ed; output_fields
 * `k=v` needs the field equal, `k!=v` passes on an absent field; all matching rules run, in
 * file order).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check, convert, testEvent, type CliOutput } from '../src/cli.js';
import { fixturesDir } from './builders.js';

function capture(): CliOutput & { out: string; err: string } {
  const c = { out: '', err: '', stdout: (t: string) => void (c.out += t), stderr: (t: string) => void (c.err += t) };
  return c;
}

const dir = join(fixturesDir(), 'talon-rules');
/** Made now, not in a hook: the describe bodies below convert while the tests are collected. */
const tmpDir = mkdtempSync(join(tmpdir(), 'talon-convert-'));
after(() => rmSync(tmpDir, { recursive: true, force: true }));
const tmp = {
  file(name: string, text: string): string {
    const p = join(tmpDir, name);
    writeFileSync(p, text);
    return p;
  },
};

/** Converts a pair through the CLI; returns the manifests file. */
function converted(base: string, override: string, extra: string[] = []): string {
  const c = capture();
  const code = convert(['--gcp-project', 'my-project', ...extra, join(dir, base), join(dir, override)], c);
  assert.equal(code, 0, c.err);
  return tmp.file(`${base}.converted.yaml`, c.out);
}

/** The names of the rules `test` reports as MATCH for this alert, in evaluation order. */
function selected(manifests: string, alert: Record<string, unknown>): string[] {
  const c = capture();
  const code = testEvent(['--event', tmp.file(`alert-${Math.random().toString(36).slice(2)}.json`, JSON.stringify(alert)), manifests], c);
  assert.equal(code, 0, c.err);
  assert.equal(c.err, '', 'every converted manifest compiles');
  return [...c.out.matchAll(/^MATCH\s+ClusterTalonRule (\S+)/gm)].map((m) => m[1]!);
}

const alert = (rule: string, fields: Record<string, unknown>, priority = 'Warning') => ({
  output: `${rule} test`,
  priority,
  rule,
  time: '2026-11-30T01:00:00.000000000Z',
  source: 'syscall',
  output_fields: fields,
});
const pod = (ns: string) => ({ 'k8s.pod.name': 'web-1', 'k8s.ns.name': ns, 'fd.rip': '203.0.113.7', 'fd.name': '/etc/shadow' });
const audit = (fields: Record<string, unknown>) => ({ 'ka.target.resource': 'namespaces', ...fields });

interface Case {
  /** The Talon rule under test. */
  readonly talon: string;
  readonly hit: Record<string, unknown>;
  /** The rules Talon runs for `hit`, as converted names, in Talon's order. */
  readonly hitSelects: readonly string[];
  /** What the miss changes, and the alert. */
  readonly missBy: string;
  readonly miss: Record<string, unknown>;
  readonly missSelects: readonly string[];
}

describe('convert: Falco Talon example rules (rules.yaml + rules_override.yaml)', () => {
  const manifests = converted('falcosecurity-falco-talon__rules.yaml', 'falcosecurity-falco-talon__rules_override.yaml');
  const UNEXPECTED = 'Unexpected outbound connection destination';

  test('check accepts every converted manifest', () => {
    const c = capture();
    assert.equal(check([manifests], c), 0, c.err);
    assert.match(c.out, /^11 rules \(11 valid\), 6 actions; 0 problems/);
  });

  const cases: Case[] = [
    {
      talon: 'Suspicious outbound connection',
      hit: alert(UNEXPECTED, pod('default')),
      // Talon runs every matching rule: "Calico netpol" has the same criteria.
      hitSelects: ['suspicious-outbound-connection', 'calico-netpol'],
      missBy: 'k8s.ns.name=kube-system (the != clause holds)',
      miss: alert(UNEXPECTED, pod('kube-system')),
      missSelects: [],
    },
    {
      talon: 'Terminal shell in container',
      hit: alert('Terminal shell in container', pod('default')),
      hitSelects: ['terminal-shell-in-container'],
      missBy: 'k8s.ns.name=falco (the second != clause)',
      miss: alert('Terminal shell in container', pod('falco')),
      missSelects: [],
    },
    {
      talon: 'Terminal shell in container (field absent: != passes)',
      hit: alert('Terminal shell in container', { 'k8s.pod.name': 'web-1' }),
      hitSelects: ['terminal-shell-in-container'],
      missBy: 'the rule name differs by case (exact equality)',
      miss: alert('terminal shell in container', pod('default')),
      missSelects: [],
    },
    {
      talon: 'Delete unknown namespace',
      hit: alert('K8s Namespace Created', audit({ 'ka.target.name': 'todelete', 'ka.target.namespace': 'todelete' })),
      hitSelects: ['delete-unknown-namespace'],
      missBy: 'ka.target.namespace absent (an = clause needs the field)',
      miss: alert('K8s Namespace Created', audit({ 'ka.target.name': 'todelete' })),
      missSelects: [],
    },
    {
      talon: 'Calico netpol',
      hit: alert(UNEXPECTED, pod('prod')),
      hitSelects: ['suspicious-outbound-connection', 'calico-netpol'],
      missBy: 'another Falco rule',
      miss: alert('Unexpected inbound connection source', pod('prod')),
      missSelects: [],
    },
    {
      talon: 'Test node drain',
      hit: alert('Test node drain', pod('default')),
      hitSelects: ['test-node-drain'],
      missBy: 'another Falco rule',
      miss: alert('Test node drains', pod('default')),
      missSelects: [],
    },
    {
      talon: 'Delete namespace',
      hit: alert('Test delete namespace', audit({ 'ka.target.name': 'todelete' })),
      hitSelects: ['delete-namespace'],
      missBy: 'ka.target.name=keep',
      miss: alert('Test delete namespace', audit({ 'ka.target.name': 'keep' })),
      missSelects: [],
    },
    {
      talon: 'Test exec',
      hit: alert('Test exec', pod('default')),
      hitSelects: ['test-exec'],
      missBy: 'k8s.ns.name=kube-system',
      miss: alert('Test exec', pod('kube-system')),
      missSelects: [],
    },
    ...(['Test download', 'Test tcpdump', 'Test sysdig', 'Test log'] as const).map(
      (rule): Case => ({
        talon: rule,
        hit: alert(rule, pod('default'), 'Debug'),
        hitSelects: [rule.toLowerCase().replace(' ', '-')],
        missBy: 'another Falco rule',
        miss: alert(`${rule} 2`, pod('default'), 'Debug'),
        missSelects: [],
      }),
    ),
  ];
  for (const c of cases) {
    test(`${c.talon}: its alert selects ${JSON.stringify(c.hitSelects)}; missing by ${c.missBy} selects ${JSON.stringify(c.missSelects)}`, () => {
      assert.deepEqual(selected(manifests, c.hit), c.hitSelects);
      assert.deepEqual(selected(manifests, c.miss), c.missSelects);
    });
  }

  test('the override reached the action: Terminate Pod has the merged parameters', () => {
    const text = readFileSync(manifests, 'utf8');
    assert.match(text, /name: terminate-pod[\s\S]*?gracePeriodSeconds: 2\n\s+ignoreStandalonePods: true\n\s+ignoreDaemonSets: true\n\s+ignoreStatefulSets: true/);
  });

  test('--namespace converts to TalonRule/TalonAction and says which rules a tenant may not have', () => {
    const c = capture();
    const code = convert(['--namespace', 'team-a', '--gcp-project', 'p', join(dir, 'falcosecurity-falco-talon__rules.yaml'), join(dir, 'falcosecurity-falco-talon__rules_override.yaml')], c);
    assert.equal(code, 1);
    assert.match(c.out, /kind: TalonRule\nmetadata:\n  name: terminal-shell-in-container\n  namespace: team-a/);
    assert.match(c.err, /TalonRule team-a\/test-node-drain: ScopeNotAllowed: .*kubernetes:cordon: acts on the node level/);
  });
});

describe('convert: the falco-talon Helm chart default rules (rules.yaml + its override)', () => {
  const manifests = converted('falcosecurity-charts__charts-falco-talon__rules.yaml', 'falcosecurity-charts__charts-falco-talon__rules_override.yaml');

  test('check accepts every converted manifest', () => {
    const c = capture();
    assert.equal(check([manifests], c), 0, c.err);
    assert.match(c.out, /^1 rules \(1 valid\), 2 actions; 0 problems/);
  });

  test('Terminal shell in container: selected outside kube-system and falco; not in kube-system', () => {
    assert.deepEqual(selected(manifests, alert('Terminal shell in container', pod('default'))), ['terminal-shell-in-container']);
    assert.deepEqual(selected(manifests, alert('Terminal shell in container', pod('kube-system'))), []);
  });
});

describe('convert: match criteria beyond the reference files, Talon semantics', () => {
  const file = tmp.file(
    'semantics.yaml',
    `- rule: Tagged
  match:
    priority: ">=Warning"
    source: syscall
    tags: ["container, shell", mitre_execution]
  actions: [{action: a, actionner: kubernetes:label, parameters: {labels: {a: b}}}]
- rule: Or groups
  continue: "false"
  match:
    output_fields:
      - k8s.ns.name=prod, fd.sport=443
      - k8s.ns.name=staging, k8s.pod.name!=keep
  actions: [{action: a, actionner: kubernetes:label, parameters: {labels: {a: b}}}]
- rule: After
  actions: [{action: a, actionner: kubernetes:label, parameters: {labels: {a: b}}}]
`,
  );
  const c = capture();
  assert.equal(convert([file], c), 0, c.err);
  const manifests = tmp.file('semantics.converted.yaml', c.out);
  const ev = (o: { priority?: string; source?: string; tags?: string[]; fields?: Record<string, unknown> }) => ({
    output: 'x',
    rule: 'Any',
    time: '2026-11-30T01:00:00Z',
    priority: o.priority ?? 'Notice',
    source: o.source ?? 'syscall',
    tags: o.tags ?? [],
    output_fields: o.fields ?? {},
  });
  const table: [string, Parameters<typeof ev>[0], string[]][] = [
    ['all tags of one group, priority and source hold', { priority: 'Warning', tags: ['shell', 'container', 'x'] }, ['tagged', 'after']],
    ['one tag of the AND-group missing', { priority: 'Warning', tags: ['container'] }, ['after']],
    ['the other group, higher priority', { priority: 'Critical', tags: ['mitre_execution'] }, ['tagged', 'after']],
    ['priority below Warning', { priority: 'Notice', tags: ['mitre_execution'] }, ['after']],
    ['another source', { priority: 'Error', source: 'k8s_audit', tags: ['mitre_execution'] }, ['after']],
    ['first OR-group; continue "false" stops later rules', { fields: { 'k8s.ns.name': 'prod', 'fd.sport': 443 } }, ['or-groups']],
    ['first OR-group misses by one clause', { fields: { 'k8s.ns.name': 'prod', 'fd.sport': 80 } }, ['after']],
    ['second OR-group: != passes on an absent field', { fields: { 'k8s.ns.name': 'staging' } }, ['or-groups']],
    ['second OR-group misses: the != clause holds', { fields: { 'k8s.ns.name': 'staging', 'k8s.pod.name': 'keep' } }, ['after']],
  ];
  for (const [why, o, want] of table) {
    test(`${why} → ${JSON.stringify(want)}`, () => assert.deepEqual(selected(manifests, ev(o)), want));
  }
});

describe("convert --talon-config: Talon's configuration carried over (notifiers, outputs, cloud settings)", () => {
  const SECRET_VALUES = ['https://hooks.slack.com/services/T000/B000/XXXXSECRET', 'smtp-pass-SECRET', 'AKIASECRET', 'aws-secret-SECRET', 'minio-key-SECRET', 'minio-secret-SECRET', 'loki-key-SECRET', 'es-pass-SECRET'];
  const talonConfig = tmp.file(
    'talon-config.yaml',
    `listen_port: "2804"
default_notifiers: [k8sevents, slack]
notifiers:
  slack: {webhook_url: "${SECRET_VALUES[0]}", username: Talon, format: short, colour: red}
  webhook: {url: "http://hooks.example/talon", http_method: put, custom_headers: {X-Team: sec}, user_agent: talon}
  smtp: {host_port: "mail.example:2525", from: "talon@example.com", to: "a@example.com, b@example.com", user: talon, password: "${SECRET_VALUES[1]}", tls: true, format: html}
  loki: {url: "http://loki:3100", user: "1", api_key: "${SECRET_VALUES[6]}", tenant: t1}
  elasticsearch: {url: "http://es:9200", password: "${SECRET_VALUES[7]}", user: elastic, index: falco, create_index_template: true, number_of_shards: 2}
aws: {region: eu-west-3, access_key: ${SECRET_VALUES[2]}, secret_key: ${SECRET_VALUES[3]}, role_arn: "arn:aws:iam::1:role/x"}
minio: {endpoint: "minio.minio:9000", access_key: ${SECRET_VALUES[4]}, secret_key: ${SECRET_VALUES[5]}, use_ssl: false}
watch_rules: true
`,
  );
  const rules = tmp.file('notify.yaml', '- rule: Shell\n  match: {rules: [Terminal shell in container]}\n  notifiers: [slack, loki]\n  actions: [{action: Mark, actionner: kubernetes:label, parameters: {labels: {a: b}}, output: {target: minio:s3, parameters: {bucket: x}}}]\n');

  test('the operator config it writes loads with the real loader once the secret files exist; no secret is written, each is named in a warning', async () => {
    const secrets = join(tmpDir, 'secrets');
    const out = join(tmpDir, 'converted-config.yaml');
    const c = capture();
    // kubernetes:label takes no output: expect the check to say so, not a conversion error.
    const code = convert(['--talon-config', talonConfig, '--config-out', out, '--secrets-dir', secrets, rules], c);
    assert.equal(code, 1);
    assert.match(c.err, /do not pass check: .*kubernetes:label.*output/);
    const text = readFileSync(out, 'utf8');
    for (const v of SECRET_VALUES) assert.ok(!text.includes(v) && !c.out.includes(v), `secret ${v} written`);
    assert.match(c.err, /Talon's webhook has no authentication; the converted config asks for a bearer token/);
    for (const f of ['slack-webhook-url', 'webhook-url', 'smtp-password', 'loki-api-key', 'elasticsearch-password', 'aws-access-key-id', 'aws-secret-access-key', 'minio-access-key', 'minio-secret-key']) {
      assert.match(c.err, new RegExp(`put its value in ${secrets}/${f} `), f);
    }
    assert.match(c.err, /notifiers\.slack\.colour: not a slack setting \(Talon ignores it\): dropped/);
    assert.match(c.err, /aws\.role_arn: AssumeRole is not supported/);

    const { mkdirSync } = await import('node:fs');
    mkdirSync(secrets, { recursive: true });
    for (const f of ['webhook-token', 'slack-webhook-url', 'webhook-url', 'smtp-password', 'loki-api-key', 'elasticsearch-password', 'aws-access-key-id', 'aws-secret-access-key', 'minio-access-key', 'minio-secret-key']) {
      writeFileSync(join(secrets, f), f === 'webhook-url' || f === 'slack-webhook-url' ? 'https://hooks.example/x\n' : 'value\n');
    }
    const { loadConfig } = await import('../src/config/load.js');
    const { pluginSchemas } = await import('../src/main.js');
    const loaded = loadConfig({ file: out, env: {}, plugins: pluginSchemas() });
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.errors.join('\n'));
    if (!loaded.ok) return;
    const cfg = loaded.config as unknown as Record<string, any>;
    assert.equal(cfg.listen.port, 2804);
    assert.deepEqual(cfg.defaultNotifiers, ['k8sevents', 'slack']);
    assert.deepEqual(Object.keys(cfg.notifiers).sort(), ['elasticsearch', 'k8sevents', 'loki', 'slack', 'smtp', 'webhook']);
    assert.equal(cfg.notifiers.smtp.config.host, 'mail.example');
    assert.equal(cfg.notifiers.smtp.config.port, 2525);
    assert.deepEqual(cfg.notifiers.smtp.config.to, ['a@example.com', 'b@example.com']);
    assert.equal(cfg.notifiers.webhook.config.method, 'PUT');
    assert.equal(cfg.notifiers.elasticsearch.config.indexTemplate.shards, 2);
    assert.equal(cfg.outputs['aws:s3'].profiles.minio.endpoint, 'http://minio.minio:9000');
    assert.equal(cfg.outputs['aws:s3'].profiles.minio.forcePathStyle, true);
    assert.equal(cfg.outputs['aws:s3'].profiles.default.region, 'eu-west-3');
    assert.equal(cfg.actionners.aws.region, 'eu-west-3');
  });

  test("converted rules naming Talon's notifiers pass check against the converted config", () => {
    const ok = tmp.file('notify-ok.yaml', '- rule: Shell\n  notifiers: [slack, loki]\n  actions: [{action: Grab, actionner: kubernetes:log, output: {target: minio:s3, parameters: {bucket: evidence}}}]\n');
    const c = capture();
    assert.equal(convert(['--talon-config', talonConfig, '--config-out', join(tmpDir, 'c2.yaml'), ok], c), 0, c.err);
    assert.match(c.out, /notifiers:\n\s+- slack\n\s+- loki/);
    assert.match(c.out, /profile: minio/);
    const unknown = tmp.file('notify-bad.yaml', '- rule: Shell\n  notifiers: [pagerduty]\n  actions: [{action: Grab, actionner: kubernetes:log}]\n');
    const b = capture();
    assert.equal(convert(['--talon-config', talonConfig, '--config-out', join(tmpDir, 'c3.yaml'), unknown], b), 1);
    assert.match(b.err, /pagerduty/);
  });

  test("Talon's example configuration converts", () => {
    const c = capture();
    assert.equal(convert(['--talon-config', join(dir, 'falcosecurity-falco-talon__config_example.yaml'), '--config-out', join(tmpDir, 'example.yaml'), join(dir, 'falcosecurity-charts__charts-falco-talon__rules.yaml')], c), 0, c.err);
    const text = readFileSync(join(tmpDir, 'example.yaml'), 'utf8');
    assert.match(text, /slack:\n\s+type: slack\n\s+webhookUrlFile: \/etc\/talon\/secrets\/slack-webhook-url\n\s+format: long/);
    assert.doesNotMatch(text, /hooks\.slack\.com/);
  });
});
