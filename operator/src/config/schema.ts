/**
 * The operator configuration (DESIGN.md §7): the schema of the YAML file with its defaults,
 * the table of `TALON_*` environment overrides, and the resolved, frozen `Config` the rest of
 * the operator reads. Durations and sizes are converted once, into fields named `…Ms` and
 * `…Bytes`.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { DURATION_EXAMPLES, DURATION_PATTERN } from '../lib/duration.js';
import type { LogFormat, LogLevel } from '../lib/log.js';

export const AUTH_MODES = ['none', 'token', 'mtls'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export const LOG_FORMATS = ['json', 'text'] as const;

const Section = <T extends Record<string, TSchema>>(properties: T, description: string) =>
  Type.Object(properties, { additionalProperties: false, default: {}, description });

const Namespace = Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 });
const Duration = (defaultValue: string, description: string) =>
  Type.String({ pattern: DURATION_PATTERN, default: defaultValue, description: `${description} (e.g. ${DURATION_EXAMPLES})` });
const Port = (defaultValue: number, description: string) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: defaultValue, description });
const Enum = <T extends readonly string[]>(values: T, extra: { default?: T[number]; description: string }) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...extra });

/**
 * One notifier instance in the file: its `type` and the router's delivery settings; every
 * other key belongs to the type and is validated against its `configSchema` by the loader.
 */
export const NotifierInstanceSchema = Type.Object(
  {
    type: Type.String({ minLength: 1, description: 'The notifier type, e.g. k8sevents.' }),
    timeout: Duration('10s', 'Per-call timeout'),
    retries: Type.Integer({ minimum: 0, maximum: 10, default: 2, description: 'Retries of a failed call, with backoff and jitter.' }),
    queueSize: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1000, description: 'Outcomes waiting at most; beyond, new ones are dropped for this instance (counted).' }),
    concurrency: Type.Integer({ minimum: 1, maximum: 64, default: 4, description: 'Calls in flight at most.' }),
    results: Type.Optional(
      Type.Array(Enum(['Succeeded', 'Failed', 'Skipped', 'DryRun'] as const, { description: 'An outcome result.' }), {
        uniqueItems: true,
        description: 'Only outcomes with one of these results are sent to this instance (default: every result).',
      }),
    ),
    dryRun: Type.Optional(Type.Boolean({ description: 'Whether DryRun outcomes are sent to this instance (default true).' })),
  },
  { additionalProperties: true },
);

/** Keys of a notifier instance that are the router's, not the notifier type's. */
export const NOTIFIER_ROUTER_KEYS: readonly string[] = Object.keys(NotifierInstanceSchema.properties);

/** The notifier instance `k8sevents` exists unless the config defines one with that name. */
export const IMPLICIT_NOTIFIER = 'k8sevents';

/** The YAML file's schema. Unknown keys are errors (typos must not be silently ignored). */
export const ConfigFileSchema = Type.Object(
  {
    listen: Section(
      {
        address: Type.String({ minLength: 1, default: '0.0.0.0', description: 'Webhook listen address.' }),
        port: Port(2803, 'Webhook port (Talon compatible); 0 picks a free port.'),
      },
      'Where Falco / Falcosidekick post alerts.',
    ),
    auth: Type.Object(
      {
        mode: Enum(AUTH_MODES, { description: 'Alert authentication: none (logged as a warning), token (Bearer) or mtls (client certificates).' }),
        tokenFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding the bearer token (token mode); re-read when it changes.' })),
      },
      { additionalProperties: false, default: {}, description: 'The mode is required: it must be chosen explicitly.' },
    ),
    tls: Type.Optional(
      Type.Object(
        {
          certFile: Type.Optional(Type.String({ minLength: 1, description: 'Serving certificate (PEM); enables HTTPS.' })),
          keyFile: Type.Optional(Type.String({ minLength: 1, description: 'Private key of certFile (PEM).' })),
          clientCAFile: Type.Optional(Type.String({ minLength: 1, description: 'CA bundle that signs client certificates (mtls mode).' })),
        },
        { additionalProperties: false },
      ),
    ),
    metrics: Section({ port: Port(0, 'Port of a separate /metrics listener; 0 serves /metrics on the webhook port.') }, 'Prometheus metrics.'),
    protectedNamespaces: Type.Array(Namespace, {
      default: ['kube-system'],
      description: 'Never acted upon; the operator’s own namespace ($POD_NAMESPACE) is always added.',
    }),
    bodyLimit: Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1 })], {
      default: '1MiB',
      description: 'Largest accepted alert body: bytes, or 512KiB, 1MiB, 1MB, …',
    }),
    dedup: Section({ window: Duration('10s', 'Duplicate deliveries within this window are dropped') }, 'Duplicate-delivery suppression.'),
    webhook: Section(
      {
        maxConnections: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1024, description: 'Open connections at most; beyond, new ones are closed at once.' }),
        idleTimeout: Duration('10s', 'A connection that sends no complete request header within this time is closed'),
        keepAliveTimeout: Duration('125s', 'An idle keep-alive connection is closed after this time'),
        perClientRequestsPerSecond: Type.Integer({ minimum: 0, default: 0, description: 'Alert requests per second from one client address; beyond, 429. 0 = no limit.' }),
        perClientBurst: Type.Integer({ minimum: 1, default: 1000, description: 'Requests one client may send at once before its rate applies.' }),
      },
      'Bounds on what webhook clients can hold.',
    ),
    events: Section(
      {
        perNamespacePerMinute: Type.Integer({ minimum: 1, default: 60, description: 'New Events per namespace per minute; beyond, occurrences are aggregated.' }),
        clusterPerMinute: Type.Integer({ minimum: 1, default: 600, description: 'New Events per minute cluster-wide; beyond, occurrences are aggregated.' }),
        updatesPerSecond: Type.Integer({
          minimum: 1,
          default: 5,
          description: 'Event series updates (count refreshes) started per second at most; beyond, they wait their turn with their occurrences counted. Creations are paced by the budgets above.',
        }),
        maxInFlight: Type.Integer({ minimum: 1, maximum: 64, default: 4, description: 'Event API calls in flight at once at most.' }),
      },
      'The budget of Kubernetes Events the operator creates.',
    ),
    queue: Section(
      {
        concurrency: Type.Integer({ minimum: 1, maximum: 10_000, default: 32, description: 'Targets worked on concurrently.' }),
        maxPending: Type.Integer({ minimum: 1, default: 100_000, description: 'Work items held before new ones are refused.' }),
        maxBytes: Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1 })], {
          default: '32MiB',
          description: 'Bytes of alert bodies accepted and not finished, at most; beyond, the webhook answers 503 with Retry-After.',
        }),
        maxHeldBytes: Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1 })], {
          default: '8MiB',
          description: 'The same while the rule index is loading (the pre-index buffer).',
        }),
      },
      'The keyed work queue and admission by bytes.',
    ),
    journal: Section(
      {
        enabled: Type.Boolean({ default: true, description: 'Write every accepted alert to the journal before answering 202 (docs/journal.md).' }),
        dir: Type.String({ minLength: 1, default: '/var/lib/talon/journal', description: 'Journal directory (the chart mounts an emptyDir or a PVC there).' }),
        fsync: Enum(['always', 'interval', 'never'] as const, {
          default: 'interval',
          description: 'always: fdatasync before every 202; interval: every fsyncInterval; never: the kernel decides. Every policy survives a killed process.',
        }),
        fsyncInterval: Duration('1s', 'Period of the interval fsync policy'),
      },
      'The crash-safe journal of accepted alerts.',
    ),
    retry: Section(
      {
        horizon: Duration('5m', 'How long a retryable action failure is retried (each attempt is bounded by the action timeout)'),
        initialBackoff: Duration('500ms', 'Upper bound of the first delay between attempts'),
        maxBackoff: Duration('30s', 'Upper bound of any delay between attempts'),
      },
      'Retries of failed actions: capped exponential backoff with jitter.',
    ),
    shutdownGrace: Duration('20s', 'On SIGTERM, running actions get this long to finish; keep it below the pod terminationGracePeriodSeconds'),
    safety: Section(
      {
        destructiveActionsPerMinute: Type.Integer({
          minimum: 0,
          default: 30,
          description: 'Cluster-wide budget of destructive actions (terminate, delete, drain, cordon) per minute.',
        }),
        dryRun: Type.Boolean({ default: false, description: 'Global dry-run: record what would be done, do nothing.' }),
        cloudNamespaces: Type.Array(Namespace, {
          default: [],
          description: 'Namespaces whose tenant rules may use cloud actionners and outputs.',
        }),
      },
      'Safety limits.',
    ),
    coordination: Section(
      {
        enabled: Type.Boolean({ default: false, description: 'Active-active replicas: claims and the destructive budget go through Leases (docs/replicas.md).' }),
        namespace: Type.String({ default: '', description: 'Namespace of the coordination Leases; empty = $POD_NAMESPACE.' }),
        lease: Duration('10s', 'A running claim whose holder stopped renewing for this long is taken over'),
        claimWindow: Duration('10s', 'Least time a claim keeps other runs of the same rule on the same target away (the rule’s cooldown when longer)'),
        sweepInterval: Duration('1m', 'How often expired claims and budget slots are deleted'),
      },
      'Coordination of several replicas through the Kubernetes API.',
    ),
    defaultNotifiers: Type.Array(Type.String({ minLength: 1 }), {
      default: ['k8sevents'],
      description: 'Notifier instances every outcome goes to, besides those a rule names; [] = none (not even Events).',
    }),
    notifiers: Type.Record(Type.String({ minLength: 1 }), NotifierInstanceSchema, {
      default: {},
      description: 'Notifier instances by name: {type: <notifier type>, …that type’s settings}.',
    }),
    outputs: Type.Record(Type.String({ minLength: 1 }), Type.Record(Type.String(), Type.Unknown()), {
      default: {},
      description: 'Settings of artifact outputs by name (category:name), e.g. local:file: {directory: …}.',
    }),
    actionners: Type.Record(Type.String({ minLength: 1 }), Type.Record(Type.String(), Type.Unknown()), {
      default: {},
      description: 'Settings of actionner categories by category, e.g. aws: {region: …} for aws:lambda.',
    }),
    logLevel: Enum(LOG_LEVELS, { default: 'info', description: 'error, warn, info or debug.' }),
    logFormat: Enum(LOG_FORMATS, { default: 'json', description: 'json or text.' }),
    logOutcomesPerSecond: Type.Integer({ minimum: 0, default: 10, description: 'Info outcome lines per rule and reason per second; beyond, folded into one summary line per second. 0 = every outcome on its own line.' }),
    statusFlushInterval: Duration('3s', 'How often CR status counters are flushed'),
    revertSweepInterval: Duration('15s', 'How often expired policies are removed and due revertAfter changes undone'),
    contexts: Type.Object(
      {
        imdsEndpoint: Type.String({ pattern: '^https?://[^\\s/?#]+/?$', default: 'http://169.254.169.254', description: 'AWS instance metadata service (IMDS v2) for the aws additional context.' }),
        cacheTtl: Duration('30s', 'How long fetched additional contexts (k8snode, aws) are reused'),
      },
      { additionalProperties: false, default: {}, description: 'Additional contexts (additionalContexts on actions).' },
    ),
    defaultActionTimeout: Duration('30s', 'Action timeout when the action sets none'),
    approvalNamespace: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
        maxLength: 63,
        description: "Where the TalonApprovals of ClusterTalonRules are created; default: the operator's namespace ($POD_NAMESPACE), else talon-system.",
      }),
    ),
    approvalRetention: Duration('24h', 'How long a decided, expired or executed TalonApproval is kept before it is deleted'),
    console: Section(
      {
        enabled: Type.Boolean({ default: false, description: 'Serve the console (pages and JSON API) on its own management port.' }),
        address: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Console listen address (reach it with kubectl port-forward).' }),
        port: Port(2804, 'Console port; 0 picks a free port.'),
        sessionTtl: Duration('8h', 'How long a console sign-in lasts (the token is kept in this process’s memory only)'),
        accessCacheTtl: Duration('30s', 'How long a SubjectAccessReview answer is reused for a session'),
      },
      'The remediation console (docs/console.md).',
    ),
    tracing: Section(
      {
        enabled: Type.Boolean({ default: false, description: 'Export one OpenTelemetry trace per alert over OTLP/HTTP.' }),
        endpoint: Type.String({ pattern: '^https?://', default: 'http://127.0.0.1:4318/v1/traces', description: 'OTLP/HTTP traces endpoint (JSON protobuf encoding).' }),
        samplingRatio: Type.Number({ minimum: 0, maximum: 1, default: 1, description: 'Share of alerts traced, decided from the trace id (0..1).' }),
        serviceName: Type.String({ minLength: 1, default: 'talon-operator', description: 'service.name of the exported spans.' }),
      },
      'OpenTelemetry traces (docs/observability.md).',
    ),
  },
  { additionalProperties: false },
);
export type ConfigFile = Static<typeof ConfigFileSchema>;

/** The resolved configuration: validated, defaulted, converted, deep-frozen. */
export interface Config {
  readonly listen: { readonly address: string; readonly port: number };
  readonly auth: { readonly mode: AuthMode; readonly tokenFile?: string };
  /** Present when the webhook serves HTTPS (certFile and keyFile set). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly clientCAFile?: string };
  /** `port` 0: /metrics is served on the webhook port. */
  readonly metrics: { readonly port: number };
  /** Includes the operator's own namespace ($POD_NAMESPACE) when known. */
  readonly protectedNamespaces: readonly string[];
  readonly bodyLimitBytes: number;
  readonly dedup: { readonly windowMs: number };
  readonly webhook: {
    readonly maxConnections: number;
    readonly idleTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
    /** 0 = no limit. */
    readonly perClientRequestsPerSecond: number;
    readonly perClientBurst: number;
  };
  readonly events: { readonly perNamespacePerMinute: number; readonly clusterPerMinute: number; readonly updatesPerSecond: number; readonly maxInFlight: number };
  readonly queue: { readonly concurrency: number; readonly maxPending: number; readonly maxBytes: number; readonly maxHeldBytes: number };
  readonly journal: { readonly enabled: boolean; readonly dir: string; readonly fsync: 'always' | 'interval' | 'never'; readonly fsyncIntervalMs: number };
  readonly retry: { readonly horizonMs: number; readonly initialBackoffMs: number; readonly maxBackoffMs: number };
  readonly shutdownGraceMs: number;
  readonly safety: {
    readonly destructiveActionsPerMinute: number;
    readonly dryRun: boolean;
    readonly cloudNamespaces: readonly string[];
  };
  /** Active-active coordination; `namespace` resolved ($POD_NAMESPACE when the file leaves it empty). */
  readonly coordination: {
    readonly enabled: boolean;
    readonly namespace: string;
    readonly leaseMs: number;
    readonly claimWindowMs: number;
    readonly sweepIntervalMs: number;
  };
  /** Names of configured instances (checked), deduplicated. */
  readonly defaultNotifiers: readonly string[];
  /** Every instance, the implicit `k8sevents` included unless the file defines that name. */
  readonly notifiers: Readonly<Record<string, NotifierInstanceConfig>>;
  /** Every known output's settings (validated, defaulted), by output name. */
  readonly outputs: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Every actionner category's settings that declares a config schema (validated, defaulted), by category. */
  readonly actionners: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** `info` outcome lines per (rule, reason) per second before they are folded into a summary line (observability/outcome-log.ts); 0 = no folding. */
  readonly logOutcomesPerSecond: number;
  readonly statusFlushIntervalMs: number;
  /** How often the expiry/revert sweeper runs (actionners/expiry.ts). */
  readonly revertSweepIntervalMs: number;
  /** Additional contexts: where IMDS is, how long fetched contexts are reused. */
  readonly contexts: { readonly imdsEndpoint: string; readonly cacheTtlMs: number };
  readonly defaultActionTimeoutMs: number;
  /** Namespace of cluster rules' TalonApprovals (docs/approvals.md). */
  readonly approvalNamespace: string;
  readonly approvalRetentionMs: number;
  readonly console: { readonly enabled: boolean; readonly address: string; readonly port: number; readonly sessionTtlMs: number; readonly accessCacheTtlMs: number };
  readonly tracing: { readonly enabled: boolean; readonly endpoint: string; readonly samplingRatio: number; readonly serviceName: string };
}

/** A resolved notifier instance. */
export interface NotifierInstanceConfig {
  readonly type: string;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly queueSize: number;
  readonly concurrency: number;
  /** Filter: only outcomes with these results are sent; absent = every result. */
  readonly results?: readonly ('Succeeded' | 'Failed' | 'Skipped' | 'DryRun')[];
  /** Filter: false = DryRun outcomes are not sent; absent = they are. */
  readonly dryRun?: boolean;
  /** The type's own settings: validated against its configSchema, defaulted. */
  readonly config: Readonly<Record<string, unknown>>;
}

/** How an environment variable's text becomes a config value. */
export type EnvKind = 'string' | 'integer' | 'number' | 'boolean' | 'list' | 'size';

export interface ConfigKey {
  /** Dotted path in the YAML file. */
  readonly path: string;
  readonly env: string;
  readonly kind: EnvKind;
  /** The default as shown to users. */
  readonly default: string;
  readonly description: string;
}

/**
 * Every key that an environment variable can override. An empty variable counts as unset.
 * `list` values are comma-separated; `boolean` accepts true/false/1/0/yes/no.
 */
export const CONFIG_KEYS: readonly ConfigKey[] = [
  { path: 'listen.address', env: 'TALON_LISTEN_ADDRESS', kind: 'string', default: '0.0.0.0', description: 'Webhook listen address.' },
  { path: 'listen.port', env: 'TALON_LISTEN_PORT', kind: 'integer', default: '2803', description: 'Webhook port.' },
  { path: 'auth.mode', env: 'TALON_AUTH_MODE', kind: 'string', default: '(required)', description: 'none, token or mtls.' },
  { path: 'auth.tokenFile', env: 'TALON_AUTH_TOKENFILE', kind: 'string', default: '', description: 'Bearer token file (token mode).' },
  { path: 'tls.certFile', env: 'TALON_TLS_CERTFILE', kind: 'string', default: '', description: 'Serving certificate; enables HTTPS.' },
  { path: 'tls.keyFile', env: 'TALON_TLS_KEYFILE', kind: 'string', default: '', description: 'Serving key.' },
  { path: 'tls.clientCAFile', env: 'TALON_TLS_CLIENTCAFILE', kind: 'string', default: '', description: 'Client CA bundle (mtls mode).' },
  { path: 'metrics.port', env: 'TALON_METRICS_PORT', kind: 'integer', default: '0', description: 'Separate /metrics port; 0 = webhook port.' },
  { path: 'protectedNamespaces', env: 'TALON_PROTECTEDNAMESPACES', kind: 'list', default: 'kube-system', description: 'Never acted upon (+ the operator’s own namespace).' },
  { path: 'bodyLimit', env: 'TALON_BODYLIMIT', kind: 'size', default: '1MiB', description: 'Largest alert body.' },
  { path: 'dedup.window', env: 'TALON_DEDUP_WINDOW', kind: 'string', default: '10s', description: 'Duplicate-delivery window.' },
  { path: 'webhook.maxConnections', env: 'TALON_WEBHOOK_MAXCONNECTIONS', kind: 'integer', default: '1024', description: 'Open webhook connections at most; beyond, new ones are closed at once.' },
  { path: 'webhook.idleTimeout', env: 'TALON_WEBHOOK_IDLETIMEOUT', kind: 'string', default: '10s', description: 'A connection sending no complete request header within this time is closed.' },
  { path: 'webhook.keepAliveTimeout', env: 'TALON_WEBHOOK_KEEPALIVETIMEOUT', kind: 'string', default: '125s', description: 'Idle keep-alive connections are closed after this (longer than senders’ own idle limits).' },
  { path: 'webhook.perClientRequestsPerSecond', env: 'TALON_WEBHOOK_PERCLIENTREQUESTSPERSECOND', kind: 'integer', default: '0', description: 'Alert requests per second per client address (beyond: 429); 0 = no limit.' },
  { path: 'webhook.perClientBurst', env: 'TALON_WEBHOOK_PERCLIENTBURST', kind: 'integer', default: '1000', description: 'Requests a client may send at once before its rate applies.' },
  { path: 'events.perNamespacePerMinute', env: 'TALON_EVENTS_PERNAMESPACEPERMINUTE', kind: 'integer', default: '60', description: 'New Events per namespace per minute; beyond, aggregated.' },
  { path: 'events.clusterPerMinute', env: 'TALON_EVENTS_CLUSTERPERMINUTE', kind: 'integer', default: '600', description: 'New Events per minute cluster-wide; beyond, aggregated.' },
  { path: 'events.updatesPerSecond', env: 'TALON_EVENTS_UPDATESPERSECOND', kind: 'integer', default: '5', description: 'Event series updates started per second at most; beyond, they wait (counted).' },
  { path: 'events.maxInFlight', env: 'TALON_EVENTS_MAXINFLIGHT', kind: 'integer', default: '4', description: 'Event API calls in flight at once at most (1–64).' },
  { path: 'queue.concurrency', env: 'TALON_QUEUE_CONCURRENCY', kind: 'integer', default: '32', description: 'Targets worked on concurrently.' },
  { path: 'queue.maxPending', env: 'TALON_QUEUE_MAXPENDING', kind: 'integer', default: '100000', description: 'Work items held at most.' },
  { path: 'queue.maxBytes', env: 'TALON_QUEUE_MAXBYTES', kind: 'size', default: '32MiB', description: 'Bytes of accepted, unfinished alerts at most; beyond: 503 + Retry-After.' },
  { path: 'queue.maxHeldBytes', env: 'TALON_QUEUE_MAXHELDBYTES', kind: 'size', default: '8MiB', description: 'The same while the rule index loads.' },
  { path: 'journal.enabled', env: 'TALON_JOURNAL_ENABLED', kind: 'boolean', default: 'true', description: 'Journal accepted alerts before 202 (docs/journal.md).' },
  { path: 'journal.dir', env: 'TALON_JOURNAL_DIR', kind: 'string', default: '/var/lib/talon/journal', description: 'Journal directory.' },
  { path: 'journal.fsync', env: 'TALON_JOURNAL_FSYNC', kind: 'string', default: 'interval', description: 'always, interval or never.' },
  { path: 'journal.fsyncInterval', env: 'TALON_JOURNAL_FSYNCINTERVAL', kind: 'string', default: '1s', description: 'Period of the interval policy.' },
  { path: 'retry.horizon', env: 'TALON_RETRY_HORIZON', kind: 'string', default: '5m', description: 'How long a retryable action failure is retried.' },
  { path: 'retry.initialBackoff', env: 'TALON_RETRY_INITIALBACKOFF', kind: 'string', default: '500ms', description: 'First backoff bound.' },
  { path: 'retry.maxBackoff', env: 'TALON_RETRY_MAXBACKOFF', kind: 'string', default: '30s', description: 'Backoff cap.' },
  { path: 'shutdownGrace', env: 'TALON_SHUTDOWNGRACE', kind: 'string', default: '20s', description: 'Grace for running actions on SIGTERM.' },
  { path: 'safety.destructiveActionsPerMinute', env: 'TALON_SAFETY_DESTRUCTIVEACTIONSPERMINUTE', kind: 'integer', default: '30', description: 'Destructive-action budget per minute.' },
  { path: 'safety.dryRun', env: 'TALON_SAFETY_DRYRUN', kind: 'boolean', default: 'false', description: 'Global dry-run.' },
  { path: 'safety.cloudNamespaces', env: 'TALON_SAFETY_CLOUDNAMESPACES', kind: 'list', default: '', description: 'Tenant namespaces allowed cloud actionners.' },
  { path: 'coordination.enabled', env: 'TALON_COORDINATION_ENABLED', kind: 'boolean', default: 'false', description: 'Active-active replicas through Leases.' },
  { path: 'coordination.namespace', env: 'TALON_COORDINATION_NAMESPACE', kind: 'string', default: '$POD_NAMESPACE', description: 'Namespace of the coordination Leases.' },
  { path: 'coordination.lease', env: 'TALON_COORDINATION_LEASE', kind: 'string', default: '10s', description: 'Claim lease; a crashed holder’s claim frees after it.' },
  { path: 'coordination.claimWindow', env: 'TALON_COORDINATION_CLAIMWINDOW', kind: 'string', default: '10s', description: 'Least window of a claim.' },
  { path: 'coordination.sweepInterval', env: 'TALON_COORDINATION_SWEEPINTERVAL', kind: 'string', default: '1m', description: 'Sweep period of expired Leases.' },
  { path: 'defaultNotifiers', env: 'TALON_DEFAULTNOTIFIERS', kind: 'list', default: 'k8sevents', description: 'Notifier instances of every outcome.' },
  { path: 'logLevel', env: 'TALON_LOGLEVEL', kind: 'string', default: 'info', description: 'error, warn, info, debug.' },
  { path: 'logFormat', env: 'TALON_LOGFORMAT', kind: 'string', default: 'json', description: 'json or text.' },
  { path: 'logOutcomesPerSecond', env: 'TALON_LOGOUTCOMESPERSECOND', kind: 'integer', default: '10', description: 'Outcome lines per rule and reason per second (beyond: one summary line per second); 0 = all.' },
  { path: 'statusFlushInterval', env: 'TALON_STATUSFLUSHINTERVAL', kind: 'string', default: '3s', description: 'CR status flush period.' },
  { path: 'revertSweepInterval', env: 'TALON_REVERTSWEEPINTERVAL', kind: 'string', default: '15s', description: 'Expiry and revert sweep period.' },
  { path: 'defaultActionTimeout', env: 'TALON_DEFAULTACTIONTIMEOUT', kind: 'string', default: '30s', description: 'Default action timeout.' },
  { path: 'approvalNamespace', env: 'TALON_APPROVALNAMESPACE', kind: 'string', default: '$POD_NAMESPACE, else talon-system', description: 'Where cluster rules’ TalonApprovals go.' },
  { path: 'approvalRetention', env: 'TALON_APPROVALRETENTION', kind: 'string', default: '24h', description: 'How long finished TalonApprovals are kept.' },
  { path: 'console.enabled', env: 'TALON_CONSOLE_ENABLED', kind: 'boolean', default: 'false', description: 'Serve the console on its management port.' },
  { path: 'console.address', env: 'TALON_CONSOLE_ADDRESS', kind: 'string', default: '127.0.0.1', description: 'Console listen address.' },
  { path: 'console.port', env: 'TALON_CONSOLE_PORT', kind: 'integer', default: '2804', description: 'Console port.' },
  { path: 'console.sessionTtl', env: 'TALON_CONSOLE_SESSIONTTL', kind: 'string', default: '8h', description: 'Console sign-in lifetime.' },
  { path: 'console.accessCacheTtl', env: 'TALON_CONSOLE_ACCESSCACHETTL', kind: 'string', default: '30s', description: 'SubjectAccessReview answers reused this long.' },
  { path: 'tracing.enabled', env: 'TALON_TRACING_ENABLED', kind: 'boolean', default: 'false', description: 'Export OpenTelemetry traces (OTLP/HTTP).' },
  { path: 'tracing.endpoint', env: 'TALON_TRACING_ENDPOINT', kind: 'string', default: 'http://127.0.0.1:4318/v1/traces', description: 'OTLP/HTTP traces endpoint.' },
  { path: 'tracing.samplingRatio', env: 'TALON_TRACING_SAMPLINGRATIO', kind: 'number', default: '1', description: 'Share of alerts traced (0..1).' },
];

/** A key that was removed: setting it (file or environment) fails at start with `message`. */
export interface RemovedKey {
  readonly path: string;
  readonly env: string;
  readonly message: string;
}

export const REMOVED_KEYS: readonly RemovedKey[] = [
  {
    path: 'controlNamespace',
    env: 'TALON_CONTROLNAMESPACE',
    message:
      'this setting was removed: no namespace makes its TalonRules cluster-wide any more. Write cluster-wide rules as ' +
      'ClusterTalonRule and the actions they reference as ClusterTalonAction (change the kind, drop metadata.namespace; ' +
      'see "Migrating from the control namespace" in the README), then delete this setting',
  },
];

/** The key table as Markdown, for the README. */
export function configKeysMarkdown(): string {
  const rows = CONFIG_KEYS.map((k) => `| \`${k.path}\` | \`${k.env}\` | ${k.default === '' ? '' : `\`${k.default}\``} | ${k.description} |`);
  return ['| key | environment | default | meaning |', '|---|---|---|---|', ...rows, '| `notifiers` | — | `{}` | Notifier instances by name: `{type, timeout, retries, queueSize, concurrency, …}`. |', '| `outputs` | — | `{}` | Artifact output settings by output name. |', '| `actionners` | — | `{}` | Actionner settings by category (e.g. `aws`, `gcp`). |'].join('\n');
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  ki: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
};

/** Bytes of a size: an integer, or a number with a unit (B, KB, KiB, Ki, MB, MiB, Mi, GB, GiB, Gi; any case). Undefined when malformed. */
export function parseSize(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (m === null) return undefined;
  const unit = SIZE_UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
