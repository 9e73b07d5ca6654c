import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubeConfig,
  NetworkingV1Api,
  PolicyV1Api,
} from '@kubernetes/client-node';
import { KeepAliveKubeConfig } from './transport.js';
import { makePodStreams, type PodStreams } from './pod-streams.js';
import { RawClient, type RawKube } from './raw.js';
import { authSourceOf } from './transport.js';

export interface LoadKubeConfigOptions {
  /** Path of a kubeconfig file; when set it wins over everything else. */
  readonly kubeconfig?: string;
}

/**
 * Loads the client configuration: an explicit `kubeconfig` path wins; otherwise the
 * in-cluster service account when KUBERNETES_SERVICE_HOST is set; otherwise client-node's
 * default (KUBECONFIG, then ~/.kube/config). Throws if the chosen file cannot be read or
 * parsed, or if no current cluster results.
 */
export function loadKubeConfig(opts: LoadKubeConfigOptions = {}): KeepAliveKubeConfig {
  const kc = new KeepAliveKubeConfig();
  if (opts.kubeconfig) {
    kc.loadFromFile(opts.kubeconfig);
  } else if (process.env.KUBERNETES_SERVICE_HOST) {
    kc.loadFromCluster();
  } else {
    kc.loadFromDefault();
  }
  if (!kc.getCurrentCluster()) {
    throw new Error('kubeconfig has no current cluster');
  }
  return kc;
}

/** Every Kubernetes API client the operator uses, built from one KubeConfig. */
export interface Clients {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly networking: NetworkingV1Api;
  readonly policy: PolicyV1Api;
  readonly custom: CustomObjectsApi;
  readonly events: EventsV1Api;
  readonly apiext: ApiextensionsV1Api;
  readonly coordination: CoordinationV1Api;
  /** pods/exec and pods/log as streams. */
  readonly streams: PodStreams;
  /** Raw JSON requests for the hot path (kube/raw.ts). */
  readonly raw: RawKube;
  /** client-node's KubeConfig behind the typed clients (kube/access.ts loads it on first use). */
  readonly kubeConfig: () => Promise<KubeConfig>;
}

/** The Kubernetes API clients an actionner may use (injected; fakes in unit tests). */
export interface KubeClients {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly networking: NetworkingV1Api;
  readonly policy: PolicyV1Api;
  readonly custom: CustomObjectsApi;
  /** pods/exec (WebSocket) and pods/log, streamed. */
  readonly streams: PodStreams;
  /** Raw JSON requests without client-node's typed (de)serialisation, for the hot path (kube/raw.ts). */
  readonly raw: RawKube;
  /**
   * The configuration behind the clients, for API groups without a client here (batch);
   * a function because the operator loads client-node on first use (kube/access.ts); absent in fakes.
   */
  readonly kubeConfig?: () => Promise<KubeConfig>;
}

/** Builds the API clients at once (CLI commands, tests, benches); the operator's are lazy (kube/access.ts). */
export function makeClients(kc: KubeConfig): Clients {
  return Object.freeze({
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    networking: kc.makeApiClient(NetworkingV1Api),
    policy: kc.makeApiClient(PolicyV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    events: kc.makeApiClient(EventsV1Api),
    apiext: kc.makeApiClient(ApiextensionsV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    streams: makePodStreams(kc),
    raw: new RawClient(authSourceOf(kc)),
    kubeConfig: async () => kc,
  });
}
