/**
 * Composition root: config → logger → clients → registries → informers/controller →
 * dispatcher and outcome sinks → HTTP. Nothing else constructs long-lived objects.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
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
import type { FalcoEvent } from './falco/event.js';
import { fanOutSinks } from './notifiers/types.js';
import { builtinNotifiers } from './notifiers/index.js';
import { NotifierRegistry } from './notifiers/registry.js';
import { NotifierRouter } from './notifiers/router.js';
import { builtinOutputs } from './outputs/index.js';
import { OutputRegistry } from './outputs/registry.js';
import type { RuleIndex } from './rules/rule-index.js';
import type { CompiledRule } from './rules/types.js';
import { createMetricsServer, createServer, warnIfUnauthenticated } from './http/server.js';
import { loadKubeConfig, makeClients } from './kube/client.js';
import { EventRecorder } from './kube/event-recorder.js';
import { ResilientInformer } from './kube/informer.js';
import { patchStatus } from './kube/status.js';
import { ExpirySweeper } from './actionners/expiry.js';
import { createLogger, logPort, type Logger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { metricsSink } from './notifiers/outcome-metrics.js';
import { startConsoleWorker } from './console/server.js';
import { createAlertTracer } from './observability/tracing.js';
import { traceSink } from './notifiers/outcome-traces.js';

export interface OperatorOptions {
  readonly config: Config;
  readonly kubeconfig?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly logger?: Logger;
}

export interface RunningOperator {
  readonly server: Server;
  readonly port: number;
  readonly metrics: Metrics;
  /** The current compiled rule index. */
  index(): RuleIndex;
  /** Graceful stop: no new alerts, running actions finish (bounded), then notifiers flushed (bounded), then status and Events flushed. */
  close(): Promise<void>;
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
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export async function startOperator(opts: OperatorOptions): Promise<RunningOperator> {
  const { config } = opts;
  const env = opts.env ?? process.env;
  const logger = opts.logger ?? createLogger({ level: config.logLevel, format: config.logFormat });
  const metrics = createMetrics();
  const tracer = config.tracing.enabled ? createAlertTracer(config.tracing) : undefined;
  const kc = loadKubeConfig(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {});
  const clients = makeClients(kc);
  const plugins = registries();
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
  const rules = new ResilientInformer<TalonRule>({ kc, path: RULES_PATH, logger: informerLog });
  const actions = new ResilientInformer<TalonAction>({ kc, path: ACTIONS_PATH, logger: informerLog });
  const clusterRules = new ResilientInformer<ClusterTalonRule>({ kc, path: CLUSTER_RULES_PATH, logger: informerLog });
  const clusterActions = new ResilientInformer<ClusterTalonAction>({ kc, path: CLUSTER_ACTIONS_PATH, logger: informerLog });
  const informers = [rules, actions, clusterRules, clusterActions] as const;
  let index: RuleIndex | undefined;
  // Declared before the controller whose publish() feeds it; its dispatch closure reads the dispatcher made below.
  const intake = new Intake({
    dedup: new Deduplicator(config.dedup.windowMs),
    dispatch: (ev, matched) => dispatcher.dispatch(ev, matched),
    metrics,
    log,
    debug: logger.isDebugEnabled(),
    ...(tracer ? { onEvaluated: (ev: FalcoEvent, matched: readonly CompiledRule[], startedAt: number) => tracer.alertEvaluated(ev, matched.map((r) => r.key), startedAt) } : {}),
  });
  const ingest = (ev: FalcoEvent): void => intake.ingest(ev);
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
        await patchStatus(clients.custom, { group: GROUP, version: VERSION, plural: PLURAL_OF[kind], namespace, name }, status);
      },
    },
    // The recorder is made below, before any reconcile runs (controller.start()).
    events: { emit: (regarding, related, note, kind) => events.emit(regarding, related, note, kind) },
    publish: (next) => {
      index = next;
      intake.setIndex(next);
      logger.debug('rule index swapped', { rules: next.size });
    },
    logger: informerLog,
    onConditionFailure: (rule, failure) => {
      metrics.celErrors.inc();
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
    log,
    port: {
      create: (namespace, body) => clients.events.createNamespacedEvent({ namespace, body: body as never }),
      patch: (namespace, name, body) => clients.events.patchNamespacedEvent({ namespace, name, body }, mergePatch),
    },
  });
  const ruleStatus = new RuleStatusAggregator({
    log,
    getStatus: async ({ kind, namespace, name }) => {
      const r = kind === 'ClusterTalonRule' ? clusterRules.get('', name) : rules.get(namespace, name);
      if (!r) return undefined;
      return { ...(r.metadata?.resourceVersion ? { resourceVersion: r.metadata.resourceVersion } : {}), status: (r.status ?? {}) as never };
    },
    patchStatus: async ({ kind, namespace, name }, patch, resourceVersion) => {
      const updated = await patchStatus(
        clients.custom,
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
  const budget = new TokenBucketBudget(config.safety.destructiveActionsPerMinute);
  const dispatcher = new Dispatcher({
    queue: config.queue,
    kube: clients,
    identity,
    budget,
    sink,
    outputs: artifacts,
    cooldowns: new Cooldowns(),
    retry: { attempts: 3, baseMs: 200, maxMs: 5_000 },
    globalDryRun: config.safety.dryRun,
    cloudNamespaces: new Set(config.safety.cloudNamespaces),
    actionnerState: (name) => registry.stateOf(name),
    contexts: new AdditionalContexts({ kube: clients, imdsEndpoint: config.contexts.imdsEndpoint, ttlMs: config.contexts.cacheTtlMs }),
    log,
  });
  const sweeper = new ExpirySweeper({ kube: clients, handlers: registry.expiryHandlers(), log });

  const isReady = () => {
    const reasons: string[] = [];
    if (!rules.hasSynced()) reasons.push('TalonRule cache not synced');
    if (!actions.hasSynced()) reasons.push('TalonAction cache not synced');
    if (!clusterRules.hasSynced()) reasons.push('ClusterTalonRule cache not synced');
    if (!clusterActions.hasSynced()) reasons.push('ClusterTalonAction cache not synced');
    if (!controller.isLoaded()) reasons.push('rule index not loaded');
    return { ready: reasons.length === 0, reasons };
  };
  const server = createServer({ config, logger, metrics, ingest, isReady });
  const metricsServer = config.metrics.port !== 0 ? createMetricsServer({ logger, metrics }) : undefined;

  await listen(server, config.listen.port, config.listen.address);
  if (metricsServer) await listen(metricsServer, config.metrics.port, config.listen.address);
  const port = (server.address() as AddressInfo).port;
  logger.info('webhook listening', { address: config.listen.address, port, auth: config.auth.mode });
  const consoleServer = config.console.enabled ? await startConsoleWorker({ config, ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}) }) : undefined;

  let stopping = false;
  const queueGauge = setInterval(() => {
    metrics.queueDepth.set(dispatcher.depth());
    metrics.budgetAvailable.set(Math.floor(budget.available()));
  }, 1_000);
  queueGauge.unref();
  void Promise.all(informers.map((i) => i.start())).then(() => {
    if (stopping) return;
    controller.start();
    logger.info('caches synced; reconciling rules', {
      rules: rules.list().length,
      actions: actions.list().length,
      clusterRules: clusterRules.list().length,
      clusterActions: clusterActions.list().length,
    });
  });
  const resync = setInterval(() => controller.resyncAll(), 10 * 60_000);
  resync.unref();
  ruleStatus.start(config.statusFlushIntervalMs);
  events.start(1_000);
  sweeper.start(15_000);

  return {
    server,
    port,
    metrics,
    index: () => index ?? controller.currentIndex(),
    close: async () => {
      if (stopping) return;
      stopping = true;
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections?.();
      metricsServer?.close();
      await consoleServer?.close();
      clearInterval(queueGauge);
      clearInterval(resync);
      sweeper.stop();
      await Promise.race([dispatcher.drain(), new Promise((r) => setTimeout(r, 10_000).unref())]);
      await router.close(5_000);
      controller.stop();
      await Promise.all(informers.map((i) => i.stop()));
      ruleStatus.stop();
      events.stop();
      await Promise.allSettled([ruleStatus.flush(), events.flush(), tracer?.shutdown()]);
      kc.destroyAgent();
      logger.info('operator stopped', { traceId: randomUUID() });
    },
  };
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
