import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { tempFiles } from '../../test/builders.js';
import { loadConfig, type LoadResult } from './load.js';
import { Type } from '@sinclair/typebox';
import { CONFIG_KEYS, configKeysMarkdown, parseSize, type Config } from './schema.js';

/** Plug-in schemas as main.ts hands them in (stand-ins: this room may not import notifiers/ or outputs/). */
const PLUGINS = {
  notifiers: new Map([
    ['k8sevents', Type.Object({}, { additionalProperties: false })],
    ['slack', Type.Object({ webhookUrl: Type.String({ format: 'uri' }), channel: Type.String({ default: '#security' }) }, { additionalProperties: false })],
  ]),
  outputs: new Map([['local:file', Type.Object({ directory: Type.String({ default: '/tmp/talon-artifacts' }), maxBytes: Type.Integer({ minimum: 0, default: 100 }) }, { additionalProperties: false })]]),
  actionners: new Map([['aws', Type.Object({ region: Type.String({ default: 'us-east-1' }), endpoint: Type.Optional(Type.String()) }, { additionalProperties: false })]]),
};

const tmp = tempFiles('talon-config-');
const file = tmp.file;

function ok(r: LoadResult): Config {
  if (!r.ok) assert.fail(`expected a config, got errors:\n${r.errors.join('\n')}`);
  return r.config;
}

function errors(r: LoadResult): readonly string[] {
  if (r.ok) assert.fail('expected errors');
  return r.errors;
}

describe('loadConfig', () => {
  test('defaults, with the mode chosen by the environment', () => {
    const c = ok(loadConfig({ env: { TALON_AUTH_MODE: 'none' } }));
    assert.deepEqual(c, {
      listen: { address: '0.0.0.0', port: 2803 },
      auth: { mode: 'none' },
      metrics: { port: 0 },
      protectedNamespaces: ['kube-system'],
      bodyLimitBytes: 1048576,
      dedup: { windowMs: 10_000 },
      webhook: { maxConnections: 1024, idleTimeoutMs: 10_000, keepAliveTimeoutMs: 125_000, perClientRequestsPerSecond: 0, perClientBurst: 1000 },
      events: { perNamespacePerMinute: 60, clusterPerMinute: 600, updatesPerSecond: 5, maxInFlight: 4 },
      queue: { concurrency: 32, maxPending: 100_000, maxBytes: 32 * 1024 * 1024, maxHeldBytes: 8 * 1024 * 1024 },
      journal: { enabled: true, dir: '/var/lib/talon/journal', fsync: 'interval', fsyncIntervalMs: 1000 },
      retry: { horizonMs: 300_000, initialBackoffMs: 500, maxBackoffMs: 30_000 },
      shutdownGraceMs: 20_000,
      safety: { destructiveActionsPerMinute: 30, dryRun: false, cloudNamespaces: [] },
      coordination: { enabled: false, namespace: '', leaseMs: 10_000, claimWindowMs: 10_000, sweepIntervalMs: 60_000 },
      defaultNotifiers: ['k8sevents'],
      notifiers: { k8sevents: { type: 'k8sevents', timeoutMs: 10_000, retries: 2, queueSize: 1000, concurrency: 4, config: {} } },
      outputs: {},
      actionners: {},
      logLevel: 'info',
      logFormat: 'json',
      logOutcomesPerSecond: 10,
      statusFlushIntervalMs: 3000,
      revertSweepIntervalMs: 15000,
      contexts: { imdsEndpoint: 'http://169.254.169.254', cacheTtlMs: 30_000 },
      defaultActionTimeoutMs: 30_000,
      approvalNamespace: 'talon-system',
      approvalRetentionMs: 86_400_000,
      console: { enabled: false, address: '127.0.0.1', port: 2804, sessionTtlMs: 8 * 3_600_000, accessCacheTtlMs: 30_000 },
      tracing: { enabled: false, endpoint: 'http://127.0.0.1:4318/v1/traces', samplingRatio: 1, serviceName: 'talon-operator' },
    });
  });

  test("approvals of cluster rules go to the operator's namespace unless approvalNamespace says otherwise", () => {
    assert.equal(ok(loadConfig({ env: { TALON_AUTH_MODE: 'none', POD_NAMESPACE: 'sec' } })).approvalNamespace, 'sec');
    const c = ok(loadConfig({ env: { TALON_AUTH_MODE: 'none', POD_NAMESPACE: 'sec', TALON_APPROVALNAMESPACE: 'approvals', TALON_APPROVALRETENTION: '1h' } }));
    assert.deepEqual([c.approvalNamespace, c.approvalRetentionMs], ['approvals', 3_600_000]);
  });

  test('coordination: the Lease namespace defaults to $POD_NAMESPACE, is required when enabled, and the lease is at least 1s', () => {
    assert.equal(ok(loadConfig({ env: { TALON_AUTH_MODE: 'none', TALON_COORDINATION_ENABLED: 'true', POD_NAMESPACE: 'talon-system' } })).coordination.namespace, 'talon-system');
    assert.deepEqual(errors(loadConfig({ env: { TALON_AUTH_MODE: 'none', TALON_COORDINATION_ENABLED: 'true' } })), [
      'coordination.namespace: required when coordination.enabled is true and $POD_NAMESPACE is unset',
    ]);
    assert.deepEqual(errors(loadConfig({ env: { TALON_AUTH_MODE: 'none', TALON_COORDINATION_NAMESPACE: 'x', TALON_COORDINATION_LEASE: '500ms' } })), [
      'coordination.lease: must be at least 1s, got 500ms',
    ]);
  });

  test('console and tracing keys from the environment; a console port equal to the webhook port is refused', () => {
    const c = ok(loadConfig({ env: { TALON_AUTH_MODE: 'none', TALON_CONSOLE_ENABLED: 'true', TALON_CONSOLE_PORT: '9000', TALON_TRACING_SAMPLINGRATIO: '0.25' } }));
    assert.equal(c.console.enabled, true);
    assert.equal(c.console.port, 9000);
    assert.equal(c.tracing.samplingRatio, 0.25);
    assert.deepEqual(errors(loadConfig({ env: { TALON_AUTH_MODE: 'none', TALON_TRACING_SAMPLINGRATIO: 'half' } })), ['TALON_TRACING_SAMPLINGRATIO: "half" is not a number']);
    assert.deepEqual(errors(loadConfig({ env: { TALON_AUTH_MODE: 'none', TALON_CONSOLE_ENABLED: 'true', TALON_CONSOLE_PORT: '2803' } })), [
      'console.port: must differ from listen.port and metrics.port (the console has its own management port)',
    ]);
  });

  test('the result is deep-frozen', () => {
    const c = ok(loadConfig({ env: { TALON_AUTH_MODE: 'none' } }));
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.listen) && Object.isFrozen(c.protectedNamespaces) && Object.isFrozen(c.safety.cloudNamespaces));
    assert.throws(() => {
      (c.listen as { port: number }).port = 1;
    }, TypeError);
  });

  test('byte budgets and backoff bounds that cannot work are errors', () => {
    const path = file('budget.yaml', 'auth: {mode: none}\nbodyLimit: 2MiB\nqueue: {maxBytes: lots, maxHeldBytes: 1MiB}\nretry: {initialBackoff: 10s, maxBackoff: 1s}\n');
    const e = errors(loadConfig({ file: path, env: {} }));
    assert.ok(e.some((m) => m.startsWith('queue.maxBytes: "lots" is not a size')), e.join('\n'));
    assert.ok(e.some((m) => m.startsWith('queue.maxHeldBytes: 1048576 bytes is less than bodyLimit')), e.join('\n'));
    assert.ok(e.some((m) => m.startsWith('retry.maxBackoff: must be at least')), e.join('\n'));
    const fsync = file('fsync.yaml', 'auth: {mode: none}\njournal: {fsync: sometimes}\n');
    assert.deepEqual(errors(loadConfig({ file: fsync, env: {} })), ['journal.fsync: must be one of: always, interval, never']);
  });

  test("the Event writes' pace: from the file or the environment, bounded", () => {
    const c = ok(loadConfig({ file: file('events.yaml', 'auth: {mode: none}\nevents: {updatesPerSecond: 100}\n'), env: { TALON_EVENTS_MAXINFLIGHT: '16' } }));
    assert.deepEqual(c.events, { perNamespacePerMinute: 60, clusterPerMinute: 600, updatesPerSecond: 100, maxInFlight: 16 });
    const errs = errors(loadConfig({ file: file('events-bad.yaml', 'auth: {mode: none}\nevents: {updatesPerSecond: 0, maxInFlight: 65}\n'), env: {} }));
    for (const e of ['events.updatesPerSecond: must be >= 1', 'events.maxInFlight: must be <= 64']) {
      assert.ok(errs.some((x) => x.startsWith(e)), `missing "${e}" in:\n${errs.join('\n')}`);
    }
  });

  test('the auth mode must be explicit', () => {
    assert.deepEqual(errors(loadConfig({ env: {} })), [
      "auth: missing required field 'mode': none, token or mtls (none must be chosen explicitly)",
    ]);
  });

  test('a full file, converted', () => {
    const token = file('token', 's3cret\n');
    const path = file(
      'full.yaml',
      `listen: {address: 127.0.0.1, port: 9000}
auth: {mode: token, tokenFile: ${token}}
metrics: {port: 9090}
protectedNamespaces: [kube-system, falco]
bodyLimit: 512KiB
dedup: {window: 1m30s}
queue: {concurrency: 4, maxPending: 10, maxBytes: 8MiB, maxHeldBytes: 1MiB}
journal: {dir: /tmp/j, fsync: always}
retry: {horizon: 2m, initialBackoff: 1s, maxBackoff: 10s}
shutdownGrace: 15s
safety: {destructiveActionsPerMinute: 5, dryRun: true, cloudNamespaces: [prod]}
defaultNotifiers: [k8sevents, slack]
notifiers: {slack: {type: slack, webhookUrl: "https://hooks.example/x"}}
logLevel: debug
logFormat: text
statusFlushInterval: 500ms
defaultActionTimeout: 1h
`,
    );
    const c = ok(loadConfig({ file: path, env: { POD_NAMESPACE: 'talon' }, plugins: PLUGINS }));
    assert.deepEqual(c.listen, { address: '127.0.0.1', port: 9000 });
    assert.deepEqual(c.auth, { mode: 'token', tokenFile: token });
    assert.equal(c.metrics.port, 9090);
    assert.deepEqual(c.protectedNamespaces, ['kube-system', 'falco', 'talon']);
    assert.equal(c.bodyLimitBytes, 512 * 1024);
    assert.equal(c.dedup.windowMs, 90_000);
    assert.deepEqual(c.queue, { concurrency: 4, maxPending: 10, maxBytes: 8 * 1024 * 1024, maxHeldBytes: 1024 * 1024 });
    assert.deepEqual(c.journal, { enabled: true, dir: '/tmp/j', fsync: 'always', fsyncIntervalMs: 1000 });
    assert.deepEqual(c.retry, { horizonMs: 120_000, initialBackoffMs: 1000, maxBackoffMs: 10_000 });
    assert.equal(c.shutdownGraceMs, 15_000);
    assert.deepEqual(c.safety, { destructiveActionsPerMinute: 5, dryRun: true, cloudNamespaces: ['prod'] });
    assert.deepEqual(c.defaultNotifiers, ['k8sevents', 'slack']);
    assert.deepEqual(c.notifiers.slack, { type: 'slack', timeoutMs: 10_000, retries: 2, queueSize: 1000, concurrency: 4, config: { webhookUrl: 'https://hooks.example/x', channel: '#security' } });
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.logFormat, 'text');
    assert.equal(c.statusFlushIntervalMs, 500);
    assert.equal(c.defaultActionTimeoutMs, 3_600_000);
  });

  test('environment overrides win over the file and are coerced', () => {
    const path = file('base.yaml', 'auth: {mode: none}\nlisten: {port: 1000}\nsafety: {dryRun: false}\n');
    const c = ok(
      loadConfig({
        file: path,
        env: {
          TALON_LISTEN_PORT: '2000',
          TALON_LISTEN_ADDRESS: '::',
          TALON_SAFETY_DRYRUN: 'TRUE',
          TALON_SAFETY_DESTRUCTIVEACTIONSPERMINUTE: '0',
          TALON_PROTECTEDNAMESPACES: ' a, b ,,c',
          TALON_BODYLIMIT: '2048',
          TALON_DEDUP_WINDOW: '5s',
          TALON_QUEUE_CONCURRENCY: '8',
          TALON_LOGLEVEL: 'warn',
          TALON_METRICS_PORT: '',
          TALON_PORT: 'tcp://10.0.0.1:2803',
          POD_NAMESPACE: 'own',
        },
      }),
    );
    assert.deepEqual(c.listen, { address: '::', port: 2000 });
    assert.equal(c.safety.dryRun, true);
    assert.equal(c.safety.destructiveActionsPerMinute, 0);
    assert.deepEqual(c.protectedNamespaces, ['a', 'b', 'c', 'own']);
    assert.equal(c.bodyLimitBytes, 2048);
    assert.equal(c.dedup.windowMs, 5000);
    assert.equal(c.queue.concurrency, 8);
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.metrics.port, 0);
  });

  test("the operator's own namespace (POD_NAMESPACE) is always protected", () => {
    const c = ok(loadConfig({ env: { TALON_AUTH_MODE: 'none', POD_NAMESPACE: 'falco' } }));
    assert.deepEqual(c.protectedNamespaces, ['kube-system', 'falco']);
    const listed = ok(loadConfig({ file: file('own.yaml', 'protectedNamespaces: [falco, prod]\n'), env: { TALON_AUTH_MODE: 'none', POD_NAMESPACE: 'falco' } }));
    assert.deepEqual(listed.protectedNamespaces, ['falco', 'prod'], 'listed once');
    assert.ok(ok(loadConfig({ file: file('none.yaml', 'protectedNamespaces: []\n'), env: { TALON_AUTH_MODE: 'none', POD_NAMESPACE: 'talon' } })).protectedNamespaces.includes('talon'));
  });

  test('controlNamespace (removed) fails at start, in the file or the environment, pointing to ClusterTalonRule', () => {
    const fromFile = errors(loadConfig({ file: file('ctl.yaml', 'auth: {mode: none}\ncontrolNamespace: talon-system\n'), env: {} }));
    assert.equal(fromFile.length, 1);
    assert.match(fromFile[0]!, /^controlNamespace: this setting was removed: .*ClusterTalonRule.*ClusterTalonAction.*drop metadata\.namespace/);
    const fromEnv = errors(loadConfig({ env: { TALON_AUTH_MODE: 'none', TALON_CONTROLNAMESPACE: 'talon-system' } }));
    assert.equal(fromEnv.length, 1);
    assert.match(fromEnv[0]!, /^TALON_CONTROLNAMESPACE \(controlNamespace\): this setting was removed: .*ClusterTalonRule/);
    // Even an otherwise valid config fails, and an empty variable counts as unset.
    assert.ok(ok(loadConfig({ env: { TALON_AUTH_MODE: 'none', TALON_CONTROLNAMESPACE: '' } })));
    assert.equal(CONFIG_KEYS.some((k) => k.path === 'controlNamespace'), false, 'no longer an overridable key');
    assert.doesNotMatch(configKeysMarkdown(), /controlNamespace|CONTROLNAMESPACE/);
  });

  test('an empty file means defaults', () => {
    const c = ok(loadConfig({ file: file('empty.yaml', '# nothing\n'), env: { TALON_AUTH_MODE: 'none' } }));
    assert.equal(c.listen.port, 2803);
  });

  test('every error is reported, naming the key or the variable', () => {
    const path = file(
      'bad.yaml',
      `listen: {prot: 80, port: 70000}
auth: {mode: token}
bodyLimit: 1 lightyear
dedup: {window: 10}
queue: {concurrency: 0}
protectedNamespaces: [Kube_System]
logLevel: verbose
extra: 1
`,
    );
    const errs = errors(loadConfig({ file: path, env: { TALON_SAFETY_DRYRUN: 'maybe', TALON_QUEUE_MAXPENDING: '1e3' } }));
    const expected = [
      'TALON_SAFETY_DRYRUN: "maybe" is not a boolean (true or false)',
      'TALON_QUEUE_MAXPENDING: "1e3" is not an integer',
      "listen.prot: unknown field 'prot' (did you mean 'port'?)",
      'listen.port: must be <= 65535',
      'dedup.window: must be a duration such as 500ms, 10s, 5m or 1h30m',
      'queue.concurrency: must be >= 1',
      'protectedNamespaces[0]: must be a namespace name (lower-case letters, digits and -, at most 63)',
      'logLevel: must be one of: error, warn, info, debug',
      "extra: unknown field 'extra'",
    ];
    for (const e of expected) assert.ok(errs.some((x) => x.startsWith(e)), `missing "${e}" in:\n${errs.join('\n')}`);
  });

  test('semantic errors after the schema', () => {
    const path = file('sem.yaml', 'auth: {mode: token}\nbodyLimit: 1 lightyear\nmetrics: {port: 2803}\ntls: {certFile: /nonexistent/c}\n');
    assert.deepEqual([...errors(loadConfig({ file: path, env: {} }))].sort(), [
      'auth.tokenFile: required when auth.mode is token',
      'bodyLimit: "1 lightyear" is not a size between 1 byte and 1GiB (e.g. 512KiB, 1MiB, 1048576)',
      'metrics.port: must differ from listen.port (0 serves /metrics on the webhook port)',
      'tls: certFile and keyFile must be set together',
    ]);
  });

  test('durations use the one grammar (lib/duration.ts): Go syntax plus d, bounded', () => {
    const c = ok(loadConfig({ env: { TALON_AUTH_MODE: 'none', TALON_DEDUP_WINDOW: '1.5s', TALON_DEFAULTACTIONTIMEOUT: '2m30s', TALON_STATUSFLUSHINTERVAL: '1d' } }));
    assert.deepEqual([c.dedup.windowMs, c.defaultActionTimeoutMs, c.statusFlushIntervalMs], [1_500, 150_000, 86_400_000]);
    assert.deepEqual(errors(loadConfig({ env: { TALON_AUTH_MODE: 'none', TALON_DEDUP_WINDOW: '999999999h' } })), [
      'dedup.window: "999999999h" is longer than the longest duration (2562047h47m16s854ms)',
    ]);
  });

  test('token and TLS files are checked', () => {
    const empty = file('empty-token', '  \n');
    assert.deepEqual(errors(loadConfig({ env: { TALON_AUTH_MODE: 'token', TALON_AUTH_TOKENFILE: empty } })), [`auth.tokenFile: ${empty} is empty`]);
    assert.deepEqual(errors(loadConfig({ env: { TALON_AUTH_MODE: 'token', TALON_AUTH_TOKENFILE: tmp.path('nope') } })), [
      `auth.tokenFile: cannot read ${tmp.path('nope')}: ENOENT`,
    ]);
    assert.deepEqual([...errors(loadConfig({ env: { TALON_AUTH_MODE: 'mtls' } }))].sort(), [
      'tls.certFile: required when auth.mode is mtls',
      'tls.clientCAFile: required when auth.mode is mtls',
      'tls.keyFile: required when auth.mode is mtls',
    ]);
    const junk = file('junk.pem', 'not a pem');
    const errs = errors(loadConfig({ env: { TALON_AUTH_MODE: 'mtls', TALON_TLS_CERTFILE: junk, TALON_TLS_KEYFILE: junk, TALON_TLS_CLIENTCAFILE: junk } }));
    assert.equal(errs.length, 1);
    assert.match(errs[0]!, /^tls: the certificate, key or client CA cannot be used: /);
    assert.deepEqual(errors(loadConfig({ env: { TALON_AUTH_MODE: 'none', TALON_TLS_CLIENTCAFILE: junk } })), [
      'tls.clientCAFile: client certificates are only checked when auth.mode is mtls (auth.mode is none)',
    ]);
  });

  test('file problems', () => {
    assert.match(errors(loadConfig({ file: tmp.path('missing.yaml'), env: {} }))[0]!, /^config file .*missing\.yaml: ENOENT/);
    assert.match(errors(loadConfig({ file: file('list.yaml', '- a\n'), env: {} }))[0]!, /must be a mapping/);
    assert.match(errors(loadConfig({ file: file('broken.yaml', 'listen: {port: 1\n'), env: {} }))[0]!, /^config file .*broken\.yaml: /);
    assert.match(errors(loadConfig({ file: file('dup.yaml', 'logLevel: info\nlogLevel: debug\n'), env: {} }))[0]!, /^config file .*dup\.yaml: .*unique/i);
    assert.deepEqual(errors(loadConfig({ file: file('scalar-section.yaml', 'auth: {mode: none}\nlisten: 5\n'), env: { TALON_LISTEN_PORT: '1' } })), [
      'TALON_LISTEN_PORT: cannot override listen.port: listen in the config file is not a mapping',
      'listen: must be object',
    ]);
  });
});

describe('schema helpers', () => {
  test('parseSize', () => {
    const cases: [number | string, number | undefined][] = [
      [1048576, 1048576],
      ['1048576', 1048576],
      ['512KiB', 524288],
      ['1MiB', 1048576],
      ['1mib', 1048576],
      ['1Mi', 1048576],
      ['1MB', 1_000_000],
      ['1.5KiB', 1536],
      ['2 GiB', 2 * 1024 ** 3],
      ['1 lightyear', undefined],
      ['-1', undefined],
      ['', undefined],
      [1.5, undefined],
    ];
    for (const [input, bytes] of cases) assert.equal(parseSize(input), bytes, String(input));
  });

  test('every environment variable is TALON_ + its path, and the Markdown table lists it', () => {
    const md = configKeysMarkdown();
    for (const k of CONFIG_KEYS) {
      assert.equal(k.env, `TALON_${k.path.replace(/\./g, '_').toUpperCase()}`);
      assert.ok(md.includes(`\`${k.env}\``), k.env);
    }
  });
});

describe('loadConfig: notifiers and outputs', () => {
  const load = (yaml: string, env: NodeJS.ProcessEnv = {}) => loadConfig({ file: file('plugins.yaml', `auth: {mode: none}\n${yaml}`), env, plugins: PLUGINS });

  test('instances: the type validates its settings (defaults applied), the router keys are resolved, k8sevents is implicit', () => {
    const c = ok(
      load(`notifiers:
  slack-security: {type: slack, webhookUrl: "https://hooks.example/a", timeout: 2s, retries: 0, queueSize: 10, concurrency: 1}
  slack-ops: {type: slack, webhookUrl: "https://hooks.example/b", channel: "#ops"}
defaultNotifiers: [k8sevents, slack-ops, k8sevents]
`),
    );
    assert.deepEqual(c.notifiers, {
      'slack-security': { type: 'slack', timeoutMs: 2000, retries: 0, queueSize: 10, concurrency: 1, config: { webhookUrl: 'https://hooks.example/a', channel: '#security' } },
      'slack-ops': { type: 'slack', timeoutMs: 10_000, retries: 2, queueSize: 1000, concurrency: 4, config: { webhookUrl: 'https://hooks.example/b', channel: '#ops' } },
      k8sevents: { type: 'k8sevents', timeoutMs: 10_000, retries: 2, queueSize: 1000, concurrency: 4, config: {} },
    });
    assert.deepEqual(c.defaultNotifiers, ['k8sevents', 'slack-ops']);
    assert.ok(Object.isFrozen(c.notifiers['slack-ops']!.config));
  });

  test('defaultNotifiers: [] is kept (no optional notifier at all); an instance named k8sevents replaces the implicit one', () => {
    assert.deepEqual(ok(load('defaultNotifiers: []\n')).defaultNotifiers, []);
    const c = ok(load('notifiers: {k8sevents: {type: slack, webhookUrl: "https://hooks.example/a"}}\n'));
    assert.equal(c.notifiers.k8sevents?.type, 'slack');
    assert.deepEqual(Object.keys(c.notifiers), ['k8sevents']);
  });

  test('every notifier and output problem is reported in one run, with the schema errors', () => {
    const errs = errors(
      load(
        `queue: {concurrency: 0}
notifiers:
  sec: {type: slak, webhookUrl: "https://x"}
  ops: {type: slack, channel: 5, colour: red}
  Bad_Name: {type: k8sevents}
  slow: {type: k8sevents, timeout: forever}
  untyped: {webhookUrl: "https://x"}
  zero: {type: k8sevents, timeout: 0s}
defaultNotifiers: [k8sevent, ops, pagerduty]
outputs:
  "local:fiel": {}
  "local:file": {directory: 5}
`,
      ),
    );
    const expected = [
      'queue.concurrency: must be >= 1',
      "notifiers.sec.type: unknown notifier type 'slak' (did you mean 'slack'?); known: k8sevents, slack",
      "notifiers.ops: missing required field 'webhookUrl'",
      'notifiers.ops.channel: must be string',
      "notifiers.ops.colour: unknown field 'colour'",
      "notifiers.Bad_Name: an instance name must be lower-case letters, digits and '-'",
      'notifiers.slow.timeout: must be a duration such as 500ms, 10s, 5m or 1h30m',
      "notifiers.untyped: missing required field 'type'",
      'notifiers.zero.timeout: must be longer than 0s',
      "defaultNotifiers[0]: unknown notifier 'k8sevent' (did you mean 'k8sevents'?); configured: Bad_Name, k8sevents, ops, sec, slow, untyped, zero",
      "defaultNotifiers[2]: unknown notifier 'pagerduty'; configured:",
      "outputs[\"local:fiel\"]: unknown output 'local:fiel' (did you mean 'local:file'?); known: local:file",
      'outputs["local:file"].directory: must be string',
    ];
    for (const e of expected) assert.ok(errs.some((x) => x.startsWith(e)), `missing "${e}" in:\n${errs.join('\n')}`);
    assert.equal(errs.length, expected.length, errs.join('\n'));
  });

  test('a default from the environment is checked too and names the variable', () => {
    assert.deepEqual(errors(load('', { TALON_DEFAULTNOTIFIERS: 'k8sevents,slack' })), [
      "defaultNotifiers[1]: unknown notifier 'slack'; configured: k8sevents (from TALON_DEFAULTNOTIFIERS)",
    ]);
  });

  test('outputs: every known output gets its settings, defaults applied', () => {
    assert.deepEqual(ok(load('')).outputs, { 'local:file': { directory: '/tmp/talon-artifacts', maxBytes: 100 } });
    assert.deepEqual(ok(load('outputs: {"local:file": {directory: /data/talon}}\n')).outputs, { 'local:file': { directory: '/data/talon', maxBytes: 100 } });
  });

  test('actionners: each category with a schema gets its settings, defaults applied; unknown ones and bad fields are reported', () => {
    assert.deepEqual(ok(load('')).actionners, { aws: { region: 'us-east-1' } });
    assert.deepEqual(ok(load('actionners: {aws: {region: eu-west-3, endpoint: "http://127.0.0.1:9"}}\n')).actionners, { aws: { region: 'eu-west-3', endpoint: 'http://127.0.0.1:9' } });
    assert.deepEqual(errors(load('actionners: {aws: {regoin: x}, gpc: {}}\n')), [
      "actionners.gpc: no actionner category 'gpc' takes settings; known: aws",
      "actionners.aws.regoin: unknown field 'regoin' (did you mean 'region'?)",
    ]);
  });

  test('filters: results and dryRun are resolved when given, absent otherwise; bad values are reported', () => {
    const c = ok(load('notifiers: {a: {type: k8sevents, results: [Failed, Skipped], dryRun: false}, b: {type: k8sevents}}\n'));
    assert.deepEqual([c.notifiers.a?.results, c.notifiers.a?.dryRun], [['Failed', 'Skipped'], false]);
    assert.deepEqual(['results' in c.notifiers.b!, 'dryRun' in c.notifiers.b!], [false, false]);
    assert.deepEqual(errors(load('notifiers: {a: {type: k8sevents, results: [Failure], dryRun: "no"}}\n')), [
      'notifiers.a.results[0]: must be one of: Succeeded, Failed, Skipped, DryRun',
      'notifiers.a.dryRun: must be boolean',
    ]);
  });

  test('without plug-in schemas no notifier type is known', () => {
    const r = loadConfig({ file: file('no-plugins.yaml', 'auth: {mode: none}\nnotifiers: {a: {type: k8sevents}}\n'), env: {} });
    assert.deepEqual(errors(r), ["notifiers.a.type: unknown notifier type 'k8sevents'; known: none"]);
  });
});
