/**
 * Composition root: config → logger → clients → registries → informers/controller →
 * dispatcher and outcome sinks → HTTP. Nothing else constructs long-lived objects.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { builtinActionners } from './actionners/index.js';
import { AdditionalContexts } from './dispatch/contexts.js';
import { ActionnerRegistry } from './actionners/registry.js';
import type { OperatorIdentity } from './actionners/types.js';
import {
  GROUP,
  VERSION,
  CLUSTER_TALON_ACTION_PLURAL,
  CLUSTER_TALON_RULE_PLURAL,
  PLURAL_OF,
  TALON_ACTION_PLURAL,
  TALON_RULE_PLURAL,
  type ClusterTalonAction,
  type ClusterTalonRule,
  type TalonAction,
  type TalonRule,
} from './api/v1alpha1/types.js';
import type { Config } from './config/schema.js';
import type { PluginSchemas } from './config/load.js';
import { RuleController } from './controller/rule-controller.js';
import { RuleStatusAggregator } from './notifiers/rule-status.js';
import { TokenBucketBudget } from './dispatch/budget.js';
import { Cooldowns } from './dispatch/cooldown.js';
import { Deduplicator } from './dispatch/dedup.js';
import { Intake } from './dispatch/intake.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import { startCoordination } from './coordination/index.js';
import type { FalcoEvent } from './falco/event.js';
import { fanOutSinks } from './notifiers/types.js';
import { builtinNotifiers } from './notifiers/index.js';
import { NotifierRegistry } from './notifiers/registry.js';
import { NotifierRouter } from './notifiers/router.js';
import { builtinOutputs } from './outputs/index.js';
import { OutputRegistry } from './outputs/registry.js';
import type { RuleIndex } from './rules/rule-index.js';
import type { CompiledRule } from './rules/types.js';
import { closeGracefully, createMetricsServer, createServer, warnIfUnauthenticated } from './http/server.js';
import type { IngestRefusal } from './http/routes/falco.js';
import { parseAlert } from './falco/parse.js';
import { Journal, type OpenedJournal } from './journal/journal.js';
import { Ledger } from './journal/ledger.js';
import { IdleCompactor } from './lib/idle-compaction.js';
import { loadKubeAccess, makeLazyClients } from './kube/access.js';
import { EventRecorder, rawEventsPort } from './kube/event-recorder.js';
import { ResilientInformer } from './kube/informer.js';
import { patchStatus } from './kube/status.js';
import { ExpirySweeper } from './actionners/expiry.js';
import { CHANGED_KINDS } from './actionners/revert.js';
import { EscalationLadders } from './dispatch/escalation.js';
import { ruleKey } from './rules/types.js';
import { MAX_ESCALATION_TARGETS } from './api/v1alpha1/types.js';
import { createLogger, logPort, type Logger } from './observability/logger.js';
import { OutcomeLog } from './observability/outcome-log.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { metricsSink } from './notifiers/outcome-metrics.js';
import { TALON_APPROVAL_PLURAL, type TalonApproval } from './api/v1alpha1/approval.js';
import { ApprovalExecutor, KubeApprovalGate, kubeApprovalStore } from './dispatch/approvals.js';
import { ApprovalController } from './controller/approval-controller.js';
import type { Outcome } from './api/v1alpha1/outcome.js';
import { startConsoleWorker } from './console/host.js';
import { createAlertTracer } from './observability/tracing.js';
import { traceSink } from './notifiers/outcome-traces.js';

export interface OperatorOptions {
  readonly config: Config;
  readonly kubeconfig?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly logger?: Logger;
  /**
   * The plug-in registries, when the caller already built them to read their settings schemas
   * for loadConfig (`talon-operator run`): building them compiles every plug-in's schema, ≈ 80 ms
   * of start-up each time. Absent: built here. Used by one operator only (actionners' `init` state lives there).
   */
  readonly plugins?: ReturnType<typeof registries>;
}

export interface RunningOperator {
  readonly server: Server;
  readonly port: number;
  readonly metrics: Metrics;
  /** The current compiled rule index. */
  index(): RuleIndex;
  /**
   * Graceful stop (docs/journal.md "Shutdown"): readiness false, no new alerts, idle
   * connections closed, running actions finish within `shutdownGrace`, the rest stays in the
   * journal; then notifiers flushed (bounded), status and Events flushed. Says what was left.
   */
  close(): Promise<ShutdownSummary>;
}

/** What a shutdown left undone. */
export interface ShutdownSummary {
  /** Accepted alerts whose work is not finished. */
  readonly unfinished: number;
  /** Whether those are in the journal (resumed at the next start) or lost (journal disabled). */
  readonly journaled: boolean;
  /** Work items not started, and running actions abandoned at the end of the grace period. */
  readonly notStarted: number;
  readonly abandoned: number;
}

/** The plug-in registries of this build, one list each (`actionners/`, `outputs/`, `notifiers/` index.ts). */
export function registries(): { readonly actionners: ActionnerRegistry; readonly outputs: OutputRegistry; readonly notifiers: NotifierRegistry } {
  return {
    actionners: new ActionnerRegistry(builtinActionners()),
    outputs: new OutputRegistry(builtinOutputs()),
    notifiers: new NotifierRegistry(builtinNotifiers()),
  };
}

/** The plug-ins' settings schemas, for loadConfig. */
export function pluginSchemas(r: ReturnType<typeof registries> = registries()): PluginSchemas {
  return { notifiers: r.notifiers.schemas(), outputs: r.outputs.schemas(), actionners: r.actionners.schemas() };
}

// Cluster-wide list paths: the namespaced kinds of every namespace, and the cluster-scoped kinds.
const RULES_PATH = `/apis/${GROUP}/${VERSION}/${TALON_RULE_PLURAL}`;
const ACTIONS_PATH = `/apis/${GROUP}/${VERSION}/${TALON_ACTION_PLURAL}`;
const CLUSTER_RULES_PATH = `/apis/${GROUP}/${VERSION}/${CLUSTER_TALON_RULE_PLURAL}`;
const CLUSTER_ACTIONS_PATH = `/apis/${GROUP}/${VERSION}/${CLUSTER_TALON_ACTION_PLURAL}`;
const APPROVALS_PATH = `/apis/${GROUP}/${VERSION}/${TALON_APPROVAL_PLURAL}`;
/** How often every TalonApproval is looked at (expiry backstop, retention); expiries also have their own timers. */
const APPROVAL_SWEEP_MS = 30_000;

export async function startOperator(opts: OperatorOptions): Promise<RunningOperator> {
  const { config } = opts;
  const env = opts.env ?? process.env;
  const logger = opts.logger ?? createLogger({ level: config.logLevel, format: config.logFormat });
  const metrics = createMetrics();
  const tracer = config.tracing.enabled ? await createAlertTracer(config.tracing) : undefined;
  // client-node's typed clients load on first use: an idle operator never needs them (kube/access.ts).
  const access = await loadKubeAccess(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {});
  const clients = makeLazyClients(access);
  const plugins = opts.plugins ?? registries();
  const registry = plugins.actionners;
  const identity: OperatorIdentity = {
    protectedNamespaces: new Set(config.protectedNamespaces),
    ...(env.POD_NAME ? { podName: env.POD_NAME } : {}),
    ...(env.POD_NAMESPACE ? { podNamespace: env.POD_NAMESPACE } : {}),
    // The operator's own ClusterRole/ClusterRoleBinding names (comma-separated); the chart sets its full name.
    ...(env.OPERATOR_RBAC_NAME ? { rbacNames: new Set(env.OPERATOR_RBAC_NAME.split(',').map((n) => n.trim()).filter((n) => n !== '')) } : {}),
  };
  warnIfUnauthenticated(config, logger);

  // --- informers and the rule controller ---------------------------------------------
  const log = logPort(logger);
  const informerLog = log;
  const rules = new ResilientInformer<TalonRule>({ auth: access, path: RULES_PATH, logger: informerLog });
  const actions = new ResilientInformer<TalonAction>({ auth: access, path: ACTIONS_PATH, logger: informerLog });
  const clusterRules = new ResilientInformer<ClusterTalonRule>({ auth: access, path: CLUSTER_RULES_PATH, logger: informerLog });
  const clusterActions = new ResilientInformer<ClusterTalonAction>({ auth: access, path: CLUSTER_ACTIONS_PATH, logger: informerLog });
  const approvalCache = new ResilientInformer<TalonApproval>({ auth: access, path: APPROVALS_PATH, logger: informerLog });
  const informers = [rules, actions, clusterRules, clusterActions, approvalCache] as const;
  let index: RuleIndex | undefined;
  let stopping = false;
  // --- journal and admission (docs/journal.md) -----------------------------------------------
  const opened = config.journal.enabled ? openJournal(config) : undefined;
  const ledger = new Ledger({ ...(opened ? { journal: opened.journal } : {}), maxBytes: config.queue.maxBytes, maxHeldBytes: config.queue.maxHeldBytes, log });
  const dedup = new Deduplicator(config.dedup.windowMs);
  // Declared before the controller whose publish() feeds it; its dispatch closure reads the dispatcher made below.
  const intake = new Intake({
    dedup,
    stage: (ev, key, body) => ledger.stage(ev, key, body),
    commit: () => ledger.commit(),
    dispatch: (ev, matched) => {
      const rules = ledger.remaining(ev, matched);
      ledger.dispatched(ev, rules.length);
      if (rules.length > 0) dispatcher.dispatch(ev, rules);
    },
    settled: (ev) => ledger.settled(ev),
    // Bounded in bytes by the ledger (queue.maxHeldBytes), not in items.
    earlyAlertsMax: Number.MAX_SAFE_INTEGER,
    metrics,
    log,
    debug: logger.isDebugEnabled(),
    ...(tracer ? { onEvaluated: (ev: FalcoEvent, matched: readonly CompiledRule[], startedAt: number) => tracer.alertEvaluated(ev, matched.map((r) => r.key), startedAt) } : {}),
  });
  let received = 0;
  // The webhook stages each alert and commits once per event-loop turn (journal group commit).
  const ingest = (ev: FalcoEvent, body: Buffer): IngestRefusal | undefined => {
    received++;
    if (stopping) return { reason: 'the operator is shutting down', retryAfterSeconds: 5 };
    return intake.stage(ev, body);
  };
  const commit = (): IngestRefusal | undefined => intake.commit();
  registry.configure(config.actionners ?? {}, { log });
  const controller = new RuleController({
    rules,
    actions,
    clusterRules,
    clusterActions,
    registry,
    outputs: plugins.outputs,
    notifiers: new Set(Object.keys(config.notifiers)),
    cloudNamespaces: new Set(config.safety.cloudNamespaces),
    defaultTimeoutMs: config.defaultActionTimeoutMs,
    status: {
      patch: async (kind, namespace, name, status) => {
        await patchStatus(clients.raw, { group: GROUP, version: VERSION, plural: PLURAL_OF[kind], namespace, name }, status);
      },
    },
    // The recorder is made below, before any reconcile runs (controller.start()).
    events: { emit: (regarding, related, note, kind) => events.emit(regarding, related, note, kind) },
    publish: (next) => {
      index = next;
      ledger.setIndexLoaded();
      intake.setIndex(next);
      logger.debug('rule index swapped', { rules: next.size });
    },
    logger: informerLog,
    onConditionFailure: (rule, failure, ev) => {
      metrics.celErrors.inc();
      if (failure.kind === 'cost') {
        const compiled = index?.get(rule);
        if (compiled) dispatcher.conditionAborted(ev, compiled, failure.message);
      }
      if (failure.count === 1) logger.warn('rule condition failed to evaluate; counted as no match', { rule, kind: failure.kind, error: failure.message });
    },
  });
  for (const [informer, kind] of [[rules, 'TalonRule'], [clusterRules, 'ClusterTalonRule']] as const) {
    informer.on('add', (o) => controller.onRule(kind, 'add', o));
    informer.on('update', (o, old) => controller.onRule(kind, 'update', o, old));
    informer.on('delete', (o) => controller.onRule(kind, 'delete', o));
  }
  for (const [informer, kind] of [[actions, 'TalonAction'], [clusterActions, 'ClusterTalonAction']] as const) {
    informer.on('add', (o) => controller.onAction(kind, 'add', o));
    informer.on('update', (o, old) => controller.onAction(kind, 'update', o, old));
    informer.on('delete', (o) => controller.onAction(kind, 'delete', o));
  }

  // --- outcomes -------------------------------------------------------------------------
  const reportingInstance = env.POD_NAME ?? hostname();
  const events = new EventRecorder({
    reportingInstance,
    perNamespacePerMinute: config.events.perNamespacePerMinute,
    clusterPerMinute: config.events.clusterPerMinute,
    updatesPerSecond: config.events.updatesPerSecond,
    maxInFlight: config.events.maxInFlight,
    onWrite: (verb, ok) => metrics.kubeEventWrites.inc({ verb, result: ok ? 'ok' : 'failed' }),
    log,
    port: rawEventsPort(clients.raw),
  });
  const ladders = new EscalationLadders();
  const ruleStatus = new RuleStatusAggregator({
    log,
    escalationOf: ({ kind, namespace, name }) => ladders.hottest(ruleKey(kind, namespace, name), MAX_ESCALATION_TARGETS),
    getStatus: async ({ kind, namespace, name }) => {
      const r = kind === 'ClusterTalonRule' ? clusterRules.get('', name) : rules.get(namespace, name);
      if (!r) return undefined;
      return { ...(r.metadata?.resourceVersion ? { resourceVersion: r.metadata.resourceVersion } : {}), status: (r.status ?? {}) as never };
    },
    patchStatus: async ({ kind, namespace, name }, patch, resourceVersion) => {
      const updated = await patchStatus(
        clients.raw,
        { group: GROUP, version: VERSION, plural: PLURAL_OF[kind], namespace, name },
        patch as unknown as Record<string, unknown>,
        resourceVersion ? { resourceVersion } : {},
      );
      return updated.metadata?.resourceVersion;
    },
  });
  // Fixed sinks (status, metrics) always get every outcome; the router only the rule's and the default notifiers.
  const router = new NotifierRouter({
    endpoints: await plugins.notifiers.endpoints(config.notifiers, { log, events }),
    defaults: config.defaultNotifiers,
    metrics,
    log,
    ...(tracer ? { onDelivered: tracer.notificationDone } : {}),
  });
  const sink = fanOutSinks([metricsSink(metrics), ruleStatus, router, ...(tracer ? [traceSink(tracer)] : [])], (err, method) =>
    logger.error('outcome sink failed', { method, error: String(err) }),
  );
  const artifacts = await plugins.outputs.open(config.outputs, { log });
  // --- approvals (docs/approvals.md): the gate creates TalonApprovals, the controller carries out decisions.
  const approvalController: ApprovalController = new ApprovalController({
    cache: approvalCache,
    rule: (key) => (index ?? controller.currentIndex()).get(key),
    rulesLoaded: () => controller.isLoaded(),
    // The executor is made below with the dispatcher, before the controller starts.
    runner: { execute: (a, r): Promise<Outcome> => approvalExecutor.execute(a, r), conclude: (a, r, reason, m): Outcome => approvalExecutor.conclude(a, r, reason, m) },
    patchStatus: async (namespace, name, status) => {
      await patchStatus(clients.raw, { group: GROUP, version: VERSION, plural: TALON_APPROVAL_PLURAL, namespace, name }, status as Record<string, unknown>);
    },
    remove: async (namespace, name, uid) => {
      await clients.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: TALON_APPROVAL_PLURAL, name, body: { preconditions: { uid } } });
    },
    retentionMs: config.approvalRetentionMs,
    log,
  });
  approvalCache.on('add', (o) => approvalController.onApproval(o));
  approvalCache.on('update', (o) => approvalController.onApproval(o));
  approvalCache.on('delete', (o) => approvalController.onDelete(o));
  const approvalGate: KubeApprovalGate = new KubeApprovalGate({
    store: kubeApprovalStore(clients),
    findPending: (namespace, key): TalonApproval | undefined => approvalController.findPending(namespace, key),
    cached: (namespace, name) => approvalCache.get(namespace, name) !== undefined,
    clusterNamespace: config.approvalNamespace,
    log,
  });
  // Active-active replicas: claims and the destructive budget through Leases (docs/replicas.md).
  const coordination = config.coordination.enabled
    ? startCoordination(
        clients.coordination,
        { ...config.coordination, identity: env.POD_NAME ?? `${hostname()}-${process.pid}`, destructiveActionsPerMinute: config.safety.destructiveActionsPerMinute },
        log,
        (op, answer) => metrics.coordinationRequests.inc({ op, answer }),
      )
    : undefined;
  const budget = coordination?.budget ?? new TokenBucketBudget(config.safety.destructiveActionsPerMinute);
  const dispatcher = new Dispatcher({
    queue: config.queue,
    kube: clients,
    identity,
    budget,
    ...(coordination ? { claims: { port: coordination.claims, windowMs: coordination.claimWindowMs } } : {}),
    sink,
    outputs: artifacts,
    cooldowns: new Cooldowns(),
    escalation: ladders,
    retry: { horizonMs: config.retry.horizonMs, baseMs: config.retry.initialBackoffMs, maxMs: config.retry.maxBackoffMs },
    progress: ledger,
    globalDryRun: config.safety.dryRun,
    cloudNamespaces: new Set(config.safety.cloudNamespaces),
    actionnerState: (name) => registry.stateOf(name),
    contexts: new AdditionalContexts({ kube: clients, imdsEndpoint: config.contexts.imdsEndpoint, ttlMs: config.contexts.cacheTtlMs }),
    approvals: approvalGate,
    log,
    outcomeLog: new OutcomeLog(log, { perSecond: config.logOutcomesPerSecond }),
  });
  const approvalExecutor: ApprovalExecutor = new ApprovalExecutor({ dispatcher, validateParams: (a, p, path) => registry.validateParams(a, p, path) });
  const sweeper = new ExpirySweeper({
    kube: clients,
    handlers: registry.expiryHandlers(),
    changes: CHANGED_KINDS,
    // Undos go to the fixed sinks and the default notifiers (the rule's own notifiers are not known here).
    record: (o) => sink.record(o, { notifiers: [] }),
    log,
  });
  if (opened) replayJournal(opened, { ledger, dedup, intake, metrics, logger });

  const isReady = () => {
    const reasons: string[] = [];
    if (stopping) reasons.push('shutting down');
    if (!rules.hasSynced()) reasons.push('TalonRule cache not synced');
    if (!actions.hasSynced()) reasons.push('TalonAction cache not synced');
    if (!clusterRules.hasSynced()) reasons.push('ClusterTalonRule cache not synced');
    if (!clusterActions.hasSynced()) reasons.push('ClusterTalonAction cache not synced');
    if (!approvalCache.hasSynced()) reasons.push('TalonApproval cache not synced');
    if (!controller.isLoaded()) reasons.push('rule index not loaded');
    return { ready: reasons.length === 0, reasons };
  };
  const server = createServer({ config, logger, metrics, ingest, commit, isReady });
  const metricsServer = config.metrics.port !== 0 ? createMetricsServer({ logger, metrics }) : undefined;

  await listen(server, config.listen.port, config.listen.address);
  if (metricsServer) await listen(metricsServer, config.metrics.port, config.listen.address);
  const port = (server.address() as AddressInfo).port;
  logger.info('webhook listening', { address: config.listen.address, port, auth: config.auth.mode });
  const consoleServer = config.console.enabled ? await startConsoleWorker({ config, ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}) }) : undefined;

  const queueGauge = setInterval(() => {
    metrics.queueDepth.set(dispatcher.depth());
    metrics.alertsUnfinished.set(ledger.count());
    metrics.alertsUnfinishedBytes.set(ledger.bytes());
    metrics.kubeEventWritesWaiting.set(events.waitingWrites());
    if (budget instanceof TokenBucketBudget) metrics.budgetAvailable.set(Math.floor(budget.available()));
  }, 1_000);
  queueGauge.unref();
  // After a burst, give the heap back once quiet (lib/idle-compaction.ts).
  const compactor = new IdleCompactor({
    activity: () => received,
    drained: () => ledger.count() === 0 && dispatcher.depth() === 0,
    beforeCompaction: () => {
      dedup.forgetExpired();
      opened?.journal.forgetExpiredKeys();
    },
    log,
  });
  compactor.start();
  void Promise.all(informers.map((i) => i.start())).then(() => {
    if (stopping) return;
    controller.start();
    approvalController.start(APPROVAL_SWEEP_MS);
    logger.info('caches synced; reconciling rules', {
      rules: rules.list().length,
      actions: actions.list().length,
      clusterRules: clusterRules.list().length,
      clusterActions: clusterActions.list().length,
    });
  });
  let closing: Promise<ShutdownSummary> | undefined;
  const resync = setInterval(() => controller.resyncAll(), 10 * 60_000);
  resync.unref();
  ruleStatus.start(config.statusFlushIntervalMs);
  events.start(1_000);
  sweeper.start(config.revertSweepIntervalMs);

  return {
    server,
    port,
    metrics,
    index: () => index ?? controller.currentIndex(),
    close: () => {
      if (closing === undefined) closing = shutdown();
      return closing;
    },
  };

  async function shutdown(): Promise<ShutdownSummary> {
    stopping = true;
    intake.halt();
    logger.info('shutting down: readiness false, webhook closing', { grace_ms: config.shutdownGraceMs, unfinished: ledger.count() });
    const webhookClosed = closeGracefully(server);
    clearInterval(queueGauge);
    compactor.stop();
    clearInterval(resync);
    sweeper.stop();
    approvalController.stop();
    coordination?.stop();
    const left = await dispatcher.shutdownGracefully(config.shutdownGraceMs);
    await webhookClosed;
    const summary: ShutdownSummary = { unfinished: ledger.count(), journaled: opened !== undefined, notStarted: left.notStarted, abandoned: left.abandoned };
    metrics.shutdownLeft.labels({ state: 'not_started' }).inc(left.notStarted);
    metrics.shutdownLeft.labels({ state: 'abandoned' }).inc(left.abandoned);
    if (summary.unfinished > 0 && summary.journaled) {
      logger.warn('unfinished alerts stay in the journal for the next start', { unfinished: summary.unfinished, not_started: left.notStarted, abandoned: left.abandoned, dir: config.journal.dir });
    } else if (summary.unfinished > 0) {
      logger.error('unfinished alerts are lost: the journal is disabled', { unfinished: summary.unfinished, not_started: left.notStarted, abandoned: left.abandoned });
    }
    metricsServer?.close();
    await consoleServer?.close();
    await router.close(5_000);
    controller.stop();
    await Promise.all(informers.map((i) => i.stop()));
    ruleStatus.stop();
    events.stop();
    await Promise.allSettled([ruleStatus.flush(), events.flush(), tracer?.shutdown()]);
    access.destroy();
    opened?.journal.close();
    // A segment rolled just before may still be syncing in the background: done before exit.
    await opened?.journal.settled();
    logger.info('operator stopped', { traceId: randomUUID(), unfinished: summary.unfinished });
    return summary;
  }
}

/** Opens the journal directory; a directory that cannot be used stops the start with a clear error. */
function openJournal(config: Config): OpenedJournal {
  try {
    return Journal.open({ dir: config.journal.dir, fsync: config.journal.fsync, fsyncIntervalMs: config.journal.fsyncIntervalMs, keyWindowMs: config.dedup.windowMs });
  } catch (err) {
    throw new Error(`journal.dir ${config.journal.dir} cannot be used: ${(err as Error).message} (mount a writable volume there, set journal.dir, or set journal.enabled: false)`);
  }
}

/**
 * Hands the journal's unfinished alerts back to the intake (held until the rule index is
 * loaded, then evaluated; the actions recorded before the restart are not run again) and
 * seeds the deduplicator with the keys seen within the window.
 */
function replayJournal(
  opened: OpenedJournal,
  deps: { readonly ledger: Ledger; readonly dedup: Deduplicator; readonly intake: Intake; readonly metrics: Metrics; readonly logger: Logger },
): void {
  const started = performance.now();
  const now = Date.now();
  for (const k of opened.keys) deps.dedup.seed(k.key, now - k.wallMs);
  for (const p of opened.problems) deps.logger.warn('journal: damaged tail cut off', { problem: p });
  let unreadable = 0;
  for (const r of opened.pending) {
    deps.ledger.restore(r);
    const parsed = parseAlert(r.body, { receivedAt: performance.now(), traceId: r.traceId });
    if (!parsed.ok) {
      unreadable += 1;
      deps.logger.error('journal: an accepted alert cannot be parsed any more; dropped', { trace_id: r.traceId, error: parsed.message });
      deps.ledger.settled({ traceId: r.traceId });
      continue;
    }
    deps.intake.replay(parsed.event);
    deps.metrics.journalReplayed.inc();
  }
  deps.logger.info('journal replayed', { records: opened.records, unfinished: opened.pending.length - unreadable, dedup_keys: opened.keys.length, ms: Math.round(performance.now() - started) });
}


function listen(server: Server, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
